"""Stored choice values reach people as labels: tiers in the planner, queue and receipt; the
stage statuses that share their English word with a column heading keep their own meaning."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext, trans_real

from customers.choices import Tier
from transfers import services
from transfers.choices import StageKind, StageStatus

from .conftest import make_customers

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def catalogues() -> None:
    """The compiled Chinese catalogue (``.mo`` files are not in git), read afresh."""
    from io import StringIO

    call_command("compile_catalogues", stdout=StringIO())
    trans_real._translations = {}
    trans_real._default = None


@pytest.fixture(autouse=True)
def _language_back_to_default(settings):
    """A request in Chinese leaves Chinese active in this thread (LocaleMiddleware activates,
    nothing deactivates): later tests must not inherit it."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def _cells(page: str) -> set[str]:
    return {cell.strip() for cell in re.findall(r"<td>([^<]*)</td>", page)}


def test_the_planner_preview_names_the_tiers_by_their_labels(client, cast, deal):
    make_customers(cast.seller, 3)
    client.force_login(cast.broker)
    response = client.post(
        reverse("transfers:stage_create", args=[deal.pk]),
        {"name": "Contacts", "kind": StageKind.IDENTIFIED, "tier_scope": ["general", "sensitive"],
         "preview": "1"},
    )  # fmt: skip
    cells = _cells(response.content.decode())
    assert {"General", "Sensitive"} <= cells
    assert not {"general", "sensitive"} & cells


def test_the_approval_queue_and_stage_page_name_the_tiers_by_their_labels(client, cast, deal):
    make_customers(cast.seller, 3)
    stage = services.stage_create(
        actor=cast.broker, deal=deal, name="Contacts", kind=StageKind.IDENTIFIED,
        tier_scope=[Tier.GENERAL, Tier.CORE],
    )  # fmt: skip
    services.stage_submit(actor=cast.broker, stage=stage)
    client.force_login(cast.compliance)
    queue = client.get(reverse("transfers:approval_queue")).content.decode()
    assert "General, Core" in queue and "general, core" not in queue
    page = client.get(reverse("transfers:stage_detail", args=[stage.pk])).content.decode()
    assert "General, Core" in page and "general, core" not in page
    assert {"General", "Core"} <= _cells(page)  # the stored preview, by tier


def test_submitted_and_approved_read_as_states_in_chinese_and_as_times_in_headings(catalogues):
    with translation.override("zh-hans"):
        assert str(StageStatus.SUBMITTED.label) == "已提交"
        assert str(StageStatus.APPROVED.label) == "已批准"
        # The same English words as column headings (the time of the act) keep their meaning.
        assert gettext("Submitted") == "提交时间"
        assert gettext("Approved") == "批准时间"


def test_a_submitted_stage_shows_its_state_in_chinese(client, cast, deal, catalogues):
    make_customers(cast.seller, 3)
    stage = services.stage_create(
        actor=cast.broker, deal=deal, name="Contacts", kind=StageKind.PSEUDONYMISED,
        tier_scope=[Tier.GENERAL],
    )  # fmt: skip
    services.stage_submit(actor=cast.broker, stage=stage)
    client.force_login(cast.broker)
    page = client.get(
        reverse("transfers:stage_detail", args=[stage.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()
    assert "已提交" in page
    assert "· 提交时间" not in page
