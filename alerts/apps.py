from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from operations.health import summary_register  # noqa: PLC0415  # apps are loaded now
        from alerts.selectors import alert_open_summary  # noqa: PLC0415

        summary_register("alerts", alert_open_summary)
