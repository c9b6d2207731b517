"""Every character of an evidence PDF is drawn with a glyph of the font of its run: Chinese in
the shipped CJK font (the page frame's footer included, in a Chinese report), and a character
that no shipped font covers (𠮷, U+20BB7, CJK Extension B) as a visible placeholder, its code
in brackets, instead of an empty .notdef box."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pypdf
import pytest
from django.core.management import call_command
from django.utils import translation
from django.utils.translation import trans_real
from reportlab.pdfbase import pdfmetrics

from transferdesk import pdf


@pytest.fixture(autouse=True)
def _catalogues(settings):
    call_command("compile_catalogues", stdout=io.StringIO())
    trans_real._translations = {}
    trans_real._default = None
    yield
    translation.activate(settings.LANGUAGE_CODE)


_FACES = {
    "BitstreamVeraSans-Roman": pdf.LATIN,
    "BitstreamVeraSans-Bold": pdf.LATIN_BOLD,
    "DroidSansFallback": pdf.CJK,
}


def _runs(data: bytes) -> list[tuple[str, str]]:
    """(registered font, text) of every text run on the first page, read back from the PDF."""
    runs: list[tuple[str, str]] = []

    def visit(text, _cm, _tm, font_dict, _size):
        if text and font_dict is not None:
            base = str(font_dict["/BaseFont"]).split("+")[-1].lstrip("/")
            runs.append((_FACES.get(base, base), text))

    pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text(visitor_text=visit)
    return runs


def _render(title: str, body: str) -> bytes:
    out = io.BytesIO()
    meta = pdf.ReportMeta(
        title=title,
        generated_by="合规专员",
        generated_at=datetime(2026, 12, 3, 9, 0, tzinfo=UTC),
        chain_head="42:" + "ab" * 32,
    )
    pdf.EvidenceDocument(out, meta).build_stream(iter([pdf.para(body)]))
    return out.getvalue()


def _assert_every_glyph_exists(runs: list[tuple[str, str]]) -> None:
    for font, text in runs:
        face = pdfmetrics.getFont(font).face
        missing = [c for c in text if c.strip() and ord(c) not in face.charToGlyph]
        assert not missing, f"{font} has no glyph for {missing!r} in {text!r}"


def test_the_chinese_footer_is_drawn_in_the_cjk_font():
    with translation.override("zh-hans"):
        runs = _runs(_render("交易审计报告", "正文"))
    text = "".join(t for _f, t in runs)
    assert "审计链头" in text, text
    assert any(f == pdf.CJK and "审计链头" in t for f, t in runs), runs
    assert any(f == pdf.CJK and "合规专员" in t for f, t in runs), runs
    _assert_every_glyph_exists(runs)


def test_a_character_no_shipped_font_covers_is_drawn_as_its_code():
    runs = _runs(_render("Customer 𠮷吉 report", "Name: 𠮷吉 Zhang"))
    text = "".join(t for _f, t in runs)
    assert "\U00020bb7" not in text
    assert text.count("[U+20BB7]") == 2, text
    assert any(f == pdf.CJK and "吉" in t for f, t in runs), runs
    _assert_every_glyph_exists(runs)


@pytest.mark.django_db
def test_the_deal_audit_timeline_draws_an_extension_b_name_as_its_code(cast):
    from audits.reports import render_report
    from audits.reports.common import ReportParams
    from tests.audits.reporting import make_deal

    cast.broker.username = "𠮷田"
    cast.broker.save(update_fields=["username"])
    make_deal(cast, title="𠮷野家 客户转让")
    out = io.BytesIO()
    render_report(
        kind="deal_audit", params=ReportParams(deal="D-1"), target=out, generated_by="王芳"
    )
    reader = pypdf.PdfReader(io.BytesIO(out.getvalue()))
    runs: list[tuple[str, str]] = []
    for page in reader.pages:

        def visit(text, _cm, _tm, font_dict, _size):
            if text and font_dict is not None:
                base = str(font_dict["/BaseFont"]).split("+")[-1].lstrip("/")
                runs.append((_FACES.get(base, base), text))

        page.extract_text(visitor_text=visit)
    text = "".join(t for _f, t in runs)
    assert "\U00020bb7" not in text
    assert "[U+20BB7]田" in text and "[U+20BB7]野家" in text, text
    _assert_every_glyph_exists(runs)
