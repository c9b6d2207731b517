"""A faster way to empty the test database after each transactional test, on PostgreSQL.

Django's ``TransactionTestCase`` (pytest-django's ``transactional_db``, ``live_server``, every
browser and live-worker test) empties the database after each test with ``flush``: one
``TRUNCATE`` of all ~60 tables. PostgreSQL makes a new file for every truncated table, which
costs about two seconds each time on a loaded machine, while the tables hold a few rows. A
``DELETE`` of every table in one transaction leaves the same empty tables in a tenth of that.

Everything else is as Django does it: every table of every installed model is emptied
(sequences are not reset, as Django's default), and the ``post_migrate`` signal is sent again so
that content types, permissions and guardian's anonymous user exist as after ``flush``.
Foreign keys are created deferrable on PostgreSQL, so they are only checked at the commit, when
every table is empty. Tables with triggers of their own (the append-only audit table refuses
DELETE) have them switched off inside the same transaction, so they cannot stay off; like
``audits/management/commands/flush.py`` this needs the tables' owner, which the test role is.
Should PostgreSQL refuse anything here, the transaction rolls back and Django's own flush runs.
"""

from __future__ import annotations

from typing import Any

from django.core.management.sql import emit_post_migrate_signal
from django.db import DatabaseError, connections, transaction
from django.test import TransactionTestCase

_django_teardown = TransactionTestCase._fixture_teardown


def delete_every_row(using: str) -> bool:
    """Empty every model table of ``using``; False (nothing changed) if it cannot be done."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return False
    try:
        with transaction.atomic(using=using), connection.cursor() as cursor:
            empty_tables(cursor, model_tables(using))
    except DatabaseError:
        return False
    return True


def model_tables(using: str) -> list[str]:
    """The tables Django's flush empties: every installed model's, many-to-many included."""
    connection = connections[using]
    return connection.introspection.django_table_names(only_existing=True, include_views=False)


def empty_tables(cursor: Any, tables: list[str]) -> None:
    """DELETE every row of ``tables``, inside the caller's transaction (PostgreSQL)."""
    quote = cursor.db.ops.quote_name
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    cursor.execute(
        "SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger "
        "WHERE NOT tgisinternal AND tgrelid::regclass::text = ANY(%s)",
        [tables],
    )
    guarded = [row[0] for row in cursor.fetchall()]
    for table in guarded:
        cursor.execute(f"ALTER TABLE {quote(table)} DISABLE TRIGGER USER")
    # One round trip; the names are Django's own tables, quoted.
    cursor.execute("".join(f"DELETE FROM {quote(table)};" for table in tables))  # noqa: S608
    for table in guarded:
        cursor.execute(f"ALTER TABLE {quote(table)} ENABLE TRIGGER USER")


def fixture_teardown(self: Any) -> None:
    """``TransactionTestCase._fixture_teardown`` with ``delete_every_row`` for the flush."""
    if self.available_apps is not None or self.serialized_rollback:
        return _django_teardown(self)  # subsets and serialized rollback: Django's own way
    for db_name in self._databases_names(include_mirrors=False):
        if not delete_every_row(db_name):
            return _django_teardown(self)
        emit_post_migrate_signal(verbosity=0, interactive=False, db=db_name)
    return None


def install() -> None:
    """Make every transactional test of the session empty the database this way."""
    TransactionTestCase._fixture_teardown = fixture_teardown
