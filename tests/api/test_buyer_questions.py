# ruff: noqa: F811 (the portal world's fixtures, imported, are parameters of the tests)
"""The buyer's system asks about a delivered stage and reads the answers, through the portal's
question service: the deal's brokers are told, the thread is the portal's."""

from __future__ import annotations

import pytest
from django.urls import reverse

from notifications.models import Notification
from tests.api.conftest import auth
from tests.portal.conftest import _eager_engine, _portal_world, cast, delivered  # noqa: F401
from transferdesk.trail import AuditAction, AuditEvent
from transfers.portal_models import Question
from transfers.portal_services import question_answer

pytestmark = pytest.mark.django_db


def questions(deal) -> str:
    return reverse("api:deal_questions", args=[deal.pk])


@pytest.fixture
def key(issue, cast):
    return issue(cast.buyer_org)


def test_a_key_asks_about_a_record_and_reads_the_brokers_answer(api, cast, delivered, key):
    api_key, text = key
    stage = delivered.identified
    item = stage.items.first()

    response = api.post(
        questions(delivered.deal),
        {"stage": str(stage.pk), "item": item.pk, "subject": "Address", "body": "Is it current?"},
        format="json",
        **auth(text),
    )

    assert response.status_code == 201, response.content
    question = Question.objects.get(pk=response.json()["id"])
    assert (question.asked_by, question.asked_by_key) == (None, api_key.prefix)
    assert (question.stage_id, question.item_id, question.deal_id) == (
        stage.pk, item.pk, delivered.deal.pk,
    )  # fmt: skip
    event = AuditEvent.objects.get(
        action=AuditAction.CREATE, object_type="transfers.question", object_id=str(question.pk)
    )
    assert event.actor_name == f"api-key:{api_key.prefix}@buyer-a"
    assert Notification.objects.filter(recipient=cast.broker).exists()  # the brokers are told

    question_answer(actor=cast.broker, question=question, body="Yes, checked last week.")
    body = api.get(questions(delivered.deal), **auth(text)).json()

    (thread,) = body["results"]
    assert thread["asked_by"] == f"API key {api_key.prefix}"
    assert [a["body"] for a in thread["answers"]] == ["Yes, checked last week."]
    # The asker was the buyer's system: the deal's buyer users are told of the answer.
    assert Notification.objects.filter(recipient=cast.buyer).exists()
    # The portal's thread names the key.
    from django.test import Client

    broker = Client()
    broker.force_login(cast.broker)
    page = broker.get(reverse("portal:question", args=[question.pk]))
    assert f"API key {api_key.prefix}" in page.text


@pytest.mark.parametrize(
    "change, field",
    [
        ({"stage": "00000000-0000-0000-0000-000000000000"}, "stage"),
        ({"item": 10**9}, "item"),
        ({"subject": ""}, "subject"),
        ({"body": "x" * 4001}, "body"),
        ({"stage": "not-a-uuid"}, "stage"),
    ],
)
def test_a_bad_question_is_400_naming_the_field_and_asks_nothing(
    api, cast, delivered, key, change, field
):
    _key, text = key
    data = {"stage": str(delivered.pseudo.pk), "subject": "S", "body": "B", **change}
    response = api.post(questions(delivered.deal), data, format="json", **auth(text))
    assert response.status_code == 400
    assert field in response.json()
    assert not Question.objects.exists()


def test_a_stage_of_another_deal_or_a_draft_cannot_be_asked_about(api, cast, delivered, key):
    _key, text = key
    for stage in (delivered.other_stage, delivered.draft):
        data = {"stage": str(stage.pk), "subject": "S", "body": "B"}
        response = api.post(questions(delivered.deal), data, format="json", **auth(text))
        assert response.status_code == 400 and "stage" in response.json()
    assert not Question.objects.exists()


def test_another_buyers_deal_and_the_sellers_key_are_404(api, cast, delivered, issue, key):
    _key, text = key
    _seller, seller_text = issue(cast.seller)
    assert api.get(questions(delivered.other_deal), **auth(text)).status_code == 404
    assert api.get(questions(delivered.deal), **auth(seller_text)).status_code == 404
    data = {"stage": str(delivered.pseudo.pk), "subject": "S", "body": "B"}
    assert api.post(questions(delivered.deal), data, **auth(seller_text)).status_code == 404
    assert not Question.objects.exists()
