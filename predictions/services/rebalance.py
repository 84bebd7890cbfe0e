"""Energy sharing between a partner's pools: the `rebalance_pools` job (docs/jobs.md).

A pool is *short* when its depletion estimate (`pool_depletion_estimates`, which counts the
pool's pro-rata share of its partner's one queue) runs out within `REBALANCE_HORIZON_HOURS`
at the forecast's pessimistic rate, or already has less than nothing once the queue's share
is counted. Another pool of the same partner with *surplus beyond its own forecast need*
(`pool_surplus` over the same horizon, bounded by what it has free now) lends it energy by
delegating stake (DelegateResource; `pools/services/sharing.py` makes each move a staking
operation with its reason). When the shortage has passed and the lock allows, the loan is
given back (UnDelegateResource).

The queue's share moves with the limits: a pool's queue share is its limit over the
partner's total, so moving `d` energy of limit changes the receiver's estimate by
`d × (1 − Q/T)` (Q the partner's queued energy, T its pools' total limit, which a delegation
between its own pools leaves unchanged). Needs and surpluses are divided by that factor, so
a move is sized for the estimate after it. Energy ↔ TRX at the network's live ratio
(TotalEnergyLimit / TotalEnergyWeight, `network_energy_per_trx`).

Several short pools share the supply fairly (`fair_share`): a floor of
`REBALANCE_FLOOR_PERCENT` of it split evenly first, the rest by the pools' `share_priority`
(weighted water-filling: nobody gets more than it needs, what one does not need goes to the
others). Per partner: an off switch (`sharing_enabled`; off, no new loans, and loans out are
still given back as their shortage passes), at most `sharing_max_moves_per_hour`
delegations and `sharing_max_trx_per_hour` TRX delegated in any hour; when moves are too few
for every short pool, the pools served longest ago go first, so none is starved.

Idempotent: loans in flight (planned or delegating) count as already delivered, so a run
right after another does not lend twice; one open loan per donor and receiver.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from partners.models import Partner
from pools.chain import chain_client
from pools.models import EnergyPool, EnergyShare, SigningKey
from pools.services.sharing import SettleReport, share_open, share_return, shares_settle
from predictions.selectors import (
    DepletionEstimate,
    current_upper_series,
    depletion_hours,
    network_energy_per_trx,
    pool_depletion_estimates,
    pool_surplus,
)

logger = logging.getLogger(__name__)

SUN = 1_000_000
ShareState = EnergyShare.State
IN_FLIGHT = (ShareState.PLANNED, ShareState.DELEGATING)


@dataclass(frozen=True)
class PoolView:
    """What planning needs of one energy pool."""

    pool_id: int
    partner_id: int
    can_donate: bool  # active, custodial, a key held: it can sign a delegation
    can_receive: bool  # active: its energy is spent
    limit: int
    reserved: int
    free: int  # limit - used - reserved now: the most of its stake that is unused
    staked_sun: int  # its own stake for energy (what it can delegate)
    priority: int
    last_received: datetime | None  # its newest loan, for rotation


@dataclass(frozen=True)
class ShareView:
    share_id: int
    donor_id: int
    receiver_id: int
    state: str
    energy: int
    lock_period_blocks: int
    delegated_block: int | None


@dataclass(frozen=True)
class PartnerView:
    partner_id: int
    enabled: bool
    lock_blocks: int
    moves_left: int  # delegations still allowed this hour
    trx_left_sun: int  # TRX still allowed this hour
    queued: int  # energy the partner's queue waits for
    total_limit: int  # its energy pools' (active, draining) summed limit


@dataclass(frozen=True)
class Move:
    partner_id: int
    donor_id: int
    receiver_id: int
    amount_sun: int
    energy: int
    lock_period_blocks: int
    reason: str


@dataclass(frozen=True)
class Return:
    share_id: int
    reason: str


@dataclass
class Plan:
    moves: list[Move] = field(default_factory=list)
    returns: list[Return] = field(default_factory=list)


@dataclass(frozen=True)
class Need:
    pool_id: int
    energy: int  # energy of limit it should receive
    priority: int


def fair_share(*, supply: int, needs: Sequence[Need], floor_percent: float) -> dict[int, int]:
    """Split `supply` among `needs`: first a floor (`floor_percent` of the supply, evenly,
    never above a pool's need), then the rest by priority with weighted water-filling: each
    pool gets min(need, λ × priority) with λ as large as the supply allows. Every pool with a
    need gets something when there is supply; nobody gets more than its need."""
    if supply <= 0 or not needs:
        return {n.pool_id: 0 for n in needs}
    floor = int(supply * floor_percent / 100) // len(needs)
    given = {n.pool_id: min(n.energy, floor) for n in needs}
    left = supply - sum(given.values())
    open_needs = [n for n in needs if n.energy > given[n.pool_id]]
    # Water-filling: the pool that runs out first (smallest remaining need per priority)
    # is filled, its unused slice goes to the rest.
    open_needs.sort(key=lambda n: ((n.energy - given[n.pool_id]) / n.priority, n.pool_id))
    weight = sum(n.priority for n in open_needs)
    for n in open_needs:
        if left <= 0 or weight <= 0:
            break
        remaining = n.energy - given[n.pool_id]
        slice_ = min(remaining, left * n.priority // weight)
        given[n.pool_id] += slice_
        left -= slice_
        weight -= n.priority
    return given


def _receiving_order(pool: PoolView) -> tuple[float, int, int]:
    served = pool.last_received.timestamp() if pool.last_received else float("-inf")
    return (served, -pool.priority, pool.pool_id)


def plan_partner(
    *,
    partner: PartnerView,
    pools: Sequence[PoolView],
    estimates: dict[int, DepletionEstimate],
    surplus: dict[int, int],
    shares: Sequence[ShareView],
    upper: dict[int, list[float]],
    energy_per_trx: Decimal,
    head_block: int | None,
    horizon_hours: int,
    margin_percent: float,
    floor_percent: float,
) -> Plan:
    """One partner's moves and returns (pure: no I/O). See the module's docstring."""
    plan = Plan()
    ratio = float(energy_per_trx)
    if ratio <= 0:
        return plan
    keep = 1 - partner.queued / partner.total_limit if partner.total_limit > 0 else 0.0
    # Returns: a loan whose lock has ended and whose receiver is no longer short, even
    # without it; or whose receiver no longer spends energy.
    by_id = {p.pool_id: p for p in pools}
    for share in shares:
        if share.state != ShareState.ACTIVE:
            continue
        unlocked = share.lock_period_blocks == 0 or (
            head_block is not None
            and share.delegated_block is not None
            and head_block > share.delegated_block + share.lock_period_blocks
        )
        if not unlocked:
            continue
        receiver = by_id.get(share.receiver_id)
        estimate = estimates.get(share.receiver_id)
        if receiver is None or not receiver.can_receive or estimate is None:
            plan.returns.append(Return(share.share_id, "the receiving pool is not active"))
            continue
        # The receiver's estimate as it would be without the loan: its limit, and with it
        # its queue share, smaller.
        limit = receiver.limit - share.energy
        without = estimate.available - share.energy * max(keep, 0.0)
        queued = (
            partner.queued * min(1.0, limit / partner.total_limit) if partner.total_limit else 0
        )
        hours_left, _ = depletion_hours(
            available=without,
            limit=max(0, limit),
            committed=receiver.reserved + int(queued),
            upper=upper.get(share.receiver_id, []),
        )
        if hours_left is None and without >= 0:
            plan.returns.append(
                Return(
                    share.share_id,
                    f"shortage passed: pool {share.receiver_id} keeps {int(without):,} energy "
                    f"beyond its queue share without the loan and lasts {horizon_hours} h at "
                    "the forecast",
                )
            )
    if not partner.enabled or keep <= 0 or partner.moves_left <= 0 or partner.trx_left_sun < SUN:
        return plan

    lending = {s.donor_id for s in shares}
    borrowing = {s.receiver_id for s in shares}
    open_pairs = {(s.donor_id, s.receiver_id) for s in shares}
    incoming: dict[int, float] = defaultdict(float)  # in flight, in estimate units
    outgoing: dict[int, float] = defaultdict(float)
    for share in shares:
        if share.state in IN_FLIGHT:
            incoming[share.receiver_id] += share.energy * keep
            outgoing[share.donor_id] += share.energy * keep

    give: dict[int, int] = {}
    for pool in pools:
        estimate = estimates.get(pool.pool_id)
        if (
            not pool.can_donate
            or estimate is None
            or estimate.hours_left is not None
            or pool.pool_id in borrowing
            or pool.pool_id not in surplus
        ):
            continue
        spare = min(surplus[pool.pool_id], max(0, estimate.available)) - outgoing[pool.pool_id]
        by_stake = pool.staked_sun // SUN * ratio
        energy = int(min(spare / keep, pool.free - outgoing[pool.pool_id] / keep, by_stake))
        if energy >= ratio:  # at least 1 TRX of stake
            give[pool.pool_id] = energy
    if not give:
        return plan

    short: list[tuple[PoolView, Need, DepletionEstimate]] = []
    for pool in pools:
        estimate = estimates.get(pool.pool_id)
        if not pool.can_receive or estimate is None or estimate.hours_left is None:
            continue
        if pool.pool_id in lending:
            continue
        if all((donor, pool.pool_id) in open_pairs for donor in give):
            continue  # its loans are out or on their way: it waits for them
        lacking = max(0, -estimate.available) + estimate.shortfall - incoming[pool.pool_id]
        if lacking <= 0:
            continue
        energy = math.ceil(lacking / keep * (1 + margin_percent / 100))
        short.append((pool, Need(pool.pool_id, energy, max(1, pool.priority)), estimate))
    if not short:
        return plan

    # The supply is shared among every short pool; when the hour's moves are fewer than
    # them, the pools served longest ago move first and the others' shares stay with the
    # donors for the next hour.
    supply = min(sum(give.values()), int(partner.trx_left_sun // SUN * ratio))
    shares_of = fair_share(
        supply=supply, needs=[need for _, need, _ in short], floor_percent=floor_percent
    )
    short.sort(key=lambda item: _receiving_order(item[0]))
    moves_left = partner.moves_left
    trx_left = partner.trx_left_sun // SUN
    total_priority = sum(need.priority for _, need, _ in short)
    for pool, need, estimate in short:
        wanted = shares_of[pool.pool_id]
        donors = sorted(give.items(), key=lambda item: (-item[1], item[0]))
        for donor_id, available in donors:
            if wanted < ratio or moves_left <= 0 or trx_left < 1:
                break
            if (donor_id, pool.pool_id) in open_pairs or available < ratio:
                continue
            trx = min(math.ceil(wanted / ratio), int(available / ratio), trx_left)
            if trx < 1:
                continue
            energy = int(trx * ratio)
            why = (
                "queue waiting"
                if estimate.available < 0 and estimate.queued_energy > 0
                else f"depletes in {estimate.hours_left:.1f} h at the forecast's upper bound"
                if estimate.hours_left
                else "out of energy"
            )
            plan.moves.append(
                Move(
                    partner_id=partner.partner_id,
                    donor_id=donor_id,
                    receiver_id=pool.pool_id,
                    amount_sun=trx * SUN,
                    energy=energy,
                    lock_period_blocks=partner.lock_blocks,
                    reason=(
                        f"pool {pool.pool_id} short ({why}): lacks {need.energy:,} energy of "
                        f"limit within {horizon_hours} h; fair share {wanted:,} of "
                        f"{supply:,} spare (priority {need.priority} of {total_priority}); "
                        f"pool {donor_id} lends {trx:,} TRX of stake = {energy:,} energy at "
                        f"{ratio:.4f} energy/TRX"
                    ),
                )
            )
            give[donor_id] = available - energy
            wanted -= energy
            moves_left -= 1
            trx_left -= trx
    return plan


def _partners(now: datetime) -> list[PartnerView]:
    hour_ago = now - timedelta(hours=1)
    recent = Q(
        energy_shares__created_at__gte=hour_ago,
    ) & ~Q(energy_shares__state=ShareState.FAILED)
    rows = (
        Partner.objects.filter(status=Partner.Status.ACTIVE)
        .annotate(
            moves=Count("energy_shares", filter=recent),
            moved_sun=Sum("energy_shares__amount_sun", filter=recent),
        )
        .values_list(
            "pk",
            "sharing_enabled",
            "sharing_lock_blocks",
            "sharing_max_moves_per_hour",
            "sharing_max_trx_per_hour",
            "moves",
            "moved_sun",
        )
    )
    queued = dict(
        Partner.objects.filter(queue_entries__isnull=False)
        .annotate(q=Sum("queue_entries__energy_needed"))
        .values_list("pk", "q")
    )
    views = []
    for pk, enabled, lock, max_moves, max_trx, moves, moved_sun in rows:
        views.append(
            PartnerView(
                partner_id=pk,
                enabled=enabled,
                lock_blocks=lock,
                moves_left=max(0, max_moves - moves),
                trx_left_sun=max(0, max_trx * SUN - (moved_sun or 0)),
                queued=int(queued.get(pk) or 0),
                total_limit=0,
            )
        )
    return views


def rebalance_plan(
    *,
    energy_per_trx: Decimal,
    head_block: int | None,
    now: datetime | None = None,
    partner_ids: Iterable[int] | None = None,
) -> Plan:
    """Every partner's moves and returns from the database's numbers (six queries,
    whatever the number of pools): partners with their hour's moves, the queue, the pools
    with their newest loan, open loans, the forecasts' pessimistic side over the horizon,
    and the depletion estimates (which count each pool's share of its partner's queue).
    `energy_per_trx` and `head_block` come from the chain (`pools_rebalance`)."""
    now = now or timezone.now()
    horizon = settings.REBALANCE_HORIZON_HOURS
    partners = _partners(now)
    if partner_ids is not None:
        wanted = set(partner_ids)
        partners = [p for p in partners if p.partner_id in wanted]
    partner_set = {p.partner_id for p in partners}
    last_received = (
        EnergyShare.objects.filter(receiver_id=OuterRef("pk"))
        .exclude(state=ShareState.FAILED)
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    rows = (
        EnergyPool.objects.filter(
            partner_id__in=partner_set,
            role=EnergyPool.Role.ENERGY,
            status__in=[EnergyPool.Status.ACTIVE, EnergyPool.Status.DRAINING],
        )
        .annotate(
            keyed=Exists(SigningKey.objects.filter(address=OuterRef("address"))),
            last_received=Subquery(last_received),
        )
        .order_by()
        .values_list(
            "pk",
            "partner_id",
            "status",
            "custody",
            "keyed",
            "energy_limit",
            "energy_used",
            "reserved_energy",
            "staked_trx_sun",
            "share_priority",
            "last_received",
        )
    )
    pools: dict[int, list[PoolView]] = defaultdict(list)
    limits: dict[int, int] = defaultdict(int)
    for pk, partner_id, status, custody, keyed, limit, used, reserved, staked, prio, last in rows:
        active = status == EnergyPool.Status.ACTIVE
        pools[partner_id].append(
            PoolView(
                pool_id=pk,
                partner_id=partner_id,
                can_donate=active and custody == EnergyPool.Custody.CUSTODIAL and keyed,
                can_receive=active,
                limit=limit,
                reserved=reserved,
                free=max(0, limit - used - reserved),
                staked_sun=staked,
                priority=prio,
                last_received=last,
            )
        )
        limits[partner_id] += limit
    shares: dict[int, list[ShareView]] = defaultdict(list)
    for row in EnergyShare.objects.filter(
        state__in=EnergyShare.OPEN_STATES, partner_id__in=partner_set
    ).values_list(
        "pk",
        "partner_id",
        "donor_id",
        "receiver_id",
        "state",
        "energy",
        "lock_period_blocks",
        "delegated_block",
    ):
        pk, partner_id, donor, receiver, state, energy, lock, block = row
        shares[partner_id].append(ShareView(pk, donor, receiver, state, energy, lock, block))
    # Only partners with two pools or a loan out can move anything.
    candidates = [p for p in partners if len(pools[p.partner_id]) > 1 or shares[p.partner_id]]
    pool_ids = [v.pool_id for p in candidates for v in pools[p.partner_id]]
    upper = current_upper_series(pool_ids=pool_ids, now=now, hours=horizon)
    estimates = pool_depletion_estimates(pool_ids=pool_ids, now=now, hours=horizon, series=upper)
    surplus = pool_surplus(
        estimates=estimates, pool_ids=pool_ids, hours=horizon, now=now, series=upper
    )
    plan = Plan()
    for partner in candidates:
        view = PartnerView(
            partner_id=partner.partner_id,
            enabled=partner.enabled,
            lock_blocks=partner.lock_blocks,
            moves_left=partner.moves_left,
            trx_left_sun=partner.trx_left_sun,
            queued=partner.queued,
            total_limit=limits[partner.partner_id],
        )
        one = plan_partner(
            partner=view,
            pools=pools[partner.partner_id],
            estimates=estimates,
            surplus=surplus,
            shares=shares[partner.partner_id],
            upper=upper,
            energy_per_trx=energy_per_trx,
            head_block=head_block,
            horizon_hours=horizon,
            margin_percent=settings.REBALANCE_MARGIN_PERCENT,
            floor_percent=settings.REBALANCE_FLOOR_PERCENT,
        )
        plan.moves.extend(one.moves)
        plan.returns.extend(one.returns)
    return plan


@dataclass(frozen=True)
class RebalanceReport:
    settled: SettleReport
    delegated: int  # new loans whose delegation was recorded
    returning: int  # loans whose undelegation was recorded
    failed: int  # new loans the chain refused

    @property
    def items(self) -> int:
        return self.delegated + self.returning


def pools_rebalance(*, now: datetime | None = None) -> RebalanceReport:
    """The `rebalance_pools` job: settle loans in flight, then plan and make the moves and
    returns (module docstring). Must run outside a transaction (each move is broadcast after
    its record commits). A node outage raises `ChainUnavailable` before anything new is
    recorded; loans already recorded are carried on by the next run."""
    settled = shares_settle()
    any_pool = EnergyPool.objects.filter(role=EnergyPool.Role.ENERGY).only("address").first()
    if any_pool is None:
        return RebalanceReport(settled, 0, 0, 0)
    ratio = network_energy_per_trx(pools=[any_pool])
    if ratio is None:
        return RebalanceReport(settled, 0, 0, 0)
    head = chain_client().head_block().number
    plan = rebalance_plan(energy_per_trx=ratio, head_block=head, now=now)
    returning = 0
    if plan.returns:
        by_id = EnergyShare.objects.select_related("donor", "receiver").in_bulk(
            [r.share_id for r in plan.returns]
        )
        for ret in plan.returns:
            back = share_return(share=by_id[ret.share_id], reason=ret.reason)
            returning += back.state == ShareState.RETURNING
    delegated = failed = 0
    if plan.moves:
        pools = EnergyPool.objects.in_bulk(
            {m.donor_id for m in plan.moves} | {m.receiver_id for m in plan.moves}
        )
        for move in plan.moves:
            share = share_open(
                donor=pools[move.donor_id],
                receiver=pools[move.receiver_id],
                amount_sun=move.amount_sun,
                energy=move.energy,
                lock_period_blocks=move.lock_period_blocks,
                reason=move.reason,
            )
            if share is None:
                continue
            if share.state == ShareState.FAILED:
                failed += 1
                logger.warning("rebalance: share %s refused: %s", share.pk, share.result)
            else:
                delegated += 1
    return RebalanceReport(settled, delegated, returning, failed)
