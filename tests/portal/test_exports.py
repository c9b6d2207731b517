"""Watermarked exports: exactly the stage's items and fields, no executable cell, logged,
rate-limited."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.cache import cache
from django.urls import reverse

from transferdesk.spreadsheets import neutralise
from transferdesk.trail import AuditAction, AuditEvent
from transfers.engine import snapshot_fields
from transfers.portal_models import PortalExport

from .conftest import FORMULAS

pytestmark = pytest.mark.django_db
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture
def buyer(client, cast):
    cache.delete(f"portal:export-rate:{cast.buyer.pk}")
    client.force_login(cast.buyer)
    yield client
    cache.delete(f"portal:export-rate:{cast.buyer.pk}")


def _export(client, stage, fmt):
    return client.post(reverse("portal:export", args=[stage.pk, fmt]))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Shanghai", "Shanghai"),
        (None, ""),
        (7, 7),
    ],
)
def test_neutralise(value, expected):
    assert neutralise(value) == expected


def test_csv_has_the_watermark_row_the_stage_fields_and_no_formula(buyer, cast, delivered):
    stage = delivered.pseudo
    response = _export(buyer, stage, "csv")
    assert response.status_code == 200
    export = PortalExport.objects.get()
    assert str(export.pk) in response["Content-Disposition"]
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    watermark = rows[0][0]
    assert watermark.startswith("# ") and "buyer" in watermark and str(export.pk) in watermark
    assert len(rows[1]) == 1 + len(snapshot_fields(stage))  # the pseudonym leads
    body = rows[2:]
    assert len(body) == stage.items.count() == export.item_count
    cells = [cell for row in body for cell in row]
    assert not [c for c in cells if c.startswith(DANGEROUS)]
    for _index, _field, value in FORMULAS:
        assert "'" + value in cells
    event = AuditEvent.objects.get(action=AuditAction.EXPORT)
    assert event.details["items"] == export.item_count and event.actor_id == cast.buyer.pk
    assert event.object_id == str(export.pk) and event.deal_ref == str(delivered.deal.pk)


def test_xlsx_has_the_header_block_and_no_formula_cell(buyer, cast, delivered):
    from openpyxl import load_workbook

    stage = delivered.identified
    response = _export(buyer, stage, "xlsx")
    export = PortalExport.objects.get()
    assert response["Content-Disposition"].endswith(f'-export-{export.pk}.xlsx"')
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    block = {row[0]: row[1] for row in values[:8]}
    assert block["User name"] == "buyer" and block["Export id"] == str(export.pk)
    assert "Exported at (UTC)" in block and "buyer" in block["Watermark"]
    header = values[9]
    assert len(header) == len(snapshot_fields(stage))  # the reference is one of them
    data = values[10:]
    assert len(data) == stage.items.count()
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", cell.coordinate
            if isinstance(cell.value, str):
                assert not cell.value.startswith(DANGEROUS), cell.coordinate
    assert "national_id" not in snapshot_fields(stage)


def test_aggregate_stages_have_no_record_export(buyer, delivered):
    assert _export(buyer, delivered.aggregate, "csv").status_code == 404
    assert _export(buyer, delivered.pseudo, "pdf").status_code == 404


def test_the_rate_limit_stops_bulk_exports_with_a_clear_message(buyer, delivered, settings):
    settings.PORTAL_EXPORT_LIMIT = 2
    stage = delivered.pseudo
    assert _export(buyer, stage, "csv").status_code == 200
    assert _export(buyer, stage, "xlsx").status_code == 200
    response = _export(buyer, stage, "csv")
    assert response.status_code == 302
    page = buyer.get(response["Location"]).content.decode()
    assert "Export limit reached" in page
    assert PortalExport.objects.count() == 2
    assert AuditEvent.objects.filter(action=AuditAction.EXPORT).count() == 2
