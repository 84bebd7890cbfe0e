"""Adding pools and changing their lifecycle status."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from common.tron import tron_address_to_hex
from partners.models import Partner
from pools.chain import chain_client
from pools.chain.signers import address_of
from pools.events import pool_changed
from pools.models import EnergyPool, Reservation, SigningKey
from pools.services.keys import signing_key_generate, signing_key_import
from pools.services.sync import pools_sync

# Which status changes an operator or partner may make.
TRANSITIONS: dict[str, frozenset[str]] = {
    EnergyPool.Status.ACTIVE: frozenset({"paused", "draining", "archived"}),
    EnergyPool.Status.PAUSED: frozenset({"active", "draining", "archived"}),
    EnergyPool.Status.DRAINING: frozenset({"active", "paused", "archived"}),
    EnergyPool.Status.ERROR: frozenset({"active", "paused", "archived"}),
    EnergyPool.Status.ARCHIVED: frozenset(),
}


def _address_from_key(private_key_hex: str) -> str:
    try:
        return address_of(bytes.fromhex(private_key_hex.strip()))
    except (ValueError, TypeError):
        raise ValidationError({"private_key": ["Not a valid secp256k1 private key."]}) from None


CANNOT_ADD = (
    "This address cannot be added: it must be an activated TRON account (one that has "
    "received TRX) and not already a pool."
)


@dataclass(frozen=True)
class OnboardPlan:
    """A checked request to add a pool: what `pool_onboard` will create."""

    address: str
    custody: EnergyPool.Custody
    private_key_hex: str = field(default="", repr=False)
    generate_key: bool = False


def pool_onboard_check(
    *, address: str = "", private_key_hex: str = "", generate_key: bool = False
) -> OnboardPlan:
    """Validate a new pool's input, including that the account exists on chain.

    - `address` alone: a watch-only pool; the account must exist on chain.
    - `private_key_hex`: a custodial pool for the key's address (which `address`, if given,
      must equal); the account must exist on chain.
    - `generate_key`: a custodial pool on a new key; the account appears once funded.

    Raises `ValidationError` with field errors, never echoing the key; `ChainUnavailable`
    if no node answers the existence check.
    """
    if generate_key:
        if private_key_hex or address:
            raise ValidationError(
                {"generate_key": ["Generate a key, or give an address or key — not both."]}
            )
        return OnboardPlan(address="", custody=EnergyPool.Custody.CUSTODIAL, generate_key=True)
    if private_key_hex:
        key_address = _address_from_key(private_key_hex)
        if address and address != key_address:
            raise ValidationError({"address": ["The private key belongs to another address."]})
        address = key_address
    if not address:
        raise ValidationError({"address": ["This field is required."]})
    try:
        tron_address_to_hex(address)
    except ValidationError as exc:
        raise ValidationError({"address": exc.messages}) from None
    # One answer, after the same work, for every address that cannot be added: telling
    # "already a pool" apart would tell a partner which addresses are other partners' pools.
    exists_on_chain = chain_client().account_state(address).exists
    if not exists_on_chain or EnergyPool.objects.filter(address=address).exists():
        raise ValidationError({"address": [CANNOT_ADD]})
    custody = EnergyPool.Custody.CUSTODIAL if private_key_hex else EnergyPool.Custody.WATCH_ONLY
    return OnboardPlan(address=address, custody=custody, private_key_hex=private_key_hex)


def pool_onboard(
    *,
    partner: Partner,
    plan: OnboardPlan,
    label: str = "",
    role: EnergyPool.Role = EnergyPool.Role.ENERGY,
) -> EnergyPool:
    """Create the pool `plan` describes (storing its key encrypted) and sync it once."""
    address = plan.address
    try:
        with transaction.atomic():
            if plan.generate_key:
                address = signing_key_generate().address
            elif plan.private_key_hex and not SigningKey.objects.filter(address=address).exists():
                signing_key_import(private_key_hex=plan.private_key_hex)
            pool = EnergyPool.objects.create(
                partner=partner, address=address, label=label, custody=plan.custody, role=role
            )
            pool_changed(pool=pool, reason="status")  # a new card: pages and cached reads
    except IntegrityError:
        raise ValidationError({"address": [CANNOT_ADD]}) from None
    if not plan.generate_key:
        pools_sync(queryset=EnergyPool.objects.filter(pk=pool.pk))
        pool.refresh_from_db()
    return pool


def pool_set_status(*, pool: EnergyPool, status: EnergyPool.Status) -> EnergyPool:
    """Pause, resume, drain or archive a pool.

    A pool with pending reservations cannot be archived: its withdrawals still count on it.
    Raises `ValidationError` for a change that is not allowed. Idempotent for the same status.
    """
    with transaction.atomic():
        # The row lock orders this against reservations being taken on the pool.
        locked = EnergyPool.objects.select_for_update().get(pk=pool.pk)
        if status == locked.status:
            return locked
        if status not in TRANSITIONS.get(locked.status, frozenset()):
            raise ValidationError(
                {"status": [f"A pool that is {locked.status} cannot become {status}."]}
            )
        if (
            status == EnergyPool.Status.ARCHIVED
            and Reservation.objects.filter(pool=locked, state=Reservation.State.PENDING).exists()
        ):
            raise ValidationError(
                {"status": ["The pool has pending reservations; drain it first."]}
            )
        locked.status = status
        locked.save(update_fields=["status", "updated_at"])
        pool_changed(pool=locked, reason="status")
    return locked
