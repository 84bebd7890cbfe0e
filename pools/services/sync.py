"""Chain sync (SPEC §6.1): pools' chain numbers, snapshots and usage the platform did not cause.

Pools are read in batches; each batch is read concurrently (`BatchReader`) and written in
one transaction: one bulk UPDATE of the pools' chain columns, one INSERT of snapshots and
one of external-usage logs. Sync never touches `reserved_energy` (the ledger's column) nor
anything an operator edits, so it cannot lose a concurrent write.

Times are the chain's: a snapshot is stamped with the head block's timestamp, so the
time series follows the chain even on a devnet whose clock was advanced.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet

from pools.chain.batch import BatchReader
from pools.chain.errors import ChainError
from pools.chain.types import AccountState, BlockRef
from pools.models import EnergyPool, EnergyUsageLog, PoolSnapshot

logger = logging.getLogger(__name__)

RECOVERY_SECONDS = 24 * 3600
SYNCED_STATUSES = (
    EnergyPool.Status.ACTIVE,
    EnergyPool.Status.DRAINING,
    EnergyPool.Status.PAUSED,
    EnergyPool.Status.ERROR,
)
CHAIN_FIELDS = [
    "staked_trx_sun",
    "energy_limit",
    "energy_used",
    "trx_balance_sun",
    "bandwidth_limit",
    "bandwidth_used",
    "last_synced_at",
    "last_sync_block",
    "last_sync_error",
]
OWN_USAGE_KINDS = (EnergyUsageLog.Kind.WITHDRAWAL, EnergyUsageLog.Kind.STAKING)


@dataclass
class SyncReport:
    pools: int = 0
    synced: int = 0
    failed: int = 0
    snapshots: int = 0
    external_logs: int = 0
    errors: dict[str, str] = field(default_factory=dict)


def chain_time(head: BlockRef) -> datetime:
    return datetime.fromtimestamp(head.timestamp_ms / 1000, tz=UTC)


def _decayed(energy: int, *, since: datetime, now: datetime) -> float:
    """What is left at `now` of `energy` used at `since`: linear recovery over 24 h."""
    elapsed = (now - since).total_seconds()
    return energy * max(0.0, 1.0 - max(0.0, elapsed) / RECOVERY_SECONDS)


def external_usage(
    *,
    previous_used: int,
    previous_at: datetime | None,
    current_used: int,
    now: datetime,
    own: Iterable[tuple[int, datetime]],
    tolerance: int,
) -> int:
    """Energy used since the last sync that our own transactions do not explain.

    The chain's `EnergyUsed` is the usage still recovering: what was there last time, less
    its linear recovery, plus new usage (also recovering). New usage beyond our own logged
    transactions, by more than `tolerance`, was caused by someone else.
    """
    if previous_at is None:
        return 0
    expected = _decayed(previous_used, since=previous_at, now=now)
    expected += sum(_decayed(energy, since=at, now=now) for energy, at in own)
    unexplained = current_used - expected
    return int(unexplained) if unexplained > tolerance else 0


def _tolerance(pool: EnergyPool) -> int:
    return max(settings.POOL_EXTERNAL_USAGE_TOLERANCE, pool.energy_limit // 200)


def _apply(
    pool: EnergyPool,
    state: AccountState,
    *,
    now: datetime,
    head: BlockRef,
    own: list[tuple[int, datetime]],
) -> EnergyUsageLog | None:
    """Update `pool` in memory from `state`; return an external-usage log if one is due."""
    external = external_usage(
        previous_used=pool.energy_used,
        previous_at=pool.last_synced_at,
        current_used=state.energy_used,
        now=now,
        own=own,
        tolerance=_tolerance(pool),
    )
    pool.staked_trx_sun = state.staked_energy_sun
    pool.energy_limit = state.energy_limit
    pool.energy_used = state.energy_used
    pool.trx_balance_sun = state.balance_sun
    pool.bandwidth_limit = state.net_limit + state.free_net_limit
    pool.bandwidth_used = state.net_used + state.free_net_used
    pool.last_synced_at = now
    pool.last_sync_block = head.number
    pool.last_sync_error = ""
    if not external:
        return None
    return EnergyUsageLog(
        pool=pool, kind=EnergyUsageLog.Kind.EXTERNAL, energy_used=external, at=now
    )


def _own_usage(pools: Sequence[EnergyPool]) -> dict[int, list[tuple[int, datetime]]]:
    """Our own logged energy use per pool since each pool's last sync."""
    synced = [p.last_synced_at for p in pools if p.last_synced_at is not None]
    if not synced:
        return {}
    since = {p.pk: p.last_synced_at for p in pools}
    rows = EnergyUsageLog.objects.filter(
        pool_id__in=[p.pk for p in pools], kind__in=OWN_USAGE_KINDS, at__gt=min(synced)
    ).values_list("pool_id", "energy_used", "at")
    usage: dict[int, list[tuple[int, datetime]]] = {}
    for pool_id, energy, at in rows:
        last = since.get(pool_id)
        if last is not None and at > last:
            usage.setdefault(pool_id, []).append((energy, at))
    return usage


def _write_batch(
    pools: list[EnergyPool],
    states: dict[str, AccountState | ChainError],
    head: BlockRef,
    report: SyncReport,
) -> None:
    now = chain_time(head)
    own = _own_usage(pools)
    snapshots: list[PoolSnapshot] = []
    logs: list[EnergyUsageLog] = []
    for pool in pools:
        state = states[pool.address]
        if isinstance(state, AccountState) and not state.exists:
            state = ChainError("account not found on chain")
        if isinstance(state, ChainError):
            pool.last_sync_error = str(state)[:500] or type(state).__name__
            report.failed += 1
            report.errors[pool.address] = pool.last_sync_error
            continue
        log = _apply(pool, state, now=now, head=head, own=own.get(pool.pk, []))
        if log is not None:
            logs.append(log)
        snapshots.append(
            PoolSnapshot(
                pool=pool,
                taken_at=now,
                block_number=head.number,
                energy_limit=pool.energy_limit,
                energy_used=pool.energy_used,
                staked_trx_sun=pool.staked_trx_sun,
                trx_balance_sun=pool.trx_balance_sun,
            )
        )
        report.synced += 1
    with transaction.atomic():
        EnergyPool.objects.bulk_update(pools, CHAIN_FIELDS)
        PoolSnapshot.objects.bulk_create(snapshots)
        EnergyUsageLog.objects.bulk_create(logs)
    report.snapshots += len(snapshots)
    report.external_logs += len(logs)


async def _read(
    reader: BatchReader, addresses: list[str]
) -> tuple[BlockRef, dict[str, AccountState | ChainError]]:
    head, states = await asyncio.gather(reader.head_block(), reader.accounts(addresses))
    return head, states


def pools_sync(*, queryset: QuerySet[EnergyPool] | None = None) -> SyncReport:
    """Sync every pool in `queryset` (default: all but archived) with the chain.

    Idempotent: a second run writes fresh numbers and a new snapshot, never a duplicate
    usage log for the same usage (the previous sync's numbers already account for it).
    Raises `ChainUnavailable` only when no node answers the head block of a batch.
    """
    pools = queryset if queryset is not None else EnergyPool.objects.all()
    pks = list(pools.filter(status__in=SYNCED_STATUSES).order_by("pk").values_list("pk", flat=True))
    report = SyncReport(pools=len(pks))
    batch_size = settings.POOL_SYNC_BATCH_SIZE

    async def run() -> None:
        async with BatchReader(
            settings.TRON_NODE_URLS,
            concurrency=settings.POOL_SYNC_CONCURRENCY,
            timeout=settings.TRON_TIMEOUT_SECONDS,
            api_key=settings.TRONGRID_API_KEY,
        ) as reader:
            for start in range(0, len(pks), batch_size):
                batch = await _load(pks[start : start + batch_size])
                head, states = await _read(reader, [p.address for p in batch])
                await _write(batch, states, head, report)

    # async_to_sync, not asyncio.run: the database work wrapped in sync_to_async then runs
    # on this thread, inside the caller's transaction and connection.
    async_to_sync(run)()
    return report


def _load_batch(pks: list[int]) -> list[EnergyPool]:
    return list(EnergyPool.objects.filter(pk__in=pks).order_by("pk"))


_load = sync_to_async(_load_batch)
_write = sync_to_async(_write_batch)


def pools_stale(*, now: datetime | None = None) -> QuerySet[EnergyPool]:
    """Pools that should be synced and whose last good sync is older than the limit."""
    cutoff = (now or datetime.now(tz=UTC)) - timedelta(seconds=settings.POOL_STALE_AFTER_SECONDS)
    return EnergyPool.objects.filter(status__in=SYNCED_STATUSES).filter(
        Q(last_synced_at__isnull=True) | Q(last_synced_at__lt=cutoff)
    )
