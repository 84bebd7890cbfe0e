"""Upsert every job of `operations.jobs.JOBS` into django-celery-beat by name."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from operations.jobs import JOBS

MANAGED_MARK = "[managed by setup_periodic_tasks]"


class Command(BaseCommand):
    help = "Create or update the periodic jobs declared in operations/jobs.py."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        names = set()
        for job in JOBS:
            schedule, _ = IntervalSchedule.objects.get_or_create(
                every=job.every_seconds, period=IntervalSchedule.SECONDS
            )
            _, created = PeriodicTask.objects.update_or_create(
                name=job.name,
                defaults={
                    "task": job.task,
                    "interval": schedule,
                    "crontab": None,
                    "expire_seconds": int(job.expires_seconds),
                    "enabled": True,
                    "description": f"{job.description} {MANAGED_MARK}",
                },
            )
            names.add(job.name)
            self.stdout.write(f"{'created' if created else 'updated'} {job.name}")
        stale = PeriodicTask.objects.filter(description__endswith=MANAGED_MARK).exclude(
            name__in=names
        )
        for task in stale:
            self.stdout.write(f"removed {task.name}")
        stale.delete()
