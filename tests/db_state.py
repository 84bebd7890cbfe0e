"""A fingerprint of every row the platform's own apps hold, for tests asserting that a
refused request changed nothing."""

from __future__ import annotations

from django.apps import apps
from django.db import connection

APPS = ("partners", "pools", "withdrawals", "alerts", "predictions", "operations")
# Rows an accepted call touches whatever it does: the API key's last use.
VOLATILE = {"partners.apikey"}


def database_state() -> dict[str, str]:
    """Table → digest of all its rows, in one statement."""
    quote = connection.ops.quote_name
    tables = sorted(
        model._meta.db_table
        for model in apps.get_models()
        if model._meta.app_label in APPS
        and model._meta.managed
        and model._meta.label_lower not in VOLATILE
    )
    sql = " UNION ALL ".join(
        f"SELECT '{table}', md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "  # noqa: S608
        f"FROM {quote(table)} t"
        for table in tables
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return dict(cursor.fetchall())
