from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from alerts.selectors import alert_gauges, alert_open_summary
        from common.metrics import gauge_source_register
        from operations.health import summary_register  # apps are loaded now

        summary_register("alerts", alert_open_summary)
        gauge_source_register("alerts", alert_gauges)
