"""Import bombs through the upload page: small files that would unpack into millions of
columns, rows or strings are refused at once with a message naming the limit, never a server
error, and nothing is kept; the job and the command read files through the same code and say
the same. Each bomb is made here, in the test, as an attacker would craft it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from customers.models import Customer, ImportUpload
from customers.services import organization_grant

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def broker(cast, client):
    organization_grant(
        actor=cast.admin, user=cast.broker, organization=cast.seller, permission="manage_customers"
    )
    client.force_login(cast.broker)
    return cast


def upload(client, slug: str, content: bytes, name: str):
    file = io.BytesIO(content)
    file.name = name
    return client.post(reverse("customers:import_upload", args=[slug]), {"file": file})


def refused(response) -> str:
    """The page's answer to a refused file: the form again, with the reason, no 5xx."""
    assert response.status_code == 400, response.status_code
    assert not ImportUpload.objects.exists()
    return " ".join(response.context["form"].errors["file"])


_OOXML = "http://schemas.openxmlformats.org"
_SHEETML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_REL = f"{_OOXML}/officeDocument/2006/relationships"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<Types xmlns="{_OOXML}/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_SHEETML}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_SHEETML}.worksheet+xml"/>'
    f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_SHEETML}.sharedStrings+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<Relationships xmlns="{_OOXML}/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Customers" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<Relationships xmlns="{_OOXML}/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_HEADER_ROW = (
    '<row r="1"><c r="A1" t="inlineStr"><is><t>reference</t></is></c>'
    '<c r="B1" t="inlineStr"><is><t>full_name</t></is></c></row>'
)


def workbook(
    sheet: bytes | list[bytes], shared_strings: bytes | list[bytes] | None = None
) -> bytes:
    """An XLSX file written part by part with ``zipfile``: the parts stream into the archive,
    so a sheet of millions of rows becomes a file of a few hundred kilobytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        for name, parts in (
            ("xl/worksheets/sheet1.xml", sheet),
            ("xl/sharedStrings.xml", shared_strings or [f'<sst xmlns="{_MAIN}"/>'.encode()]),
        ):
            with archive.open(name, "w", force_zip64=True) as member:
                for part in [parts] if isinstance(parts, bytes) else parts:
                    member.write(part)
    return buffer.getvalue()


def sheet_xml(rows: bytes, dimension: str | None = None) -> list[bytes]:
    claim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return [
        f'<worksheet xmlns="{_MAIN}">{claim}<sheetData>{_HEADER_ROW}'.encode(),
        rows,
        b"</sheetData></worksheet>",
    ]


def test_a_csv_with_a_hundred_thousand_columns_is_refused_at_once(broker, client):
    header = ",".join(f"c{i}" for i in range(100_000)).encode()
    assert len(header) < 1024 * 1024
    message = refused(upload(client, broker.seller.slug, header + b"\n1,2\n", "wide.csv"))
    assert "more than 200 columns" in message


def test_a_csv_row_far_wider_than_its_header_is_refused(broker, client):
    content = b"reference,full_name\n" + b"R-1,Name" + b"," * 5000 + b"\n"
    assert "Row 2 has more than 200 columns" in refused(
        upload(client, broker.seller.slug, content, "wide-row.csv")
    )


def test_a_csv_line_of_millions_of_characters_is_refused(broker, client):
    content = b"reference,full_name\nR-1," + b"x" * 3_000_000 + b"\n"
    assert "Line 2 is longer than 1,000,000 characters" in refused(
        upload(client, broker.seller.slug, content, "long.csv")
    )


def test_a_csv_with_more_rows_than_the_limit_is_refused_naming_it(broker, client, settings):
    settings.IMPORT_MAX_ROWS = 1000
    content = b"reference,full_name\n" + b"".join(b"R-%d,N\n" % i for i in range(1001))
    assert "more than 1,000 rows" in refused(upload(client, broker.seller.slug, content, "r.csv"))


def test_an_xlsx_whose_sheet_claims_twelve_million_rows_is_refused_before_it_is_read(
    broker, client
):
    data = workbook(sheet_xml(b"", dimension="A1:B12000000"))
    assert len(data) < 10_000
    assert "more than 500,000 rows" in refused(upload(client, broker.seller.slug, data, "b.xlsx"))


def test_an_xlsx_that_jumps_to_row_twelve_million_is_refused(broker, client):
    row = b'<row r="12000000"><c r="A12000000" t="inlineStr"><is><t>x</t></is></c></row>'
    data = workbook(sheet_xml(row))
    assert "more than 500,000 rows" in refused(upload(client, broker.seller.slug, data, "j.xlsx"))


def test_an_xlsx_packing_twelve_million_rows_is_refused_as_a_bomb(broker, client):
    data = workbook(sheet_xml(b"<row/>" * 12_000_000))
    assert len(data) < 1024 * 1024
    message = refused(upload(client, broker.seller.slug, data, "rows.xlsx"))
    assert "compressed more than 100 times over" in message


def test_an_xlsx_with_varied_rows_past_the_limit_is_cut_while_streaming(broker, client, settings):
    settings.IMPORT_MAX_ROWS = 1000
    rows = b"".join(
        b'<row><c t="inlineStr"><is><t>R-%d</t></is></c>'
        b'<c t="inlineStr"><is><t>N</t></is></c></row>' % i
        for i in range(2000)
    )
    data = workbook(sheet_xml(rows))
    assert "more than 1,000 rows" in refused(upload(client, broker.seller.slug, data, "v.xlsx"))


def test_an_xlsx_whose_sheet_spans_sixteen_thousand_columns_is_refused(broker, client):
    data = workbook(sheet_xml(b"", dimension="A1:XFD3"))
    assert "more than 200 columns" in refused(upload(client, broker.seller.slug, data, "c.xlsx"))


def test_an_xlsx_with_eight_million_shared_strings_is_refused_before_openpyxl_loads_them(
    broker, client
):
    strings = [f'<sst xmlns="{_MAIN}">'.encode(), b"<si><t>a</t></si>" * 8_000_000, b"</sst>"]
    data = workbook(sheet_xml(b""), strings)
    assert len(data) < 1024 * 1024
    message = refused(upload(client, broker.seller.slug, data, "sst.xlsx"))
    assert "compressed more than 100 times over" in message or "distinct texts" in message


def test_shared_strings_are_counted_even_when_they_do_not_compress_well(broker, client, settings):
    settings.IMPORT_XLSX_MAX_SHARED_STRINGS = 50_000
    # Random texts: a ratio no bomb detector would flag, and no count declared.
    body = b"".join(b"<si><t>%s</t></si>" % os.urandom(6).hex().encode() for _ in range(60_000))
    data = workbook(sheet_xml(b""), [f'<sst xmlns="{_MAIN}">'.encode(), body, b"</sst>"])
    message = refused(upload(client, broker.seller.slug, data, "sst2.xlsx"))
    assert "more than 50,000 distinct texts" in message


def test_a_declared_shared_string_count_past_the_limit_is_refused_from_the_first_bytes(
    broker, client
):
    strings = [f'<sst xmlns="{_MAIN}" count="9000000" uniqueCount="9000000">'.encode(), b"</sst>"]
    data = workbook(sheet_xml(b""), strings)
    assert "more than 2,000,000 distinct texts" in refused(
        upload(client, broker.seller.slug, data, "sst3.xlsx")
    )


def test_random_bytes_as_a_file_get_a_clear_message(broker, client):
    message = refused(upload(client, broker.seller.slug, os.urandom(200_000), "x.csv"))
    assert "not a CSV or XLSX file" in message or "text encoding" in message
    zipped = b"PK\x03\x04" + os.urandom(50_000)
    assert "cannot be read" in refused(upload(client, broker.seller.slug, zipped, "x.xlsx"))
    # A workbook whose shared strings are flagged as password-protected.
    locked = bytearray(workbook(sheet_xml(b"")))
    at = locked.rfind(b"PK\x01\x02", 0, locked.rfind(b"xl/sharedStrings.xml"))
    locked[at + 8] |= 1
    assert "cannot be read" in refused(upload(client, broker.seller.slug, bytes(locked), "l.xlsx"))


def test_a_normal_workbook_still_imports_through_the_same_checks(broker, client):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["reference", "full_name"])
    sheet.append(["W-1", "Wang Wei"])
    buffer = io.BytesIO()
    book.save(buffer)
    response = upload(client, broker.seller.slug, buffer.getvalue(), "ok.xlsx")
    assert response.status_code == 302
    client.post(response["Location"], {"col_0": "reference", "col_1": "full_name"})
    assert Customer.objects.filter(reference="W-1").exists()


def test_the_command_gives_the_same_message_as_the_page(broker, tmp_path):
    path = tmp_path / "wide.csv"
    path.write_bytes(",".join(f"c{i}" for i in range(100_000)).encode() + b"\n")
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_customers", "--org", broker.seller.slug, str(path), stderr=err)
    assert "more than 200 columns" in err.getvalue()


_MEASURE = """
import json, resource, sys, tracemalloc
sys.path.insert(0, {root!r})
import os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "transferdesk.settings")
import django
django.setup()
from customers import importing
data = open(sys.argv[1], "rb").read()
tracemalloc.start()
try:
    importing.count_rows(data)
    outcome = "read"
except importing.FileError as exc:
    outcome = str(exc)
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({{"outcome": outcome, "peak": peak, "size": len(data)}}))
"""


@pytest.mark.parametrize(
    "name",
    ["wide.csv", "claims.xlsx", "jump.xlsx", "packed-rows.xlsx", "strings.xlsx"],
)
def test_reading_a_bomb_allocates_a_few_times_the_file_at_most(tmp_path, name):
    """In a process of its own (tracemalloc's count is not disturbed by the test run), the
    reader refuses each bomb having allocated little more than the file itself."""
    bombs = {
        "wide.csv": lambda: ",".join(f"c{i}" for i in range(100_000)).encode() + b"\n",
        "claims.xlsx": lambda: workbook(sheet_xml(b"", dimension="A1:B12000000")),
        "jump.xlsx": lambda: workbook(
            sheet_xml(b'<row r="12000000"><c r="A12000000"><v>1</v></c></row>')
        ),
        "packed-rows.xlsx": lambda: workbook(sheet_xml(b"<row/>" * 12_000_000)),
        "strings.xlsx": lambda: workbook(
            sheet_xml(b""), [f'<sst xmlns="{_MAIN}">'.encode(), b"<si><t>a</t></si>" * 8_000_000]
        ),
    }
    path = tmp_path / name
    path.write_bytes(bombs[name]())
    script = tmp_path / "measure.py"
    script.write_text(_MEASURE.format(root=str(ROOT)))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "transferdesk.settings"}
    done = subprocess.run(
        [sys.executable, str(script), str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["outcome"] != "read"
    # A few megabytes of working space on top of the file, whatever the bomb would unpack to.
    assert measured["peak"] < 4 * measured["size"] + 16 * 1024 * 1024, measured
