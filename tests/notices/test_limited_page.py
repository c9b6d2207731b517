"""The customer's "too many attempts" page says the wait the rate limit gives (its
Retry-After, in minutes), in the customer's language, not "an hour" whatever the limit."""

from __future__ import annotations

import math

import pytest
from django.core.cache import cache
from django.test import override_settings

pytestmark = pytest.mark.django_db

WORDS = {
    "en": "Please try again in {n} minute",
    "zh-hans": "请在 {n} 分钟后重试",
}


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
@override_settings(NOTICE_RATE_LIMIT_PER_ADDRESS=1, NOTICE_RATE_WINDOW_SECONDS=600)
def test_the_limited_page_says_the_real_wait(client, lang):
    client.get("/n/guess0/", HTTP_ACCEPT_LANGUAGE=lang)
    refused = client.get("/n/guess1/", HTTP_ACCEPT_LANGUAGE=lang)
    assert refused.status_code == 429
    wait = int(refused["Retry-After"])
    assert 0 < wait <= 600
    page = refused.content.decode()
    assert WORDS[lang].format(n=max(1, math.ceil(wait / 60))) in page
    assert "an hour" not in page and "一小时" not in page
