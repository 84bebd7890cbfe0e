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

Operator reserves (`EnergyPool.is_reserve`, `ReserveGrant`): after a partner's own pools
have lent, what its short pools still lack (`Plan.unmet`) is asked of the reserves it holds a
grant on (`plan_reserves`): each reserve's surplus beyond its own forecast need is split
fairly among the partners drawing in the run, never beyond a grant's `max_energy` (the
partner's open loans from that reserve summed), then among each partner's short pools by
priority. The loan is the borrower's `EnergyShare` (its limits, lock, off switch and return
rule); a reserve never lends to or borrows from its own partner's pools.

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

from common.tron import SUN_PER_TRX
from partners.models import Partner
from pools.chain import chain_client
from pools.models import EnergyPool, EnergyShare, ReserveGrant, SigningKey
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

SUN = SUN_PER_TRX
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
    from_reserve: bool = False  # its donor is another partner's pool (an operator reserve)
    partner_id: int = 0  # the borrower's


@dataclass(frozen=True)
class GrantView:
    """A partner's draw on an operator reserve pool (`ReserveGrant`)."""

    reserve_id: int
    partner_id: int
    max_energy: int


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
class Unmet:
    """What a short pool still lacks after its partner's own pools lent this run: what a
    reserve may cover."""

    pool: PoolView
    lacking: float  # in estimate units (energy the estimate is short of)
    gain: float  # estimate units one energy of limit from a reserve brings (queue share moves)
    why: str


@dataclass
class Budget:
    moves_left: int
    trx_left: int  # whole TRX


@dataclass
class Plan:
    moves: list[Move] = field(default_factory=list)
    returns: list[Return] = field(default_factory=list)
    # Per partner, for the reserves' pass: its short pools' remaining lack and the hour's
    # moves and TRX left after its own pools' moves.
    unmet: dict[int, list[Unmet]] = field(default_factory=dict)
    budgets: dict[int, Budget] = field(default_factory=dict)


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


def _why(estimate: DepletionEstimate) -> str:
    if estimate.available < 0 and estimate.queued_energy > 0:
        return "queue waiting"
    if estimate.hours_left:
        return f"depletes in {estimate.hours_left:.1f} h at the forecast's upper bound"
    return "out of energy"


def _spare(
    pool: PoolView,
    *,
    estimates: dict[int, DepletionEstimate],
    surplus: dict[int, int],
    outgoing: float,
    keep: float,
    ratio: float,
) -> int:
    """Energy of limit `pool` can lend: its surplus beyond its own forecast need, bounded by
    what it has available and free now and by what its stake buys, less what it has on its
    way out (`outgoing`, estimate units); `keep` is what one energy lent costs its estimate.
    0 when it cannot lend (no key, short itself, no current forecast, below 1 TRX)."""
    estimate = estimates.get(pool.pool_id)
    if (
        not pool.can_donate
        or estimate is None
        or estimate.hours_left is not None
        or pool.pool_id not in surplus
        or keep <= 0
    ):
        return 0
    spare = min(surplus[pool.pool_id], max(0, estimate.available)) - outgoing
    by_stake = pool.staked_sun // SUN * ratio
    energy = int(min(spare / keep, pool.free - outgoing / keep, by_stake))
    return energy if energy >= ratio else 0  # at least 1 TRX of stake


def _queue_share(queued: int, limit: int, total: int) -> float:
    return queued * min(1.0, max(0, limit) / total) if total > 0 else 0.0


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
    """One partner's moves between its own pools and its returns (pure: no I/O), and what
    its short pools still lack afterwards (`Plan.unmet`, `Plan.budgets`) for
    `plan_reserves`. See the module's docstring."""
    plan = Plan()
    ratio = float(energy_per_trx)
    if ratio <= 0:
        return plan
    total = partner.total_limit
    keep = 1 - partner.queued / total if total > 0 else 0.0
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
        # The receiver's estimate as it would be without the loan: its limit smaller, and
        # with it its queue share (and the partner's total, when a reserve lent it).
        limit = receiver.limit - share.energy
        queued = _queue_share(
            partner.queued, limit, total - share.energy if share.from_reserve else total
        )
        without = estimate.available + estimate.queued_energy - share.energy - queued
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
    if not partner.enabled or partner.moves_left <= 0 or partner.trx_left_sun < SUN:
        return plan

    lending = {s.donor_id for s in shares}
    borrowing = {s.receiver_id for s in shares}
    open_pairs = {(s.donor_id, s.receiver_id) for s in shares}
    incoming: dict[int, float] = defaultdict(float)  # in flight, in estimate units
    outgoing: dict[int, float] = defaultdict(float)
    for share in shares:
        if share.state in IN_FLIGHT:
            incoming[share.receiver_id] += share.energy * (
                _gain(partner, by_id[share.receiver_id])
                if share.from_reserve and share.receiver_id in by_id
                else keep
            )
            outgoing[share.donor_id] += share.energy * keep

    give: dict[int, int] = {}
    for pool in pools:
        if pool.pool_id in borrowing:
            continue
        energy = _spare(
            pool,
            estimates=estimates,
            surplus=surplus,
            outgoing=outgoing[pool.pool_id],
            keep=keep,
            ratio=ratio,
        )
        if energy:
            give[pool.pool_id] = energy

    # Short pools: what each lacks (estimate units), with or without a donor of its own.
    short: list[tuple[PoolView, float, DepletionEstimate]] = []
    for pool in pools:
        estimate = estimates.get(pool.pool_id)
        if not pool.can_receive or estimate is None or estimate.hours_left is None:
            continue
        if pool.pool_id in lending:
            continue
        lacking = max(0, -estimate.available) + estimate.shortfall - incoming[pool.pool_id]
        if lacking > 0:
            short.append((pool, lacking, estimate))
    if not short:
        return plan

    moves_left = partner.moves_left
    trx_left = partner.trx_left_sun // SUN
    received: dict[int, int] = defaultdict(int)
    own = [
        (
            pool,
            Need(
                pool.pool_id,
                math.ceil(lacking / keep * (1 + margin_percent / 100)),
                max(1, pool.priority),
            ),
            estimate,
        )
        for pool, lacking, estimate in short
        if give and keep > 0 and not all((donor, pool.pool_id) in open_pairs for donor in give)
    ]
    if own:
        # The supply is shared among every short pool; when the hour's moves are fewer than
        # them, the pools served longest ago move first and the others' shares stay with
        # the donors for the next hour.
        supply = min(sum(give.values()), int(partner.trx_left_sun // SUN * ratio))
        shares_of = fair_share(
            supply=supply, needs=[need for _, need, _ in own], floor_percent=floor_percent
        )
        own.sort(key=lambda item: _receiving_order(item[0]))
        total_priority = sum(need.priority for _, need, _ in own)
        for pool, need, estimate in own:
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
                plan.moves.append(
                    Move(
                        partner_id=partner.partner_id,
                        donor_id=donor_id,
                        receiver_id=pool.pool_id,
                        amount_sun=trx * SUN,
                        energy=energy,
                        lock_period_blocks=partner.lock_blocks,
                        reason=(
                            f"pool {pool.pool_id} short ({_why(estimate)}): lacks "
                            f"{need.energy:,} energy of limit within {horizon_hours} h; fair "
                            f"share {wanted:,} of {supply:,} spare (priority {need.priority} "
                            f"of {total_priority}); pool {donor_id} lends {trx:,} TRX of "
                            f"stake = {energy:,} energy at {ratio:.4f} energy/TRX"
                        ),
                    )
                )
                give[donor_id] = available - energy
                wanted -= energy
                received[pool.pool_id] += energy
                moves_left -= 1
                trx_left -= trx
    plan.budgets[partner.partner_id] = Budget(moves_left=moves_left, trx_left=trx_left)
    unmet = []
    for pool, lacking, estimate in short:
        left = lacking - received[pool.pool_id] * max(keep, 0.0)
        gain = _gain(partner, pool)
        if left > 0 and gain > 0:
            unmet.append(Unmet(pool=pool, lacking=left, gain=gain, why=_why(estimate)))
    if unmet:
        plan.unmet[partner.partner_id] = unmet
    return plan


def _gain(partner: PartnerView, pool: PoolView) -> float:
    """What one energy of limit lent to `pool` from outside its partner (a reserve) adds to
    its estimate, at least: its limit and the partner's total both grow, so its queue share
    grows by Q·d·(T − l)/(T·(T + d)) ≤ Q·d·(T − l)/T²."""
    total = partner.total_limit
    if total <= 0:
        return 1.0
    return 1 - partner.queued * max(0, total - pool.limit) / total**2


def plan_reserves(
    *,
    reserves: Sequence[PoolView],
    grants: Sequence[GrantView],
    partners: dict[int, PartnerView],
    plan: Plan,
    estimates: dict[int, DepletionEstimate],
    surplus: dict[int, int],
    reserve_shares: Sequence[ShareView],
    energy_per_trx: Decimal,
    horizon_hours: int,
    margin_percent: float,
    floor_percent: float,
) -> list[Move]:
    """Operator reserves as donors of last resort (pure: no I/O): after the partners' own
    moves (`plan.unmet`, `plan.budgets`), each reserve's spare (`_spare`: beyond its own
    forecast need over the horizon) is split fairly among the granted partners still short
    (`fair_share`, equal weights, each asking what its short pools lack but never more than
    its grant leaves: `max_energy` less its open loans from the reserve), then within a
    partner among its short pools by their priorities. Each move counts against the
    borrower's hourly moves and TRX; one open loan per reserve and pool. `plan.unmet` and
    `plan.budgets` are updated as reserves lend, so a second reserve covers what the first
    could not."""
    ratio = float(energy_per_trx)
    moves: list[Move] = []
    if ratio <= 0 or not plan.unmet:
        return moves
    open_pairs = {(s.donor_id, s.receiver_id) for s in reserve_shares}
    drawn: dict[tuple[int, int], int] = defaultdict(int)
    outgoing: dict[int, float] = defaultdict(float)
    for share in reserve_shares:
        drawn[(share.donor_id, share.partner_id)] += share.energy
        if share.state in IN_FLIGHT:
            outgoing[share.donor_id] += share.energy
    margin = 1 + margin_percent / 100
    by_reserve: dict[int, list[GrantView]] = defaultdict(list)
    for grant in grants:
        by_reserve[grant.reserve_id].append(grant)
    for reserve in sorted(reserves, key=lambda r: r.pool_id):
        supply = _spare(
            reserve,
            estimates=estimates,
            surplus=surplus,
            outgoing=outgoing[reserve.pool_id],
            keep=1.0,
            ratio=ratio,
        )
        if not supply:
            continue
        # What each granted partner asks of this reserve.
        asks: dict[int, tuple[GrantView, list[tuple[Unmet, int]], int]] = {}
        for grant in by_reserve.get(reserve.pool_id, []):
            budget = plan.budgets.get(grant.partner_id)
            if budget is None or budget.moves_left <= 0 or budget.trx_left < 1:
                continue
            wants = [
                (u, math.ceil(u.lacking / u.gain * margin))
                for u in plan.unmet.get(grant.partner_id, [])
                if u.lacking > 0 and (reserve.pool_id, u.pool.pool_id) not in open_pairs
            ]
            room = grant.max_energy - drawn[(reserve.pool_id, grant.partner_id)]
            ask = min(sum(w for _, w in wants), room, int(budget.trx_left * ratio))
            if wants and ask >= ratio:
                asks[grant.partner_id] = (grant, wants, ask)
        if not asks:
            continue
        per_partner = fair_share(
            supply=supply,
            needs=[Need(pid, ask, 1) for pid, (_, _, ask) in sorted(asks.items())],
            floor_percent=floor_percent,
        )
        for partner_id, (grant, wants, _ask) in sorted(asks.items()):
            allotted = per_partner[partner_id]
            budget = plan.budgets[partner_id]
            partner = partners[partner_id]
            per_pool = fair_share(
                supply=allotted,
                needs=[Need(u.pool.pool_id, w, max(1, u.pool.priority)) for u, w in wants],
                floor_percent=floor_percent,
            )
            wants.sort(key=lambda item: _receiving_order(item[0].pool))
            for unmet, want in wants:
                room = grant.max_energy - drawn[(reserve.pool_id, partner_id)]
                wanted = per_pool[unmet.pool.pool_id]
                if wanted < ratio or budget.moves_left <= 0 or budget.trx_left < 1:
                    continue
                trx = min(
                    math.ceil(wanted / ratio),
                    int(allotted / ratio),
                    int(room / ratio),
                    budget.trx_left,
                )
                if trx < 1:
                    continue
                energy = int(trx * ratio)
                moves.append(
                    Move(
                        partner_id=partner_id,
                        donor_id=reserve.pool_id,
                        receiver_id=unmet.pool.pool_id,
                        amount_sun=trx * SUN,
                        energy=energy,
                        lock_period_blocks=partner.lock_blocks,
                        reason=(
                            f"pool {unmet.pool.pool_id} short ({unmet.why}): lacks {want:,} "
                            f"energy of limit within {horizon_hours} h beyond what its "
                            f"partner's own pools lend; operator reserve {reserve.pool_id} "
                            f"lends {trx:,} TRX of stake = {energy:,} energy at {ratio:.4f} "
                            f"energy/TRX (grant {grant.max_energy:,} energy, "
                            f"{drawn[(reserve.pool_id, partner_id)]:,} drawn before)"
                        ),
                    )
                )
                drawn[(reserve.pool_id, partner_id)] += energy
                allotted -= energy
                unmet.lacking -= energy * unmet.gain
                budget.moves_left -= 1
                budget.trx_left -= trx
    return moves


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
    """Every partner's moves and returns from the database's numbers (seven queries,
    whatever the number of pools): partners with their hour's moves, the queue, the reserve
    grants, the pools with their newest loan, open loans, the forecasts' pessimistic side over
    the horizon, and the depletion estimates (which count each pool's share of its partner's
    queue). Each partner's own pools lend first (`plan_partner`), then the operator reserves
    it holds a grant on (`plan_reserves`). `energy_per_trx` and `head_block` come from the
    chain (`pools_rebalance`)."""
    now = now or timezone.now()
    horizon = settings.REBALANCE_HORIZON_HOURS
    partners = _partners(now)
    active = {p.partner_id for p in partners}
    if partner_ids is not None:
        wanted = set(partner_ids)
        partners = [p for p in partners if p.partner_id in wanted]
    partner_set = {p.partner_id for p in partners}
    # Grants on an active reserve whose owner is an active partner, to partners planned now.
    grants = [
        GrantView(reserve_id=pool_id, partner_id=partner_id, max_energy=cap)
        for pool_id, owner_id, partner_id, cap in ReserveGrant.objects.filter(
            pool__is_reserve=True,
            pool__role=EnergyPool.Role.ENERGY,
            pool__status=EnergyPool.Status.ACTIVE,
            partner_id__in=partner_set,
        )
        .order_by("pool_id", "partner_id")
        .values_list("pool_id", "pool__partner_id", "partner_id", "max_energy")
        if owner_id in active and owner_id != partner_id
    ]
    reserve_ids = {g.reserve_id for g in grants}
    granted = {g.partner_id for g in grants}
    last_received = (
        EnergyShare.objects.filter(receiver_id=OuterRef("pk"))
        .exclude(state=ShareState.FAILED)
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    rows = (
        EnergyPool.objects.filter(
            Q(partner_id__in=partner_set) | Q(pk__in=reserve_ids),
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
            "is_reserve",
            "energy_limit",
            "energy_used",
            "reserved_energy",
            "staked_trx_sun",
            "share_priority",
            "last_received",
        )
    )
    pools: dict[int, list[PoolView]] = defaultdict(list)
    reserves: list[PoolView] = []
    limits: dict[int, int] = defaultdict(int)
    for pk, partner_id, status, custody, keyed, is_reserve, *numbers, prio, last in rows:
        limit, used, reserved, staked = numbers
        active_pool = status == EnergyPool.Status.ACTIVE
        pool_view = PoolView(
            pool_id=pk,
            partner_id=partner_id,
            can_donate=active_pool and custody == EnergyPool.Custody.CUSTODIAL and keyed,
            can_receive=active_pool,
            limit=limit,
            reserved=reserved,
            free=max(0, limit - used - reserved),
            staked_sun=staked,
            priority=prio,
            last_received=last,
        )
        limits[partner_id] += limit
        # A reserve lends only through its grants: never to or from its own partner's pools.
        if is_reserve:
            if pk in reserve_ids:
                reserves.append(pool_view)
        else:
            pools[partner_id].append(pool_view)
    shares: dict[int, list[ShareView]] = defaultdict(list)
    reserve_shares: list[ShareView] = []
    for share_row in EnergyShare.objects.filter(
        Q(partner_id__in=partner_set) | Q(donor_id__in=reserve_ids),
        state__in=EnergyShare.OPEN_STATES,
    ).values_list(
        "pk",
        "partner_id",
        "donor_id",
        "donor__partner_id",
        "receiver_id",
        "state",
        "energy",
        "lock_period_blocks",
        "delegated_block",
    ):
        pk, partner_id, donor, donor_partner, receiver, state, energy, lock, block = share_row
        share = ShareView(
            pk, donor, receiver, state, energy, lock, block, donor_partner != partner_id, partner_id
        )
        if partner_id in partner_set:
            shares[partner_id].append(share)
        if donor in reserve_ids:
            reserve_shares.append(share)
    # Only partners with two pools, a loan out or a grant can move anything.
    candidates = [
        p
        for p in partners
        if len(pools[p.partner_id]) > 1
        or shares[p.partner_id]
        or (p.partner_id in granted and pools[p.partner_id])
    ]
    pool_ids = [v.pool_id for p in candidates for v in pools[p.partner_id]]
    pool_ids += [r.pool_id for r in reserves]
    upper = current_upper_series(pool_ids=pool_ids, now=now, hours=horizon)
    estimates = pool_depletion_estimates(pool_ids=pool_ids, now=now, hours=horizon, series=upper)
    surplus = pool_surplus(
        estimates=estimates, pool_ids=pool_ids, hours=horizon, now=now, series=upper
    )
    plan = Plan()
    views: dict[int, PartnerView] = {}
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
        views[partner.partner_id] = view
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
        plan.unmet.update(one.unmet)
        plan.budgets.update(one.budgets)
    plan.moves.extend(
        plan_reserves(
            reserves=reserves,
            grants=grants,
            partners=views,
            plan=plan,
            estimates=estimates,
            surplus=surplus,
            reserve_shares=reserve_shares,
            energy_per_trx=energy_per_trx,
            horizon_hours=horizon,
            margin_percent=settings.REBALANCE_MARGIN_PERCENT,
            floor_percent=settings.REBALANCE_FLOOR_PERCENT,
        )
    )
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
