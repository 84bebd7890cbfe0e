"""Operators' job history and lease endpoints."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from operations.models import JobLock, JobRun
from operations.tests.factories import JobLockFactory, JobRunFactory

pytestmark = pytest.mark.django_db

PATHS = [
    ("get", "/api/v1/batch/executions/recent"),
    ("get", "/api/v1/batch/executions/stats"),
    ("get", "/api/v1/batch/jobs/sync_pools/lock/status"),
    ("post", "/api/v1/batch/jobs/sync_pools/lock/release"),
    ("get", "/api/v1/batch/locks/expired"),
    ("post", "/api/v1/batch/locks/cleanup"),
]


@pytest.mark.parametrize(("method", "path"), PATHS)
def test_partners_and_strangers_are_refused(method, path, key_client, owner_client):
    JobLockFactory(job="sync_pools")
    for client in (APIClient(), key_client, owner_client):
        assert getattr(client, method)(path).status_code in (401, 403)
    assert JobLock.objects.filter(job="sync_pools").exists()


def test_recent_runs_and_filter(staff_client, django_assert_num_queries):
    JobRunFactory.create_batch(3, job="sync_pools")
    JobRunFactory(job="cleanup")
    assert staff_client.get("/api/v1/batch/executions/recent").json()["count"] == 4
    body = staff_client.get("/api/v1/batch/executions/recent", {"job": "cleanup"}).json()
    assert [r["job"] for r in body["results"]] == ["cleanup"]
    assert body["results"][0]["duration_seconds"] == 2.0


def test_stats_per_job(staff_client):
    JobRunFactory.create_batch(2, job="sync_pools")
    JobRunFactory(job="sync_pools", status=JobRun.Status.FAILED, error="node down")
    JobRunFactory(job="sync_pools", status=JobRun.Status.SKIPPED)
    (row,) = staff_client.get("/api/v1/batch/executions/stats").json()
    assert (row["job"], row["runs"], row["succeeded"], row["failed"], row["skipped"]) == (
        "sync_pools",
        4,
        2,
        1,
        1,
    )
    assert row["average_seconds"] == 2.0


def test_lock_status_and_forced_release(staff_client):
    body = staff_client.get("/api/v1/batch/jobs/sync_pools/lock/status").json()
    assert body == {"job": "sync_pools", "locked": False, "lease": None}
    JobLockFactory(job="sync_pools", holder="host:1:x")
    body = staff_client.get("/api/v1/batch/jobs/sync_pools/lock/status").json()
    assert (body["locked"], body["lease"]["holder"]) == (True, "host:1:x")
    assert staff_client.post("/api/v1/batch/jobs/sync_pools/lock/release").json() == {"released": 1}
    assert staff_client.post("/api/v1/batch/jobs/sync_pools/lock/release").json() == {"released": 0}
    assert not JobLock.objects.exists()


def test_expired_leases_listed_and_cleaned(staff_client):
    old = timezone.now() - timedelta(hours=2)
    JobLockFactory(job="stale", acquired_at=old, expires_at=old + timedelta(minutes=5))
    JobLockFactory(job="live")
    assert [lease["job"] for lease in staff_client.get("/api/v1/batch/locks/expired").json()] == [
        "stale"
    ]
    assert staff_client.post("/api/v1/batch/locks/cleanup").json() == {"released": 1}
    assert list(JobLock.objects.values_list("job", flat=True)) == ["live"]


def test_batch_reads_query_counts_are_constant(staff_client, django_assert_num_queries):
    JobRunFactory.create_batch(2)
    staff_client.get("/api/v1/batch/executions/recent")
    with django_assert_num_queries(5):  # session, user, device, count, page
        staff_client.get("/api/v1/batch/executions/recent")
    with django_assert_num_queries(4):  # session, user, device, stats
        staff_client.get("/api/v1/batch/executions/stats")
    JobRunFactory.create_batch(10, job="other")
    with django_assert_num_queries(5):
        staff_client.get("/api/v1/batch/executions/recent")
    with django_assert_num_queries(4):
        staff_client.get("/api/v1/batch/executions/stats")
