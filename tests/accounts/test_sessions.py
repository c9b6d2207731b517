"""The sessions page (issue 15, allauth.usersessions): one's own sessions only, the address by
the trusted-proxy rule, and an audit event for each session signed out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from allauth.usersessions.models import UserSession
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from transferdesk.trail import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

PAGE = "/accounts/sessions/"


def browser(user, **extra) -> Client:
    """A signed-in browser of ``user`` whose session allauth has recorded (on a request)."""
    client = Client(**extra)
    client.force_login(user)
    assert client.get(PAGE).status_code == 200
    return client


def session_of(client: Client) -> UserSession:
    return UserSession.objects.get(session_key=client.session.session_key)


def test_the_page_lists_only_ones_own_sessions_and_marks_this_one(cast):
    first = browser(cast.broker, HTTP_USER_AGENT="Browser One")
    browser(cast.broker, HTTP_USER_AGENT="Browser Two")
    browser(cast.other_broker, HTTP_USER_AGENT="Someone Else")

    page = first.get(PAGE).text
    assert "Browser One" in page and "Browser Two" in page
    assert "Someone Else" not in page
    assert page.count("This browser") == 1
    assert "Sign out everywhere else" in page


def test_signing_out_another_persons_session_is_a_404_and_ends_nothing(cast):
    mine = browser(cast.broker)
    theirs = browser(cast.other_broker)
    target = session_of(theirs)

    response = mine.post(reverse("accounts:session_end", args=[target.pk]))

    assert response.status_code == 404
    assert UserSession.objects.filter(pk=target.pk).exists()
    assert theirs.get(PAGE).status_code == 200  # still signed in
    assert not AuditEvent.objects.filter(action=AuditAction.SESSION_ENDED).exists()


def test_signing_out_one_session_ends_it_and_records_who_and_which(cast):
    here = browser(cast.broker)
    there = browser(cast.broker)
    target = session_of(there)

    response = here.post(reverse("accounts:session_end", args=[target.pk]))

    assert response.status_code == 302
    assert not UserSession.objects.filter(pk=target.pk).exists()
    assert there.get(PAGE)["Location"].startswith(reverse("accounts:login"))
    assert here.get(PAGE).status_code == 200  # this browser stays signed in
    event = AuditEvent.objects.get(action=AuditAction.SESSION_ENDED)
    assert event.actor_id == cast.broker.pk
    assert event.object_type == "usersessions.usersession"
    assert event.object_id == str(target.pk)
    assert event.details == {"current": False}


def test_sign_out_everywhere_else_ends_the_others_with_one_event_each(cast):
    here = browser(cast.broker)
    others = [browser(cast.broker), browser(cast.broker)]
    bystander = browser(cast.other_broker)

    response = here.post(PAGE)

    assert response.status_code == 302
    for other in others:
        assert other.get(PAGE).status_code == 302
    assert here.get(PAGE).status_code == 200
    assert bystander.get(PAGE).status_code == 200
    assert AuditEvent.objects.filter(action=AuditAction.SESSION_ENDED).count() == 2


def test_the_address_shown_is_the_one_the_trusted_proxy_names(cast, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    behind_proxy = browser(
        cast.broker, REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.7"
    )
    assert session_of(behind_proxy).ip == "198.51.100.7"
    # From an untrusted peer the header is the client's own say, and ignored.
    direct = browser(cast.broker, REMOTE_ADDR="192.0.2.44", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert session_of(direct).ip == "192.0.2.44"


def test_last_seen_moves_with_the_persons_requests_not_with_background_polls(cast):
    """Each tracked request is a write: the bell's poll (htmx) never moves "last seen", and a
    person's own requests move it at most once a minute."""
    client = browser(cast.broker)
    old = timezone.now() - timedelta(hours=1)
    UserSession.objects.filter(pk=session_of(client).pk).update(last_seen_at=old)
    session = client.session
    session.pop("_td_session_seen", None)
    session.save()

    client.get(reverse("notifications:bell"), headers={"HX-Request": "true"})
    assert session_of(client).last_seen_at == old  # a poll is not activity

    client.get("/deals/")
    seen = session_of(client).last_seen_at
    assert seen > old  # the person's own page

    UserSession.objects.filter(pk=session_of(client).pk).update(last_seen_at=old)
    client.get("/deals/")
    assert session_of(client).last_seen_at == old  # within the minute: no second write
