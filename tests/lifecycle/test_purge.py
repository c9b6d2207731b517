"""The purge crypto-shreds: after it, nothing of a purged customer can be read anywhere."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection

from audits.models import DestructionCertificate, DestructionTombstone, PurgeRun
from audits.retention import (
    legal_hold_place,
    policy_preview,
    purge_policy,
    reference_hash,
)
from customers.models import Customer, Interaction, PurchaseRecord
from tests.customers.test_sentinel_scan import scan_sqlite
from transferdesk.crypto.errors import DataKeyDestroyed
from transferdesk.models import DataKey
from transferdesk.trail import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

LONG_AGO = dt.date(2020, 1, 1)


def _everything_readable(customer_ids) -> list[str]:
    """Decrypt every live and history row of these customers; return what still reads."""
    readable = []
    for customer in Customer.objects.filter(pk__in=customer_ids).select_related("data_key"):
        with contextlib.suppress(DataKeyDestroyed):
            readable.append(customer.full_name)
    for row in Customer.history.filter(id__in=customer_ids):
        with contextlib.suppress(DataKeyDestroyed):
            readable.append(row.instance.full_name)
    return readable


def test_purge_shreds_due_customers_and_spares_held_and_recent(
    cast, make_customer, contract_policy
):
    due, due_secrets = make_customer(retention_until=LONG_AGO)
    held, held_secrets = make_customer(retention_until=LONG_AGO)
    recent, _ = make_customer(retention_until=dt.date.today())
    legal_hold_place(actor=cast.compliance, customer=held, reason="Case 2026-17: court order")
    policy = contract_policy()

    preview = policy_preview(policy)
    assert (preview.due, preview.held, preview.purchases, preview.interactions) == (1, 1, 1, 1)
    assert preview.hold_reasons == [("Case 2026-17: court order", 1)]

    outcome = purge_policy(policy=policy, actor=cast.compliance)

    assert outcome.customers == 1
    assert not Customer.objects.filter(pk=due.pk).exists()
    assert not Customer.history.filter(id=due.pk).exists()
    assert not PurchaseRecord.objects.filter(customer_id=due.pk).exists()
    assert not Interaction.history.filter(customer_id=due.pk).exists()
    key = DataKey.objects.get(pk=due.data_key_id)
    assert key.is_destroyed and key.wrapped_key is None
    tombstone = DestructionTombstone.objects.get()
    assert tombstone.reference_hash == reference_hash(due.pk)
    assert tombstone.policy == policy and tombstone.data_key_id == due.data_key_id
    # The held and the recent customer read back whole.
    assert Customer.objects.get(pk=held.pk).full_name == held.full_name
    assert Customer.objects.get(pk=recent.pk).full_name == recent.full_name
    assert DataKey.objects.get(pk=held.data_key_id).wrapped_key is not None
    # Certificate and audit events, without personal data.
    run = PurgeRun.objects.get()
    certificate = DestructionCertificate.objects.get(run=run)
    assert bytes(certificate.pdf).startswith(b"%PDF") and certificate.key_count == 1
    assert certificate.no_backup_after > run.started_at + dt.timedelta(days=30)
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {AuditAction.PURGE, AuditAction.KEY_DESTROYED, AuditAction.REPORT_GENERATED} <= actions
    if connection.vendor == "sqlite":
        assert scan_sqlite(due_secrets) == set()
        # The scanner finds what is still there: the held customer's sentinels are encrypted,
        # so they are not found in clear either.
        assert scan_sqlite(held_secrets) == set()


def test_purge_is_idempotent_and_resumes(cast, make_customer, contract_policy):
    customers = [make_customer(retention_until=LONG_AGO)[0] for _ in range(5)]
    policy = contract_policy()
    first = purge_policy(policy=policy, chunk_size=2)
    again = purge_policy(policy=policy, chunk_size=2)
    assert first.customers == 5
    assert again.run is not None and again.run.pk != first.run.pk and again.customers == 0
    assert DestructionTombstone.objects.count() == 5
    assert _everything_readable([c.pk for c in customers]) == []


def test_an_interrupted_run_is_resumed_by_the_next(cast, make_customer, contract_policy):
    for _ in range(3):
        make_customer(retention_until=LONG_AGO)
    policy = contract_policy()
    run = PurgeRun.objects.create(policy=policy)  # as left by a worker that died
    outcome = purge_policy(policy=policy)
    assert outcome.run.pk == run.pk
    assert PurgeRun.objects.get(pk=run.pk).customers == 3


def test_a_failed_run_is_resumed_by_the_next_not_split_in_two(
    cast, make_customer, contract_policy, monkeypatch
):
    from audits import retention

    customers = [make_customer(retention_until=LONG_AGO)[0] for _ in range(5)]
    policy = contract_policy()
    real, calls = retention._shred_customers, []

    def dies_on_the_second_chunk(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    monkeypatch.setattr(retention, "_shred_customers", dies_on_the_second_chunk)
    with pytest.raises(OperationalError):
        purge_policy(policy=policy, chunk_size=2)
    failed = PurgeRun.objects.get()
    assert (failed.status, failed.customers, failed.error) == ("failed", 2, "OperationalError")
    monkeypatch.undo()
    outcome = purge_policy(policy=policy, chunk_size=2)
    run = PurgeRun.objects.get()  # the same run, finished: counts and certificate are whole
    assert outcome.run.pk == run.pk == failed.pk
    assert (run.status, run.customers, run.error) == ("succeeded", 5, "")
    assert DestructionTombstone.objects.count() == 5
    assert _everything_readable([c.pk for c in customers]) == []


def test_anonymise_keeps_statistics_and_nothing_readable(cast, make_customer, contract_policy):
    customer, secrets = make_customer(retention_until=LONG_AGO, city="Suzhou", segment="retail")
    outcome = purge_policy(policy=contract_policy(action="anonymise"))
    assert outcome.customers == 1
    kept = Customer.objects.get(pk=customer.pk)
    assert (kept.status, kept.city, kept.segment) == ("erased", "Suzhou", "retail")
    assert kept.reference.startswith("ERASED-") and kept.full_name == ""
    assert not Customer.history.filter(id=customer.pk).exists()
    assert PurchaseRecord.objects.get(customer=customer).notes == ""
    if connection.vendor == "sqlite":
        assert scan_sqlite(secrets) == set()


def test_an_unconfirmed_policy_never_runs(cast, make_customer, contract_policy):
    customer, _ = make_customer(retention_until=LONG_AGO)
    outcome = purge_policy(policy=contract_policy(confirm=False))
    assert outcome.skipped_unconfirmed
    assert Customer.objects.filter(pk=customer.pk).exists()


def test_a_deal_hold_blocks_the_sellers_customers(cast, make_customer, contract_policy, seller):
    from transfers.services import deal_create

    customer, _ = make_customer(retention_until=LONG_AGO)
    deal = deal_create(
        actor=cast.broker, reference="D-HOLD", title="Held", seller=seller,
        buyer=cast.buyer_org, purposes="x", legal_basis="contract",
    )  # fmt: skip
    legal_hold_place(actor=cast.compliance, deal=deal, reason="Regulator inquiry 7")
    policy = contract_policy()
    preview = policy_preview(policy)
    assert (preview.due, preview.held) == (0, 1)
    assert "Regulator inquiry 7" in preview.hold_reasons[0][0]
    purge_policy(policy=policy)
    assert Customer.objects.filter(pk=customer.pk).exists()


def test_purge_expired_command_dry_run_changes_nothing(
    cast, make_customer, contract_policy, capsys
):
    customer, _ = make_customer(retention_until=LONG_AGO)
    contract_policy()
    call_command("purge_expired", "--dry-run")
    assert "would purge 1 customers" in capsys.readouterr().out
    assert Customer.objects.filter(pk=customer.pk).exists()
    call_command("purge_expired")
    assert "purged 1 customers" in capsys.readouterr().out
    assert not Customer.objects.filter(pk=customer.pk).exists()


def test_category_policy_deletes_old_purchases_only(cast, make_customer, seller):
    from audits.retention import policy_confirm, policy_save

    customer, _ = make_customer()
    PurchaseRecord.objects.create(
        customer=customer, purchased_on=dt.date.today(), product="New", amount="1.00",
        currency="CNY",
    )  # fmt: skip
    policy = policy_save(
        actor=cast.compliance, organization=seller, category="purchases", event="record_date",
        period_days=365, action="destroy",
    )  # fmt: skip
    policy_confirm(actor=cast.compliance, policy=policy)
    outcome = purge_policy(policy=policy)
    assert outcome.rows == 1
    assert list(PurchaseRecord.objects.values_list("product", flat=True)) == ["New"]
    assert Customer.objects.get(pk=customer.pk).full_name == customer.full_name


def test_the_daily_task_reports_into_a_job_row(cast, make_customer, contract_policy):
    from audits.tasks_lifecycle import purge_expired_task
    from transferdesk.jobs import Job

    make_customer(retention_until=LONG_AGO)
    contract_policy()
    purge_expired_task.apply()
    job = Job.objects.get(kind="purge")
    assert (job.status, job.done, job.total) == ("succeeded", 1, 1)
    assert job.result["customers"] == 1
