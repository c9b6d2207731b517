"""The evidence PDFs' common frame (DESIGN.md, Reports), on reportlab.

* Fonts are embedded TrueType: Bitstream Vera (shipped inside reportlab) for Latin text and
  Droid Sans Fallback (shipped in ``static/fonts``) for CJK, so Chinese renders the same on every
  machine. Text is split into runs by which font has the glyph. A character neither font
  covers (CJK Extension B and later, such as 𠮷 U+20BB7; fonts that cover them weigh tens of
  megabytes) is drawn as its code in brackets, ``[U+20BB7]``, never as an empty box.
* Every user-supplied value passes through ``escape`` before it becomes ``Paragraph`` markup
  (reportlab markup has had SSRF and code-execution flaws); ``para`` does it for you.
* Every page carries the title, the page number, who generated the report and when, and the
  audit chain head.
* Long tables are emitted as a stream of small tables (``table_chunks``) fed lazily to the
  document (``LazyFlowables``): reportlab's ``LongTable`` splits in time quadratic in its rows,
  and a list of all flowables would hold the whole report in memory.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape as _xml_escape

import reportlab
from django.conf import settings
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

LATIN = "TDLatin"
LATIN_BOLD = "TDLatin-Bold"
CJK = "TDCJK"
CJK_FONT_PATH = Path(settings.BASE_DIR) / "static" / "fonts" / "DroidSansFallbackFull.ttf"
_VERA_DIR = Path(reportlab.__file__).parent / "fonts"


@functools.cache
def register_fonts() -> None:
    """Register the embedded fonts once per process."""
    pdfmetrics.registerFont(TTFont(LATIN, str(_VERA_DIR / "Vera.ttf")))
    pdfmetrics.registerFont(TTFont(LATIN_BOLD, str(_VERA_DIR / "VeraBd.ttf")))
    pdfmetrics.registerFont(TTFont(CJK, str(CJK_FONT_PATH)))
    pdfmetrics.registerFontFamily(LATIN, normal=LATIN, bold=LATIN_BOLD)


@functools.cache
def _latin_chars() -> frozenset[int]:
    register_fonts()
    return frozenset(pdfmetrics.getFont(LATIN).face.charToGlyph)


@functools.cache
def _cjk_chars() -> frozenset[int]:
    register_fonts()
    return frozenset(pdfmetrics.getFont(CJK).face.charToGlyph)


def placeholder(ch: str) -> str:
    """What stands for a character no embedded font can draw: its code point, ``[U+20BB7]``."""
    return f"[U+{ord(ch):04X}]"


def font_runs(text: str, latin_font: str = LATIN) -> list[tuple[str, str]]:
    """(font, text) runs: the Latin font where it has the glyph, the CJK font where that one
    has it, and the code in brackets (in the Latin font) for a visible character neither has."""
    latin, cjk = _latin_chars(), _cjk_chars()
    runs: list[tuple[str, str]] = []
    for ch in text:
        code = ord(ch)
        if code in latin or ch in "\n\t ":
            font, piece = latin_font, ch
        elif code in cjk:
            font, piece = CJK, ch
        elif unicodedata.category(ch)[0] in "CZ":  # controls and spaces: nothing to see
            font, piece = latin_font, ch
        else:
            font, piece = latin_font, placeholder(ch)
        if runs and runs[-1][0] == font:
            runs[-1] = (font, runs[-1][1] + piece)
        else:
            runs.append((font, piece))
    return runs


def escape(value: object) -> str:
    """Make any value safe to embed in reportlab ``Paragraph`` markup."""
    return _xml_escape("" if value is None else str(value), {'"': "&quot;"})


def needs_cjk(text: str) -> bool:
    latin = _latin_chars()
    return any(ord(ch) not in latin and not ch.isspace() for ch in text)


def markup(value: object, *, bold: bool = False) -> str:
    """Escaped markup for ``value`` with each run in the font that has its glyphs."""
    text = "" if value is None else str(value)
    runs = font_runs(text, LATIN_BOLD if bold else LATIN)
    return "".join(f'<font name="{font}">{escape(run)}</font>' for font, run in runs).replace(
        "\n", "<br/>"
    )


@functools.cache
def styles() -> dict[str, ParagraphStyle]:
    register_fonts()
    base = ParagraphStyle(
        "td-body", fontName=LATIN, fontSize=9, leading=12, alignment=TA_LEFT, wordWrap="CJK"
    )
    return {
        "body": base,
        "small": ParagraphStyle("td-small", parent=base, fontSize=7.5, leading=9.5),
        "cell": ParagraphStyle("td-cell", parent=base, fontSize=7.5, leading=9),
        # Latin words wrap between words ("General, Sensitive"), never inside one.
        "cell-words": ParagraphStyle(
            "td-cell-words", parent=base, fontSize=7.5, leading=9, wordWrap=None
        ),
        "h1": ParagraphStyle("td-h1", parent=base, fontName=LATIN_BOLD, fontSize=20, leading=26),
        "h2": ParagraphStyle(
            "td-h2", parent=base, fontName=LATIN_BOLD, fontSize=13, leading=17, spaceBefore=10
        ),
        "muted": ParagraphStyle("td-muted", parent=base, textColor=colors.HexColor("#5b6b82")),
    }


def para(value: object, style: str = "body", *, bold: bool = False) -> Paragraph:
    """A paragraph of user-supplied (or translated) text, escaped, CJK-aware."""
    return Paragraph(markup(value, bold=bold), styles()[style])


def cell(value: object) -> object:
    """A table cell: a plain string when the Latin font covers it (fast to lay out), otherwise
    a CJK-aware paragraph. Plain strings are never parsed as markup, so need no escaping."""
    text = "" if value is None else str(value)
    if needs_cjk(text) or len(text) > 60:
        return para(text, "cell")
    return text


TABLE_STYLE = TableStyle(
    [
        ("FONT", (0, 0), (-1, -1), LATIN, 7.5),
        ("FONT", (0, 0), (-1, 0), LATIN_BOLD, 7.5),
        ("TEXTCOLOR", (0, 0), (-1, 0), colors.HexColor("#13294b")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef8")),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.HexColor("#13294b")),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#d5dbe6")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
    ]
)


def table_chunks(
    header: Sequence[object],
    rows: Iterable[Sequence[object]],
    *,
    col_widths: Sequence[float] | None = None,
    chunk_size: int = 200,
) -> Iterator[Flowable]:
    """Yield a long table as tables of ``chunk_size`` rows, each with a repeating header.

    reportlab splits a table page by page at a cost that grows with the table's length, so
    one giant table is quadratic; bounded chunks keep layout time linear in the rows, and rows
    are pulled from ``rows`` only as pages are laid out.
    """
    head = [cell(h) for h in header]
    batch: list[list[object]] = []
    for row in rows:
        batch.append([cell(v) for v in row])
        if len(batch) == chunk_size:
            yield _table(head, batch, col_widths)
            batch = []
    if batch:
        yield _table(head, batch, col_widths)


#: Left plus right padding of a table cell (reportlab's default, 6 points a side).
CELL_PADDING = 12
#: The size of table text (``TABLE_STYLE`` and the "cell" paragraph style).
CELL_FONT_SIZE = 7.5


def _fits(text: str, width: float) -> bool:
    return pdfmetrics.stringWidth(text, LATIN_BOLD, CELL_FONT_SIZE) + CELL_PADDING <= width


def _wrapped(row: list[object], col_widths: Any) -> list[object]:
    """``row`` with each plain string wider than its column made a paragraph, which wraps
    within the column (a plain string is drawn on one line, clipped by the next column):
    between words when each word fits, anywhere otherwise (a digest, an address)."""
    if not col_widths:
        return row
    return [
        para(value, "cell-words" if all(_fits(w, width) for w in value.split()) else "cell")
        if isinstance(value, str) and not _fits(value, width)
        else value
        for value, width in zip(row, col_widths, strict=False)
    ]


def _table(head: list[object], batch: list[list[object]], col_widths: Any) -> Table:
    rows = [_wrapped(row, col_widths) for row in [head, *batch]]
    table = Table(rows, colWidths=col_widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(TABLE_STYLE)
    return table


class LazyFlowables(list):
    """A list of flowables that refills itself from an iterator as ``build`` consumes it.

    ``BaseDocTemplate.build`` works at the head of its list (indexing, ``del``, slice
    assignment for split remainders) and loops ``while len(flowables)``; keeping only a few
    flowables buffered ahead keeps memory flat however long the report is.
    """

    LOOKAHEAD = 4  # enough for keep-with-next groups (headings before their tables)

    def __init__(self, flowables: Iterable[Flowable]) -> None:
        super().__init__()
        self._source: Iterator[Flowable] | None = iter(flowables)

    def _fill(self) -> None:
        while self._source is not None and super().__len__() < self.LOOKAHEAD:
            try:
                self.append(next(self._source))
            except StopIteration:
                self._source = None

    def __len__(self) -> int:
        self._fill()
        return super().__len__()

    def __getitem__(self, index: Any) -> Any:
        self._fill()
        return super().__getitem__(index)


@dataclass(frozen=True)
class ReportMeta:
    """What every page of an evidence PDF says about itself."""

    title: str
    generated_by: str
    generated_at: datetime
    chain_head: str
    footer_label: str = "TransferDesk"


class EvidenceDocument(SimpleDocTemplate):
    """A4 document whose every page carries title, page number, author, time and chain head."""

    def __init__(self, target: str | IO[bytes], meta: ReportMeta, **kwargs: Any) -> None:
        register_fonts()
        self.meta = meta
        super().__init__(
            target,
            pagesize=A4,
            leftMargin=16 * mm,
            rightMargin=16 * mm,
            topMargin=20 * mm,
            bottomMargin=20 * mm,
            title=meta.title,
            author=meta.generated_by,
            creator="TransferDesk",
            initialFontName=LATIN,
            **kwargs,
        )

    def _decorate(self, canvas: Any, doc: Any) -> None:
        from django.utils.translation import gettext as _

        width, height = self.pagesize
        canvas.saveState()
        canvas.setStrokeColor(colors.HexColor("#13294b"))
        canvas.setLineWidth(0.6)
        canvas.line(self.leftMargin, height - 14 * mm, width - self.rightMargin, height - 14 * mm)
        _draw(canvas, self.leftMargin, height - 12 * mm, self.meta.title, 8.5, bold=True)
        page = _("Page {number}").format(number=doc.page)
        _draw(canvas, width - self.rightMargin, height - 12 * mm, page, 8.5, right=True)
        canvas.line(self.leftMargin, 14 * mm, width - self.rightMargin, 14 * mm)
        generated = _("Generated by {user} at {time}").format(
            user=self.meta.generated_by,
            time=self.meta.generated_at.strftime("%Y-%m-%d %H:%M:%S %Z"),
        )
        _draw(canvas, self.leftMargin, 10 * mm, generated, 7)
        head = _("Audit chain head: {head}").format(head=self.meta.chain_head)
        _draw(canvas, self.leftMargin, 6.5 * mm, head, 7)
        _draw(canvas, width - self.rightMargin, 10 * mm, self.meta.footer_label, 7, right=True)
        canvas.restoreState()

    def build_stream(self, flowables: Iterable[Flowable]) -> None:
        """Build from an iterator of flowables without holding them all in memory."""
        self.build(
            LazyFlowables(flowables),  # type: ignore[arg-type]
            onFirstPage=self._decorate,
            onLaterPages=self._decorate,
        )


def _draw(
    canvas: Any,
    x: float,
    y: float,
    text: str,
    size: float,
    *,
    bold: bool = False,
    right: bool = False,
) -> None:
    """Draw one line with per-run fonts (Latin/CJK), left- or right-aligned."""
    runs = font_runs(text, LATIN_BOLD if bold else LATIN)
    total = sum(pdfmetrics.stringWidth(t, f, size) for f, t in runs)
    cursor = x - total if right else x
    for font, run in runs:
        canvas.setFont(font, size)
        canvas.drawString(cursor, y, run)
        cursor += pdfmetrics.stringWidth(run, font, size)


def title_page(title: str, subtitle: str, facts: Sequence[tuple[str, object]]) -> list[Flowable]:
    """The first page of a report: title, subtitle and a two-column table of key facts."""
    rows = [[para(label, "small", bold=True), para(value, "small")] for label, value in facts]
    table = Table(rows, colWidths=[45 * mm, 130 * mm], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), LATIN, 8),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#d5dbe6")),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    return [
        Spacer(1, 30 * mm),
        para(title, "h1", bold=True),
        Spacer(1, 4 * mm),
        para(subtitle, "muted"),
        Spacer(1, 12 * mm),
        table,
    ]
