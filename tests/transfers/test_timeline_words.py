"""The deal page's timeline names people and roles as a reader says them, in the reader's
language: display names, not usernames, and the role's label, not its stored code."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation
from django.utils.translation import trans_real

from transfers import services
from transfers.choices import AssignmentRole

from .conftest import make_deal

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _catalogues(settings):
    from io import StringIO

    call_command("compile_catalogues", stdout=StringIO())
    trans_real._translations = {}
    trans_real._default = None
    yield
    translation.activate(settings.LANGUAGE_CODE)


def test_an_assignment_reads_as_people_and_a_role_label_in_chinese(client, cast):
    cast.broker.first_name, cast.broker.last_name = "Wei", "Zhang"
    cast.broker.save()
    cast.buyer.first_name, cast.buyer.last_name = "Li", "Hua"
    cast.buyer.save()
    deal = make_deal(cast)
    services.deal_assign(
        actor=cast.broker, deal=deal, user=cast.other_broker, role=AssignmentRole.BROKER
    )
    client.force_login(cast.broker)

    page = client.get(
        reverse("transfers:deal_detail", args=[deal.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()

    assert "Wei Zhang → Li Hua (买方)" in page
    assert f"→ {cast.other_broker.display_name} (经纪人)" in page
    assert "(buyer)" not in page and "(broker)" not in page
    assert f"· {cast.broker.username} →" not in page
