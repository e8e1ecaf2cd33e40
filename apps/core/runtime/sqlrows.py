"""Model instances from hand-written SQL, for hot paths where building an ORM query costs more
than running it (see docs/performance.md).

`select_list` names a model's concrete columns in the order `instances` expects them; the
ORM's value converters are applied (a raw cursor skips them: SQLite's datetimes and UUIDs) and
the instances are made with `Model.from_db`, exactly as a queryset makes them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import psycopg
from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.db.models import Field, Model, signals
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute


@functools.cache
def select_list(model: type[Model], alias: str) -> str:
    """`alias.col1, alias.col2, ...`: every concrete column of `model`, in field order."""
    quote = connection.ops.quote_name
    # Concrete fields always have a column; "or" only narrows the type.
    columns = [field.column or field.attname for field in model._meta.concrete_fields]
    return ", ".join(f"{alias}.{quote(column)}" for column in columns)


def attnames(model: type[Model]) -> list[str]:
    """The attribute names of `model`'s concrete fields, in the order of `select_list`."""
    return [field.attname for field in model._meta.concrete_fields]


def converted(rows: Iterable[Sequence[Any]], fields: Sequence[Field[Any, Any]]) -> list[Any]:
    """`rows` with the ORM's value converters of `fields` applied to their first columns (a
    raw cursor skips them: SQLite's datetimes and UUIDs, for instance)."""
    compiler, converters = _converters(tuple(fields))
    if converters:
        return list(compiler.apply_converters(rows, converters))
    return list(rows)


@functools.cache
def _converters(fields: tuple[Field[Any, Any], ...]) -> tuple[Any, dict[int, Any]]:
    """A compiler and the converters of `fields`, built once per field list (about 70 µs a
    time on the hot paths that use them). The compiler holds Django's connection proxy, which
    resolves to the calling thread's connection when the converters run."""
    compiler = fields[0].model._default_manager.none().query.get_compiler(connection=connection)
    converters = compiler.get_converters([f.get_col(f.model._meta.db_table) for f in fields])
    return compiler, converters


def instances(
    rows: Iterable[Sequence[Any]], models: Sequence[type[Model]]
) -> list[tuple[Model, ...]]:
    """One instance of each of `models` per row; a row holds their `select_list`s in order."""
    fields = [field for model in models for field in model._meta.concrete_fields]
    spans = []
    start = 0
    alias = connection.alias
    for model in models:
        names = attnames(model)
        make = _plain_maker(model) if not _init_listened(model) else None
        if make is None:
            make = functools.partial(model.from_db, alias, names)
        else:
            make = functools.partial(make, alias)
        spans.append((make, start, start + len(names)))
        start += len(names)
    return [tuple(make(row[lo:hi]) for make, lo, hi in spans) for row in converted(rows, fields)]


def _init_listened(model: type[Model]) -> bool:
    """True if anything listens to `model`'s pre_init or post_init (checked per call: a
    receiver may be connected at any time; the signals cache their receivers per sender)."""
    return signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model)


@functools.cache
def _plain_maker(model: type[Model]) -> Callable[[str, Sequence[Any]], Model] | None:
    """A faster `model.from_db(alias, all concrete fields, values)` where it is the same thing,
    else None.

    `Model.__init__` with every concrete field given positionally sends pre_init, makes a
    ModelState, sets each attribute with setattr (through the field's descriptor), calls the
    next `__init__` of the MRO and sends post_init; `from_db` then marks the state loaded. With
    no init receivers (checked by the caller), no `__init__` other than Model's in the MRO, and
    only Django's plain descriptors on the attribute names (DeferredAttribute; a foreign key's,
    whose `__set__` only drops a related object cached on the instance, and a fresh instance
    has none), that is: a new object whose `__dict__` holds the state and the values. It was
    9 % of a busy server's samples (the send batch's access check builds two per message).
    """
    for klass in model.__mro__:
        if klass is Model:
            break
        if "__init__" in vars(klass):
            return None
    if any("__init__" in vars(klass) for klass in Model.__mro__[1:-1]):
        return None
    names = attnames(model)
    for name in names:
        descriptor = inspect.getattr_static(model, name, None)
        if type(descriptor) not in (DeferredAttribute, ForeignKeyDeferredAttribute):
            return None
    new = object.__new__

    def make(alias: str, values: Sequence[Any]) -> Model:
        instance = new(model)
        state = ModelState()
        state.adding = False
        state.db = alias
        attributes = instance.__dict__
        attributes["_state"] = state
        attributes.update(zip(names, values, strict=True))
        return instance

    return make


def plain_instance(
    model: type[Model],
    values: Mapping[str, Any],
    *,
    related: Mapping[str, Model | None] | None = None,
    saved_on: str | None = None,
) -> Model:
    """`model(**values, **related)` for a new instance, faster where it is the same thing (see
    `_plain_maker`): `values` by attribute name (`channel_id`), `related` the foreign keys given
    as objects (`sender=user`: its id is set and the object cached, as the ORM does); every
    other concrete field gets its default. `saved_on`: the row exists in that database (the
    caller inserted it), so the instance is marked loaded as a queryset's would be."""
    related = related or {}
    defaults = None if _init_listened(model) else _plain_defaults(model)
    if defaults is None:
        instance = model(**values, **related)
    else:
        constant, computed = defaults
        instance = object.__new__(model)
        attributes = instance.__dict__
        attributes["_state"] = ModelState()
        attributes.update(constant)
        for name, default in computed:
            attributes[name] = default()
        unknown = values.keys() - attributes.keys()
        if unknown:
            raise TypeError(f"{model.__name__}() got unexpected fields: {sorted(unknown)}")
        attributes.update(values)
        cache = instance._state.fields_cache
        for name, target in related.items():
            field = model._meta.get_field(name)
            attributes[field.attname] = None if target is None else target.pk  # type: ignore[union-attr]
            cache[name] = target
    if saved_on is not None:
        instance._state.adding = False
        instance._state.db = saved_on
    return instance


@functools.cache
def _plain_defaults(
    model: type[Model],
) -> tuple[dict[str, Any], list[tuple[str, Callable[[], Any]]]] | None:
    """Each concrete field's default for `plain_instance`: constants once, callables (and
    anything mutable) called per instance; None where `_plain_maker` would not do."""
    if _plain_maker(model) is None:
        return None
    constant: dict[str, Any] = {}
    computed: list[tuple[str, Callable[[], Any]]] = []
    for field in model._meta.concrete_fields:
        value = field.get_default()
        if (field.has_default() and callable(field.default)) or isinstance(
            value, (list, dict, set)
        ):
            computed.append((field.attname, field.get_default))
        else:
            constant[field.attname] = value
    return constant, computed


def fetch_all_together(queries: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
    """Each query's rows; an empty SQL string gives no rows and is not sent.

    On PostgreSQL with client-side binding (Django's default) the queries go out as one
    multi-statement query: one round trip for all of them instead of one each (what a round
    trip costs a busy process is the wait for the GIL after it, as much as the network).
    Otherwise one after another.
    """
    sent = [(index, sql, params) for index, (sql, params) in enumerate(queries) if sql]
    results: list[list[Any]] = [[] for _ in queries]
    with connection.cursor() as cursor:
        if len(sent) > 1 and isinstance(cursor.cursor, psycopg.ClientCursor):
            cursor.execute(
                ";\n".join(sql for _index, sql, _params in sent),
                [value for _index, _sql, params in sent for value in params],
            )
            for position, (index, _sql, _params) in enumerate(sent):
                if position:
                    cursor.nextset()
                results[index] = cursor.fetchall()
            return results
        for index, sql, params in sent:
            cursor.execute(sql, params)
            results[index] = cursor.fetchall()
    return results


def any_of(values: Sequence[Any], sql_type: str) -> tuple[str, list[Any]]:
    """`= ANY(%s::type[])` with the values as one array parameter on PostgreSQL, `IN (%s, ...)`
    elsewhere, and the parameters. On PostgreSQL the text is the same for any number of
    values: psycopg converts it once and caches it (it skips texts of over 50 parameters), and
    a prepared statement can take it."""
    if connection.vendor == "postgresql":
        return f"= ANY(%s::{sql_type}[])", [list(values)]
    return f"IN ({', '.join(['%s'] * len(values))})", list(values)


def rows_table(rows: Sequence[Sequence[Any]], sql_types: Sequence[str]) -> tuple[str, list[Any]]:
    """A query of these rows, for `WITH name(columns) AS (...)`, and its parameters: on
    PostgreSQL `SELECT * FROM unnest(%s::type1[], ...)`, one array per column (the same text
    for any number of rows, see `any_of`); elsewhere `VALUES (%s, ...), ...`."""
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{sql_type}[]" for sql_type in sql_types)
        columns = [[row[index] for row in rows] for index in range(len(sql_types))]
        return f"SELECT * FROM unnest({arrays})", columns  # noqa: S608 - our own type names
    row = f"({', '.join(['%s'] * len(sql_types))})"
    return f"VALUES {', '.join([row] * len(rows))}", [value for r in rows for value in r]


class _PreparingCursor(psycopg.Cursor[Any]):
    """Server-side binding, and every statement prepared on its first run on a connection:
    later runs skip PostgreSQL's parse, analysis and planning (the generic plan is reused)."""

    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: Any = None
    ) -> Any:
        return super().execute(query, params, prepare=True, binary=binary)


def prepared_cursor() -> CursorWrapper:
    """A Django cursor (query logging, execute wrappers, Django's exception classes) whose
    statements PostgreSQL prepares once per connection; elsewhere an ordinary cursor.

    For hot statements whose text is constant (parameters as arrays, not as a list of
    placeholders that changes with their number). Its `%s` placeholders are bound on the server,
    so a literal `%` must be written `%%` as usual and values cannot stand in for names.
    Statements are prepared only when the connection allows it (`prepare_threshold` not None,
    see the database settings); otherwise they run unprepared, with the same results.
    """
    if connection.vendor != "postgresql":
        return connection.cursor()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        # What connection.cursor() does, with our cursor class instead of Django's.
        return connection._prepare_cursor(_PreparingCursor(connection.connection))  # type: ignore[attr-defined]


def fetch_all_prepared(queries: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
    """`fetch_all_together` for hot queries whose text is constant (arrays, not placeholder
    lists): on PostgreSQL each is prepared once per connection and all go out together in one
    pipeline, one round trip; PostgreSQL plans none of them again. Elsewhere, and with prepared
    statements turned off, as `fetch_all_together`.

    Why: under load the send batch's look-ups (stored keys, access) cost PostgreSQL more to
    plan than to run: 5.7 s of planning against 2.5 s of execution a minute at 1,000 messages/s
    (pg_stat_statements, docs/performance.md §28).
    """
    if connection.vendor != "postgresql":
        return fetch_all_together(queries)
    connection.ensure_connection()
    raw = connection.connection
    if raw is None or raw.prepare_threshold is None:
        return fetch_all_together(queries)
    results: list[list[Any]] = [[] for _ in queries]
    sent = [(index, sql, params) for index, (sql, params) in enumerate(queries) if sql]
    cursors = []
    with connection.wrap_database_errors, raw.pipeline():
        for index, sql, params in sent:
            # Django's wrapper, as in prepared_cursor: its logging, execute wrappers, errors.
            cursor = connection._prepare_cursor(_PreparingCursor(raw))  # type: ignore[attr-defined]
            cursor.execute(sql, params)  # queued: the pipeline sends them all at its end
            cursors.append((index, cursor))
    with connection.wrap_database_errors:
        for index, cursor in cursors:
            results[index] = cursor.fetchall()
            cursor.close()
    return results
