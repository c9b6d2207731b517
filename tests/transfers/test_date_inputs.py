"""The browser's date pickers accept only ISO values (``2027-03-31``, ``2027-03-31T12:00``):
a field drawn in the language's own format (Chinese: ``2027/03/31``) shows empty, so the
Chinese campaign form could not be submitted (its required deadline blank) and the Chinese
deal edit form silently dropped the closing date."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.conf import settings
from django.urls import reverse

from transfers.models import TransferDeal

pytestmark = pytest.mark.django_db


def _value(html: str, name: str) -> str:
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    assert tag, name
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return value.group(1) if value else ""


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_date_inputs_carry_iso_values_in_every_language(cast, deal, client, lang):
    TransferDeal.objects.filter(pk=deal.pk).update(target_closing_date=dt.date(2027, 3, 31))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = lang
    client.force_login(cast.broker)

    edit = client.get(reverse("transfers:deal_edit", args=[deal.pk])).content.decode()
    assert _value(edit, "target_closing_date") == "2027-03-31"

    notices = client.get(reverse("notices:campaign_list", args=[deal.pk])).content.decode()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d", _value(notices, "objection_deadline"))
