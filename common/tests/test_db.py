"""The PostgreSQL fast paths for bulk writes."""

from datetime import timedelta

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
