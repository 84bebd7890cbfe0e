"""Operators' console: job history and leases, with a forced release."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from operations.models import JobLock, JobRun
from operations.services import lease_force_release


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["job", "started_at", "finished_at", "duration", "status", "items", "holder"]
    list_filter = ["job", "status"]
    search_fields = ["job", "error"]
    readonly_fields = ["job", "started_at", "finished_at", "status", "items", "error", "holder"]
    date_hierarchy = "started_at"
    show_full_result_count = False

    @admin.display(description="Seconds")
    def duration(self, run: JobRun) -> str:
        seconds = run.duration_seconds
        return "—" if seconds is None else f"{seconds:.2f}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(JobLock)
class JobLockAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["job", "holder", "acquired_at", "expires_at"]
    readonly_fields = ["job", "holder", "acquired_at", "expires_at"]
    actions = ["force_release"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Force-release selected leases")
    def force_release(self, request: HttpRequest, queryset: QuerySet[JobLock]) -> None:
        released = sum(lease_force_release(job=lock.job) for lock in queryset)
        self.message_user(request, f"Released {released} lease(s).", messages.WARNING)
