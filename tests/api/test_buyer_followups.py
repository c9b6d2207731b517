# ruff: noqa: F811 (the portal world's fixtures, imported, are parameters of the tests)
"""The buyer's system lists its follow-up tasks and attests them, through the portal's service:
once only, recorded with the key that did it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.api.conftest import auth
from tests.portal.conftest import _eager_engine, _portal_world, cast, delivered  # noqa: F401
from transferdesk.principals import ApiScope
from transferdesk.trail import AuditAction, AuditEvent
from transfers.portal_models import FollowUpStatus, FollowUpTask
from transfers.portal_services import followup_create

pytestmark = pytest.mark.django_db

LIST = "/api/v1/followups/"


def attest(task) -> str:
    return reverse("api:followup_attest", args=[task.pk])


@pytest.fixture
def tasks(cast, delivered):
    """A task on buyer A's deal and one on buyer B's."""
    mine = followup_create(
        item=delivered.pseudo.items.first(), kind="update", reason="correction", actor=cast.broker
    )
    theirs = followup_create(
        item=delivered.other_stage.items.first(), kind="update", reason="correction"
    )
    return mine, theirs


@pytest.fixture
def key(issue, cast):
    return issue(cast.buyer_org, scopes=[ApiScope.FOLLOWUPS_WRITE])


def test_a_buyer_lists_its_own_tasks_only(api, cast, tasks, key, issue):
    mine, theirs = tasks
    _key, text = key

    body = api.get(LIST, **auth(text)).json()

    assert [t["id"] for t in body["results"]] == [mine.pk]
    row = body["results"][0]
    assert (row["kind"], row["reason"], row["status"]) == ("update", "correction", "open")
    assert row["stage"] == str(mine.item.stage_id) and row["deal"] == str(mine.deal_id)
    _other, other_text = issue(cast.other_buyer_org, scopes=[ApiScope.FOLLOWUPS_WRITE])
    assert [t["id"] for t in api.get(LIST, **auth(other_text)).json()["results"]] == [theirs.pk]
    _seller, seller_text = issue(cast.seller, scopes=[ApiScope.FOLLOWUPS_WRITE])
    assert api.get(LIST, **auth(seller_text)).json()["results"] == []


def test_attesting_closes_the_task_once_and_records_the_key(api, cast, tasks, key):
    mine, _theirs = tasks
    api_key, text = key

    response = api.post(attest(mine), {"attestation": "Updated in our CRM."}, **auth(text))

    assert response.status_code == 201, response.content
    assert response.json()["attested_by"] == f"api-key:{api_key.prefix}"
    mine.refresh_from_db()
    assert mine.status == FollowUpStatus.DONE
    assert (mine.attested_by, mine.attested_by_key) == (None, api_key.prefix)
    assert mine.attestation == "Updated in our CRM."
    event = AuditEvent.objects.get(
        action=AuditAction.UPDATE, object_type="transfers.followuptask", object_id=str(mine.pk)
    )
    assert event.details["attested"] is True
    assert event.actor_name == f"api-key:{api_key.prefix}@buyer-a"
    call = AuditEvent.objects.filter(action=AuditAction.API_CALL).latest("seq")
    assert (call.object_id, call.deal_ref, call.details["status"]) == (
        str(mine.pk), str(mine.deal_id), 201,
    )  # fmt: skip

    again = api.post(attest(mine), {"attestation": "Again."}, **auth(text))

    assert again.status_code == 409 and "already completed" in again.json()["detail"]
    mine.refresh_from_db()
    assert mine.attestation == "Updated in our CRM."
    # The portal's task page names the key that attested.
    from django.test import Client

    person = Client()
    person.force_login(cast.buyer)
    page = person.get(reverse("portal:tasks", args=[mine.deal_id])).content.decode()
    assert f"API key {api_key.prefix}" in page


@pytest.mark.parametrize(
    "body", [{}, {"attestation": "   "}, {"attestation": "x" * 2001}, {"attestation": ["a"]}]
)
def test_a_missing_or_hostile_statement_is_400_and_nothing_changes(api, tasks, key, body):
    mine, _theirs = tasks
    _key, text = key
    response = api.post(attest(mine), body, format="json", **auth(text))
    assert response.status_code == 400
    assert "attestation" in response.json()
    mine.refresh_from_db()
    assert mine.status == FollowUpStatus.OPEN


def test_another_buyers_task_is_404_and_stays_open(api, cast, tasks, issue):
    _mine, theirs = tasks
    _key, text = issue(cast.buyer_org, scopes=[ApiScope.FOLLOWUPS_WRITE])
    response = api.post(attest(theirs), {"attestation": "Done."}, **auth(text))
    assert response.status_code == 404
    assert FollowUpTask.objects.get(pk=theirs.pk).status == FollowUpStatus.OPEN


def test_a_key_with_stages_read_only_is_refused(api, cast, tasks, issue):
    mine, _theirs = tasks
    _key, text = issue(cast.buyer_org)
    assert api.get(LIST, **auth(text)).status_code == 403
    assert api.post(attest(mine), {"attestation": "Done."}, **auth(text)).status_code == 403
