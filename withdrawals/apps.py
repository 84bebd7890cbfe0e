from django.apps import AppConfig


class WithdrawalsConfig(AppConfig):
    name = "withdrawals"
    verbose_name = "Withdrawals"

    def ready(self) -> None:
        from common.metrics import gauge_source_register
        from operations.health import summary_register  # apps are loaded now
        from withdrawals.selectors import withdrawal_gauges, withdrawal_status_summary

        summary_register("withdrawals", withdrawal_status_summary)
        gauge_source_register("withdrawals", withdrawal_gauges)
