"""Every periodic job, declared once (docs/jobs.md). `manage.py setup_periodic_tasks` upserts them.

Only jobs whose work exists are listed: a job that is not built yet is absent, not stubbed.
Tasks are named by dotted path so this module imports no app.
"""

from __future__ import annotations

from dataclasses import dataclass

# A run's lease lasts this long unless its heartbeat renews it (every third of it) while
# the work runs; a run killed without releasing it blocks its job for at most this long.
LEASE_SECONDS = 30


@dataclass(frozen=True)
class JobSpec:
    name: str
    task: str
    every_seconds: int
    description: str

    @property
    def expires_seconds(self) -> float:
        """A run not started within ~one interval is stale; the next one replaces it."""
        return max(1.0, self.every_seconds * 0.9)

    @property
    def lease_seconds(self) -> int:
        """How long a run's lease lasts without a heartbeat (`operations.services`)."""
        return LEASE_SECONDS


JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        name="sync_pools",
        task="pools.tasks.sync_pools",
        every_seconds=30,
        description="Read every pool's balance, stake and energy from the chain.",
    ),
    JobSpec(
        name="allocate_queue",
        task="withdrawals.tasks.allocate_queue",
        every_seconds=5,
        description="Reserve pool energy for queued withdrawals, oldest first per partner.",
    ),
    JobSpec(
        name="broadcast_and_confirm",
        task="withdrawals.tasks.broadcast_and_confirm",
        every_seconds=3,
        description="Sign reserved withdrawals; rebroadcast, confirm or retire every signed "
        "transaction (withdrawals and staking operations).",
    ),
    JobSpec(
        name="expire_and_audit",
        task="withdrawals.tasks.expire_and_audit",
        every_seconds=60,
        description="Void expired unsigned reservations; audit the ledger, alert on breaches.",
    ),
    JobSpec(
        name="check_alerts",
        task="alerts.tasks.check_alerts",
        every_seconds=60,
        description="Evaluate every alert rule; open, escalate, resolve and re-notify alerts; "
        "re-enqueue lost deliveries.",
    ),
    JobSpec(
        name="monitor_prices",
        task="pools.tasks.monitor_prices",
        every_seconds=300,
        description="Record the chain's energy and bandwidth fees and energy-rental quotes.",
    ),
    JobSpec(
        name="refresh_predictions",
        task="predictions.tasks.refresh_predictions",
        every_seconds=3600,
        description="Forecast every pool's energy use (24 h, 7 d) and score past forecasts.",
    ),
    JobSpec(
        name="rebalance_pools",
        task="predictions.tasks.rebalance_pools",
        every_seconds=60,
        description="Lend energy from a partner's pools with surplus to its short ones "
        "(DelegateResource), fair share by priority, within hourly limits; give it back "
        "when the shortage has passed and the lock allows.",
    ),
    JobSpec(
        name="topup_pools",
        task="predictions.tasks.topup_pools",
        every_seconds=60,
        description="Rent energy for pools the forecast says run dry, within each partner's "
        "rental budgets; take open rental orders on to delivery.",
    ),
    JobSpec(
        name="cleanup",
        task="operations.tasks.cleanup",
        every_seconds=24 * 3600,
        description="Remove expired job leases, prune old job history, thin old snapshots "
        "and price quotes (hourly after 7 days, daily after 90).",
    ),
)

JOBS_BY_NAME = {job.name: job for job in JOBS}
