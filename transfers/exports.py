"""Watermarked CSV and XLSX exports of a handed-over stage, and the per-user rate limit.

A leaked file must name who took it, when and which export it was (the ``PortalExport`` row
and its EXPORT event say the rest); a cell a spreadsheet would execute (``=``, ``+``, ``-``,
``@``, tab, carriage return at the start) is prefixed with an apostrophe so it stays text
(OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from transferdesk.spreadsheets import neutralise

from .models import HandoverStage
from .portal_models import PortalExport
from .portal_selectors import ShownItem, display_value, field_label

#: Exports per user per window before the limit applies (overridable in settings).
DEFAULT_LIMIT = 10
DEFAULT_WINDOW_SECONDS = 3600


# --- rate limit ------------------------------------------------------------------------------


def _limit() -> tuple[int, int]:
    return (
        int(getattr(settings, "PORTAL_EXPORT_LIMIT", DEFAULT_LIMIT)),
        int(getattr(settings, "PORTAL_EXPORT_WINDOW_SECONDS", DEFAULT_WINDOW_SECONDS)),
    )


def rate_limit_take(user: Any) -> bool:
    """Count one export for ``user``; False once the window's allowance is spent.

    A fixed window in the shared cache (Redis in production, so every web process counts the
    same exports): ``add`` starts the window with its expiry, ``incr`` is atomic.
    """
    limit, window = _limit()
    key = f"portal:export-rate:{user.pk}"
    if cache.add(key, 1, timeout=window):
        return True
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr: a fresh window
        cache.add(key, 1, timeout=window)
        return True
    return count <= limit


def rate_limit_window_minutes() -> int:
    return max(1, _limit()[1] // 60)


# --- files -----------------------------------------------------------------------------------


def _labelled(stage: HandoverStage) -> bool:
    """Pseudonymised records lead with their pseudonym; identified ones carry the seller's
    reference among their fields already."""
    from .choices import StageKind

    return stage.kind == StageKind.PSEUDONYMISED


def header(stage: HandoverStage) -> list[str]:
    from .engine import snapshot_fields

    names = [field_label(name) for name in snapshot_fields(stage)]
    return [_("Pseudonym"), *names] if _labelled(stage) else names


def rows(stage: HandoverStage, items: Iterable[ShownItem]) -> Iterable[list[Any]]:
    from .engine import snapshot_fields

    names = snapshot_fields(stage)
    labelled = _labelled(stage)
    for item in items:
        values = [neutralise(display_value(n, item.fields.get(n))) for n in names]
        yield [neutralise(item.label), *values] if labelled else values


def watermark(export: PortalExport) -> str:
    user = export.user
    return _(
        "Confidential - exported by {name} ({username}) at {time} UTC - export {id} - "
        "deal {deal}, stage {order}. Do not forward."
    ).format(
        name=user.get_full_name() or user.get_username(),
        username=user.get_username(),
        time=export.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        id=export.pk,
        deal=export.stage.deal.reference,
        order=export.stage.order,
    )


def filename(export: PortalExport) -> str:
    stage = export.stage
    return f"{stage.deal.reference}-stage{stage.order}-export-{export.pk}.{export.format}"


def build_csv(export: PortalExport, items: Iterable[ShownItem]) -> bytes:
    """UTF-8 with BOM (spreadsheets then read Chinese correctly); the first row is a ``#``
    comment carrying the watermark."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["# " + watermark(export)])
    writer.writerow(header(export.stage))
    writer.writerows(rows(export.stage, items))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def build_xlsx(export: PortalExport, items: Iterable[ShownItem]) -> bytes:
    """A header block (title, watermark, export id, time) above the table; every cell is
    written as a string or number, never as a formula."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    stage = export.stage
    workbook = Workbook(write_only=False)
    sheet = workbook.active
    sheet.title = "Export"
    bold = Font(bold=True)
    block = [
        (_("Confidential data-room export"), ""),
        (_("Deal"), f"{stage.deal.reference} {stage.deal.title}"),
        (_("Stage"), f"{stage.order}. {stage.name}"),
        (_("Exported by"), export.user.get_full_name() or export.user.get_username()),
        (_("User name"), export.user.get_username()),
        (_("Exported at (UTC)"), export.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")),
        (_("Export id"), str(export.pk)),
        (_("Watermark"), watermark(export)),
    ]
    for label, value in block:
        sheet.append([neutralise(label), neutralise(value)])
    sheet["A1"].font = Font(bold=True, size=14)
    for row in range(2, len(block) + 1):
        sheet.cell(row=row, column=1).font = bold
    sheet.append([])
    sheet.append(header(stage))
    header_row = sheet.max_row
    fill = PatternFill("solid", fgColor="DCE6F5")
    for cell in sheet[header_row]:
        cell.font = bold
        cell.fill = fill
    for values in rows(stage, items):
        sheet.append(values)
    for cell in sheet.iter_rows():
        for c in cell:
            if isinstance(c.value, str):
                c.data_type = "s"  # never a formula, whatever the text
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)
    for column in sheet.columns:
        letter = column[0].column_letter
        sheet.column_dimensions[letter].width = 22
    sheet.column_dimensions["A"].width = 36
    workbook.properties.creator = export.user.get_username()
    workbook.properties.title = str(export.pk)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
