from django.apps import AppConfig


class WithdrawalsConfig(AppConfig):
    name = "withdrawals"
    verbose_name = "Withdrawals"

    def ready(self) -> None:
        from operations.health import summary_register  # apps are loaded now
        from withdrawals.selectors import withdrawal_status_summary

        summary_register("withdrawals", withdrawal_status_summary)
