from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "common"
    verbose_name = "Common"

    def ready(self) -> None:
        from common import checks  # noqa: F401  # registers the system checks
        from common.api import schema  # noqa: F401  # registers the OpenAPI extension
