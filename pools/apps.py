from django.apps import AppConfig


class PoolsConfig(AppConfig):
    name = "pools"
    verbose_name = "Energy pools"

    def ready(self) -> None:
        # Imported here: models must be loaded first.
        from common.metrics import gauge_source_register
        from operations.health import health_register, summary_register
        from operations.services import cleanup_register
        from pools import checks  # noqa: F401  # registers the system checks
        from pools.chain.health import TronNodeCheck
        from pools.selectors import pool_gauges, pool_status_summary
        from pools.services.retention import time_series_thin

        summary_register("pools", pool_status_summary)
        gauge_source_register("pools", pool_gauges)
        cleanup_register("pool time series", time_series_thin)
        health_register("tron", TronNodeCheck)
