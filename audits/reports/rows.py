"""Long event tables drawn straight onto the canvas, in page-sized blocks.

The timeline of a deal can hold 100,000 events. reportlab's ``Table`` is linear when fed in
chunks, but spends most of its time on per-cell styling and measuring; a block of rows whose
cells are plain text needs none of that. ``RowBlock`` is a flowable of up to a few hundred
rows that measures each row once (wrapping long cells onto at most ``MAX_LINES`` lines),
splits at a page boundary, and draws each line with one ``drawString`` per font run (Latin or
CJK, both embedded). Text is drawn, never parsed as markup, so hostile values print literally.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence

from reportlab.lib import colors
from reportlab.pdfbase import pdfmetrics
from reportlab.platypus import Flowable

from transferdesk.pdf import LATIN, LATIN_BOLD, font_runs

FONT_SIZE = 7
LINE_H = 8.6
PAD = 2.2
HEAD_H = 12.0
MAX_LINES = 4
HEAD_BG = colors.HexColor("#e8eef8")
HEAD_INK = colors.HexColor("#13294b")
RULE = colors.HexColor("#d5dbe6")


def _runs(text: str, latin_font: str) -> list[tuple[str, str]]:
    """(font, text) runs by which font has the glyph (``pdf.font_runs``), ASCII at once."""
    if text.isascii():
        return [(latin_font, text)]
    return font_runs(text, latin_font)


def _width(text: str, font: str = LATIN) -> float:
    if text.isascii():
        return pdfmetrics.stringWidth(text, font, FONT_SIZE)
    return sum(pdfmetrics.stringWidth(t, f, FONT_SIZE) for f, t in _runs(text, font))


@functools.lru_cache(maxsize=4096)
def _short_width(text: str) -> float:
    """Widths of the short texts that repeat down a timeline (actors, actions)."""
    return _width(text)


def wrap_text(text: str, width: float, font: str = LATIN) -> list[str]:
    """Greedy line breaking by characters (CJK has no spaces to break at), at most
    ``MAX_LINES`` lines, the last one ending in "..." if the text was longer."""
    text = text.replace("\n", " ")
    full = _short_width(text) if len(text) <= 24 and font == LATIN else _width(text, font)
    if full <= width:
        return [text]
    lines: list[str] = []
    current = ""
    for ch in text:
        if _width(current + ch, font) > width and current:
            lines.append(current)
            current = ch
            if len(lines) == MAX_LINES:
                break
        else:
            current += ch
    else:
        lines.append(current)
        return lines
    last = lines[-1]
    while last and _width(last + "...", font) > width:
        last = last[:-1]
    lines[-1] = last + "..."
    return lines


class RowBlock(Flowable):
    """Rows of text cells under a repeated header, drawn directly; splits between rows."""

    def __init__(
        self,
        header: Sequence[str],
        rows: list[list[list[str]]],
        col_widths: Sequence[float],
        heights: list[float] | None = None,
    ) -> None:
        super().__init__()
        self.header = list(header)
        self.rows = rows  # each cell already wrapped into lines
        self.col_widths = list(col_widths)
        self.heights = heights or [max(len(c) for c in r) * LINE_H + 2 * PAD for r in rows]
        self.width = sum(self.col_widths)
        self.height = HEAD_H + sum(self.heights)

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.width, self.height

    def split(self, avail_width: float, avail_height: float) -> list[Flowable]:
        used, fit = HEAD_H, 0
        for h in self.heights:
            if used + h > avail_height:
                break
            used += h
            fit += 1
        if fit == 0:
            return []
        if fit == len(self.rows):
            return [self]
        return [
            RowBlock(self.header, self.rows[:fit], self.col_widths, self.heights[:fit]),
            RowBlock(self.header, self.rows[fit:], self.col_widths, self.heights[fit:]),
        ]

    def draw(self) -> None:
        canvas = self.canv
        top = self.height
        canvas.setFillColor(HEAD_BG)
        canvas.rect(0, top - HEAD_H, self.width, HEAD_H, stroke=0, fill=1)
        canvas.setStrokeColor(HEAD_INK)
        canvas.setLineWidth(0.6)
        canvas.line(0, top - HEAD_H, self.width, top - HEAD_H)
        # Rules first, then all the text of the block in one text object: one BT/ET pair per
        # block instead of one per cell, and textOut advances over font runs by itself.
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.25)
        y = top - HEAD_H
        for h in self.heights:
            y -= h
            canvas.line(0, y, self.width, y)
        text = canvas.beginText()
        text.setFillColor(HEAD_INK)
        current = [""]

        def out(x: float, y: float, value: str, font: str) -> None:
            text.setTextOrigin(x, y)
            for run_font, run in _runs(value, font):
                if run_font != current[0]:
                    text.setFont(run_font, FONT_SIZE)
                    current[0] = run_font
                text.textOut(run)

        x = 0.0
        for label, w in zip(self.header, self.col_widths, strict=True):
            out(x + PAD, top - HEAD_H + 3.6, label, LATIN_BOLD)
            x += w
        text.setFillColor(colors.black)
        y = top - HEAD_H
        for row, h in zip(self.rows, self.heights, strict=True):
            x = 0.0
            for lines, w in zip(row, self.col_widths, strict=True):
                line_y = y - PAD - FONT_SIZE + 0.6
                for line in lines:
                    if line:
                        out(x + PAD, line_y, line, LATIN)
                    line_y -= LINE_H
                x += w
            y -= h
        canvas.drawText(text)


def row_blocks(
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    col_widths: Sequence[float],
    *,
    block_rows: int = 200,
) -> Iterator[Flowable]:
    """Stream ``rows`` as ``RowBlock`` flowables of ``block_rows`` rows each."""
    widths = [w - 2 * PAD for w in col_widths]
    block: list[list[list[str]]] = []
    for row in rows:
        block.append(
            [wrap_text("" if v is None else str(v), w) for v, w in zip(row, widths, strict=True)]
        )
        if len(block) == block_rows:
            yield RowBlock(header, block, col_widths)
            block = []
    if block:
        yield RowBlock(header, block, col_widths)
