"""Questions and answers: the buyer asks, the deal's brokers answer, the buyer is notified,
and one bidder never learns of another's questions."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from transfers.portal_models import Answer, Question

pytestmark = pytest.mark.django_db


@pytest.fixture
def asked(client, cast, delivered, django_capture_on_commit_callbacks):
    client.force_login(cast.buyer)
    item = delivered.pseudo.items.order_by("pk").first()
    response = client.post(
        reverse("portal:questions", args=[delivered.deal.pk]),
        {
            "stage": delivered.pseudo.pk,
            "item": item.pk,
            "subject": "Segment definitions",
            "body": "How is 'business' defined?",
        },
    )
    question = Question.objects.get()
    assert response["Location"] == reverse("portal:question", args=[question.pk])
    return question


def test_a_buyer_question_belongs_to_the_deal_and_names_stage_and_item(asked, delivered):
    assert asked.deal == delivered.deal and asked.stage == delivered.pseudo
    assert asked.item is not None and asked.status == Question.Status.OPEN


def test_brokers_of_the_deal_see_the_queue_and_answer_and_the_buyer_is_notified(
    client, cast, asked, django_capture_on_commit_callbacks
):
    client.force_login(cast.broker)
    assert "Segment definitions" in client.get(reverse("portal:question_queue")).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("portal:question", args=[asked.pk]), {"body": "Turnover above 1m."}
        )
    assert response.status_code == 302
    asked.refresh_from_db()
    assert asked.status == Question.Status.ANSWERED
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [cast.buyer.email]
    assert "Turnover" not in mail.outbox[0].body  # the answer stays in the portal
    client.force_login(cast.buyer)
    assert "1 new answer" in client.get(reverse("portal:home")).content.decode()
    page = client.get(reverse("portal:question", args=[asked.pk])).content.decode()
    assert "Turnover above 1m." in page
    assert Answer.objects.get().seen_at is not None
    assert "new answer" not in client.get(reverse("portal:home")).content.decode()


def test_other_bidders_and_their_brokers_never_see_the_question(client, cast, asked):
    client.force_login(cast.other_broker)
    assert (
        "Segment definitions" not in client.get(reverse("portal:question_queue")).content.decode()
    )
    assert client.get(reverse("portal:question", args=[asked.pk])).status_code == 404
    assert (
        client.post(reverse("portal:question", args=[asked.pk]), {"body": "x"}).status_code == 404
    )
    client.force_login(cast.other_buyer)
    assert client.get(reverse("portal:question", args=[asked.pk])).status_code == 404
    page = client.get(reverse("portal:home")).content.decode()
    assert "Segment definitions" not in page


def test_a_buyer_cannot_answer_and_compliance_only_reads(client, cast, asked):
    client.force_login(cast.buyer)
    assert (
        client.post(reverse("portal:question", args=[asked.pk]), {"body": "x"}).status_code == 403
    )
    client.force_login(cast.compliance)
    page = client.get(reverse("portal:question", args=[asked.pk]))
    assert page.status_code == 200 and "Send answer" not in page.content.decode()
    assert not Answer.objects.exists()


def test_a_question_cannot_point_at_another_deals_stage(client, cast, delivered):
    client.force_login(cast.buyer)
    response = client.post(
        reverse("portal:questions", args=[delivered.deal.pk]),
        {"stage": delivered.other_stage.pk, "subject": "x", "body": "y"},
    )
    assert response.status_code == 200 and not Question.objects.exists()
