"""Database helpers that know no app."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Field, Model, QuerySet
from psycopg.types.datetime import TimestamptzLoader as _PsycopgTimestamptzLoader


def release_pooled_connection() -> None:
    """Hand this thread's connection back to the pool before a slow call to elsewhere.

    In the web process (a psycopg pool, `DB_POOL_MAX_SIZE`) a request that waits on the
    TRON node would otherwise keep a pooled connection the whole time, and a slow node
    would drain the pool for every other request; the chain client calls this before
    every node call. The next query borrows one again.
    Does nothing without a pool (reconnecting would cost more than holding on) or inside a
    caller's transaction (which needs its connection).
    """
    pooled = connection.settings_dict.get("OPTIONS", {}).get("pool")
    if pooled and not connection.in_atomic_block:
        connection.close()


def in_callers_transaction() -> bool:
    """Whether this runs inside a transaction someone else opened (and will commit later).

    For services that must commit a record before they act outside the database (a
    broadcast): inside a caller's transaction the act would precede the commit. The
    transaction a test case wraps every test in does not count: it stands for autocommit.
    """
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


def db_value(model: type[Model], field_name: str, value: Any) -> Any:
    """`value` as the database takes it for `model.field_name` (for hand-written SQL)."""
    field = model._meta.get_field(field_name)
    assert isinstance(field, Field)
    return field.get_db_prep_save(value, connection)


def bulk_update_columns(objs: Sequence[Model], fields: Sequence[str]) -> int:
    """Write `fields` of every object in one statement; returns rows updated.

    On PostgreSQL: one `UPDATE … FROM (VALUES …)`, an order of magnitude cheaper than
    Django's `bulk_update`, whose CASE expressions dominate a 500-row sync batch
    (bench/sync.py). Elsewhere (the embedded SQLite): `bulk_update`. Like `bulk_update`, it
    sends no signals and touches only the named columns.
    """
    if not objs:
        return 0
    model = type(objs[0])
    if connection.vendor != "postgresql":
        return model._default_manager.bulk_update(objs, list(fields))
    meta = model._meta
    pk = meta.pk
    assert pk is not None
    columns: list[Field[Any, Any]] = [pk]
    for name in fields:
        field = meta.get_field(name)
        assert isinstance(field, Field)
        columns.append(field)
    # One array parameter per column, unnested into rows: the statement stays small
    # whatever the batch size (psycopg's query parsing grows with the placeholders).
    params = [_column_values(field, objs) for field in columns]
    quote = connection.ops.quote_name
    names = [quote(str(field.column)) for field in columns]
    arrays = ", ".join(f"%s::{_array_type(field)}" for field in columns)
    assignments = ", ".join(
        f"{name} = v.{name}{_cast(field)}"
        for name, field in zip(names[1:], columns[1:], strict=True)
    )
    # Identifiers come from model metadata, quoted; every value is a parameter.
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608
        f"FROM unnest({arrays}) AS v ({', '.join(names)}) WHERE t.{names[0]} = v.{names[0]}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _is_json(field: Field[Any, Any]) -> bool:
    return field.get_internal_type() == "JSONField"


def _array_type(field: Field[Any, Any]) -> str:
    # JSON travels as text (psycopg cannot infer a jsonb[] from wrapped values) and is cast.
    return "text[]" if _is_json(field) else f"{field.db_type(connection)}[]"


def _cast(field: Field[Any, Any]) -> str:
    return "::jsonb" if _is_json(field) else ""


PLAIN_TYPES = frozenset(
    {
        "BigIntegerField",
        "IntegerField",
        "PositiveIntegerField",
        "BigAutoField",
        "AutoField",
        "CharField",
        "TextField",
        "BooleanField",
    }
)


def _column_values(field: Field[Any, Any], objs: Sequence[Model]) -> list[Any]:
    attname = field.attname
    values = [getattr(obj, attname) for obj in objs]
    if _is_json(field):
        encoder = getattr(field, "encoder", None)  # JSONField's, declared there only
        return [None if v is None else json.dumps(v, cls=encoder) for v in values]
    if field.get_internal_type() in PLAIN_TYPES:
        return values  # psycopg adapts these as they are
    return [field.get_db_prep_save(v, connection) for v in values]


def bulk_insert_columns(objs: Sequence[Model], fields: Sequence[str]) -> int:
    """Insert every object's `fields` in one statement; returns rows inserted.

    On PostgreSQL: `INSERT … SELECT FROM unnest(…) RETURNING pk`, one array per column, so
    the statement stays small whatever the batch size; each object gets its primary key.
    Elsewhere: `bulk_create`. Like `bulk_create`, it sends no signals and calls no `save()`.
    """
    if not objs:
        return 0
    model = type(objs[0])
    if connection.vendor != "postgresql":
        return len(model._default_manager.bulk_create(objs))
    meta = model._meta
    columns: list[Field[Any, Any]] = []
    for name in fields:
        field = meta.get_field(name)
        assert isinstance(field, Field)
        columns.append(field)
    quote = connection.ops.quote_name
    names = ", ".join(quote(str(field.column)) for field in columns)
    arrays = ", ".join(f"%s::{_array_type(field)}" for field in columns)
    selected = ", ".join(f"v.{quote(str(field.column))}{_cast(field)}" for field in columns)
    pk = meta.pk
    assert pk is not None
    # unnest keeps array order and a single-source INSERT … SELECT returns rows in that
    # order, so the returned keys match the objects one to one.
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({names}) "  # noqa: S608  # quoted identifiers
        f"SELECT {selected} FROM unnest({arrays}) WITH ORDINALITY AS v ({names}, ord) "
        f"ORDER BY ord RETURNING {quote(str(pk.column))}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [_column_values(field, objs) for field in columns])
        keys = cursor.fetchall()
    for obj, (key,) in zip(objs, keys, strict=True):
        obj.pk = key
        obj._state.adding = False
        obj._state.db = connection.alias
    return len(keys)


# Stand-ins for a query's parameters while the ORM compiles it (`compiled_query`). The query
# is compiled twice, with two sets of stand-ins, and a parameter's slots are the positions
# where the two compiled parameter lists hold its two stand-ins: a literal of the query that
# happens to equal one is the same in both compiles, so it is never taken for a slot, and a
# stand-in the ORM changed (a LIKE pattern, `since + a day`) matches neither and is refused.
# Integers are small and positive, within every integer field's range (the ORM drops a
# comparison with a value out of its field's range, which would change the SQL), and are
# compared by value (the ORM wraps some in psycopg's Int4/Int8); strings carry NUL bytes,
# which PostgreSQL refuses anyway.
_INT_STANDIN = 20_011
_DATETIME_STANDIN = datetime(2001, 1, 1, tzinfo=UTC)

Parameter = type[int] | type[str] | type[datetime]


def _standin(name: str, kind: Parameter, index: int, set_: int) -> int | str | datetime:
    if kind is int:
        return _INT_STANDIN + 1_000 * set_ + index
    if kind is datetime:
        return _DATETIME_STANDIN + timedelta(days=366 * set_, seconds=index)
    return f"\x00{name}\x00{set_}"


def _adapted(value: Any) -> Any:
    """`value` as the ORM hands it to the database driver (a datetime as the backend
    stores it; SQLite's is text), so a compiled query's slot finds it and binds like it."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """A query the ORM compiled once, with the positions of its named parameters."""

    sql: str
    params: tuple[Any, ...]
    slots: tuple[tuple[int, str], ...]

    def bind(self, **values: Any) -> list[Any]:
        """The query's parameters with `values` in place of its named ones."""
        params = list(self.params)
        for index, name in self.slots:
            params[index] = _adapted(values[name])
        return params

    def fetchone(self, **values: Any) -> tuple[Any, ...] | None:
        """Run the query with `values`; its first row as the database returns it (no
        field converters: for ids, text and numbers), or None."""
        with connection.cursor() as cursor:
            cursor.execute(self.sql, self.bind(**values))
            row: tuple[Any, ...] | None = cursor.fetchone()
        return row


_compiled: dict[tuple[str, str], CompiledQuery] = {}


def compiled_query(
    name: str, build: Callable[..., QuerySet[Any]], **parameters: Parameter
) -> CompiledQuery:
    """The SQL of `build(**parameters)`, compiled by the ORM once per process and vendor.

    For the hot path, where compiling a queryset costs more than running it: `build` gets a
    stand-in for each named parameter (ints, strings or aware datetimes, compared for
    equality only: each must reach the SQL unchanged, as an exact or range lookup passes
    it; compute `now - week` before, not inside, `build`), and `bind` puts the real values
    in their places. Raises `ValueError` when a parameter does not reach the SQL as it was
    given (a lookup that transforms it), so a wrong binding cannot pass silently.

    The SQL is kept under `name` (and the database vendor) for the process's life: a name
    is one query, and whatever `build` reads besides its parameters (settings, constants)
    is frozen at the first compile.
    """
    cache_key = (name, connection.vendor)
    found = _compiled.get(cache_key)
    if found is not None:
        return found
    sql, params, _, slots = _compile_twice(
        name, build, parameters, lambda queryset: (*queryset.query.sql_with_params(), None)
    )
    compiled = CompiledQuery(sql=sql, params=params, slots=slots)
    _compiled[cache_key] = compiled
    return compiled


T = TypeVar("T")


def _compile_twice(
    name: str,
    build: Callable[..., QuerySet[Any]],
    parameters: Mapping[str, Parameter],
    compile_: Callable[[QuerySet[Any]], tuple[str, Sequence[Any], T]],
) -> tuple[str, tuple[Any, ...], T, tuple[tuple[int, str], ...]]:
    """`compile_(build(...))` with each set of stand-ins: the first compile's SQL, parameters
    and extra, and the slots of the named parameters (see the stand-ins above). Raises
    `ValueError` if the SQL depends on the parameters' values or a parameter does not reach
    it unchanged."""
    first, second = (_standins(parameters, set_) for set_ in (0, 1))
    sql, params, extra = compile_(build(**first))
    other_sql, other_params, _ = compile_(build(**second))
    if sql != other_sql or len(params) != len(other_params):
        raise ValueError(f"{name}: the SQL depends on a parameter's value")
    slots = []
    for index, (one, two) in enumerate(zip(params, other_params, strict=True)):
        if one == two:
            continue  # a literal of the query
        names = [
            arg for arg in first if one == _adapted(first[arg]) and two == _adapted(second[arg])
        ]
        if len(names) != 1:
            raise ValueError(f"{name}: a parameter did not reach the SQL unchanged")
        slots.append((index, names[0]))
    if {arg for _, arg in slots} != set(first):
        raise ValueError(f"{name}: a parameter did not reach the SQL unchanged")
    return sql, tuple(params), extra, tuple(slots)


def _standins(parameters: Mapping[str, Parameter], set_: int) -> dict[str, Any]:
    return {
        arg: _standin(arg, kind, index, set_)
        for index, (arg, kind) in enumerate(parameters.items())
    }


Converter = Callable[[Any, Any, Any], Any]
# Per column of a row: its index, its converters, and the expression they convert.
Converters = tuple[tuple[int, tuple[Converter, ...], Any], ...]


@dataclass(frozen=True, slots=True)
class CompiledRows:
    """A `values()` queryset compiled once (`compiled_rows`): run with its parameters, it
    gives the rows `values()` would, each value through its field's converters."""

    query: CompiledQuery
    names: tuple[str, ...]
    converters: Converters

    def all(self, **values: Any) -> list[dict[str, Any]]:
        with read_cursor() as cursor:
            cursor.execute(self.query.sql, self.query.bind(**values))
            return self.rows(cursor.fetchall())

    def rows(self, fetched: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        """`fetched` (this query's result) as `values()` rows."""
        names = self.names
        if not self.converters:
            return [dict(zip(names, row, strict=False)) for row in fetched]
        rows = []
        for row in map(list, fetched):
            for index, functions, expression in self.converters:
                value = row[index]
                for function in functions:
                    value = function(value, expression, connection)
                row[index] = value
            rows.append(dict(zip(names, row, strict=False)))
        return rows


def fetch_together(
    reads: Sequence[tuple[CompiledRows, Mapping[str, Any]]],
) -> list[list[dict[str, Any]]]:
    """Each compiled read run with its values, its rows in the order given. On PostgreSQL in
    one round trip: the statements go as one string, bound on the client as every query of
    the project is (psycopg's client-side cursor), and their results come back one set each
    (`nextset`). For a page made of several small reads, where waiting for the database
    between them cost more than running them (bench/reads.py). Elsewhere (SQLite, or
    server-side binding, which takes one statement at a time), one by one."""
    options = connection.settings_dict.get("OPTIONS", {})
    server_side = options.get("server_side_binding") is True  # as Django reads it
    if connection.vendor != "postgresql" or server_side or len(reads) < 2:
        return [query.all(**values) for query, values in reads]
    sql = ";\n".join(query.query.sql for query, _ in reads)
    params = [param for query, values in reads for param in query.query.bind(**values)]
    results = []
    with read_cursor() as cursor:
        cursor.execute(sql, params)
        for index, (query, _) in enumerate(reads):
            if index:
                cursor.nextset()
            results.append(query.rows(cursor.fetchall()))
    return results


def compiled_rows(
    name: str, build: Callable[..., QuerySet[Any]], **parameters: Parameter
) -> CompiledRows:
    """`compiled_query` for a `values(...)` queryset that is read, not just probed: the rows
    come as dicts of converted values, as iterating the queryset would give them (held
    equal by common/tests/test_db.py)."""
    cache_key = (name, connection.vendor)
    found = _compiled_rows.get(cache_key)
    if found is not None:
        return found
    sql, params, (names, converters), slots = _compile_twice(name, build, parameters, _values_shape)
    compiled = CompiledRows(
        query=CompiledQuery(sql=sql, params=params, slots=slots),
        names=names,
        converters=converters,
    )
    _compiled_rows[cache_key] = compiled
    return compiled


_compiled_rows: dict[tuple[str, str], CompiledRows] = {}


def _values_shape(
    queryset: QuerySet[Any],
) -> tuple[str, tuple[Any, ...], tuple[tuple[str, ...], Converters]]:
    """A `values()` queryset's SQL and parameters, and its row's names and converters, as
    the ORM's `ValuesIterable` would use them."""
    query = queryset.query
    compiler = query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    names = tuple(
        query.selected or (*query.extra_select, *query.values_select, *query.annotation_select)
    )
    converters = compiler.get_converters([column for column, _, _ in compiler.select[: len(names)]])
    return (
        sql,
        tuple(params),
        (
            names,
            tuple(
                (index, tuple(functions), expression)
                for index, (functions, expression) in sorted(converters.items())
            ),
        ),
    )


def values_rows(queryset: QuerySet[Any]) -> list[dict[str, Any]]:
    """`list(queryset)` for a `values()` queryset, read through `read_cursor` (for a hot
    read whose query changes with its filters, so cannot be compiled once)."""
    try:
        sql, params, (names, converters) = _values_shape(queryset)
    except EmptyResultSet:  # a filter that can match nothing (`id__in=[]`): no query
        return []
    with read_cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    return CompiledRows(CompiledQuery(sql, params, ()), names, converters).rows(fetched)


@contextmanager
def read_cursor() -> Iterator[Any]:
    """A cursor for the hot reads (bench/reads.py) that parses timestamps in C.

    Django has psycopg parse every `timestamptz` with a Python loader of its own, which
    only sets the zone Django wants; for a page of a hundred pools that was most of the time
    spent fetching it. When the session's zone is UTC, as Django sets it with `USE_TZ` and
    no database `TIME_ZONE`, psycopg's own loader (compiled) gives the same values, zone
    object included (`datetime.timezone.utc`; held equal by common/tests/test_db.py), so
    this cursor uses it. Any other set-up keeps Django's loader.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and connection.timezone is UTC:
            cursor.cursor.adapters.register_loader("timestamptz", _PsycopgTimestamptzLoader)
        yield cursor


def _base_type(field: Field[Any, Any]) -> str:
    """The column's type without its length or scale (`varchar`, not `varchar(64)`): a cast
    to `varchar(n)` cuts a longer value silently, where inserting it raises as `save()`'s
    INSERT would (found by review)."""
    db_type = str(field.cast_db_type(connection))
    return db_type.split("(", 1)[0].strip()


class InsertSelect:
    """`INSERT INTO <model's table> (…) SELECT … FROM <source> [WHERE <where>] RETURNING pk`,
    for hand-written statements that insert several related rows at once; its SQL is built
    once per vendor, its parameters per row (`params`).

    Every concrete column gets the value `obj.save()` would write (its defaults, auto_now,
    each field's own preparation), cast to the column's type; `expressions` puts SQL (over
    `source`) in place of some columns' values, by attribute name (`"withdrawal_id"`), with
    its own parameters if it has placeholders (given to `params`). The primary key is left
    to the database unless `expressions` names it. Like `bulk_create`, it sends no signals
    and calls no `save()`.
    """

    def __init__(
        self,
        model: type[Model],
        *,
        source: str,
        expressions: Mapping[str, str] | None = None,
        where: str = "",
    ) -> None:
        self.model = model
        self.source = source
        self.expressions = dict(expressions or {})
        self.where = where
        self.fields = [
            field
            for field in model._meta.local_concrete_fields
            if not field.primary_key or field.attname in self.expressions
        ]
        self._sql: dict[str, str] = {}

    @property
    def sql(self) -> str:
        found = self._sql.get(connection.vendor)
        if found is not None:
            return found
        quote = connection.ops.quote_name
        columns = ", ".join(quote(str(field.column)) for field in self.fields)
        values = ", ".join(
            self.expressions.get(field.attname) or f"%s::{_base_type(field)}"
            for field in self.fields
        )
        pk = self.model._meta.pk
        assert pk is not None
        sql = (
            f"INSERT INTO {quote(self.model._meta.db_table)} ({columns}) "  # noqa: S608
            f"SELECT {values} FROM {self.source}"
            + (f" WHERE {self.where}" if self.where else "")
            + f" RETURNING {quote(str(pk.column))}"
        )
        self._sql[connection.vendor] = sql
        return sql

    def params(self, obj: Model, **expression_params: Sequence[Any]) -> list[Any]:
        """The statement's parameters for `obj` (an unsaved instance of the model; `pre_save`
        sets its auto_now times, as `save()` would)."""
        params: list[Any] = []
        for field in self.fields:
            if field.attname in self.expressions:
                params.extend(expression_params.get(field.attname, ()))
            else:
                params.append(field.get_db_prep_save(field.pre_save(obj, add=True), connection))
        return params
