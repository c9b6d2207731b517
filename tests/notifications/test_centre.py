"""The notification centre: each user's own notifications only, the bell's count, the list's
filters and pages, "mark read", e-mail preferences and the one daily digest."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from notifications import services
from notifications.choices import DEFAULT_DELIVERY, Delivery, Kind
from notifications.models import DigestSent, EmailPreference, Notification
from tests.support.notifications import mails_to

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _mail_in_process(eager_tasks):
    """The e-mail tasks run in-process, under any broker (the live tests cover the worker)."""


@pytest.fixture
def catalogues() -> None:
    from io import StringIO

    from django.core.management import call_command
    from django.utils.translation import trans_real

    call_command("compile_catalogues", stdout=StringIO())
    trans_real._translations = {}
    trans_real._default = None


def tell(user, kind=Kind.STAGE_APPROVED, n=1, **params):
    params = params or {"stage": "Overview", "deal": "D-1"}
    with transaction.atomic():
        for _ in range(n):
            services.notify(recipients=[user], kind=kind, url="/deals/", params=params)


def test_a_user_sees_and_marks_only_their_own_notifications(client, cast):
    tell(cast.broker)
    tell(cast.other_broker, kind=Kind.STAGE_REJECTED)
    theirs = Notification.objects.get(recipient=cast.other_broker)
    client.force_login(cast.broker)
    page = client.get(reverse("notifications:list")).content.decode()
    assert "Stage “Overview” of deal D-1 was approved." in page
    assert "was rejected" not in page
    assert client.post(reverse("notifications:mark_read", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    client.post(reverse("notifications:mark_all_read"))
    theirs.refresh_from_db()
    assert theirs.read_at is None  # "all" is all of one's own
    assert Notification.objects.get(recipient=cast.broker).read_at is not None


def test_the_bell_counts_unread_and_polls_once_a_minute(client, cast):
    tell(cast.broker, n=3)
    client.force_login(cast.broker)
    page = client.get(reverse("notifications:list")).content.decode()
    bell = reverse("notifications:bell")
    assert f'hx-get="{bell}" hx-trigger="load, every 60s"' in page
    assert 'data-unread="3"' in client.get(bell).content.decode()
    mine = Notification.objects.filter(recipient=cast.broker).first()
    client.post(reverse("notifications:mark_read", args=[mine.pk]))
    assert 'data-unread="2"' in client.get(bell).content.decode()
    client.force_login(cast.other_broker)
    assert 'data-unread="0"' in client.get(bell).content.decode()


def test_marking_read_needs_the_csrf_token(cast):
    tell(cast.broker)
    mine = Notification.objects.get(recipient=cast.broker)
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.broker)
    assert client.post(reverse("notifications:mark_read", args=[mine.pk])).status_code == 403
    assert client.get(reverse("notifications:mark_read", args=[mine.pk])).status_code == 405
    mine.refresh_from_db()
    assert mine.read_at is None


def test_the_list_filters_by_kind_and_unread_and_pages(client, cast, django_assert_max_num_queries):
    tell(cast.broker, n=30)
    tell(cast.broker, kind=Kind.STAGE_REJECTED)
    Notification.objects.filter(recipient=cast.broker, kind=Kind.STAGE_APPROVED).filter(
        pk__in=Notification.objects.filter(kind=Kind.STAGE_APPROVED).values("pk")[:10]
    ).update(read_at=timezone.now())
    client.force_login(cast.broker)
    url = reverse("notifications:list")
    # A session's first request records it for the sessions page (then once a minute at most).
    client.get(url)
    with django_assert_max_num_queries(12):
        page = client.get(url).content.decode()
    assert "1–25 of 31" in page  # noqa: RUF001 - the pagination's en dash
    unread = client.get(url, {"unread": "on"}).content.decode()
    assert unread.count(">Mark read</button>") == 21 and "td-pagination" not in unread
    only = client.get(url, {"kind": Kind.STAGE_REJECTED}).content.decode()
    assert "was rejected" in only and "was approved" not in only
    second = client.get(url, {"page": 2}).content.decode()
    assert "26–31 of 31" in second  # noqa: RUF001


def test_an_empty_centre_says_so_in_both_languages(client, cast, catalogues):
    client.force_login(cast.buyer)
    assert "Nothing to tell you" in client.get(reverse("notifications:list")).content.decode()
    page = client.get(reverse("notifications:list"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "暂无通知" in page.content.decode()


def test_preferences_default_to_approvals_at_once_and_are_saved_per_kind(client, cast):
    assert DEFAULT_DELIVERY[Kind.STAGE_SUBMITTED] == Delivery.IMMEDIATELY
    assert DEFAULT_DELIVERY[Kind.REQUEST_ASSIGNED] == Delivery.IMMEDIATELY
    client.force_login(cast.compliance)
    page = client.get(reverse("notifications:preferences")).content.decode()
    assert 'name="stage_submitted" value="immediately" id="id_stage_submitted_0"' in page
    values = {kind.value: DEFAULT_DELIVERY[kind] for kind in Kind}
    values[Kind.STAGE_SUBMITTED] = Delivery.DIGEST
    values[Kind.JOB_FINISHED] = Delivery.NONE
    response = client.post(reverse("notifications:preferences"), values)
    assert response.status_code == 302
    stored = dict(
        EmailPreference.objects.filter(user=cast.compliance).values_list("kind", "delivery")
    )
    assert stored == {Kind.STAGE_SUBMITTED: Delivery.DIGEST, Kind.JOB_FINISHED: Delivery.NONE}
    assert services.delivery_of(cast.compliance)[Kind.STAGE_SUBMITTED] == Delivery.DIGEST


def test_digest_users_get_one_email_a_day_in_their_language(
    cast, catalogues, django_capture_on_commit_callbacks
):
    cast.buyer.language = "zh-hans"
    cast.buyer.save(update_fields=["language"])
    # Deliveries default to the digest; the broker chose none for them.
    EmailPreference.objects.create(
        user=cast.broker, kind=Kind.STAGE_DELIVERED, delivery=Delivery.NONE
    )
    with django_capture_on_commit_callbacks(execute=True):
        tell(cast.buyer, kind=Kind.STAGE_DELIVERED, n=2)
        tell(cast.broker, kind=Kind.STAGE_DELIVERED)
        tell(cast.other_broker, kind=Kind.STAGE_APPROVED)  # at once, never in a digest
    assert [m.to for m in mail.outbox] == [[cast.other_broker.email]]
    mail.outbox.clear()
    assert services.digest_send_all() == 1
    (digest,) = mail.outbox
    assert digest.to == [cast.buyer.email]
    assert digest.subject == "TransferDesk：您的每日摘要（2）"  # noqa: RUF001 - Chinese
    assert digest.body.count("交易 D-1 的阶段“Overview”已交付") == 2
    # Later the same day: something new, but today's digest went already.
    tell(cast.buyer, kind=Kind.STAGE_DELIVERED)
    assert services.digest_send_all() == 0 and len(mail.outbox) == 1
    # The next day it goes, with only what is new.
    DigestSent.objects.update(day=timezone.localdate() - timedelta(days=1))
    assert services.digest_send_all() == 1
    assert mail.outbox[1].subject == "TransferDesk：您的每日摘要（1）"  # noqa: RUF001
    assert not mails_to(cast.broker)


def test_the_digest_runs_on_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["notifications-digest"]
    assert entry["task"] == "notifications.tasks.digest_send"
    assert entry["schedule"] == timedelta(days=1)


def test_the_bells_poll_keeps_no_idle_session_alive_and_stops_when_signed_out(client, cast):
    """With SESSION_SAVE_EVERY_REQUEST every response renews the session's expiry; the poll
    (every minute, for as long as a tab is open) must not, or no session would ever idle out."""
    client.force_login(cast.broker)
    page = client.get(reverse("notifications:list"))
    assert "sessionid" in page.cookies  # a page the person opens renews the session
    poll = client.get(reverse("notifications:bell"))
    assert poll.status_code == 200 and "sessionid" not in poll.cookies
    client.logout()
    assert client.get(reverse("notifications:bell")).status_code == 286  # htmx: stop polling


def test_a_mail_server_that_fails_leaves_the_notification_and_the_page_working(
    client, cast, settings, django_capture_on_commit_callbacks
):
    """In the embedded mode the e-mail task runs in the request, after its commit."""
    settings.EMAIL_BACKEND = "tests.notifications.backends.FailingBackend"
    with django_capture_on_commit_callbacks(execute=True):
        tell(cast.broker)
    note = Notification.objects.get(recipient=cast.broker)
    assert note.emailed_at is None  # not marked sent: it was not
    client.force_login(cast.broker)
    assert client.get(reverse("notifications:list")).status_code == 200
