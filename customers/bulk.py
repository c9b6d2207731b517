"""Bulk writes for the import: rows built as column values, without model instances, and sent
with COPY on PostgreSQL.

An import of 100,000 customers writes some 700,000 rows (data keys, customers, purchases,
interactions, and a history row for each of the last three). Building a model instance per
row and running every field's ``pre_save`` and ``get_db_prep_save`` cost more than the
encryption itself, so:

* ``Table`` works out once per model the column order, each column's default and which columns
  are encrypted; ``Table.row`` turns a dict of values into a tuple of column values, encrypting
  with ``EncryptedField.encrypt_for``, the function model instances encrypt with in
  ``pre_save``: the ciphertext format and its associated data (model|field|pk) are made in
  one place only. Blind indexes come in with the values (the import computed them once, while
  checking duplicates); a row whose source has a value but no index is refused.
* ``HistoryTable`` derives simple-history's "created" rows from the live rows: the very same
  ciphertext, plus the history columns (as ``EncryptedHistoricalRecords`` guarantees).
* ``write`` sends rows with COPY on PostgreSQL, on the Django connection and so inside the
  caller's transaction (an import is still all or nothing), and with ``executemany`` elsewhere
  (SQLite, the embedded mode), each value through its field's ``get_db_prep_save``. Both
  databases get the same rows from the same builder.
"""

from __future__ import annotations

import datetime
import io
import uuid
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models

from transferdesk.crypto.fields import BlindIndexField, Ciphertext, EncryptedField

Row = tuple[Any, ...]


class Table:
    """How to build the rows of one model (its local concrete fields, in order).

    ``given`` names the columns the caller sets on every row (primary key, foreign keys,
    timestamps…); every other column takes its field's default, which must then be the same
    for every row: a field with a per-row default (a callable) must be given, or building the
    table fails, rather than silently sharing one value between rows.
    """

    def __init__(self, model: type[models.Model], *, given: Iterable[str]) -> None:
        self.model = model
        self.db_table = model._meta.db_table
        self.fields: list[models.Field[Any, Any]] = list(model._meta.local_concrete_fields)
        self.columns = [f.column for f in self.fields]
        self.attnames = frozenset(f.attname for f in self.fields)
        given = set(given)
        if given - self.attnames:
            raise ValueError(f"{model._meta.label} has no column {sorted(given - self.attnames)}")
        pk = model._meta.pk
        assert pk is not None
        if pk.attname not in given:
            raise ValueError(f"{model._meta.label}: the primary key must be given (set it first)")
        self.defaults: list[tuple[str, Any]] = []
        for field in self.fields:
            default = None
            if field.attname not in given:
                if field.has_default() and callable(field.default):
                    raise ValueError(
                        f"{model._meta.label}.{field.name} has a per-row default; give it"
                    )
                default = field.get_default()
                if isinstance(default, str):
                    default = str(default)  # a TextChoices member: its plain value
            self.defaults.append((field.attname, default))
        position = {f.attname: i for i, f in enumerate(self.fields)}
        self.pk_position = position[pk.attname]
        self.encrypted = [
            (i, f) for i, f in enumerate(self.fields) if isinstance(f, EncryptedField)
        ]
        self.indexes = [
            (i, position[model._meta.get_field(f.source).attname], f.name)
            for i, f in enumerate(self.fields)
            if isinstance(f, BlindIndexField)
        ]

    def row(self, key: bytes | None, values: dict[str, Any]) -> Row:
        """Column values from ``values`` (attname → value; plaintext for encrypted fields,
        encrypted here under the data key ``key``, empty text stored as NULL)."""
        if not values.keys() <= self.attnames:
            raise ValueError(
                f"{self.model._meta.label} has no column {sorted(values.keys() - self.attnames)}"
            )
        out = [values.get(attname, default) for attname, default in self.defaults]
        for index, source, name in self.indexes:
            if out[source] and not out[index]:
                # Search would not find this record: refuse rather than store it unfindable.
                raise ValueError(f"{self.model._meta.label}.{name} is missing for a value")
        if self.encrypted:
            if key is None:
                raise ValueError(f"{self.model._meta.label} rows need their data key")
            pk = out[self.pk_position]
            for i, field in self.encrypted:
                plaintext = out[i]
                out[i] = field.encrypt_for(key, plaintext, pk) if plaintext else None
        return tuple(out)


class HistoryTable:
    """simple-history's "created" rows (``history_type`` ``+``) of a ``Table``'s rows."""

    def __init__(self, table: Table, *, user_id: Any, date: datetime.datetime) -> None:
        history: type[models.Model] = table.model.history.model  # type: ignore[attr-defined]
        self.model = history
        self.db_table = history._meta.db_table
        extra = {
            "history_date": date,
            "history_change_reason": None,
            "history_type": "+",
            "history_user_id": user_id,
        }
        live = {attname: i for i, (attname, _default) in enumerate(table.defaults)}
        assert history._meta.pk is not None
        # The database numbers history rows (history_id).
        self.fields = [
            f for f in history._meta.local_concrete_fields if f.attname != history._meta.pk.attname
        ]
        self.columns = [f.column for f in self.fields]
        self.picks: list[tuple[bool, Any]] = [
            (False, extra[f.attname]) if f.attname in extra else (True, live[f.attname])
            for f in self.fields
        ]

    def rows(self, live_rows: Sequence[Row]) -> list[Row]:
        picks = self.picks
        return [
            tuple([row[value] if from_row else value for from_row, value in picks])
            for row in live_rows
        ]


# --- COPY text format (PostgreSQL) ---------------------------------------------------------

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value: str) -> str:
    return value.translate(_ESCAPES)


def _bytea(value: bytes) -> str:
    return "\\\\x" + value.hex()  # bytea hex input, its backslash escaped for COPY


def _iso(value: datetime.date) -> str:
    return value.isoformat()


def _timestamp(value: datetime.datetime) -> str:
    if value.tzinfo is None:  # would be read in the session's time zone: refuse to guess
        raise ValueError("a naive datetime in a bulk row")
    return value.isoformat()


_ENCODERS: dict[type, Callable[[Any], str]] = {
    str: _text,
    bytes: _bytea,
    Ciphertext: _bytea,
    uuid.UUID: str,
    int: str,
    Decimal: str,
    bool: lambda value: "t" if value else "f",
    datetime.date: _iso,
    datetime.datetime: _timestamp,
}


def _encode(value: Any) -> str:
    if value is None:
        return "\\N"
    encoder = _ENCODERS.get(type(value))
    if encoder is not None:
        return encoder(value)
    # Subclasses: TextChoices members (a field default), memoryview…
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, (bytes, memoryview)):
        return _bytea(bytes(value))
    if isinstance(value, datetime.datetime):
        return _timestamp(value)
    if isinstance(value, datetime.date):
        return _iso(value)
    raise TypeError(f"cannot COPY a {type(value).__name__}")


def copy_text(rows: Iterable[Row]) -> io.StringIO:
    """``rows`` in PostgreSQL's COPY text format (tab-separated, ``\\N`` for NULL)."""
    buffer = io.StringIO()
    write = buffer.write
    escapes = _ESCAPES
    for row in rows:
        # The common types inline (a function call per value costs as much as the encoding).
        write(
            "\t".join(
                [
                    "\\N"
                    if value is None
                    else value.translate(escapes)
                    if type(value) is str
                    else "\\\\x" + value.hex()
                    if type(value) is Ciphertext
                    else str(value)
                    if type(value) is uuid.UUID
                    else _encode(value)
                    for value in row
                ]
            )
        )
        write("\n")
    buffer.seek(0)
    return buffer


def write(table: Table | HistoryTable, rows: Sequence[Row]) -> None:
    """Insert ``rows`` (built by ``table``) in the current transaction."""
    if not rows:
        return
    # ``django.db.connection`` is a proxy that looks the connection up on every access.
    connection = connections[DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in table.columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The Django cursor delegates copy_expert to psycopg2's without translating its
            # errors: wrap them, so a unique violation is Django's IntegrityError as elsewhere.
            with connection.wrap_database_errors:
                cursor.copy_expert(
                    f"COPY {quote(table.db_table)} ({names}) FROM STDIN", copy_text(rows)
                )
            return
        fields = table.fields
        placeholders = ", ".join(["%s"] * len(fields))
        cursor.executemany(
            f"INSERT INTO {quote(table.db_table)} ({names}) VALUES ({placeholders})",  # noqa: S608
            [
                tuple([f.get_db_prep_save(v, connection) for f, v in zip(fields, row, strict=True)])
                for row in rows
            ],
        )
