"""Who is told about notices and requests (issue 17): a deal's notices prepared → its other
compliance officers; an incident's notices prepared → every other officer; a data-subject
request received → every officer (nobody is assigned yet); assigned → the assignee only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.choices import Role
from audits.incidents import incident_notices_prepare
from customers.models import Customer
from notifications.choices import Kind
from notifications.models import Notification
from tests.factories import UserFactory
from tests.support.notifications import mails_to, told
from tests.transfers.conftest import bulk_customers
from transfers import notices, requests
from transfers.choices import AssignmentRole
from transfers.notice_models import IdentityCheck, RequestKind, RequestSource

from .conftest import customers_of
from .test_incident_kind import _incident

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _mail_in_process(eager_tasks):
    """The e-mail tasks run in-process, under any broker (the live tests cover the worker)."""


@pytest.fixture
def second_officer(cast):
    return UserFactory(username="compliance-2", organization=cast.broker_firm,
                       roles=[Role.COMPLIANCE], language="zh-hans")  # fmt: skip


@pytest.fixture
def catalogues() -> None:
    from io import StringIO

    from django.core.management import call_command
    from django.utils.translation import trans_real

    call_command("compile_catalogues", stdout=StringIO())
    trans_real._translations = {}
    trans_real._default = None


def test_prepared_transfer_notices_tell_the_deals_officers(
    cast, deal, second_officer, django_capture_on_commit_callbacks
):
    from transfers import services

    services.deal_assign(
        actor=cast.broker, deal=deal, user=second_officer, role=AssignmentRole.COMPLIANCE
    )
    with django_capture_on_commit_callbacks(execute=True):
        campaign = notices.campaign_prepare(
            actor=cast.broker, deal=deal, objection_deadline=timezone.now() + timedelta(days=30)
        )
    # The deal's own officer; cast.compliance is assigned to no deal, so is not asked.
    assert told(Kind.CAMPAIGN_PREPARED) == {"compliance-2"}
    note = Notification.objects.get(kind=Kind.CAMPAIGN_PREPARED)
    assert note.url == reverse("notices:campaign_detail", args=[campaign.pk])
    assert len(mails_to(second_officer)) == 1 and not mails_to(cast.broker)


def test_prepared_incident_notices_tell_every_other_officer(
    cast, second_officer, catalogues, django_capture_on_commit_callbacks
):
    bulk_customers(cast.seller, 2, prefix="INCN")
    incident = _incident(cast, list(Customer.objects.filter(reference__startswith="INCN")))
    with django_capture_on_commit_callbacks(execute=True):
        campaign = incident_notices_prepare(actor=cast.compliance, incident=incident)
    assert told(Kind.INCIDENT_NOTICES_PREPARED) == {"compliance-2"}  # not who prepared them
    note = Notification.objects.get(kind=Kind.INCIDENT_NOTICES_PREPARED)
    assert note.url == reverse("notices:campaign_detail", args=[campaign.pk])
    (message,) = mails_to(second_officer)
    assert f"事件 {incident.reference} 的通知等待您审批" in message.body
    assert not mails_to(cast.compliance)


def test_a_request_tells_every_officer_until_it_is_assigned_then_the_assignee(
    client, cast, deal, second_officer, django_capture_on_commit_callbacks
):
    customer = customers_of(cast.seller, languages=("en",))[0]
    with django_capture_on_commit_callbacks(execute=True):
        dsr = requests.request_create(
            customer=customer, deal=deal, kind=RequestKind.COMPLAINT,
            source=RequestSource.CUSTOMER_PAGE, message="Too many calls",
        )  # fmt: skip
    assert told(Kind.REQUEST_RECEIVED) == {"compliance", "compliance-2"}
    assert len(mails_to(cast.compliance)) == 1 and len(mails_to(second_officer)) == 1
    client.force_login(cast.compliance)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("requests:request_assign", args=[dsr.pk]),
            {"assignee": second_officer.pk, "identity_check": IdentityCheck.LINK},
        )
    assert response.status_code == 302
    assert told(Kind.REQUEST_ASSIGNED) == {"compliance-2"}
    note = Notification.objects.get(kind=Kind.REQUEST_ASSIGNED)
    assert note.url == reverse("requests:request_detail", args=[dsr.pk])
    assert str(dsr.pk)[:8] in note.text
    assert len(mails_to(second_officer)) == 2 and len(mails_to(cast.compliance)) == 1
