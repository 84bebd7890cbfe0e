"""Thin Celery tasks for the predictions jobs."""

from __future__ import annotations

from celery import shared_task

from operations.services import job_run
from predictions.services import predictions_refresh
from predictions.services.rebalance import pools_rebalance
from predictions.services.topup import pools_topup


def _refresh() -> int:
    return predictions_refresh().forecast


@shared_task(name="predictions.tasks.refresh_predictions")
def refresh_predictions() -> int:
    return job_run(job="refresh_predictions", work=_refresh).items


def _rebalance() -> int:
    return pools_rebalance().items


@shared_task(name="predictions.tasks.rebalance_pools")
def rebalance_pools() -> int:
    """Energy sharing between each partner's pools (predictions/services/rebalance.py)."""
    return job_run(job="rebalance_pools", work=_rebalance).items


def _topup() -> int:
    return pools_topup().planned


@shared_task(name="predictions.tasks.topup_pools")
def topup_pools() -> int:
    return job_run(job="topup_pools", work=_topup).items
