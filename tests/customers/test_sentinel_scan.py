"""Guarantee 1, tested the way an attacker would look: seed customers whose sensitive and core
fields hold unique sentinels, then read every column of every table (SQLite) or a full
``pg_dump`` of the test database (PostgreSQL) and find no sentinel in clear, history included.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Customer, Interaction, PurchaseRecord
from customers.registry import fields_of
from customers.services import customer_mark_verified, customer_update
from tests.factories import OrganizationFactory


def sentinel(label: str) -> str:
    return f"SNTL{label}{uuid.uuid4().hex[:12]}"


def seed(make_customer) -> list[str]:
    """Customers, purchases, interactions and history rows full of sentinels."""
    sentinels: list[str] = []
    for i in range(3):
        values = {
            "full_name": sentinel("name") + " 王哨兵",
            "email": f"{sentinel('mail').lower()}@example.com",
            "phone": f"+86 139 {1000 + i:04d} {2000 + i:04d}",
            "postal_address": sentinel("addr"),
            "preferences": sentinel("pref"),
            "national_id": sentinel("nid"),
            "bank_account": sentinel("bank"),
            "special_category_notes": sentinel("health"),
        }
        customer = make_customer(**values)
        sentinels += [v for k, v in values.items() if k != "phone"]
        sentinels += ["王哨兵", customer.phone]  # the phone as stored (E.164)
        # An update writes a second history row with new sentinels beside the old ones.
        new_address = sentinel("addr2")
        customer_update(actor=None, customer=customer, values={"postal_address": new_address})
        customer_mark_verified(actor=None, customer=customer)
        sentinels.append(new_address)
        notes, summary = sentinel("notes"), sentinel("summary")
        PurchaseRecord.objects.create(
            customer=customer,
            purchased_on="2026-03-01",
            product="Washer",
            amount="10.00",
            currency="CNY",
            notes=notes,
        )
        interaction = Interaction.objects.create(
            customer=customer, occurred_on="2026-03-02", channel="chat", summary=summary
        )
        interaction.summary = sentinel("summary2")
        interaction.save()
        sentinels += [notes, summary, interaction.summary]
    assert Customer.history.count() == 9
    return sentinels


def find_in(blob: bytes, sentinels: list[str]) -> list[str]:
    """Sentinels present in ``blob`` as UTF-8, or as the hex text dumps show for binary."""
    lowered = blob.lower()
    return [s for s in sentinels if s.encode() in blob or s.encode().hex().encode() in lowered]


def scan_sqlite(sentinels: list[str]) -> set[str]:
    """Every column of every table, read as stored (text or blob)."""
    found: set[str] = set()
    with connection.cursor() as cursor:
        tables = [
            row[0] for row in cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        assert {"customers_customer", "customers_historicalcustomer"} <= set(tables)
        for table in tables:
            columns = [row[1] for row in cursor.execute(f'PRAGMA table_info("{table}")')]
            select = ", ".join(f'"{c}"' for c in columns)
            for row in cursor.execute(f'SELECT {select} FROM "{table}"'):  # noqa: S608
                for value in row:
                    if value is None:
                        continue
                    blob = value if isinstance(value, bytes) else str(value).encode()
                    found.update(f"{table}: {s}" for s in find_in(blob, sentinels))
    return found


def test_sentinels_cover_every_sensitive_and_core_field() -> None:
    seeded = {
        "full_name",
        "email",
        "phone",
        "postal_address",
        "preferences",
        "national_id",
        "bank_account",
        "special_category_notes",
    }
    assert seeded == set(fields_of(Customer, "sensitive")) | set(fields_of(Customer, "core"))


@pytest.mark.django_db
def test_no_sentinel_is_stored_in_clear_in_any_sqlite_table(make_customer, caplog) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite scan; PostgreSQL has its own tests below")
    caplog.set_level(logging.DEBUG)
    with CaptureQueriesContext(connection) as queries:
        sentinels = seed(make_customer)
    assert not scan_sqlite(sentinels)
    # The scanner itself works: a value stored in clear on purpose is found.
    canary = sentinel("canary")
    OrganizationFactory(slug="canary", address=canary)
    assert scan_sqlite([*sentinels, canary]) == {f"customers_organization: {canary}"}
    # Nothing in clear in the SQL sent (parameters included) or in the log output either.
    sql = "\n".join(q["sql"] for q in queries.captured_queries).encode()
    assert not find_in(sql, sentinels)
    assert not find_in(caplog.text.encode(), sentinels)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_no_sentinel_is_in_a_pg_dump_of_the_database(make_customer, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    sentinels = seed(make_customer)
    canary = sentinel("canary")
    OrganizationFactory(slug="canary", address=canary)
    db = connection.settings_dict
    if shutil.which("pg_dump") is None:
        pytest.fail("pg_dump is needed for the PostgreSQL scan")
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
    command = ["pg_dump", "--data-only", "-h", db["HOST"] or "localhost", "-U", db["USER"]]
    if db.get("PORT"):
        command += ["-p", str(db["PORT"])]
    dump = subprocess.run(
        [*command, db["NAME"]], capture_output=True, check=True, env=env, timeout=120
    ).stdout
    assert b"customers_historicalcustomer" in dump
    assert b"\\x01" in dump  # bytea ciphertext is there, version byte first
    assert not find_in(dump, sentinels)
    assert find_in(dump, [canary]) == [canary]  # the scan sees what is stored in clear
    assert not find_in(caplog.text.encode(), sentinels)


def scan_postgres(sentinels: list[str]) -> list[str]:
    """``table.column`` for each sentinel found in clear in any column of any table."""
    found: list[str] = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        )
        for table, column in cursor.fetchall():
            cursor.execute(f'SELECT "{column}"::text FROM "{table}"')  # noqa: S608
            for (value,) in cursor.fetchall():
                if value is not None:
                    found += [f"{table}.{column}" for _ in find_in(value.encode(), sentinels)]
    return found


@pytest.mark.postgres
@pytest.mark.django_db
def test_no_sentinel_is_in_any_column_of_any_postgres_table(make_customer) -> None:
    canary = sentinel("canary")
    OrganizationFactory(slug="canary", address=canary)
    sentinels = [*seed(make_customer), canary]
    assert scan_postgres(sentinels) == ["customers_organization.address"]


@pytest.mark.postgres
@pytest.mark.django_db
def test_no_sentinel_is_in_postgres_after_an_import_and_a_core_correction(
    cast, seller, caplog
) -> None:
    """The import writes rows and history rows in bulk, by its own path, and the core-field
    correction by another: both are scanned, with the import's and the correction's logs."""
    import csv
    import io

    from customers.services import customer_correct_core, customer_import, organization_grant

    caplog.set_level(logging.DEBUG)
    # Sentinels are not resident ids: a seller outside China keeps the plain id rule.
    seller.country = "GB"
    seller.save(update_fields=["country"])
    columns = [
        "reference",
        "full_name",
        "email",
        "phone",
        "postal_address",
        "preferences",
        "national_id",
        "bank_account",
        "special_category_notes",
        "purchase_date",
        "purchase_product",
        "purchase_amount",
        "purchase_currency",
        "purchase_notes",
        "interaction_date",
        "interaction_channel",
        "interaction_summary",
    ]
    sentinels: list[str] = []
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for i in range(3):
        row = {
            "reference": f"S-{i}",
            "full_name": sentinel("impname") + " 李哨兵",
            "email": f"{sentinel('impmail').lower()}@example.com",
            "phone": f"+86 139 {3000 + i:04d} {4000 + i:04d}",
            "postal_address": sentinel("impaddr"),
            "preferences": sentinel("imppref"),
            "national_id": sentinel("IMPNID").upper(),
            "bank_account": sentinel("impbank"),
            "special_category_notes": sentinel("imphealth"),
            "purchase_date": "2026-03-01",
            "purchase_product": "Washer",
            "purchase_amount": "10.00",
            "purchase_currency": "CNY",
            "purchase_notes": sentinel("impnotes"),
            "interaction_date": "2026-03-02",
            "interaction_channel": "chat",
            "interaction_summary": sentinel("impsummary"),
        }
        writer.writerow([row[c] for c in columns])
        general = {
            "reference",
            "purchase_date",
            "purchase_product",
            "purchase_amount",
            "purchase_currency",
            "interaction_date",
            "interaction_channel",
            "phone",
        }
        sentinels += [v for k, v in row.items() if k not in general]
        sentinels.append(f"+86139{3000 + i:04d}{4000 + i:04d}")  # the phone as stored
    sentinels.append("李哨兵")
    outcome = customer_import(
        actor=None,
        organization=seller,
        data=buffer.getvalue().encode("utf-8-sig"),
        mapping=dict(enumerate(columns)),
    )
    assert outcome.applied, outcome.problems
    assert Customer.objects.filter(organization=seller).count() == 3
    for permission in ("manage_customers", "reveal_core"):
        organization_grant(
            actor=cast.admin, user=cast.broker, organization=seller, permission=permission
        )
    corrected, notes = sentinel("CORRECTEDNID").upper(), sentinel("corrnotes")
    customer_correct_core(
        actor=cast.broker,
        customer=Customer.objects.get(organization=seller, reference="S-0"),
        values={"national_id": corrected, "special_category_notes": notes},
        reason="entry_error",
    )
    sentinels += [corrected, notes]
    assert Customer.history.filter(id__in=Customer.objects.filter(organization=seller)).count() == 4
    assert scan_postgres(sentinels) == []
    assert not find_in(caplog.text.encode(), sentinels)


def _redis_dump(client) -> bytes:
    """Every value in the broker's Redis database: queues, unacked messages, everything."""
    chunks: list[bytes] = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        chunks.append(key)
        if kind == b"string":
            chunks.append(client.get(key) or b"")
        elif kind == b"list":
            chunks.extend(client.lrange(key, 0, -1))
        elif kind == b"hash":
            for field, value in client.hgetall(key).items():
                chunks += [field, value]
        elif kind == b"set":
            chunks.extend(client.smembers(key))
        elif kind == b"zset":
            chunks.extend(client.zrange(key, 0, -1))
    return b"\n".join(chunks)


@pytest.mark.live_worker
def test_a_large_import_run_as_a_job_leaves_no_sentinel_in_messages_or_logs(
    live_worker, seller, caplog
) -> None:
    """The import job's Celery message carries two ids; the worker's log carries counts."""
    import csv
    import io
    import json
    import time

    import redis
    from celery.signals import before_task_publish
    from django.conf import settings

    from customers import importing
    from customers.models import ImportStatus, ImportUpload
    from customers.services import import_upload_create, import_upload_start
    from tests.factories import UserFactory
    from transferdesk.jobs import Job, JobStatus

    caplog.set_level(logging.DEBUG)
    # Sentinels are not resident ids: a seller outside China keeps the plain id rule.
    seller.country = "GB"
    seller.save(update_fields=["country"])
    rows = importing.JOB_THRESHOLD_ROWS + 50
    sentinels = [sentinel("jobname"), sentinel("jobaddr"), sentinel("jobnid"), sentinel("jobpref")]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["客户编号", "姓名", "邮箱", "地址", "身份证号", "偏好"])
    for i in range(rows):
        writer.writerow(
            [
                f"J-{i:05d}",
                f"{sentinels[0]}{i}",
                f"{sentinels[0].lower()}{i}@example.com",
                f"{sentinels[1]}{i}",
                f"{sentinels[2]}{i}",
                sentinels[3],
            ]
        )
    published: list[bytes] = []

    def capture(body=None, headers=None, **kwargs) -> None:
        published.append(json.dumps([body, headers], default=str).encode())

    before_task_publish.connect(capture, weak=False)
    broker = redis.Redis.from_url(settings.REDIS_URL)
    try:
        actor = UserFactory(username="job-broker")
        upload = import_upload_create(
            actor=actor, organization=seller, data=buffer.getvalue().encode("gb18030")
        )
        job = import_upload_start(actor=actor, upload=upload)
        assert job is not None, "a file above the threshold runs as a job"
        in_flight = _redis_dump(broker)  # the message, queued or unacked, right after publish
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.is_finished:
                break
            time.sleep(0.5)
        after = _redis_dump(broker)
    finally:
        before_task_publish.disconnect(capture)
    assert job.status == JobStatus.SUCCEEDED, (job.error, live_worker.log_path.read_text())
    upload.refresh_from_db()
    assert upload.status == ImportStatus.APPLIED and upload.content is None
    assert Customer.objects.filter(organization=seller).count() == rows
    assert Job.objects.get(pk=job.pk).result["customers"] == rows
    assert published and str(upload.pk).encode() in published[0]
    worker_log = live_worker.log_path.read_bytes()
    assert b"customer import" in worker_log  # the import logged (counts only)
    for name, blob in {
        "published message": b"\n".join(published),
        "redis in flight": in_flight,
        "redis after": after,
        "worker log": worker_log,
        "test log": caplog.text.encode(),
    }.items():
        assert not find_in(blob, sentinels), f"sentinel found in the {name}"
    assert ImportUpload.objects.filter(content__isnull=False).count() == 0


@pytest.mark.django_db
def test_no_sentinel_reaches_a_notification_or_an_email_to_a_user(
    cast, make_customer, eager_tasks, django_capture_on_commit_callbacks
) -> None:
    """Issue 17: notifications and the e-mails they send say what waits and link to it,
    never a customer's name, contact or id, whatever the event (a delivered stage, a question
    on one record, a follow-up task on it, a request from the customer and its assignment)."""
    from django.core import mail
    from django.utils import translation

    from accounts.choices import Role
    from notifications.models import Notification
    from tests.factories import UserFactory
    from tests.transfers.conftest import make_deal
    from transfers import requests, services
    from transfers.choices import StageKind, StageStatus
    from transfers.notice_models import RequestKind, RequestSource
    from transfers.portal_services import followup_create, question_ask

    sentinels = seed(lambda **values: make_customer(organization=cast.seller, **values))
    customers = list(Customer.objects.filter(organization=cast.seller))
    sentinels += [str(c.pk) for c in customers] + [c.reference for c in customers]
    customer_addresses = {c.email for c in customers}
    officer = UserFactory(username="officer-2", organization=cast.broker_firm,
                          roles=[Role.COMPLIANCE], language="zh-hans")  # fmt: skip
    deal = make_deal(cast)
    capture = django_capture_on_commit_callbacks
    stage = services.stage_create(actor=cast.broker, deal=deal, name="Overview",
                                  kind=StageKind.PSEUDONYMISED, tier_scope=["general"])  # fmt: skip
    with capture(execute=True):
        services.stage_submit(actor=cast.broker, stage=stage)
    with capture(execute=True):
        services.stage_approve(actor=cast.compliance, stage=stage, note="Checked.")
    stage.refresh_from_db()
    assert stage.status == StageStatus.DELIVERED
    nda = services.nda_publish(actor=cast.broker, deal=deal, text="Keep it confidential.")
    services.nda_accept(actor=cast.buyer, nda=nda, ip="10.0.0.1", user_agent="pytest")
    item = stage.items.get(customer_id=customers[0].pk)
    with capture(execute=True):
        question_ask(actor=cast.buyer, stage=stage, subject="About one record", body="?",
                     item=item)  # fmt: skip
    with capture(execute=True):
        followup_create(item=item, kind="update", reason="correction")
    with capture(execute=True):
        dsr = requests.request_create(
            customer=customers[0], deal=deal, kind=RequestKind.COMPLAINT,
            source=RequestSource.CUSTOMER_PAGE, message=sentinel("complaint"),
        )  # fmt: skip
    with capture(execute=True):
        requests.request_update(actor=cast.compliance, request=dsr, assignee=officer)
    notifications = list(Notification.objects.all())
    assert {n.kind for n in notifications} >= {
        "stage_submitted", "stage_approved", "stage_delivered", "question_asked",
        "followup_created", "request_received", "request_assigned",
    }  # fmt: skip
    to_users = [m for m in mail.outbox if not set(m.to) & customer_addresses]
    assert to_users, "the scan must see e-mails to users"
    texts: list[str] = []
    for language in ("en", "zh-hans"):
        with translation.override(language):
            texts += [f"{n.text} {n.url} {n.params}" for n in notifications]
    texts += [f"{m.subject}\n{m.body}\n{m.to}" for m in to_users]
    blob = "\n".join(texts).encode()
    assert not find_in(blob, sentinels)
    # The scan sees what a notification would hold in clear.
    canary = Notification(recipient=cast.broker, kind="stage_approved", url="/",
                          params={"stage": sentinels[0], "deal": "D-1"})  # fmt: skip
    assert sentinels[0] in find_in(canary.text.encode(), sentinels)
