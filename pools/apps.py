from django.apps import AppConfig


class PoolsConfig(AppConfig):
    name = "pools"
    verbose_name = "Energy pools"

    def ready(self) -> None:
        from operations.health import summary_register  # apps are loaded now
        from pools.selectors import pool_status_summary

        summary_register("pools", pool_status_summary)
