"""The PostgreSQL fast paths for bulk writes."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from common.db import bulk_insert_columns, bulk_update_columns
from pools.models import EnergyPool, PoolSnapshot
from pools.tests.factories import EnergyPoolFactory

pytestmark = pytest.mark.django_db


def test_bulk_update_writes_only_the_named_columns():
    pools = EnergyPoolFactory.create_batch(3, reserved_energy=7, label="keep")
    when = timezone.now() - timedelta(minutes=5)
    for index, pool in enumerate(pools):
        pool.energy_used = 100 + index
        pool.last_synced_at = when
        pool.usage_baseline = {"used": index} if index else None
        pool.label = "changed in memory only"
    assert bulk_update_columns(pools, ["energy_used", "last_synced_at", "usage_baseline"]) == 3
    rows = list(
        EnergyPool.objects.order_by("pk").values(
            "energy_used", "last_synced_at", "usage_baseline", "label", "reserved_energy"
        )
    )
    assert [r["energy_used"] for r in rows] == [100, 101, 102]
    assert {r["last_synced_at"] for r in rows} == {when}
    assert [r["usage_baseline"] for r in rows] == [None, {"used": 1}, {"used": 2}]
    assert {r["label"] for r in rows} == {"keep"}
    assert {r["reserved_energy"] for r in rows} == {7}


def test_bulk_insert_appends_rows():
    pool = EnergyPoolFactory()
    now = timezone.now()
    rows = [
        PoolSnapshot(
            pool=pool,
            taken_at=now,
            block_number=n,
            energy_limit=10,
            energy_used=n,
            staked_trx_sun=1,
            trx_balance_sun=2,
        )
        for n in range(4)
    ]
    assert (
        bulk_insert_columns(
            rows,
            [
                "pool",
                "taken_at",
                "block_number",
                "energy_limit",
                "energy_used",
                "staked_trx_sun",
                "trx_balance_sun",
            ],
        )
        == 4
    )
    assert list(
        PoolSnapshot.objects.order_by("block_number").values_list("block_number", flat=True)
    ) == [0, 1, 2, 3]


def test_empty_batches_do_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert bulk_update_columns([], ["energy_used"]) == 0
        assert bulk_insert_columns([], ["energy_used"]) == 0


def test_compiled_rows_are_the_querysets_rows_for_any_parameters():
    """`compiled_rows` compiles once, then gives for each binding the rows iterating the
    queryset would: the values converted by their fields (decimals, datetimes, booleans),
    datetimes bound as the backend stores them."""
    from decimal import Decimal

    from django.db.models import Count, Q

    from common.db import compiled_rows

    now = timezone.now()
    pools = [
        EnergyPoolFactory(last_synced_at=now - timedelta(minutes=m), warning_threshold=w)
        for m, w in ((1, Decimal("70.50")), (30, None), (90, Decimal("60")))
    ]
    for pool in pools[:2]:
        PoolSnapshot.objects.create(
            pool=pool,
            taken_at=now,
            energy_limit=1,
            energy_used=0,
            staked_trx_sun=0,
            trx_balance_sun=0,
        )

    def build(partner_id: int, since: object) -> object:
        return (
            EnergyPool.objects.filter(partner_id=partner_id, last_synced_at__gte=since)
            .annotate(recent=Count("snapshots", filter=Q(snapshots__taken_at__gte=since)))
            .order_by("id")
            .values("id", "label", "warning_threshold", "last_synced_at", "recent")
        )

    query = compiled_rows("test_pools_since", build, partner_id=int, since=datetime)
    assert compiled_rows("test_pools_since", build, partner_id=int, since=datetime) is (query)
    for pool in pools:
        for since in (now - timedelta(hours=2), now - timedelta(minutes=10), now):
            rows = query.all(partner_id=pool.partner_id, since=since)
            assert rows == list(build(pool.partner_id, since))  # type: ignore[call-overload]
    assert query.all(partner_id=pools[0].partner_id, since=now - timedelta(hours=2)) == [
        {
            "id": pools[0].pk,
            "label": pools[0].label,
            "warning_threshold": Decimal("70.50"),
            "last_synced_at": pools[0].last_synced_at,
            "recent": 1,
        }
    ]


def test_compiled_rows_refuse_a_datetime_the_query_transforms():
    """A datetime parameter moved inside `build` (`since - a day`) would leave a stand-in in
    the SQL: refused when compiled."""
    from common.db import compiled_rows

    with pytest.raises(ValueError, match="did not reach the SQL unchanged"):
        compiled_rows(
            "test_refused_datetime",
            lambda since: EnergyPool.objects.filter(
                last_synced_at__gte=since + timedelta(days=1)
            ).values("id"),
            since=datetime,
        )


def test_hot_reads_parse_timestamps_as_django_does():
    """`read_cursor` swaps Django's Python timestamp loader for psycopg's compiled one: the
    values, and their zone object, are the same as the ORM's (`values_rows`, the compiled
    reads and the ORM agree on every kind of timestamp)."""
    from datetime import UTC

    from psycopg.pq import Format

    from common.db import read_cursor, values_rows

    stamps = [
        datetime(2026, 11, 29, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(1, 1, 1, 0, 0, 1, tzinfo=UTC),
        None,
    ]
    for stamp in stamps:
        EnergyPoolFactory(last_synced_at=stamp)
    queryset = EnergyPool.objects.order_by("id").values("id", "last_synced_at", "created_at")
    rows = values_rows(queryset)
    assert rows == list(queryset)
    assert [row["last_synced_at"] for row in rows] == stamps
    for row in rows:
        for value in (row["last_synced_at"], row["created_at"]):
            assert value is None or value.tzinfo is UTC
    with read_cursor() as cursor:  # the fast loader is the one in use
        loader = cursor.cursor.adapters.get_loader(1184, Format.TEXT)
    assert loader.__module__.startswith("psycopg_binary"), loader


def test_compiled_rows_bind_every_place_a_parameter_reaches():
    """The ORM hands some integers over wrapped (psycopg's Int8) and drops a comparison with
    a value out of its field's range: neither may leave a stand-in in the SQL or lose a
    condition (found by review). Each compiled read equals the ORM's for real values."""
    from django.db.models import Q

    from common.db import compiled_rows

    pools = [
        EnergyPoolFactory(energy_limit=limit, share_priority=priority)
        for limit, priority in ((10, 0), (5_000, 3), (70_000, 9))
    ]

    def floors(partner_id: int, floor: int) -> object:
        return (
            EnergyPool.objects.filter(partner_id=partner_id, energy_limit__gte=floor, id__gte=floor)
            .order_by("id")
            .values("id")
        )

    def either(partner_id: int) -> object:
        return (
            EnergyPool.objects.filter(Q(partner_id=partner_id) | Q(share_priority=partner_id))
            .order_by("id")
            .values("id")
        )

    by_floor = compiled_rows("test_floors", floors, partner_id=int, floor=int)
    by_either = compiled_rows("test_either", either, partner_id=int)
    for pool in pools:
        for floor in (0, 6, 5_000, pool.pk, 10**9):
            assert by_floor.all(partner_id=pool.partner_id, floor=floor) == list(
                floors(pool.partner_id, floor)  # type: ignore[call-overload]
            )
        for value in (pool.partner_id, 3, 9):
            assert by_either.all(partner_id=value) == list(either(value))  # type: ignore[call-overload]
    assert by_either.all(partner_id=9) != []


def test_fetch_together_binds_text_with_quotes_and_percent_signs():
    """Several reads sent as one string are bound on the client: a value with quotes,
    semicolons and percent signs is a value, never SQL."""
    from common.db import compiled_rows, fetch_together

    label = "x'; DROP TABLE pools_energypool; -- %s %% %(a)s \\ $1 ?"
    pool = EnergyPoolFactory(label=label)
    by_label = compiled_rows(
        "test_by_label",
        lambda label: EnergyPool.objects.filter(label=label).values("id", "label"),
        label=str,
    )
    rows, again = fetch_together([(by_label, {"label": label}), (by_label, {"label": label})])
    assert rows == again == [{"id": pool.pk, "label": label}]
    assert EnergyPool.objects.count() == 1


def test_values_rows_of_a_filter_that_matches_nothing():
    """`values_rows` answers `[]` where the ORM answers `[]` without a query (`id__in=[]`,
    `none()`), not an error (found by review)."""
    from common.db import values_rows

    EnergyPoolFactory()
    assert values_rows(EnergyPool.objects.filter(id__in=[]).values("id")) == []
    assert values_rows(EnergyPool.objects.none().values("id")) == []
