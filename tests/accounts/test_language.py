"""Each user's language: the switcher remembers it for a signed-in user, and a later sign-in
(on a browser with no language cookie) comes back in it."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation

from accounts.languages import user_language, user_language_by_id
from tests.factories import PASSWORD
from tests.support.mfa import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _site_language_afterwards():
    """Signing in a user with a stored language, or a request in Chinese, activates it in this
    thread; later tests expect the site's default."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


LOGIN = "/accounts/login/"


def switch(client, language: str, next_url: str = "/compliance/"):
    return client.post(reverse("set_language"), {"language": language, "next": next_url})


def test_switching_language_while_signed_in_stores_it_and_a_new_sign_in_comes_back_in_it(cast):
    browser = Client()
    browser.force_login(cast.compliance)
    response = switch(browser, "zh-hans")
    assert response.status_code == 302 and response["Location"] == "/compliance/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    cast.compliance.refresh_from_db()
    assert cast.compliance.language == "zh-hans"

    # Another browser, no cookie, English Accept-Language: the sign-in brings the choice back.
    fresh = Client(HTTP_ACCEPT_LANGUAGE="en")
    response = sign_in(fresh, "compliance", PASSWORD)
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    landing = fresh.get(response["Location"], follow=True)
    assert landing.redirect_chain[-1][0] == "/compliance/"
    page = landing.content.decode()
    assert '<html lang="zh-hans"' in page
    assert "合规" in page

    # Switching back is remembered as well.
    switch(fresh, "en")
    cast.compliance.refresh_from_db()
    assert cast.compliance.language == "en"


def test_a_user_who_never_chose_signs_in_without_a_language_cookie(cast):
    response = sign_in(Client(), "broker", PASSWORD)
    assert response.status_code == 302
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    cast.broker.refresh_from_db()
    assert cast.broker.language == ""


def test_an_unknown_language_or_an_anonymous_switch_stores_nothing(client, cast):
    switch(client, "zh-hans")  # anonymous: only the cookie, as before
    client.force_login(cast.broker)
    response = switch(client, "klingon")
    assert response.status_code == 302
    cast.broker.refresh_from_db()
    assert cast.broker.language == ""


def test_work_outside_a_request_falls_back_to_the_site_language(cast):
    assert user_language(None) == settings.LANGUAGE_CODE
    assert user_language(cast.buyer) == settings.LANGUAGE_CODE
    assert user_language_by_id(None) == settings.LANGUAGE_CODE
    type(cast.buyer).objects.filter(pk=cast.buyer.pk).update(language="zh-hans")
    assert user_language_by_id(cast.buyer.pk) == "zh-hans"
