"""Every row of the test database, copied out once and copied back in later (PostgreSQL).

For fixtures whose data takes seconds to make and many tests want afresh, such as the demo
data of ``seed_demo`` behind the screenshot tests: the first test makes it and takes a snapshot,
later ones restore the snapshot with ``COPY`` in a fraction of the time. The rows come back with
their primary keys, content types and permissions included, so every reference among them
holds; sequences only move forward, so later inserts do not collide with restored keys.
"""

from __future__ import annotations

import io

from django.contrib.contenttypes.models import ContentType
from django.db import connections, transaction

from tests.support.flush import empty_tables, model_tables

Snapshot = dict[str, bytes]


def supported(using: str = "default") -> bool:
    return connections[using].vendor == "postgresql"


def take(using: str = "default") -> Snapshot:
    """The rows of every model table, in PostgreSQL's COPY text format."""
    snapshot: Snapshot = {}
    with connections[using].cursor() as cursor:
        for table in model_tables(using):
            buffer = io.BytesIO()
            cursor.copy_expert(f"COPY {cursor.db.ops.quote_name(table)} TO STDOUT", buffer)
            if buffer.tell():
                snapshot[table] = buffer.getvalue()
    return snapshot


def restore(snapshot: Snapshot, using: str = "default") -> None:
    """Make the database hold exactly the rows of ``snapshot``, in one transaction."""
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        empty_tables(cursor, model_tables(using))
        for table, rows in snapshot.items():
            quoted = connection.ops.quote_name(table)
            cursor.copy_expert(f"COPY {quoted} FROM STDIN", io.BytesIO(rows))
    # Content types are cached by primary key per process; the restored ones have other keys.
    ContentType.objects.clear_cache()
