"""Factories for the operations app."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from operations.models import JobLock, JobRun


class JobRunFactory(DjangoModelFactory[JobRun]):
    class Meta:
        model = JobRun

    job = "example_job"
    started_at = factory.LazyFunction(timezone.now)
    finished_at = factory.LazyAttribute(lambda r: r.started_at + timedelta(seconds=2))
    status = JobRun.Status.SUCCEEDED
    items = 3


class JobLockFactory(DjangoModelFactory[JobLock]):
    class Meta:
        model = JobLock

    job = factory.Sequence(lambda n: f"job-{n}")
    holder = "host:1:abcd"
    acquired_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyAttribute(lambda lock: lock.acquired_at + timedelta(minutes=5))
