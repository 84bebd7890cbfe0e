"""Chain sync (docs/jobs.md, sync_pools): pools' chain numbers, snapshots and usage the
platform did not cause.

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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from common.db import bulk_insert_columns, bulk_update_columns
from pools.chain.batch import BatchReader
from pools.chain.errors import ChainError, ChainUnavailable
from pools.chain.types import DEFAULT_WINDOW_MS, AccountState, BlockRef
from pools.events import pools_changed, remember_partner
from pools.models import EnergyPool, EnergyUsageLog, PoolSnapshot
from pools.selectors import energy_fee_at, own_usage_since, pools_with_signed_in_flight

logger = logging.getLogger(__name__)

SYNCED_STATUSES = (
    EnergyPool.Status.ACTIVE,
    EnergyPool.Status.DRAINING,
    EnergyPool.Status.PAUSED,
    EnergyPool.Status.ERROR,
)
CHAIN_FIELDS = [
    "usage_baseline",
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
SNAPSHOT_FIELDS = [
    "pool",
    "taken_at",
    "block_number",
    "energy_limit",
    "energy_used",
    "staked_trx_sun",
    "trx_balance_sun",
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


@dataclass(frozen=True)
class UsageBaseline:
    """What the chain said about a pool's energy usage at one observation.

    `used` is EnergyUsed recovered to `at_ms`; it keeps recovering linearly until the end of
    its window, which started at `consumed_at_ms` and lasts `window_ms`.
    """

    used: int
    at_ms: int
    consumed_at_ms: int
    window_ms: int

    @classmethod
    def observe(cls, state: AccountState, at_ms: int) -> UsageBaseline:
        return cls(
            used=state.energy_used,
            at_ms=at_ms,
            consumed_at_ms=state.energy_consumed_at_ms,
            window_ms=state.energy_window_ms,
        )

    @classmethod
    def from_json(cls, data: object) -> UsageBaseline | None:
        if not isinstance(data, dict):
            return None
        return cls(**{k: int(data[k]) for k in ("used", "at_ms", "consumed_at_ms", "window_ms")})

    def to_json(self) -> dict[str, int]:
        return asdict(self)


def _recover(used: float, remaining_ms: float, elapsed_ms: float) -> tuple[float, float]:
    """Usage and remaining window after `elapsed_ms` of linear recovery."""
    if used <= 0 or remaining_ms <= 0 or elapsed_ms >= remaining_ms:
        return 0.0, 0.0
    elapsed = max(0.0, elapsed_ms)
    return used * (remaining_ms - elapsed) / remaining_ms, remaining_ms - elapsed


def expected_usage(baseline: UsageBaseline, own: Iterable[tuple[int, int]], now_ms: int) -> float:
    """EnergyUsed at `now_ms` if only our own uses (energy, at_ms) happened since `baseline`.

    Replays the chain's rule (docs/tron.md, Regeneration): usage recovers linearly over its
    window; a new use adds to what is left and merges the windows, weighted by usage, the
    new use bringing a full 24 h.
    """
    used = float(baseline.used)
    remaining = float(baseline.window_ms - (baseline.at_ms - baseline.consumed_at_ms))
    clock = baseline.at_ms
    for energy, at_ms in sorted(own, key=lambda event: event[1]):
        used, remaining = _recover(used, remaining, at_ms - clock)
        clock = at_ms
        total = used + energy
        remaining = (used * remaining + energy * DEFAULT_WINDOW_MS) / total if total else 0.0
        used = total
    used, _ = _recover(used, remaining, now_ms - clock)
    return used


def external_usage(
    *,
    baseline: UsageBaseline,
    state: AccountState,
    now_ms: int,
    own: Iterable[tuple[int, int]],
    tolerance: int,
) -> int:
    """Energy used since `baseline` that our own logged transactions do not explain."""
    if state.energy_consumed_at_ms <= baseline.consumed_at_ms:
        return 0  # nobody consumed energy since: any difference is recovery rounding
    unexplained = state.energy_used - expected_usage(baseline, own, now_ms)
    return int(unexplained) if unexplained > tolerance else 0


def _tolerance(pool: EnergyPool) -> int:
    return max(settings.POOL_EXTERNAL_USAGE_TOLERANCE, pool.energy_limit // 1000)


def _apply(
    pool: EnergyPool,
    state: AccountState,
    *,
    head: BlockRef,
    own: list[tuple[int, int]],
    in_flight: bool,
) -> EnergyUsageLog | None:
    """Update `pool` in memory from `state`; return an external-usage log if one is due.

    While a signed transaction of ours may be in a block we have not yet confirmed, its
    usage would look external: the check waits, keeping the old baseline.
    """
    now = chain_time(head)
    log = None
    baseline = UsageBaseline.from_json(pool.usage_baseline)
    if not in_flight:
        if baseline is not None:
            external = external_usage(
                baseline=baseline,
                state=state,
                now_ms=head.timestamp_ms,
                own=own,
                tolerance=_tolerance(pool),
            )
            if external:
                log = EnergyUsageLog(
                    pool=pool, kind=EnergyUsageLog.Kind.EXTERNAL, energy_used=external, at=now
                )
        pool.usage_baseline = UsageBaseline.observe(state, head.timestamp_ms).to_json()
    pool.staked_trx_sun = state.staked_energy_sun
    pool.energy_limit = state.energy_limit
    pool.energy_used = state.energy_used
    pool.trx_balance_sun = state.balance_sun
    pool.bandwidth_limit = state.net_limit + state.free_net_limit
    pool.bandwidth_used = state.net_used + state.free_net_used
    pool.last_synced_at = now
    pool.last_sync_block = head.number
    pool.last_sync_error = ""
    return log


def _own_usage(pools: Sequence[EnergyPool]) -> dict[int, list[tuple[int, int]]]:
    """Our own logged energy use per pool since each pool's usage baseline (one query)."""
    since = {
        p.pk: baseline.at_ms
        for p in pools
        if (baseline := UsageBaseline.from_json(p.usage_baseline)) is not None
    }
    return own_usage_since(since, kinds=OWN_USAGE_KINDS)


def _write_batch(
    pools: list[EnergyPool],
    states: dict[str, AccountState | ChainError],
    head: BlockRef,
    report: SyncReport,
) -> None:
    """Write one batch, each pool only if no other sync wrote it since we loaded it."""
    now = chain_time(head)
    with transaction.atomic():
        current = dict(
            EnergyPool.objects.select_for_update()
            .filter(pk__in=[p.pk for p in pools])
            .values_list("pk", "last_sync_block")
        )
        pools = [p for p in pools if p.pk in current and current[p.pk] == p.last_sync_block]
        own = _own_usage(pools)
        in_flight = pools_with_signed_in_flight([p.pk for p in pools])
        snapshots: list[PoolSnapshot] = []
        logs: list[EnergyUsageLog] = []
        synced: list[EnergyPool] = []
        failures: dict[str, list[int]] = {}
        for pool in pools:
            state = states[pool.address]
            if isinstance(state, AccountState) and not state.exists:
                state = ChainError("account not found on chain")
            if isinstance(state, ChainError):
                message = _public_error(state)
                failures.setdefault(message, []).append(pool.pk)
                report.failed += 1
                report.errors[pool.address] = message
                continue
            synced.append(pool)
            log = _apply(
                pool, state, head=head, own=own.get(pool.pk, []), in_flight=pool.pk in in_flight
            )
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
        bulk_update_columns(synced, CHAIN_FIELDS)
        for message, pks in failures.items():
            # The last good numbers stay; only the reason is recorded.
            EnergyPool.objects.filter(pk__in=pks).update(last_sync_error=message)
        bulk_insert_columns(snapshots, SNAPSHOT_FIELDS)
        if logs:
            fee = energy_fee_at(now)
            for log in logs:
                log.energy_fee_sun = fee
            EnergyUsageLog.objects.bulk_create(logs)
        for pool in pools:
            remember_partner(pool_id=pool.pk, partner_id=pool.partner_id)
        pools_changed(pool_ids=[p.pk for p in pools], reason="sync")
    report.snapshots += len(snapshots)
    report.external_logs += len(logs)


def _public_error(error: ChainError) -> str:
    """What partners may read: never a node URL (it can carry a provider's token)."""
    if isinstance(error, ChainUnavailable):
        return "TRON node unavailable"
    return str(error)[:500] or type(error).__name__


Read = tuple[BlockRef | ChainError, dict[str, AccountState | ChainError]]


async def _read(reader: BatchReader, addresses: list[str]) -> Read:
    head, states = await asyncio.gather(
        reader.head_block(), reader.accounts(addresses), return_exceptions=True
    )
    if isinstance(head, BaseException) and not isinstance(head, ChainError):
        raise head
    if isinstance(states, BaseException):
        raise states
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

            async def load_and_read(chunk: list[int]) -> tuple[list[EnergyPool], Read]:
                batch = await _load(chunk)
                return batch, await _read(reader, [p.address for p in batch])

            chunks = [pks[start : start + batch_size] for start in range(0, len(pks), batch_size)]
            pending = asyncio.create_task(load_and_read(chunks[0])) if chunks else None
            for index in range(len(chunks)):
                assert pending is not None
                batch, (head, states) = await pending
                # Read the next batch from the chain while this one is written.
                if index + 1 < len(chunks):
                    pending = asyncio.create_task(load_and_read(chunks[index + 1]))
                if isinstance(head, ChainError):
                    await _fail(batch, head, report)
                else:
                    await _write(batch, states, head, report)

    # async_to_sync, not asyncio.run: the database work wrapped in sync_to_async then runs
    # on this thread, inside the caller's transaction and connection.
    async_to_sync(run)()
    return report


def _load_batch(pks: list[int]) -> list[EnergyPool]:
    # Only what sync reads; every chain column it writes is set before the write.
    return list(
        EnergyPool.objects.filter(pk__in=pks)
        .only("pk", "partner_id", "address", "energy_limit", "last_sync_block", "usage_baseline")
        .order_by("pk")
    )


def _fail_batch(pools: list[EnergyPool], error: ChainError, report: SyncReport) -> None:
    """No head block: nothing can be dated, so the batch only records why it failed."""
    message = _public_error(error)
    EnergyPool.objects.filter(pk__in=[p.pk for p in pools]).update(last_sync_error=message)
    report.failed += len(pools)
    report.errors.update({p.address: message for p in pools})


_load = sync_to_async(_load_batch)
_write = sync_to_async(_write_batch)
_fail = sync_to_async(_fail_batch)
