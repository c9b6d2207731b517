"""A company's name that ends with its own full stop ("… Ltd.") ends a sentence of the notice
without a second one; a buyer without contact details gets no empty "Contact:" line."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.template.loader import get_template
from django.utils import translation

from transferdesk.templatetags.td import before_full_stop

BUYER = SimpleNamespace(
    legal_name="Eastlake Commerce Ltd.",
    address="",
    contact_name="",
    contact_email="",
    contact_phone="",
)
SELLER = SimpleNamespace(legal_name="Harbour Retail S.A.", contact_email="")


@pytest.mark.parametrize("template", ["notice/email/notice.txt", "notice/email/notice.html"])
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_notice_has_no_double_full_stop_after_a_company_name(template, language):
    with translation.override(language):
        text = get_template(template).render({"seller": SELLER, "buyer": BUYER, "name": "Ann"})
    assert "Ltd.." not in text and "Ltd.。" not in text
    assert "Eastlake Commerce Ltd" in text


@pytest.mark.parametrize("template", ["notice/email/notice.txt", "notice/email/notice.html"])
def test_a_buyer_without_contact_details_has_no_empty_contact_line(template):
    text = get_template(template).render({"seller": SELLER, "buyer": BUYER, "name": "Ann"})
    assert "Contact:" not in text
    reachable = SimpleNamespace(**{**vars(BUYER), "contact_email": "dpo@eastlake.example"})
    text = get_template(template).render({"seller": SELLER, "buyer": reachable, "name": "Ann"})
    assert "Contact:" in text and "dpo@eastlake.example" in text


def test_before_full_stop_leaves_other_names_alone():
    assert before_full_stop("Eastlake Commerce Ltd.") == "Eastlake Commerce Ltd"
    assert before_full_stop("Harbour Retail") == "Harbour Retail"
    assert before_full_stop("北方贸易有限公司") == "北方贸易有限公司"
