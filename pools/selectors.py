"""Reads about pools. Partner scope is applied here, never in views."""

from __future__ import annotations

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.http import Http404

from partners.selectors import Caller
from pools.chain.signers import LocalSigner
from pools.models import EnergyPool, SigningKey


def pool_list_for_partner(*, caller: Caller) -> QuerySet[EnergyPool]:
    """The caller's partner's pools (archived ones included; filter by status to hide them)."""
    return (
        EnergyPool.objects.filter(partner_id=caller.partner.pk)
        .select_related("partner")
        .order_by("id")
    )


def pool_get_for_partner(*, caller: Caller, pool_id: int) -> EnergyPool:
    """The pool `pool_id` if it belongs to the caller's partner; 404 otherwise (never 403)."""
    pool = EnergyPool.objects.select_related("partner").filter(pk=pool_id).first()
    if pool is None or pool.partner_id != caller.partner.pk:
        raise Http404
    return pool


def pool_status_summary() -> dict[str, object]:
    """Pools by status and the energy totals of active ones (for the status endpoint)."""
    by_status = dict(
        EnergyPool.objects.values_list("status").annotate(n=Count("id")).order_by("status")
    )
    totals = EnergyPool.objects.filter(status=EnergyPool.Status.ACTIVE).aggregate(
        energy_limit=Coalesce(Sum("energy_limit"), 0),
        energy_used=Coalesce(Sum("energy_used"), 0),
        reserved_energy=Coalesce(Sum("reserved_energy"), 0),
    )
    return {"by_status": by_status, **totals}


def signer_for_address(*, address: str) -> LocalSigner | None:
    """The signer holding `address`'s key, or None if the platform has no key for it."""
    key = SigningKey.objects.filter(address=address).only("address", "ciphertext").first()
    if key is None:
        return None
    return LocalSigner(address=key.address, ciphertext=key.ciphertext)
