from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = "Operations"

    def ready(self) -> None:
        from operations.health import summary_register  # noqa: PLC0415  # apps are loaded now
        from operations.selectors import job_summary  # noqa: PLC0415

        summary_register("jobs", job_summary)
