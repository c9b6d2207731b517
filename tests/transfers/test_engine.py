"""The engine on the embedded stack: snapshots by kind, exclusions, manifest, idempotence."""

from __future__ import annotations

import io

import pytest

from customers.choices import CustomerStatus, Tier
from customers.models import Customer
from customers.registry import fields_of
from transferdesk.celery import app
from transferdesk.trail import AuditAction, AuditEvent
from transfers import engine, services
from transfers.choices import StageKind, StageStatus
from transfers.models import HandoverItem, HandoverStage
from transfers.receipts import manifest_bundle, verify_bundle

from .conftest import make_customers, open_notice_window

pytestmark = pytest.mark.django_db

STATUSES = {1: CustomerStatus.OBJECTED, 2: CustomerStatus.LEGAL_HOLD, 4: CustomerStatus.ERASED}


@pytest.fixture(autouse=True)
def _on_commit(django_capture_on_commit_callbacks):
    """Run the engine in-process after commit (the live tests cover the real worker)."""
    global _capture
    _capture = django_capture_on_commit_callbacks
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


def run(cast, deal, kind, tiers, selection=None):
    stage = services.stage_create(
        actor=cast.broker, deal=deal, name=f"{kind} stage", kind=kind, tier_scope=tiers,
        selection=selection,
    )  # fmt: skip
    services.stage_submit(actor=cast.broker, stage=stage)
    with _capture(execute=True):  # the engine is enqueued after commit (eager here)
        services.stage_approve(actor=cast.compliance, stage=stage, note="Checked the preview.")
    stage.refresh_from_db()
    return stage


@pytest.fixture
def customers(cast, deal):
    return make_customers(cast.seller, 12, statuses=STATUSES)


def snapshots(stage):
    key = stage.deal.data_key.unwrap()
    return {i.customer_id: engine.decrypt_item(i, key) for i in stage.items.all()}


def test_identified_snapshot_holds_exactly_the_scoped_tiers(cast, deal, customers):
    open_notice_window(deal)
    stage = run(cast, deal, StageKind.IDENTIFIED, [Tier.GENERAL, Tier.SENSITIVE])
    assert stage.status == StageStatus.DELIVERED
    expected = set(fields_of(Customer, Tier.GENERAL)) | set(fields_of(Customer, Tier.SENSITIVE))
    docs = snapshots(stage)
    assert len(docs) == 9
    for customer in Customer.objects.filter(pk__in=docs):
        fields = docs[customer.pk]["fields"]
        assert set(fields) == expected
        for name in expected:
            assert fields[name] == engine._plain(getattr(customer, name)), name
        assert not set(fields) & set(fields_of(Customer, Tier.CORE))


def test_core_tier_travels_only_when_in_scope(cast, deal, customers):
    open_notice_window(deal)
    stage = run(cast, deal, StageKind.IDENTIFIED, [Tier.GENERAL, Tier.CORE])
    expected = set(fields_of(Customer, Tier.GENERAL)) | set(fields_of(Customer, Tier.CORE))
    docs = snapshots(stage)
    assert len(docs) == 9
    for customer in Customer.objects.filter(pk__in=docs):
        fields = docs[customer.pk]["fields"]
        assert set(fields) == expected
        for name in expected:  # read from plain rows, compared with the ORM's own reading
            assert fields[name] == engine._plain(getattr(customer, name)), name


def test_pseudonymised_snapshot_has_general_fields_and_a_stable_pseudonym(cast, deal, customers):
    first = run(cast, deal, StageKind.PSEUDONYMISED, [Tier.GENERAL])
    second = run(cast, deal, StageKind.PSEUDONYMISED, [Tier.GENERAL])
    expected = set(fields_of(Customer, Tier.GENERAL)) - engine.PSEUDONYMISED_EXCLUDED
    a, b = snapshots(first), snapshots(second)
    assert len(a) == 9
    for customer in Customer.objects.filter(pk__in=a):
        doc = a[customer.pk]
        assert set(doc["fields"]) == expected
        for name in expected:
            assert doc["fields"][name] == engine._plain(getattr(customer, name)), name
        assert "customer" not in doc and str(customer.pk) not in str(doc)
        assert doc["pseudonym"] == b[customer.pk]["pseudonym"]
    assert len({d["pseudonym"] for d in a.values()}) == len(a)


def test_objectors_held_and_erased_customers_are_absent_and_counted(cast, deal, customers):
    stage = run(cast, deal, StageKind.PSEUDONYMISED, [Tier.GENERAL])
    absent = {c.pk for i, c in enumerate(customers) if i in STATUSES}
    assert not set(stage.items.values_list("customer_id", flat=True)) & absent
    assert stage.exclusions == {"objected": 1, "legal_hold": 1, "erased": 1}
    assert stage.preview["exclusions"] == {"objected": 1, "legal_hold": 1, "erased": 1}


def test_aggregate_stage_suppresses_small_cells_and_stores_no_items(cast, deal, customers):
    stage = run(cast, deal, StageKind.AGGREGATE, [Tier.GENERAL])
    assert stage.status == StageStatus.DELIVERED
    assert not stage.items.exists()
    cells = {c["value"]: c["customers"] for c in stage.result["by_segment"]}
    # 4 business customers: suppressed; retail too, or the total 9 - 5 would give them away.
    assert cells == {"retail": None, "business": None}
    assert stage.result["customers"] == 9
    assert stage.result["suppressed_cells"] == 2


def test_small_chunks_and_partitions_store_every_eligible_customer_once(
    cast, deal, customers, settings
):
    settings.HANDOVER_CHUNK_SIZE = 2
    settings.HANDOVER_PARTITIONS = 3
    stage = run(cast, deal, StageKind.PSEUDONYMISED, [Tier.GENERAL])
    assert stage.status == StageStatus.DELIVERED
    ids = list(stage.items.values_list("customer_id", flat=True))
    eligible = {c.pk for i, c in enumerate(customers) if i not in STATUSES}
    assert len(ids) == len(set(ids)) and set(ids) == eligible
    assert stage.done == stage.total == len(eligible)
    assert verify_bundle(manifest_bundle(stage), stage=stage).ok


def test_a_destroyed_customer_key_fails_the_stage_with_its_reason_and_stores_nothing(
    cast, deal, customers
):
    from transferdesk.crypto.errors import DataKeyDestroyed

    victim = customers[0]  # active, so selected: its key should never have gone
    victim.data_key.destroy()
    open_notice_window(deal)
    with pytest.raises(DataKeyDestroyed):
        run(cast, deal, StageKind.IDENTIFIED, [Tier.GENERAL, Tier.SENSITIVE])
    stage = HandoverStage.objects.get(deal=deal, kind=StageKind.IDENTIFIED)
    assert stage.status == StageStatus.FAILED
    assert str(victim.data_key_id) in stage.failure_reason
    assert "destroyed" in stage.failure_reason
    # The partition holding the victim rolled back its chunk: nothing of it was stored.
    assert not stage.items.filter(customer_id=victim.pk).exists()


def test_completion_sees_a_missing_item_below_the_top_of_its_range(cast, deal, customers):
    stage = run(cast, deal, StageKind.PSEUDONYMISED, [Tier.GENERAL])
    approval = engine.latest_approval(stage)
    assert not engine._anything_pending(stage, approval, 0, 1)
    ordered = list(stage.items.order_by("customer_id"))
    # A hole below the highest item (a customer skipped behind the cursor): the exact check.
    HandoverItem.objects.filter(pk=ordered[3].pk).delete()
    assert engine._anything_pending(stage, approval, 0, 1)
    assert engine._anything_pending(stage, approval, 1, 4)  # whichever range it falls in
    # The highest customer without an item (a range still running): the cheap check.
    HandoverItem.objects.filter(pk=ordered[-1].pk).delete()
    assert engine._anything_pending(stage, approval, 0, 1)


def test_running_a_delivered_stage_again_changes_nothing(cast, deal, customers):
    stage = run(cast, deal, StageKind.PSEUDONYMISED, [Tier.GENERAL])
    assert engine.run_stage(stage.pk) == "not claimed"
    assert stage.items.count() == 9
    assert AuditEvent.objects.filter(action=AuditAction.HANDOVER_STARTED).count() == 1


def test_a_stale_running_stage_resumes_without_doubling_and_records_the_interruption(
    cast, deal, customers, settings
):
    stage = run(cast, deal, StageKind.PSEUDONYMISED, [Tier.GENERAL])
    # Pretend a worker died after storing some items: back to running, half the items gone.
    keep = list(stage.items.order_by("customer_id").values_list("pk", flat=True)[:4])
    stage.items.exclude(pk__in=keep).delete()
    stage.manifest.delete()
    HandoverStage.objects.filter(pk=stage.pk).update(
        status=StageStatus.RUNNING, heartbeat_at=None, lease="dead"
    )
    assert engine.sweep() == 1
    stage.refresh_from_db()
    assert stage.status == StageStatus.DELIVERED
    assert stage.items.count() == 9
    assert AuditEvent.objects.filter(action=AuditAction.HANDOVER_INTERRUPTED).count() == 1


def test_a_redelivered_chunk_inserts_nothing_twice(cast, deal, customers):
    stage = run(cast, deal, StageKind.PSEUDONYMISED, [Tier.GENERAL])
    items = list(stage.items.all())
    for item in items:
        item.pk = None
    HandoverItem.objects.bulk_create(items, ignore_conflicts=True)
    assert stage.items.count() == 9


def test_the_manifest_verifies_and_names_a_tampered_item(cast, deal, customers):
    stage = run(cast, deal, StageKind.PSEUDONYMISED, [Tier.GENERAL])
    bundle = manifest_bundle(stage)
    assert verify_bundle(bundle, stage=stage).ok
    victim = stage.items.order_by("customer_id")[3]
    blob = bytearray(victim.snapshot)
    blob[-1] ^= 1
    HandoverItem.objects.filter(pk=victim.pk).update(snapshot=bytes(blob))
    report = verify_bundle(bundle, stage=stage)
    assert not report.ok
    # Named by its item row and pseudonym: a pseudonymised receipt never names the customer.
    assert f"item {victim.pk} (" in report.summary
    assert str(victim.customer_id) not in report.summary


def test_a_tampered_manifest_fails_and_names_the_item(cast, deal, customers):
    stage = run(cast, deal, StageKind.PSEUDONYMISED, [Tier.GENERAL])
    bundle = manifest_bundle(stage)
    bundle["items"][2][1] = "0" * 64
    report = verify_bundle(bundle)
    assert not report.ok
    report = verify_bundle(bundle, stage=stage)
    assert bundle["items"][2][0] in report.summary
    bundle = manifest_bundle(stage)
    bundle["manifest"]["item_count"] += 1
    assert not verify_bundle(bundle).ok


def test_verify_receipt_command_passes_a_sound_bundle_and_fails_a_tampered_one(
    cast, deal, customers, tmp_path
):
    import json

    from django.core.management import CommandError, call_command

    stage = run(cast, deal, StageKind.PSEUDONYMISED, [Tier.GENERAL])
    bundle = manifest_bundle(stage)
    sound = tmp_path / "sound.json"
    sound.write_text(json.dumps(bundle))
    out = io.StringIO()
    call_command(
        "verify_receipt", str(sound), "--fingerprint", bundle["key_fingerprint"], stdout=out
    )
    assert out.getvalue().startswith("verify_receipt: OK")
    victim = bundle["items"][5][0]
    bundle["items"][5][1] = "f" * 64
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(bundle))
    with pytest.raises(CommandError, match=victim):
        call_command("verify_receipt", str(tampered))
    with pytest.raises(CommandError, match="Merkle root"):
        call_command("verify_receipt", str(tampered), "--offline")
