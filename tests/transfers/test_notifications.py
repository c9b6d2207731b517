"""Who is told about a stage (issue 17): submitted → the deal's compliance officers but not the
submitter; approved, rejected, failed, delivered → the deal's brokers; delivered → its buyers.
Each through the page (or the engine) that causes it, with the e-mail in each one's language."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.choices import Role
from customers.choices import Tier
from notifications.choices import Delivery, Kind
from notifications.models import EmailPreference, Notification
from tests.factories import UserFactory
from tests.support.notifications import mails_to, told
from transferdesk.celery import app
from transfers import engine, services
from transfers.choices import AssignmentRole, StageKind, StageStatus
from transfers.models import HandoverStage

from .conftest import make_customers

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def eager():
    changes = app.conf.changes
    had, old = "task_always_eager" in changes, changes.get("task_always_eager")
    app.conf.task_always_eager = True
    yield
    if had:
        changes["task_always_eager"] = old
    else:
        changes.pop("task_always_eager", None)


@pytest.fixture
def catalogues() -> None:
    from io import StringIO

    from django.core.management import call_command
    from django.utils.translation import trans_real

    call_command("compile_catalogues", stdout=StringIO())
    trans_real._translations = {}
    trans_real._default = None


@pytest.fixture
def officers(cast, deal, catalogues):
    """Two officers assigned to the deal (one reads Chinese), one assigned to the other deal
    only, and one who is also a broker of the deal (so can submit)."""
    from transfers.models import TransferDeal

    zh = UserFactory(username="officer-zh", organization=cast.broker_firm,
                     roles=[Role.COMPLIANCE], language="zh-hans")  # fmt: skip
    en = UserFactory(username="officer-en", organization=cast.broker_firm,
                     roles=[Role.COMPLIANCE])  # fmt: skip
    elsewhere = UserFactory(username="officer-elsewhere", organization=cast.broker_firm,
                            roles=[Role.COMPLIANCE])  # fmt: skip
    both = UserFactory(username="broker-officer", organization=cast.broker_firm,
                       roles=[Role.BROKER, Role.COMPLIANCE])  # fmt: skip
    other = TransferDeal.objects.get(reference="D-2")
    for user in (zh, en, both):
        services.deal_assign(
            actor=cast.broker, deal=deal, user=user, role=AssignmentRole.COMPLIANCE
        )
    services.deal_assign(actor=cast.broker, deal=deal, user=both, role=AssignmentRole.BROKER)
    services.deal_assign(
        actor=cast.other_broker, deal=other, user=elsewhere, role=AssignmentRole.COMPLIANCE
    )
    return {"zh": zh, "en": en, "elsewhere": elsewhere, "both": both}


def planned(cast, deal, *, actor=None):
    make_customers(cast.seller, 4)
    return services.stage_create(
        actor=actor or cast.broker, deal=deal, name="Overview", kind=StageKind.PSEUDONYMISED,
        tier_scope=[Tier.GENERAL],
    )  # fmt: skip


def test_a_submitted_stage_tells_the_deals_officers_but_not_its_submitter(
    client, cast, deal, officers, django_capture_on_commit_callbacks
):
    stage = planned(cast, deal)
    client.force_login(officers["both"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("transfers:stage_submit", args=[stage.pk]))
    assert response.status_code == 302
    stage.refresh_from_db()
    assert stage.status == StageStatus.SUBMITTED
    # Not the submitter (an officer of the deal too), not the other deal's officer, nor
    # cast.compliance (an officer, but the deal has officers of its own).
    assert told(Kind.STAGE_SUBMITTED) == {"officer-zh", "officer-en"}
    (note,) = Notification.objects.filter(recipient=officers["en"])
    assert note.url == reverse("transfers:stage_approve", args=[stage.pk])
    assert note.text == "Stage “Overview” of deal D-1 waits for your approval."
    (zh_mail,) = mails_to(officers["zh"])
    assert "交易 D-1 的阶段“Overview”等待您审批" in zh_mail.body
    assert "/deals/stages/" in zh_mail.body
    (en_mail,) = mails_to(officers["en"])
    assert "waits for your approval" in en_mail.body
    assert not mails_to(officers["both"]) and not mails_to(officers["elsewhere"])


def test_a_deal_without_officers_of_its_own_tells_every_officer(
    client, cast, deal, django_capture_on_commit_callbacks
):
    stage = planned(cast, deal)
    client.force_login(cast.broker)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("transfers:stage_submit", args=[stage.pk]))
    assert told(Kind.STAGE_SUBMITTED) == {"compliance"}
    assert len(mails_to(cast.compliance)) == 1


def test_an_officer_who_chose_no_email_is_told_in_the_centre_only(
    client, cast, deal, officers, django_capture_on_commit_callbacks
):
    EmailPreference.objects.create(
        user=officers["en"], kind=Kind.STAGE_SUBMITTED, delivery=Delivery.NONE
    )
    stage = planned(cast, deal)
    client.force_login(cast.broker)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("transfers:stage_submit", args=[stage.pk]))
    assert "officer-en" in told(Kind.STAGE_SUBMITTED)
    assert not mails_to(officers["en"])
    assert len(mails_to(officers["zh"])) == 1


def test_approval_and_delivery_tell_the_brokers_and_delivery_the_buyers(
    client, cast, deal, django_capture_on_commit_callbacks
):
    stage = planned(cast, deal)
    services.stage_submit(actor=cast.broker, stage=stage)
    client.force_login(cast.compliance)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("transfers:stage_approve", args=[stage.pk]), {"note": "Checked."}
        )
    assert response.status_code == 302
    stage.refresh_from_db()
    assert stage.status == StageStatus.DELIVERED
    # The other deal's broker and buyer are told nothing; the approver is not told either.
    assert told(Kind.STAGE_APPROVED) == {"broker"}
    assert told(Kind.STAGE_DELIVERED) == {"broker", "buyer"}
    buyer_note = Notification.objects.get(kind=Kind.STAGE_DELIVERED, recipient=cast.buyer)
    assert buyer_note.url == reverse("portal:stage", args=[stage.pk])
    # Approvals at once, deliveries in the digest (the defaults).
    assert [m.subject for m in mails_to(cast.broker)] == ["TransferDesk: Stage approved"]
    assert not mails_to(cast.buyer) and not mails_to(cast.other_broker)


def test_a_rejection_tells_the_brokers(client, cast, deal, django_capture_on_commit_callbacks):
    stage = planned(cast, deal)
    services.stage_submit(actor=cast.broker, stage=stage)
    client.force_login(cast.compliance)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("transfers:stage_reject", args=[stage.pk]), {"reason": "Too wide."})
    stage.refresh_from_db()
    assert stage.status == StageStatus.REJECTED
    assert told(Kind.STAGE_REJECTED) == {"broker"}
    (message,) = mails_to(cast.broker)
    assert "was rejected" in message.body and "Too wide" not in message.body


def test_a_stage_the_engine_refuses_tells_the_brokers_it_failed(
    cast, deal, django_capture_on_commit_callbacks
):
    stage = planned(cast, deal)
    services.stage_submit(actor=cast.broker, stage=stage)
    services.stage_approve(actor=cast.compliance, stage=stage, note="Checked.", start=False)
    # Changed behind the services' back: the engine refuses to run it.
    HandoverStage.objects.filter(pk=stage.pk).update(tier_scope=[Tier.GENERAL, Tier.CORE])
    with django_capture_on_commit_callbacks(execute=True):
        engine.run_stage(stage.pk)
    stage.refresh_from_db()
    assert stage.status == StageStatus.FAILED
    assert told(Kind.STAGE_FAILED) == {"broker"}
    assert [m.subject for m in mails_to(cast.broker)] == ["TransferDesk: Stage failed"]


@pytest.mark.django_db(transaction=True)
def test_notify_refuses_to_run_outside_the_events_transaction():
    """Outside a transaction a notification could outlive (or precede) its event."""
    from django.db import transaction

    from notifications.services import notify

    user = UserFactory(username="lonely")
    with pytest.raises(RuntimeError):
        notify(recipients=[user], kind=Kind.STAGE_APPROVED, url="/deals/")
    with transaction.atomic():
        notify(recipients=[user], kind=Kind.STAGE_APPROVED, url="/deals/")
    assert told(Kind.STAGE_APPROVED) == {"lonely"}
