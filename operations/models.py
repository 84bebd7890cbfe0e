"""Periodic job history and the leases that keep two runs of one job from overlapping."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class JobRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (lease held elsewhere)"

    job = models.CharField(max_length=64)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    items = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    holder = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["job", "-started_at"], name="jobrun_job_recent")]
        constraints = [
            models.CheckConstraint(
                name="jobrun_finished_after_start",
                condition=Q(finished_at__isnull=True) | Q(finished_at__gte=models.F("started_at")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job} @ {self.started_at:%Y-%m-%d %H:%M:%S} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class JobLock(models.Model):
    """A lease on a job: held by `holder` until `expires_at`. An expired lease is free."""

    job = models.CharField(max_length=64, unique=True)
    holder = models.CharField(max_length=128)
    acquired_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["job"]
        constraints = [
            models.CheckConstraint(
                name="joblock_expires_after_acquired",
                condition=Q(expires_at__gt=models.F("acquired_at")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job} held by {self.holder}"
