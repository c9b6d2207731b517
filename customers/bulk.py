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
* ``Sink`` sends each chunk with COPY on PostgreSQL, over the Django connection and so inside
  the caller's transaction (an import is still all or nothing), from a helper thread so that
  the server inserts one chunk while the next is validated and encrypted; elsewhere (SQLite,
  the embedded mode) with ``executemany``, each value through its field's
  ``get_db_prep_save``. Both databases get the same rows from the same builders.
"""

from __future__ import annotations

import datetime
import io
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models

from transferdesk.crypto import aead
from transferdesk.crypto.fields import BlindIndexField, Ciphertext, EncryptedField

Row = tuple[Any, ...]


def _column(field: models.Field[Any, Any]) -> str:
    """A concrete field's column (the type allows None for fields without one)."""
    assert field.column is not None
    return field.column


def _concrete(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    """The model's field of that name, which must be a column of its own table."""
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)
    return field


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
        self.columns = [_column(f) for f in self.fields]
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
            (i, position[_concrete(model, f.source).attname], f.name)
            for i, f in enumerate(self.fields)
            if isinstance(f, BlindIndexField)
        ]

    def row(self, key: bytes | aead.Cipher | None, values: dict[str, Any]) -> Row:
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
        self.columns = [_column(f) for f in self.fields]
        self.picks: list[tuple[bool, Any]] = [
            (False, extra[f.attname]) if f.attname in extra else (True, live[f.attname])
            for f in self.fields
        ]
        # The same, for live rows already in COPY text (history reuses their encoding).
        self.encoded_picks: list[tuple[bool, Any]] = [
            (from_row, v if from_row else _encode(v)) for from_row, v in self.picks
        ]

    def rows(self, live_rows: Sequence[Sequence[Any]], *, encoded: bool = False) -> list[Row]:
        picks = self.encoded_picks if encoded else self.picks
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


def encode(row: Row) -> list[str]:
    """A row's values in PostgreSQL's COPY text format (``\\N`` for NULL, escapes, hex bytea)."""
    escapes = _ESCAPES
    # The common types inline: a function call per value would cost as much as encoding it.
    return [
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


def _copy_buffer(lines: Iterable[Sequence[str]]) -> io.StringIO:
    buffer = io.StringIO()
    buffer.writelines("\t".join(line) + "\n" for line in lines)
    buffer.seek(0)
    return buffer


#: One chunk's writes: a table, its rows, and the history table whose "created" rows they get.
Batch = tuple["Table", Sequence[Row], "HistoryTable | None"]


class Sink:
    """Sends each chunk's rows to the database, inside the caller's transaction.

    On PostgreSQL a chunk goes in with COPY, sent by a helper thread over the same connection:
    the server inserts and indexes chunk k while the caller validates and encrypts chunk k+1,
    which on a machine with two cores hides most of the database's share of an import. One
    chunk at most is in flight; the next ``write`` and ``close`` wait for it and raise its
    error (as Django's, so a unique violation is an ``IntegrityError`` as anywhere else).
    Meanwhile the caller must not use the connection (the import does not: validating reads
    nothing, and job progress goes through a connection of its own).

    Elsewhere (SQLite, the embedded mode) rows go in at once with ``executemany``, each value
    through its field's ``get_db_prep_save``. Both get the same rows from the same builders.

    Use as a context manager: leaving the block waits for the last chunk, so that nothing is
    still being written when the transaction commits or rolls back.
    """

    def __init__(self) -> None:
        # ``django.db.connection`` is a proxy that looks the connection up on every access.
        self.connection = connections[DEFAULT_DB_ALIAS]
        self.copying = self.connection.vendor == "postgresql"
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def __enter__(self) -> Sink:
        if self.copying:
            # Foreign keys are checked as each COPY ends (in the pipeline) rather than all at
            # the commit, where nothing else can run meanwhile. Same checks, same errors.
            with self.connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        return self

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        if exc_type is not None:  # already failing: wait, so the rollback runs on an idle
            self._join()  # connection
            return
        self.wait()
        if self.copying:
            # Back to how Django declares them (every deferrable constraint here is a foreign
            # key, INITIALLY DEFERRED) for the rest of the caller's transaction.
            with self.connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")

    def write(self, batches: Sequence[Batch]) -> None:
        """Insert one chunk: each batch's rows, then their history rows."""
        if self.copying:
            copies: list[tuple[str, io.StringIO]] = []
            for table, rows, history in batches:
                if not rows:
                    continue
                lines = [encode(row) for row in rows]
                copies.append((self._copy_sql(table), _copy_buffer(lines)))
                if history is not None:
                    copies.append(
                        (self._copy_sql(history), _copy_buffer(history.rows(lines, encoded=True)))
                    )
            self.wait()
            self.connection.ensure_connection()
            self._thread = threading.Thread(
                target=self._copy, args=(self.connection.connection, copies), daemon=True
            )
            self._thread.start()
            return
        for table, rows, history in batches:
            self._insert(table, rows)
            if history is not None:
                self._insert(history, history.rows(rows))

    def wait(self) -> None:
        """Wait for the chunk in flight; raise its error, if it had one."""
        self._join()
        error, self._error = self._error, None
        if error is not None:
            with self.connection.wrap_database_errors:
                raise error

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _copy(self, raw_connection: Any, copies: list[tuple[str, io.StringIO]]) -> None:
        try:
            with raw_connection.cursor() as cursor:
                for sql, buffer in copies:
                    cursor.copy_expert(sql, buffer)
        except Exception as exc:  # noqa: BLE001  (handed to the caller's thread by ``wait``)
            self._error = exc

    def _copy_sql(self, table: Table | HistoryTable) -> str:
        quote = self.connection.ops.quote_name
        names = ", ".join(quote(c) for c in table.columns)
        return f"COPY {quote(table.db_table)} ({names}) FROM STDIN"

    def _insert(self, table: Table | HistoryTable, rows: Sequence[Row]) -> None:
        if not rows:
            return
        connection = self.connection
        quote = connection.ops.quote_name
        names = ", ".join(quote(c) for c in table.columns)
        fields = table.fields
        placeholders = ", ".join(["%s"] * len(fields))
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {quote(table.db_table)} ({names}) VALUES ({placeholders})",  # noqa: S608
                [
                    tuple(
                        [
                            f.get_db_prep_save(v, connection)
                            for f, v in zip(fields, row, strict=True)
                        ]
                    )
                    for row in rows
                ],
            )
