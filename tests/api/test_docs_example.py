"""The worked example of docs/api.md, run as written against a live server: the code block
is read from the document and executed, so the document cannot drift from the API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

from customers.choices import CustomerStatus
from customers.models import Customer
from transferdesk.principals import ApiScope
from transferdesk.trail import AuditAction, AuditEvent
from transfers.notice_models import DataSubjectRequest

DOC = Path(settings.BASE_DIR) / "docs" / "api.md"


def example() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### Worked example", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "docs/api.md lost its worked example"
    return match.group(1)


@pytest.mark.django_db(transaction=True)
def test_the_worked_example_pushes_the_book_once_and_forwards_an_objection(
    cast, issue, deals, live_server, monkeypatch, capsys
):
    scopes = [ApiScope.CUSTOMERS_WRITE, ApiScope.REQUESTS_WRITE, ApiScope.STAGES_READ]
    _key, text = issue(cast.seller, scopes=scopes)
    monkeypatch.setenv("TRANSFERDESK_URL", live_server.url)
    monkeypatch.setenv("TRANSFERDESK_API_KEY", text)

    # The document's own code, run as a reader would paste it (nothing else is executed).
    exec(compile(example(), str(DOC), "exec"), {"__name__": "docs_example"})  # noqa: S102

    book = Customer.objects.filter(organization=cast.seller)
    assert sorted(book.values_list("reference", flat=True)) == ["C-001", "C-002"]
    assert book.get(reference="C-001").phone == "+8613800138000"  # normalised by the import
    assert AuditEvent.objects.filter(action=AuditAction.IMPORT).count() == 1  # retried once
    dsr = DataSubjectRequest.objects.get()
    assert dsr.customer.reference == "C-002"
    assert book.get(reference="C-002").status == CustomerStatus.OBJECTED
    assert "'applied': True" in capsys.readouterr().out
