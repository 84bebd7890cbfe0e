from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """Operators' console and partner dashboard: pages, their JSON reads and analytics."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "dashboard"
