from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = "Operations"

    def ready(self) -> None:
        from common.metrics import gauge_source_register
        from operations.health import summary_register  # apps are loaded now
        from operations.selectors import job_gauges, job_summary

        summary_register("jobs", job_summary)
        gauge_source_register("jobs", job_gauges)
