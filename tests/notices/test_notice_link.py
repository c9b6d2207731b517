"""``notice_link``: a personal link for a letter or a call, logged, revoking earlier links."""

from __future__ import annotations

from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.management import CommandError, call_command

from transferdesk.trail import AuditAction, AuditEvent
from transfers import notices
from transfers.notice_models import NoticeLink

from .conftest import customers_of

pytestmark = pytest.mark.django_db


def test_notice_link_prints_a_working_link_and_logs_the_issue(cast, deal, client):
    customer = customers_of(cast.seller, languages=("en",))[0]
    earlier = notices.link_issue(actor=None, deal=deal, customer=customer)
    out = StringIO()
    call_command(
        "notice_link", "--deal", deal.reference, "--customer", customer.reference, stdout=out
    )
    line = out.getvalue().strip()
    assert line.startswith("notice_link: http") and "\n" not in line
    url = line.split()[1]
    assert client.get(urlsplit(url).path).status_code == 200
    assert client.get(urlsplit(notices.link_url(earlier)).path).status_code == 403
    link = NoticeLink.objects.filter(customer=customer).latest("issued_at")
    event = AuditEvent.objects.filter(action=AuditAction.CREATE, object_id=str(link.pk)).get()
    assert event.details["customer"] == str(customer.pk) and event.details["channel"] == "letter"
    assert customer.full_name not in str(event.details)


def test_notice_link_fails_clearly_for_an_unknown_customer(cast, deal):
    with pytest.raises(CommandError, match="no customer"):
        call_command("notice_link", "--deal", deal.reference, "--customer", "NOPE")
