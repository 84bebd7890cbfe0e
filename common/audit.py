"""The audit trail: who changed what, when, and through which door.

Model history comes from django-simple-history (`HistoricalRecords`): every `save()` or
`delete()` of an audited model writes a historical row with the whole record, the time, the
kind of change and the staff user. `AuditFields` adds what the library does not know: the
API key (its visible prefix) when a partner's key made the change, the door (`admin`,
`api`, `page`, or `system` for jobs and commands) and the request id that ties the row to the
request's logs. Secrets are left out of the history (`excluded_fields` at each model).

Bulk `UPDATE`s (sync, the reservation ledger) write no history by design: they are the
chain's numbers and the ledger's own records, not anyone's decision.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Model
from django.dispatch import receiver
from simple_history.models import HistoricalRecords
from simple_history.signals import pre_create_historical_record

from common.logs import request_id_current


class Source(models.TextChoices):
    ADMIN = "admin", "Admin"
    API = "api", "Partner API"
    PAGE = "page", "Web page"
    SYSTEM = "system", "Job or command"


class AuditFields(models.Model):
    """Extra columns of every historical row."""

    source = models.CharField(max_length=8, choices=Source.choices, default=Source.SYSTEM)
    api_key_prefix = models.CharField(max_length=16, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        abstract = True


def audited(*, exclude: list[str] | None = None) -> HistoricalRecords:
    """The history of a model, with the audit columns; `exclude` keeps secrets out."""
    return HistoricalRecords(bases=[AuditFields], excluded_fields=exclude or [])


def _source(path: str) -> Source:
    if path.startswith("/admin/"):
        return Source.ADMIN
    if path.startswith("/api/"):
        return Source.API
    return Source.PAGE


def _audit_attrs(request: Any) -> dict[str, str]:
    attrs = {
        "request_id": request_id_current(),
        "source": Source.SYSTEM.value,
        "api_key_prefix": "",
    }
    if request is None:
        return attrs  # a job or a management command
    attrs["source"] = _source(request.path).value
    prefix = getattr(getattr(request, "auth", None), "prefix", "")
    attrs["api_key_prefix"] = prefix if isinstance(prefix, str) else ""
    return attrs


@receiver(pre_create_historical_record)
def _stamp(sender: Any, history_instance: Any, **_: Any) -> None:
    for name, value in _audit_attrs(getattr(HistoricalRecords.context, "request", None)).items():
        setattr(history_instance, name, value)


def history_record_update(instance: Model) -> None:
    """Record a change that a conditional `UPDATE` made (it writes no history itself):
    `instance` as it is now, by whoever is making the current request."""
    request = getattr(HistoricalRecords.context, "request", None)
    user = getattr(request, "user", None)
    type(instance).history.bulk_history_create(  # type: ignore[attr-defined]
        [instance],
        update=True,
        default_user=user if user is not None and user.is_authenticated else None,
        custom_historical_attrs=_audit_attrs(request),
    )
