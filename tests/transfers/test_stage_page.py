"""The stage page as the compliance journey found it: an officer who submitted a stage herself
(she is also a broker of the deal) is told why it offers her no approval, and the polled
progress bar reloads the page once the stage has stopped moving, so that the status, the
"waiting for a worker" line and the manifest are not left as they were while it moved."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.choices import Role
from customers.choices import Tier
from transfers import services
from transfers.choices import AssignmentRole, StageKind, StageStatus
from transfers.models import HandoverStage

from .conftest import make_customers

pytestmark = pytest.mark.django_db

OWN = "You submitted this stage; another compliance officer must approve it."


def submitted(cast, deal, actor):
    make_customers(cast.seller, 3)
    stage = services.stage_create(
        actor=actor, deal=deal, name="Overview", kind=StageKind.PSEUDONYMISED,
        tier_scope=[Tier.GENERAL],
    )  # fmt: skip
    return services.stage_submit(actor=actor, stage=stage)


def test_an_officer_who_submitted_a_stage_is_told_why_it_offers_her_no_approval(client, cast, deal):
    cast.compliance.groups.add(Group.objects.get_or_create(name=Role.BROKER)[0])
    services.deal_assign(
        actor=cast.broker, deal=deal, user=cast.compliance, role=AssignmentRole.BROKER
    )
    stage = submitted(cast, deal, cast.compliance)
    client.force_login(cast.compliance)
    page = client.get(reverse("transfers:stage_detail", args=[stage.pk])).content.decode()
    assert OWN in page
    assert reverse("transfers:stage_approve", args=[stage.pk]) not in page


def test_the_stage_page_tells_a_broker_nothing_about_who_may_approve(client, cast, deal):
    stage = submitted(cast, deal, cast.broker)
    client.force_login(cast.broker)
    page = client.get(reverse("transfers:stage_detail", args=[stage.pk])).content.decode()
    assert "Only a compliance officer can approve a stage." not in page
    assert OWN not in page


@pytest.mark.parametrize(
    ("status", "reloads"),
    [
        (StageStatus.APPROVED, False),
        (StageStatus.RUNNING, False),
        (StageStatus.DELIVERED, True),
        (StageStatus.FAILED, True),
    ],
)
def test_the_progress_poll_reloads_the_page_once_the_stage_stops_moving(
    client, cast, deal, status, reloads
):
    stage = submitted(cast, deal, cast.broker)
    HandoverStage.objects.filter(pk=stage.pk).update(status=status)
    client.force_login(cast.compliance)
    url = reverse("transfers:stage_progress", args=[stage.pk])
    polled = client.get(url, headers={"HX-Request": "true"})
    assert polled.status_code == 200
    assert (polled.headers.get("HX-Refresh") == "true") is reloads
    assert "HX-Refresh" not in client.get(url).headers  # not polled: nothing to reload
