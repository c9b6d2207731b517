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


def test_the_answer_email_links_to_the_thread_with_the_public_address(
    client, cast, asked, settings, django_capture_on_commit_callbacks
):
    settings.PUBLIC_BASE_URL = "https://desk.example.org/"
    client.force_login(cast.broker)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("portal:question", args=[asked.pk]), {"body": "Turnover above 1m."})
    url = "https://desk.example.org" + reverse("portal:question", args=[asked.pk])
    assert url in mail.outbox[0].body


def _follow_up(client, question, body):
    return client.post(reverse("portal:question_follow_up", args=[question.pk]), {"body": body})


def test_the_buyer_replies_in_the_thread_and_it_awaits_an_answer_again(
    client, cast, asked, django_capture_on_commit_callbacks
):
    from transferdesk.trail import AuditEvent

    client.force_login(cast.broker)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("portal:question", args=[asked.pk]), {"body": "Turnover above 1m."})
    client.force_login(cast.buyer)
    response = _follow_up(client, asked, "  Is that gross or net turnover?  ")
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:question", args=[asked.pk])
    asked.refresh_from_db()
    assert asked.status == Question.Status.OPEN
    reply = Answer.objects.get(from_buyer=True)
    assert (reply.author, reply.body) == (cast.buyer, "Is that gross or net turnover?")
    assert reply.seen_at is not None  # the asker's own message is never "new" to them
    event = AuditEvent.objects.filter(object_type="transfers.answer").latest("seq")
    assert (event.action, event.actor_id) == ("create", cast.buyer.pk)
    assert event.object_id == str(reply.pk)
    assert event.details == {"question": asked.pk, "from_buyer": True}
    assert event.deal_ref == str(asked.deal_id)
    page = client.get(reverse("portal:question", args=[asked.pk])).content.decode()
    assert "Is that gross or net turnover?" in page and "Waiting for the brokers" in page
    # The brokers' queue lists the thread as awaiting an answer again.
    client.force_login(cast.broker)
    queue = client.get(reverse("portal:question_queue") + "?status=open").content.decode()
    assert "Segment definitions" in queue
    answered = client.get(reverse("portal:question_queue") + "?status=answered").content.decode()
    assert "Segment definitions" not in answered
    # The broker is not told to wait for the brokers: the page says the buyer is waiting.
    thread = client.get(reverse("portal:question", args=[asked.pk])).content.decode()
    assert "Waiting for the brokers" not in thread
    assert "The buyer is waiting for an answer" in thread


def test_an_empty_or_too_long_reply_is_refused_on_the_thread(client, cast, asked):
    client.force_login(cast.buyer)
    for body in ("   ", "x" * 4001):
        response = _follow_up(client, asked, body)
        assert response.status_code == 200
        assert 'class="invalid-feedback' in response.content.decode()
    assert not Answer.objects.exists()


def test_a_buyer_of_another_deal_cannot_reply_and_brokers_answer_instead(client, cast, asked):
    client.force_login(cast.other_buyer)
    assert _follow_up(client, asked, "Let me in").status_code == 404
    client.force_login(cast.broker)
    assert _follow_up(client, asked, "Wrong door").status_code == 403
    assert not Answer.objects.exists()
    asked.refresh_from_db()
    assert asked.status == Question.Status.OPEN


def test_the_answer_email_is_translated_with_its_quotes_and_link(
    client, cast, asked, settings, django_capture_on_commit_callbacks
):
    """The message's curly quotes are real characters in the source: written as escapes,
    they never matched the catalogue and every deployment mailed English."""
    from io import StringIO

    from django.core.management import call_command
    from django.utils import translation
    from django.utils.translation import trans_real

    call_command("compile_catalogues", stdout=StringIO())
    trans_real._translations = {}
    trans_real._default = None
    settings.LANGUAGE_CODE = "zh-hans"
    settings.PUBLIC_BASE_URL = "https://desk.example.org"
    client.force_login(cast.broker)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("portal:question", args=[asked.pk]), {"body": "Turnover."})
    finally:
        translation.activate("en")
    (message,) = mail.outbox  # the notification's e-mail, in the asker's language
    body = message.body
    assert f"您在交易 D-1 上的问题 #{asked.pk} 已得到答复" in body
    assert "Segment definitions" not in body  # the thread's words stay in the portal
    assert "https://desk.example.org" + reverse("portal:question", args=[asked.pk]) in body


def test_a_colleague_on_the_same_deal_replies_and_the_asker_sees_it_as_new(
    client, cast, asked, delivered
):
    from accounts.choices import Role
    from tests.factories import UserFactory
    from transfers import services
    from transfers.choices import AssignmentRole

    colleague = UserFactory(
        username="buyer-colleague", organization=cast.buyer_org, roles=[Role.BUYER]
    )
    services.deal_assign(
        actor=cast.broker, deal=delivered.deal, user=colleague, role=AssignmentRole.BUYER
    )
    nda = services.current_nda(delivered.deal)
    services.nda_accept(actor=colleague, nda=nda, ip="10.0.0.2", user_agent="pytest")
    client.force_login(colleague)
    assert _follow_up(client, asked, "We also need the 2024 definition.").status_code == 302
    reply = Answer.objects.get()
    assert reply.from_buyer and reply.author == colleague and reply.seen_at is None
    client.force_login(cast.buyer)
    page = client.get(reverse("portal:question", args=[asked.pk])).content.decode()
    assert "We also need the 2024 definition." in page
    reply.refresh_from_db()
    assert reply.seen_at is not None


def test_without_a_public_address_the_answer_email_links_to_the_address_the_broker_used(
    client, cast, asked, settings, django_capture_on_commit_callbacks
):
    """Development with PUBLIC_BASE_URL unset: the links open where the app is served, not on
    a fixed localhost:8000."""
    settings.PUBLIC_BASE_URL = ""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "desk.test"]
    client.force_login(cast.broker)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("portal:question", args=[asked.pk]),
            {"body": "Turnover above 1m."},
            HTTP_HOST="desk.test:8123",
        )
    assert "http://desk.test:8123" + reverse("portal:question", args=[asked.pk]) in (
        mail.outbox[0].body
    )
    assert "localhost:8000" not in mail.outbox[0].body
