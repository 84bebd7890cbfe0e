"""Migration operations that keep the platform serving while they run.

A plain `CREATE INDEX` blocks writes to its table until the index is built, and `DROP INDEX`
takes the table's strongest lock: on the usage log or the withdrawals, that stalls sync,
settling and intake for as long as the build takes. These build and drop indexes
`CONCURRENTLY` on PostgreSQL (the migration must say `atomic = False`); on SQLite, the
development database (`make run`), they are the plain operations.

If a concurrent build fails half-way PostgreSQL leaves an invalid index behind: drop it
(`DROP INDEX CONCURRENTLY <name>`) and migrate again.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db.migrations.operations import AddIndex, RemoveIndex
from django.db.migrations.operations.base import Operation


class _Online:
    """The concurrent operation (next in the MRO) on PostgreSQL, `plain` elsewhere."""

    plain: type[Operation]

    def database_forwards(self, app_label: str, schema_editor: Any, *states: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, *states)  # type: ignore[misc]
        else:
            self.plain.database_forwards(self, app_label, schema_editor, *states)  # type: ignore[arg-type]

    def database_backwards(self, app_label: str, schema_editor: Any, *states: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, *states)  # type: ignore[misc]
        else:
            self.plain.database_backwards(self, app_label, schema_editor, *states)  # type: ignore[arg-type]


class AddIndexOnline(_Online, AddIndexConcurrently):
    """`CREATE INDEX CONCURRENTLY` on PostgreSQL; `AddIndex` elsewhere."""

    plain = AddIndex


class RemoveIndexOnline(_Online, RemoveIndexConcurrently):
    """`DROP INDEX CONCURRENTLY` on PostgreSQL; `RemoveIndex` elsewhere."""

    plain = RemoveIndex
