"""Who is told about the portal's threads and tasks (issue 17): a question asked or replied to
→ the deal's brokers; answered → the asker; a follow-up task → the deal's buyer users."""

from __future__ import annotations

import pytest
from django.urls import reverse

from notifications.choices import Kind
from notifications.models import Notification
from tests.support.notifications import mails_to, told
from transfers.portal_models import Question
from transfers.portal_services import followup_create

pytestmark = pytest.mark.django_db


def _ask(client, cast, delivered):
    client.force_login(cast.buyer)
    client.post(
        reverse("portal:questions", args=[delivered.deal.pk]),
        {"stage": delivered.pseudo.pk, "subject": "Segment definitions", "body": "How?"},
    )
    return Question.objects.get()


def test_a_question_and_a_reply_tell_the_deals_brokers_and_an_answer_the_asker(
    client, cast, delivered, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        question = _ask(client, cast, delivered)
    # The brokers of this deal, not the other bidder's broker, not the asker.
    assert told(Kind.QUESTION_ASKED) == {"broker"}
    note = Notification.objects.get(kind=Kind.QUESTION_ASKED)
    assert note.url == reverse("portal:question", args=[question.pk])
    assert note.text == f"A buyer asked question #{question.pk} on deal D-1."
    (asked_mail,) = mails_to(cast.broker)
    assert "Segment definitions" not in asked_mail.body  # the thread stays in the portal

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("portal:question_follow_up", args=[question.pk]), {"body": "More?"})
    assert told(Kind.QUESTION_REPLIED) == {"broker"}

    client.force_login(cast.broker)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("portal:question", args=[question.pk]), {"body": "Turnover."})
    assert told(Kind.QUESTION_ANSWERED) == {"buyer"}
    (answered,) = mails_to(cast.buyer)
    assert f"Your question #{question.pk} on deal D-1 was answered." in answered.body
    assert not mails_to(cast.other_broker) and not mails_to(cast.other_buyer)


def test_a_follow_up_task_tells_the_buyer_users_of_its_deal_in_their_language(
    cast, delivered, django_capture_on_commit_callbacks
):
    from io import StringIO

    from django.core.management import call_command
    from django.utils.translation import trans_real

    call_command("compile_catalogues", stdout=StringIO())
    trans_real._translations = {}
    cast.buyer.language = "zh-hans"
    cast.buyer.save(update_fields=["language"])
    item = delivered.pseudo.items.order_by("pk").first()
    with django_capture_on_commit_callbacks(execute=True):
        task = followup_create(item=item, kind="update", reason="correction")
    assert told(Kind.FOLLOWUP_CREATED) == {"buyer"}
    note = Notification.objects.get(kind=Kind.FOLLOWUP_CREATED)
    assert note.url == reverse("portal:tasks", args=[delivered.deal.pk])
    (message,) = mails_to(cast.buyer)
    due = task.due_at.date().isoformat()
    assert f"交易 D-1 有一项后续任务，须于 {due} 前完成" in message.body  # noqa: RUF001
    # A second change before the buyer acted keeps the one open task and tells nobody again.
    with django_capture_on_commit_callbacks(execute=True):
        followup_create(item=item, kind="update", reason="correction")
    assert Notification.objects.filter(kind=Kind.FOLLOWUP_CREATED).count() == 1


def test_a_follow_up_task_near_its_deadline_tells_the_buyers_once(
    cast, delivered, settings, django_capture_on_commit_callbacks
):
    from transfers.portal_services import followups_remind

    items = list(delivered.pseudo.items.order_by("pk")[:2])
    soon = followup_create(item=items[0], kind="update", reason="correction", due_days=2)
    followup_create(item=items[1], kind="update", reason="correction", due_days=20)
    with django_capture_on_commit_callbacks(execute=True):
        assert followups_remind() == 1
        assert followups_remind() == 0
    assert told(Kind.FOLLOWUP_DUE_SOON) == {"buyer"}
    note = Notification.objects.get(kind=Kind.FOLLOWUP_DUE_SOON)
    assert note.params["task"] == soon.pk
    assert note.text == f"A follow-up task on deal D-1 is due by {soon.due_at.date().isoformat()}."
    assert [m.subject for m in mails_to(cast.buyer)] == ["TransferDesk: Follow-up task due soon"]
    entry = settings.CELERY_BEAT_SCHEDULE["transfers-followups-remind"]
    assert entry["task"] == "transfers.notice_tasks.followups_remind"
