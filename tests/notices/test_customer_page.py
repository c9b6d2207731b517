"""The customer page: signed, expiring, revocable links; own data only; audited; rate-limited."""

from __future__ import annotations

import base64
import json

import pytest
from django.core import mail
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from transferdesk.trail import AuditAction, AuditEvent
from transfers import notices
from transfers.notice_models import NoticeLink

from .conftest import customers_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(cast, deal):
    first, second = customers_of(cast.seller)
    return first, second


def _path(link):
    return f"/n/{notices.link_token(link)}/"


def test_the_page_shows_the_customers_own_data_and_nothing_of_anyone_else(cast, deal, pair, client):
    first, second = pair
    link = notices.link_issue(actor=None, deal=deal, customer=first)
    page = client.get(_path(link)).content.decode()
    assert first.full_name in page
    assert "1 Example Road" in page
    assert first.national_id not in page  # core identifiers only partly shown
    assert first.national_id[-4:] in page
    assert second.full_name not in page and second.email not in page
    assert cast.buyer_org.legal_name in page


def test_opening_the_page_is_an_audit_event_without_personal_data(cast, deal, pair, client):
    first, _ = pair
    link = notices.link_issue(actor=None, deal=deal, customer=first)
    client.get(_path(link))
    event = AuditEvent.objects.filter(action=AuditAction.VIEW_SENSITIVE).latest("seq")
    assert event.object_id == str(first.pk) and event.deal_ref == str(deal.pk)
    assert event.details == {"via": "customer_link", "link": str(link.pk)}


@pytest.mark.parametrize("mangle", [lambda t: t[:-2] + "xx", lambda t: "x" + t, lambda t: "abc"])
def test_a_tampered_link_shows_a_clear_page_and_no_data(deal, pair, client, mangle):
    first, _ = pair
    link = notices.link_issue(actor=None, deal=deal, customer=first)
    response = client.get(f"/n/{mangle(notices.link_token(link))}/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "This link cannot be used" in body
    assert first.full_name not in body and first.email not in body


def test_an_expired_link_shows_no_data(deal, pair, client):
    first, _ = pair
    link = notices.link_issue(actor=None, deal=deal, customer=first)
    NoticeLink.objects.filter(pk=link.pk).update(expires_at=timezone.now())
    response = client.get(_path(link))
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    assert first.full_name not in response.content.decode()
    with override_settings(NOTICE_LINK_MAX_AGE_DAYS=-1):  # the signature's own age limit
        assert client.get(_path(link)).status_code == 410


def test_a_reissued_or_revoked_link_stops_working(deal, pair, client):
    first, _ = pair
    old = notices.link_issue(actor=None, deal=deal, customer=first)
    new = notices.link_issue(actor=None, deal=deal, customer=first)
    assert client.get(_path(old)).status_code == 403
    assert client.get(_path(new)).status_code == 200
    notices.link_revoke(actor=None, link=new)
    response = client.get(_path(new))
    assert response.status_code == 403 and first.full_name not in response.content.decode()


def test_a_link_for_another_deal_or_customer_cannot_be_forged(cast, deal, pair, client):
    first, second = pair
    link = notices.link_issue(actor=None, deal=deal, customer=first)
    other = notices.link_issue(actor=None, deal=deal, customer=second)
    _payload, stamp, signature = notices.link_token(link).split(":")
    swapped = base64.urlsafe_b64encode(json.dumps(str(other.pk)).encode()).rstrip(b"=").decode()
    response = client.get(f"/n/{swapped}:{stamp}:{signature}/")
    assert response.status_code == 403
    assert second.full_name not in response.content.decode()


@override_settings(NOTICE_RATE_LIMIT_PER_LINK=3)
def test_a_link_is_rate_limited(deal, pair, client):
    first, _ = pair
    path = _path(notices.link_issue(actor=None, deal=deal, customer=first))
    assert [client.get(path).status_code for _ in range(4)] == [200, 200, 200, 429]


@override_settings(NOTICE_RATE_LIMIT_PER_ADDRESS=2)
def test_an_address_is_rate_limited_even_with_bad_tokens(client):
    codes = [client.get(f"/n/guess{i}/").status_code for i in range(3)]
    assert codes == [403, 403, 429]


def test_a_client_guessing_tokens_behind_the_proxy_does_not_lock_out_other_customers(
    deal, pair, client, settings
):
    """Every customer arrives from the proxy's address; the budget is the client's own."""
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    proxy = {"REMOTE_ADDR": "10.0.0.5"}
    guesser = {**proxy, "HTTP_X_FORWARDED_FOR": "198.51.100.1"}
    codes = [client.get(f"/n/guess:x:sig{i}/", **guesser).status_code for i in range(130)]
    assert codes[:120] == [403] * 120 and codes[120:] == [429] * 10
    refused = client.get("/n/guess:x:sig/", **guesser)
    assert 0 < int(refused["Retry-After"]) <= 3600
    assert "Too many attempts" in refused.content.decode()

    first, _ = pair
    link = notices.link_issue(actor=None, deal=deal, customer=first)
    customer = {**proxy, "HTTP_X_FORWARDED_FOR": "198.51.100.2"}
    response = client.get(_path(link), **customer)
    assert response.status_code == 200
    assert first.full_name in response.content.decode()


def test_a_forged_forwarded_address_from_outside_the_proxy_is_ignored(client, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    settings.NOTICE_RATE_LIMIT_PER_ADDRESS = 3
    codes = [
        client.get(
            f"/n/guess{i}/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}"
        ).status_code
        for i in range(4)
    ]
    assert codes == [403, 403, 403, 429]


def test_every_action_is_confirmed_on_screen_and_by_email(
    deal, pair, client, django_capture_on_commit_callbacks
):
    first, _ = pair
    path = _path(notices.link_issue(actor=None, deal=deal, customer=first))
    for data, what in (
        ({"action": "correct", "field_name": "postal_address", "requested_value": "2 Road"},
         "correction"),
        ({"action": "erase"}, "erasure"),
        ({"action": "complain", "message": "Too many calls"}, "complaint"),
        ({"action": "object"}, "objection"),
    ):  # fmt: skip
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"{path}act/", data)
        assert response.status_code == 302, data
        # The customer's confirmation; the officers' notices of a new request come beside it.
        (confirmation,) = [m for m in mail.outbox if m.to == [first.email]]
        assert all(first.email not in m.to for m in mail.outbox if m is not confirmation)
        # What they wrote is repeated in no e-mail.
        assert all("2 Road" not in m.body for m in mail.outbox)
        assert response["Location"].endswith(f"/done/{what}/")
        done = client.get(response["Location"])
        assert done.status_code == 200
        assert "is recorded" in done.content.decode()


def test_a_correction_without_a_value_is_refused_on_the_page(deal, pair, client):
    first, _ = pair
    path = _path(notices.link_issue(actor=None, deal=deal, customer=first))
    response = client.post(f"{path}act/", {"action": "correct", "field_name": "full_name"})
    assert response.status_code == 400
    assert "Give the correct value." in response.content.decode()


def test_without_a_stored_language_the_page_follows_the_browsers(deal, pair, client):
    first, _ = pair
    Customer.objects.filter(pk=first.pk).update(preferred_language="")
    link = notices.link_issue(actor=None, deal=deal, customer=first)
    page = client.get(_path(link), HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()
    assert '<html lang="zh-hans"' in page and "您好" in page


def test_a_stored_language_comes_before_the_browsers(deal, pair, client):
    first, _ = pair
    Customer.objects.filter(pk=first.pk).update(preferred_language="en")
    link = notices.link_issue(actor=None, deal=deal, customer=first)
    page = client.get(_path(link), HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()
    assert '<html lang="en"' in page and "Hello" in page


def test_the_customer_switches_the_pages_language(deal, pair, client):
    first, _ = pair
    Customer.objects.filter(pk=first.pk).update(preferred_language="en")
    link = notices.link_issue(actor=None, deal=deal, customer=first)
    path = _path(link)  # a token is signed with its time: one path for the whole test
    page = client.get(path).content.decode()
    assert 'name="language" value="zh-hans"' in page  # the switch is on the page
    response = client.post(
        reverse("set_language"), {"language": "zh-hans", "next": path}, follow=True
    )
    assert response.redirect_chain[-1][0] == path
    assert '<html lang="zh-hans"' in response.content.decode()
