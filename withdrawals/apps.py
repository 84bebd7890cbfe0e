from django.apps import AppConfig


class WithdrawalsConfig(AppConfig):
    name = "withdrawals"
    verbose_name = "Withdrawals"

    def ready(self) -> None:
        from alerts.services.sources import burn_source_register, queue_source_register
        from common.metrics import gauge_source_register
        from operations.health import summary_register  # apps are loaded now
        from withdrawals.selectors import (
            emergency_burns,
            queue_facts,
            withdrawal_gauges,
            withdrawal_status_summary,
        )

        summary_register("withdrawals", withdrawal_status_summary)
        gauge_source_register("withdrawals", withdrawal_gauges)
        # The alert rules read the queue and emergency burns through these (alerts sit below).
        queue_source_register(queue_facts)
        burn_source_register(emergency_burns)
