"""Fast inserts for the import: the same rows ``bulk_create_with_encrypted_history`` writes,
built with a fraction of the ORM's per-value overhead.

An import of 100,000 customers spends most of its time in ``bulk_create``'s generic
per-value machinery (expression checks and one placeholder per value, over 60 columns of the
live and historical tables). Here each value is still produced by its own field
(``pre_save``, so encrypted fields encrypt under their data key with their associated data,
and blind indexes are computed by ``BlindIndexField`` as everywhere else; then
``get_db_prep_save``), but rows are sent with ``execute_values`` on PostgreSQL and
``executemany`` elsewhere. History rows reuse the live row's prepared values — the same
ciphertext, as ``EncryptedHistoricalRecords`` guarantees — plus the history columns.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models

#: Rows per INSERT statement on PostgreSQL.
PAGE_SIZE = 1000


def _connection() -> Any:
    # Resolved once per call: ``django.db.connection`` is a proxy that looks the connection
    # up (thread/task-local) on every attribute access, which adds up over millions of values.
    return connections[DEFAULT_DB_ALIAS]


def _insert(table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    connection = _connection()
    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            from psycopg2.extras import execute_values

            execute_values(
                cursor.cursor,  # the driver's cursor: execute_values needs it
                f"INSERT INTO {quote(table)} ({names}) VALUES %s",  # noqa: S608
                rows,
                page_size=PAGE_SIZE,
            )
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(
                f"INSERT INTO {quote(table)} ({names}) VALUES ({placeholders})",  # noqa: S608
                rows,
            )


def _prepared(
    model: type[models.Model], objs: Sequence[models.Model]
) -> tuple[list[Any], list[tuple[Any, ...]]]:
    connection = _connection()
    alias = connection.alias
    fields = list(model._meta.local_concrete_fields)
    rows = []
    for obj in objs:
        rows.append(tuple([f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]))
        obj._state.adding = False
        obj._state.db = alias
    return fields, rows


def insert(model: type[models.Model], objs: Sequence[models.Model]) -> None:
    """Insert new instances (primary keys set before insert, as every model here has)."""
    fields, rows = _prepared(model, objs)
    _insert(model._meta.db_table, [f.column for f in fields], rows)


def insert_with_history(
    model: type[models.Model],
    objs: Sequence[models.Model],
    *,
    user: Any,
    date: datetime.datetime,
) -> None:
    """Insert new instances and their "created" history rows (simple-history's shape)."""
    fields, rows = _prepared(model, objs)
    _insert(model._meta.db_table, [f.column for f in fields], rows)
    history = model.history.model  # type: ignore[attr-defined]
    position = {f.attname: i for i, f in enumerate(fields)}
    connection = _connection()
    extra = {
        "history_date": date,
        "history_change_reason": None,
        "history_type": "+",
        "history_user_id": getattr(user, "pk", None),
    }
    columns: list[str] = []
    picks: list[tuple[bool, Any]] = []
    for field in history._meta.local_concrete_fields:
        if field.attname == "history_id":
            continue  # the database numbers history rows
        columns.append(field.column)
        if field.attname in extra:
            picks.append((False, field.get_db_prep_save(extra[field.attname], connection)))
        else:
            picks.append((True, position[field.attname]))
    history_rows = [
        tuple(row[value] if from_row else value for from_row, value in picks) for row in rows
    ]
    _insert(history._meta.db_table, columns, history_rows)
