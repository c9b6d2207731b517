"""Reading and validating customer files: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030) and XLSX.

This module turns bytes into validated rows and problems; it writes nothing. The service
``customers.services.customer_import`` applies the rows, all or nothing.

Seller exports come from Chinese and English spreadsheets, so headers are recognised by name
in both languages (``propose_mapping``) and the person importing confirms or changes the
proposal before anything is read. Columns mapped to no field are never read past the header:
they are not stored anywhere, and the report lists them (data minimisation).

Problems name the row (as the spreadsheet numbers it: the header is row 1), the column (as
headed in the file) and what is wrong, never the offending value: reports and logs must not
become a copy of the personal data.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import translation
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_lazy
from django.utils.translation import gettext_lazy as _

from transferdesk.crypto import blind_index

from .choices import InteractionChannel, LegalBasis

CSV = "csv"
XLSX = "xlsx"

#: Largest file accepted (bytes): ~200,000 typical rows; bigger books are split.
MAX_FILE_BYTES = 50 * 1024 * 1024
#: Files with more rows than this run as a background job with a progress bar.
JOB_THRESHOLD_ROWS = 2000
#: Rows are validated and written in chunks of this size (bounded memory at any file size).
CHUNK_ROWS = 2000
#: The report keeps at most this many problems (a broken file must not make a huge page).
MAX_PROBLEMS = 1000
FILE_LEVEL = 0  # the row number of problems about the file as a whole

#: References given to customers of a file without a reference column, when the person
#: importing chooses so: ``TD-000001``, ``TD-000002``, … per organisation, continuing after
#: the highest one it already has. A sequence rather than a hash: short, readable over the
#: phone, sorted as the file was, and unique by construction (a hash would need a collision
#: check); stable because the number is stored with the customer, never recomputed.
GENERATED_REFERENCE_PREFIX = "TD-"
GENERATED_REFERENCE_PATTERN = re.compile(r"TD-(\d{6,})")


def generated_reference(number: int) -> str:
    return f"{GENERATED_REFERENCE_PREFIX}{number:06d}"


#: What a file may hold, checked while it streams and before anything large is built, so that a
#: hostile file (a "bomb": 100,000 columns, millions of empty rows or shared strings packed into
#: a small ZIP) is refused at once with a message naming the limit, the same in the upload
#: page, the job and the command. Each is a setting of the same name; these are the defaults.
LIMITS: dict[str, int] = {
    "IMPORT_MAX_COLUMNS": 200,
    "IMPORT_MAX_ROWS": 500_000,
    "IMPORT_MAX_CELLS": 20_000_000,
    "IMPORT_MAX_LINE_CHARS": 1_000_000,
    "IMPORT_XLSX_MAX_SHARED_STRINGS": 2_000_000,
    "IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES": 500 * 1024 * 1024,
    "IMPORT_XLSX_MAX_COMPRESSION_RATIO": 100,
}


def limit(name: str) -> int:
    """The import limit ``name`` (a key of ``LIMITS``), from the settings if set there."""
    return int(getattr(settings, name, LIMITS[name]))


def _number(value: int) -> str:
    return f"{value:,}"


class Kind:
    TEXT = "text"
    EMAIL = "email"
    PHONE = "phone"
    NATIONAL_ID = "national_id"
    DATE = "date"
    AMOUNT = "amount"
    COUNTRY = "country"
    CURRENCY = "currency"
    LEGAL_BASIS = "legal_basis"
    CHANNEL = "channel"


@dataclass(frozen=True)
class Target:
    """A field a column can be mapped to: customer fields, and one purchase and one
    interaction per row (``purchase_*``/``interaction_*``)."""

    name: str
    label: Any
    kind: str = Kind.TEXT
    max_length: int | None = None
    required: bool = False
    aliases: tuple[str, ...] = ()


TARGETS: tuple[Target, ...] = (
    Target(
        "reference",
        gettext_lazy("reference"),
        max_length=64,
        required=True,
        aliases=(
            "ref",
            "customer id",
            "customer no",
            "customer number",
            "客户编号",
            "编号",
            "客户号",
            "客户代码",
        ),
    ),
    Target(
        "full_name",
        gettext_lazy("full name"),
        max_length=255,
        required=True,
        aliases=(
            "name",
            "customer name",
            "姓名",
            "客户姓名",
            "名字",
            "全名",
            "客户名称",
            "真实姓名",
            "联系人",
            "联系人姓名",
        ),
    ),
    Target(
        "email",
        gettext_lazy("e-mail"),
        Kind.EMAIL,
        254,
        aliases=(
            "e-mail",
            "mail",
            "email address",
            "e-mail address",
            "邮箱",
            "电子邮箱",
            "电子邮件",
            "邮件地址",
            "邮箱地址",
            "电子邮箱地址",
            "电邮",
        ),
    ),
    Target(
        "phone",
        gettext_lazy("phone"),
        Kind.PHONE,
        aliases=(
            "mobile",
            "telephone",
            "tel",
            "phone number",
            "mobile phone",
            "手机",
            "手机号",
            "手机号码",
            "电话",
            "联系电话",
            "电话号码",
            "移动电话",
            "联系手机",
        ),
    ),
    Target(
        "postal_address",
        gettext_lazy("postal address"),
        max_length=1000,
        aliases=(
            "address",
            "地址",
            "通讯地址",
            "邮寄地址",
            "住址",
            "联系地址",
            "家庭住址",
            "家庭地址",
            "详细地址",
            "收货地址",
        ),
    ),
    Target(
        "preferences",
        gettext_lazy("preferences and personal needs"),
        max_length=4000,
        aliases=("personal needs", "needs", "偏好", "个人需求", "偏好与需求"),
    ),
    Target(
        "national_id",
        gettext_lazy("national id number"),
        Kind.NATIONAL_ID,
        64,
        aliases=(
            "national id",
            "id number",
            "id card",
            "id card number",
            "身份证号",
            "身份证",
            "身份证号码",
            "证件号码",
            "证件号",
            "公民身份号码",
            "身份证件号码",
            "居民身份证号码",
        ),
    ),
    Target(
        "bank_account",
        gettext_lazy("bank account"),
        max_length=64,
        aliases=("iban", "account number", "银行账号", "银行卡号", "银行账户"),
    ),
    Target(
        "special_category_notes",
        gettext_lazy("special-category notes"),
        max_length=4000,
        aliases=("special category notes", "health notes", "特殊类别备注", "健康信息"),
    ),
    Target(
        "segment",
        gettext_lazy("segment"),
        max_length=64,
        aliases=("customer type", "type", "细分", "客户类型", "客户分类", "分类"),
    ),
    Target("city", gettext_lazy("city"), max_length=128, aliases=("城市", "市")),
    Target(
        "region",
        gettext_lazy("region"),
        max_length=128,
        aliases=("province", "state", "地区", "省份", "省"),
    ),
    Target("country", gettext_lazy("country"), Kind.COUNTRY, aliases=("国家", "国家代码")),
    Target(
        "customer_since",
        gettext_lazy("customer since"),
        Kind.DATE,
        aliases=(
            "since",
            "customer since date",
            "客户起始日期",
            "注册日期",
            "开户日期",
            "成为客户日期",
        ),
    ),
    Target(
        "preferred_language",
        gettext_lazy("preferred language"),
        max_length=16,
        aliases=("language", "语言", "首选语言"),
    ),
    Target(
        "legal_basis",
        gettext_lazy("legal basis"),
        Kind.LEGAL_BASIS,
        aliases=("法律依据", "处理依据"),
    ),
    Target(
        "collection_purpose",
        gettext_lazy("purpose of collection"),
        max_length=255,
        aliases=("purpose", "collection purpose", "收集目的", "目的"),
    ),
    Target(
        "retention_until",
        gettext_lazy("retain until"),
        Kind.DATE,
        aliases=("retention date", "retention until", "保留期限", "保存期限"),
    ),
    Target(
        "purchase_date",
        gettext_lazy("purchase date"),
        Kind.DATE,
        aliases=("购买日期", "消费日期"),
    ),
    Target(
        "purchase_product",
        gettext_lazy("product or service"),
        max_length=255,
        aliases=("product", "service", "产品", "商品", "产品或服务"),
    ),
    Target(
        "purchase_amount",
        gettext_lazy("purchase amount"),
        Kind.AMOUNT,
        aliases=("amount", "金额", "购买金额", "消费金额"),
    ),
    Target(
        "purchase_currency",
        gettext_lazy("currency"),
        Kind.CURRENCY,
        aliases=("currency", "币种", "货币"),
    ),
    Target(
        "purchase_notes",
        gettext_lazy("purchase notes"),
        max_length=4000,
        aliases=("购买备注",),
    ),
    Target(
        "interaction_date",
        gettext_lazy("interaction date"),
        Kind.DATE,
        aliases=("contact date", "互动日期", "联系日期"),
    ),
    Target(
        "interaction_channel",
        gettext_lazy("interaction channel"),
        Kind.CHANNEL,
        aliases=("channel", "渠道", "联系渠道"),
    ),
    Target(
        "interaction_summary",
        gettext_lazy("interaction summary"),
        max_length=4000,
        aliases=("summary", "互动摘要", "联系摘要", "摘要"),
    ),
)
TARGETS_BY_NAME = {t.name: t for t in TARGETS}
PURCHASE_FIELDS = ("purchase_date", "purchase_product", "purchase_amount", "purchase_currency")
INTERACTION_FIELDS = ("interaction_date", "interaction_channel")
_PURCHASE_NAMES = frozenset(t.name for t in TARGETS if t.name.startswith("purchase_"))
_INTERACTION_NAMES = frozenset(t.name for t in TARGETS if t.name.startswith("interaction_"))
_CUSTOMER_NAMES = frozenset(t.name for t in TARGETS) - _PURCHASE_NAMES - _INTERACTION_NAMES

_CHANNEL_ALIASES = {
    "电话": "phone",
    "邮件": "email",
    "电子邮件": "email",
    "面谈": "in_person",
    "到店": "in_person",
    "微信": "chat",
    "在线": "chat",
    "聊天": "chat",
    "信件": "letter",
    "其他": "other",
}
_LEGAL_BASIS_ALIASES = {
    "同意": "consent",
    "合同": "contract",
    "履行合同": "contract",
    "法定义务": "legal_obligation",
    "合法利益": "legitimate_interests",
}


def _squash(text: str) -> str:
    """Header key: case, spaces, underscores, hyphens, colons and brackets do not matter, nor
    full-width forms (NFKC reads full-width letters and brackets as their ASCII forms), nor a
    note in brackets after the name (``身份证号(必填)``, ``金额(元)``)."""
    text = re.sub(r"(?<=.)\([^()]*\)", "", blind_index.normalise_text(text))
    return re.sub(r"[\s_\-:*()\uff1a\uff08\uff09]+", "", text.strip().lower())


_ALIAS_INDEX: dict[str, str] = {}
for _target in TARGETS:
    for _alias in (_target.name, str(_target.label), *_target.aliases):
        _ALIAS_INDEX.setdefault(_squash(_alias), _target.name)


def propose_mapping(headers: list[str]) -> dict[int, str]:
    """Column index → field name for the headers recognised (each field used once)."""
    mapping: dict[int, str] = {}
    used: set[str] = set()
    for index, header in enumerate(headers):
        name = _ALIAS_INDEX.get(_squash(header or ""))
        if name and name not in used:
            mapping[index] = name
            used.add(name)
    return mapping


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file: row (spreadsheet numbering, 0 for the file itself),
    column (as headed in the file, or empty) and a message without the offending value.

    A lazy message (``gettext_lazy``, ``format_lazy``, ``Messages``) is stored in every
    language, so the result page shows it in its reader's: the import may run in a worker, in
    the default language, or for someone reading another language. A plain string is stored
    as it is, and shown as stored."""

    row: int
    column: str
    #: Given as text or lazily; a ``str`` (in the active language) once built.
    message: Any
    #: What ``message`` was made from (set from it): rendered again in each language.
    source: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.source is None:
            object.__setattr__(self, "source", self.message)
        object.__setattr__(self, "message", str(self.message))

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"row": self.row, "column": self.column, "message": self.message}
        if not isinstance(self.source, str):
            data["messages"] = {}
            for code, _name in settings.LANGUAGES:
                with translation.override(code):
                    data["messages"][code] = str(self.source)
        return data


class Messages:
    """A ``ValidationError``'s messages as one text, rendered in the language active when read
    (its messages are lazy), so a problem holding it can be stored in every language."""

    def __init__(self, error: ValidationError) -> None:
        self.error = error

    def __str__(self) -> str:
        return " ".join(self.error.messages)


def localised(problem: dict[str, Any]) -> str:
    """A stored problem's message in the active language (as stored, for older rows)."""
    messages = problem.get("messages")
    if isinstance(messages, dict):
        text = messages.get(translation.get_language() or "")
        if isinstance(text, str):
            return text
    return str(problem.get("message", ""))


class FileError(Exception):
    """The file cannot be read at all (format, encoding, no header).

    Its message is lazy, so the problem it becomes (``problem``) is stored in every language
    like the rows' problems: the import may run in a worker or for a reader of another
    language."""

    def __init__(self, message: Any) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return str(self.message)

    def problem(self) -> Problem:
        return Problem(FILE_LEVEL, "", self.message)


@dataclass
class Table:
    """A file's header and an iterator over its data rows (lists of cell values)."""

    file_format: str
    headers: list[str]
    rows: Iterator[list[Any]]
    close: Callable[[], None] = field(default=lambda: None)


def sniff_format(data: bytes) -> str:
    # XLSX is a ZIP container; anything else is read as delimited text.
    return XLSX if data[:4] == b"PK\x03\x04" else CSV


def decode_text(data: bytes) -> str:
    """BOM → UTF-8 with BOM; else UTF-8 if it decodes strictly; else GB18030 (a superset of
    GBK, what Chinese spreadsheet exports write). Raises ``FileError`` if none fits."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise FileError(_("The file starts like UTF-8 but is not valid UTF-8.")) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise FileError(
            _("The file's text encoding is not UTF-8 or GBK/GB18030. Save it as CSV UTF-8.")
        ) from None


def _text_encoding(data: bytes) -> str:
    """The codec ``decode_text`` would pick, found without building the decoded text: the file
    is decoded in slices and each slice dropped, so a 50 MB file never becomes a 50 MB string
    (nor the four times larger buffer of a ``StringIO``)."""
    if data.startswith(b"\xef\xbb\xbf"):
        if not _decodes(data, "utf-8-sig"):
            raise FileError(_("The file starts like UTF-8 but is not valid UTF-8."))
        return "utf-8-sig"
    for encoding in ("utf-8", "gb18030"):
        if _decodes(data, encoding):
            return encoding
    raise FileError(
        _("The file's text encoding is not UTF-8 or GBK/GB18030. Save it as CSV UTF-8.")
    )


def _decodes(data: bytes, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    view, step = memoryview(data), 1 << 20
    try:
        for start in range(0, len(view), step):
            decoder.decode(view[start : start + step])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _lines(stream: io.TextIOWrapper) -> Iterator[str]:
    """The text's lines, each at most ``IMPORT_MAX_LINE_CHARS`` long (read no further)."""
    longest = limit("IMPORT_MAX_LINE_CHARS")
    number = 0
    while True:
        line = stream.readline(longest + 1)
        if not line:
            return
        number += 1
        if len(line) > longest and line[-1] not in "\r\n":
            raise FileError(
                format_lazy(
                    _(
                        "Line {line} is longer than {limit} characters; "
                        "this is not a customer file."
                    ),
                    line=number,
                    limit=_number(longest),
                )
            )
        yield line


def _open_csv(data: bytes) -> Table:
    # NUL never occurs in UTF-8 or GB18030 text (both keep 0x00 for U+0000 alone).
    if b"\x00" in data:
        raise FileError(_("This is not a CSV or XLSX file (it contains binary data)."))
    stream = io.TextIOWrapper(io.BytesIO(data), encoding=_text_encoding(data), newline="")
    sample = stream.read(4096)
    stream.seek(0)
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(_lines(stream), dialect)
    try:
        headers = next(reader)
    except StopIteration:
        raise FileError(_("The file is empty.")) from None
    except csv.Error:
        raise FileError(_("The file is not valid CSV.")) from None
    _check_width(len(headers), 1)
    return Table(CSV, [h.strip() for h in headers], _bounded(_csv_rows(reader)))


def _check_width(width: int, line: int) -> None:
    most = limit("IMPORT_MAX_COLUMNS")
    if width > most:
        raise FileError(
            format_lazy(
                _("Row {row} has more than {limit} columns; remove the columns you do not import."),
                row=line,
                limit=_number(most),
            )
        )


def _bounded(rows: Iterator[list[Any]], trim: bool = False) -> Iterator[list[Any]]:
    """The data rows, refused as soon as there are too many rows, columns or cells in all.

    ``trim``: the rows are a spreadsheet's, cut by the reader at one column past the limit, so
    only a value in that column means the row is too wide (empty cells are padding)."""
    most_rows, most_columns = limit("IMPORT_MAX_ROWS"), limit("IMPORT_MAX_COLUMNS")
    most_cells, cells = limit("IMPORT_MAX_CELLS"), 0
    for number, row in enumerate(rows, start=1):
        if number > most_rows:
            raise FileError(
                format_lazy(
                    _("The file has more than {limit} rows; split it into several imports."),
                    limit=_number(most_rows),
                )
            )
        width = len(row)
        if trim and row.count(None) == width:
            # An empty row, or one of the gap openpyxl fills between two distant rows: counted
            # as a row only, and passed on without its padding (no cost per padded cell).
            row, width = [], 0
        if width > most_columns:
            if not trim or any(v is not None for v in row[most_columns:]):
                _check_width(width, number + 1)
            del row[most_columns:]
            width = most_columns
        cells += width
        if cells > most_cells:
            raise FileError(
                format_lazy(
                    _("The file has more than {limit} cells; split it into several imports."),
                    limit=_number(most_cells),
                )
            )
        yield row


def _csv_rows(reader: Any) -> Iterator[list[Any]]:
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FileError(
                format_lazy(_("The file is not valid CSV (line {line})."), line=reader.line_num)
            ) from exc
        yield row


_SHARED_STRING = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?si[\s/>]")
_UNIQUE_COUNT = re.compile(rb"""uniqueCount\s*=\s*["'](\d+)["']""")


def _check_archive(data: bytes) -> None:
    """Refuse a workbook that would unpack to far more than it weighs, before openpyxl reads
    any of it: its members' sizes and compression ratios (as the ZIP declares them: Python's
    reader never inflates a member past its declared size), and the number of shared strings
    (which openpyxl loads all at once, even read-only), declared and counted as they stream."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except Exception as exc:  # a damaged ZIP raises many types (and is refused alike)
        raise FileError(_("This XLSX file cannot be read.")) from exc
    most_bytes = limit("IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES")
    ratio = limit("IMPORT_XLSX_MAX_COMPRESSION_RATIO")
    total = 0
    for info in members:
        total += info.file_size
        if total > most_bytes:
            raise FileError(
                format_lazy(
                    _(
                        "The workbook unpacks to more than {limit} MB; "
                        "split it into several imports."
                    ),
                    limit=_number(most_bytes // (1024 * 1024)),
                )
            )
        # Small members (styles, a few cells) may compress very well and cost nothing.
        if info.file_size > (1 << 20) and info.file_size > ratio * max(info.compress_size, 1):
            raise FileError(
                format_lazy(
                    _(
                        "The workbook is compressed more than {limit} times over, as decompression "
                        "bombs are; it is refused."
                    ),
                    limit=_number(ratio),
                )
            )
    most_strings = limit("IMPORT_XLSX_MAX_SHARED_STRINGS")
    too_many = FileError(
        format_lazy(
            _(
                "The workbook holds more than {limit} distinct texts; "
                "split it into several imports."
            ),
            limit=_number(most_strings),
        )
    )
    for info in members:
        if not info.filename.lower().endswith("sharedstrings.xml"):
            continue
        try:
            with archive.open(info) as member:
                tail, count, first = b"", 0, True
                while chunk := member.read(1 << 20):
                    if first:
                        declared = _UNIQUE_COUNT.search(chunk[:4096])
                        if declared and int(declared.group(1)) > most_strings:
                            raise too_many
                        first = False
                    buffer = tail + chunk
                    # A tag that ends inside the carried-over tail was counted last time.
                    count += sum(1 for m in _SHARED_STRING.finditer(buffer) if m.end() > len(tail))
                    if count > most_strings:
                        raise too_many
                    tail = buffer[-32:]
        except FileError:
            raise
        except Exception as exc:  # damaged, encrypted, an unknown compression method…
            raise FileError(_("This XLSX file cannot be read.")) from exc


def _open_xlsx(data: bytes) -> Table:
    from openpyxl import load_workbook

    _check_archive(data)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError, IndexError) as exc:
        raise FileError(_("This XLSX file cannot be read.")) from exc
    except Exception as exc:  # openpyxl raises many types on damaged files
        raise FileError(_("This XLSX file cannot be read.")) from exc
    sheet = workbook.worksheets[0] if workbook.worksheets else None
    if sheet is None:
        workbook.close()
        raise FileError(_("The workbook has no sheet."))
    # What the sheet claims to span (its <dimension>, read without parsing the cells): a claim
    # of millions of rows is refused at once; a sheet that claims less than it holds is still
    # counted while it streams (``_bounded``: gaps between rows count too, as openpyxl fills
    # them), its rows cut one column past the limit.
    most_rows, most_columns = limit("IMPORT_MAX_ROWS"), limit("IMPORT_MAX_COLUMNS")
    claimed_rows, claimed_columns = sheet.max_row or 0, sheet.max_column or 0  # type: ignore[union-attr]
    if claimed_columns > most_columns:
        workbook.close()
        _check_width(claimed_columns, 1)
    if claimed_rows > most_rows + 1:
        workbook.close()
        raise FileError(
            format_lazy(
                _("The file has more than {limit} rows; split it into several imports."),
                limit=_number(most_rows),
            )
        )
    width = min(claimed_columns or most_columns + 1, most_columns + 1)
    rows = sheet.iter_rows(max_col=width, values_only=True)
    try:
        header_row = next(rows)
    except StopIteration:
        workbook.close()
        raise FileError(_("The file is empty.")) from None
    except Exception as exc:
        workbook.close()
        raise FileError(_("This XLSX file cannot be read.")) from exc
    if len(header_row) > most_columns and any(h is not None for h in header_row[most_columns:]):
        workbook.close()
        _check_width(len(header_row), 1)
    headers = ["" if h is None else str(h).strip() for h in header_row[:most_columns]]

    def data_rows() -> Iterator[list[Any]]:
        try:
            for row in rows:
                yield list(row)
        except FileError:
            raise
        except Exception as exc:
            raise FileError(_("This XLSX file cannot be read.")) from exc

    return Table(XLSX, headers, _bounded(data_rows(), trim=True), workbook.close)


def open_table(data: bytes) -> Table:
    """Read the header of ``data``; raises ``FileError`` with a readable message."""
    if not data:
        raise FileError(_("The file is empty."))
    if len(data) > MAX_FILE_BYTES:
        raise FileError(_("The file is larger than 50 MB; split it into several imports."))
    table = _open_xlsx(data) if sniff_format(data) == XLSX else _open_csv(data)
    while table.headers and not table.headers[-1]:
        table.headers.pop()  # trailing empty header cells of spreadsheet exports
    if not any(table.headers):
        table.close()
        raise FileError(_("The first row must hold the column names."))
    return table


def count_rows(data: bytes) -> int:
    """Data rows in the file (non-empty ones), for choosing between inline and job."""
    table = open_table(data)
    try:
        return sum(1 for row in table.rows if _nonempty(row))
    finally:
        table.close()


def _nonempty(row: list[Any]) -> bool:
    return any(v is not None and str(v).strip() for v in row)


# --- cell validation ----------------------------------------------------------------------

_DATE_PATTERNS = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"),
)
_AMOUNT_LIMIT = Decimal("1e12")


def cell_text(value: Any) -> str:
    """Spreadsheet cell → text: numbers without a spurious ``.0``, dates in ISO form."""
    if type(value) is str:  # every CSV cell: the common case first
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value).strip()


def parse_date(value: Any) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    text = cell_text(value).split(" ")[0].split("T")[0]
    for pattern in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            try:
                return datetime.date(*(int(g) for g in match.groups()))
            except ValueError:
                break
    raise ValidationError(gettext_lazy("Enter a date as YYYY-MM-DD."))


def parse_amount(value: Any) -> Decimal:
    text = cell_text(value).replace(",", "").replace("¥", "").replace("￥", "").strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValidationError(gettext_lazy("Enter an amount such as 1234.50.")) from None
    if not amount.is_finite() or abs(amount) >= _AMOUNT_LIMIT:
        raise ValidationError(gettext_lazy("Enter an amount below one trillion."))
    if amount != amount.quantize(Decimal("0.01")):
        raise ValidationError(gettext_lazy("Use at most two decimal places."))
    return amount.quantize(Decimal("0.01"))


def _choice(value: str, choices: Any, aliases: dict[str, str]) -> str:
    key = value.strip()
    if key in aliases:
        return aliases[key]
    lowered = key.lower().replace(" ", "_")
    for choice_value, label in choices.choices:
        if lowered == choice_value or key.lower() == str(label).lower():
            return choice_value
    raise ValidationError(
        format_lazy(
            gettext_lazy("Use one of: {values}."),
            values=", ".join(v for v, _label in choices.choices),
        )
    )


@dataclass
class RowResult:
    """A valid row: customer field values (plaintext; the phone already in E.164), and an
    optional purchase and interaction; plus the customer's blind indexes, computed once here
    (for the duplicate checks) and stored as they are by the writer."""

    line: int
    customer: dict[str, Any]
    purchase: dict[str, Any] | None
    interaction: dict[str, Any] | None
    email_bidx: str
    national_id_bidx: str
    phone_bidx: str = ""


_EMAIL_EXISTS = gettext_lazy("A customer with this e-mail address already exists.")
_NATIONAL_ID_EXISTS = gettext_lazy("A customer with this national id number already exists.")


class RowValidator:
    """Validates one row at a time against the mapping, the organisation's country (phone
    numbers without a country code) and the keys already seen (file and database)."""

    def __init__(
        self,
        *,
        headers: list[str],
        mapping: dict[int, str],
        region: str,
        existing_references: set[str],
        existing_emails: set[str],
        existing_national_ids: set[str],
        first_generated_reference: int | None = None,
    ) -> None:
        self.headers = headers
        self.mapping = sorted(mapping.items())
        self.region = region
        self.seen_references: dict[str, int] = {}
        self.seen_emails: dict[str, int] = {}
        self.seen_national_ids: dict[str, int] = {}
        self.existing_references = existing_references
        self.existing_emails = existing_emails
        self.existing_national_ids = existing_national_ids
        mapped = set(mapping.values())
        # With no reference column, the next generated number (``None``: none generated).
        self.next_reference = None if "reference" in mapped else first_generated_reference
        if self.next_reference is not None:
            mapped.add("reference")
        self.missing_required = [t for t in TARGETS if t.required and t.name not in mapped]
        # Per mapped column: its index, its target and its name in problems (worked out once,
        # not once per row).
        self.cells = [
            (index, TARGETS_BY_NAME[name], self.column(index)) for index, name in self.mapping
        ]
        self.columns = {target.name: column for _index, target, column in self.cells}
        self.column_order = {column: i for i, column in enumerate(self.columns.values())}
        self.required = [t.name for t in TARGETS if t.required and t.name in mapped]

    def column(self, index: int) -> str:
        header = self.headers[index] if index < len(self.headers) else ""
        return header or gettext("column {number}").format(number=index + 1)

    def validate(self, line: int, row: list[Any]) -> tuple[RowResult | None, list[Problem]]:
        problems: list[Problem] = []
        values: dict[str, Any] = {}
        columns = self.columns

        def fail(name: str, message: Any) -> None:
            problems.append(
                Problem(line, columns.get(name, str(TARGETS_BY_NAME[name].label)), message)
            )

        width = len(row)
        for index, target, _column in self.cells:
            raw = row[index] if index < width else None
            try:
                value = self._clean(target, raw)
            except ValidationError as exc:
                fail(target.name, Messages(exc))
                continue
            if value not in ("", None):
                values[target.name] = value
        if self.next_reference is not None:
            # One number per data row, in file order, valid or not: the preview said so.
            values["reference"] = generated_reference(self.next_reference)
            self.next_reference += 1
        for name in self.required:
            if name not in values and not any(p.column == columns[name] for p in problems):
                fail(name, gettext_lazy("This field is required."))

        # Blind indexes from the normalised values: the phone is already E.164 (``_clean``
        # parsed it), so nothing is parsed twice, and the writer stores these very digests.
        email_bidx = phone_bidx = national_id_bidx = ""
        reference = values.get("reference")
        if reference:
            if reference in self.existing_references:
                fail("reference", gettext_lazy("A customer with this reference already exists."))
            elif reference in self.seen_references:
                fail(
                    "reference",
                    format_lazy(
                        gettext_lazy("Same reference as row {row}."),
                        row=self.seen_references[reference],
                    ),
                )
            else:
                self.seen_references[reference] = line
        if "email" in values:
            email_bidx = blind_index.digest(
                blind_index.EMAIL, blind_index.normalise_email(values["email"])
            )
            self._unique(
                fail,
                "email",
                email_bidx,
                self.existing_emails,
                self.seen_emails,
                line,
                _EMAIL_EXISTS,
            )
        if "phone" in values:
            phone_bidx = blind_index.digest(blind_index.PHONE, values["phone"])
        if "national_id" in values:
            # Already normalised and checked by ``_clean``, as the correction stores it.
            national_id_bidx = blind_index.digest(blind_index.NATIONAL_ID, values["national_id"])
            self._unique(
                fail,
                "national_id",
                national_id_bidx,
                self.existing_national_ids,
                self.seen_national_ids,
                line,
                _NATIONAL_ID_EXISTS,
            )

        purchase = self._group(values, PURCHASE_FIELDS, _PURCHASE_NAMES, "purchase_", fail)
        interaction = self._group(
            values, INTERACTION_FIELDS, _INTERACTION_NAMES, "interaction_", fail
        )
        if problems:
            # In the file's column order, as a person reads the row.
            order = self.column_order
            problems.sort(key=lambda p: order.get(p.column, len(order)))
            return None, problems
        customer = {k: v for k, v in values.items() if k in _CUSTOMER_NAMES}
        if purchase is not None and "notes" not in purchase and "purchase_notes" in values:
            purchase["notes"] = values["purchase_notes"]
        if interaction is not None and "interaction_summary" in values:
            interaction["summary"] = values["interaction_summary"]
        return (
            RowResult(
                line, customer, purchase, interaction, email_bidx, national_id_bidx, phone_bidx
            ),
            [],
        )

    @staticmethod
    def _unique(
        fail: Any,
        name: str,
        digest: str,
        existing: set[str],
        seen: dict[str, int],
        line: int,
        exists_message: Any,
    ) -> None:
        if digest in existing:
            fail(name, exists_message)
        elif digest in seen:
            fail(name, format_lazy(gettext_lazy("Same value as row {row}."), row=seen[digest]))
        else:
            seen[digest] = line

    @staticmethod
    def _group(
        values: dict[str, Any],
        required: tuple[str, ...],
        names: frozenset[str],
        prefix: str,
        fail: Any,
    ) -> dict[str, Any] | None:
        """A purchase or interaction is optional, but once one of its columns has a value its
        required columns must have one too."""
        if values.keys().isdisjoint(names):
            return None
        missing = [name for name in required if name not in values]
        for name in missing:
            fail(
                name,
                format_lazy(
                    gettext_lazy("Required when the row has other {kind} columns."),
                    kind=gettext_lazy("purchase")
                    if prefix == "purchase_"
                    else gettext_lazy("interaction"),
                ),
            )
        if missing:
            return None
        return {name.removeprefix(prefix): values[name] for name in required}

    def _clean(self, target: Target, raw: Any) -> Any:
        return clean_cell(target, raw, self.region)


def clean_cell(target: Target, raw: Any, region: str | None) -> Any:
    """One value as the import stores it (NFKC for identifiers and codes, e-mail, phone in
    E.164 read with the book's ``region``, the national id rule, ISO codes, choices), or a
    ``ValidationError`` whose message never repeats the value. The record forms call it too,
    so a value typed by hand is held to the same rules as one imported."""
    kind = target.kind
    text = cell_text(raw)
    if kind == Kind.DATE:
        return parse_date(raw) if text else None
    if not text:
        return ""
    if kind != Kind.TEXT or target.name == "reference":
        # Identifiers and codes as Chinese input methods type them (full-width) are the
        # same values as their ASCII forms; names and free text are kept as written.
        text = blind_index.normalise_text(text)
    if target.max_length is not None and len(text) > target.max_length:
        raise ValidationError(
            format_lazy(gettext_lazy("At most {limit} characters."), limit=target.max_length)
        )
    if kind == Kind.EMAIL:
        validate_email(text)
        return text
    if kind == Kind.PHONE:
        return blind_index.normalise_phone(text, region)
    if kind == Kind.NATIONAL_ID:
        return blind_index.clean_national_id(text, region)
    if kind == Kind.AMOUNT:
        return parse_amount(text)
    if kind == Kind.COUNTRY:
        if not re.fullmatch(r"[A-Za-z]{2}", text):
            raise ValidationError(
                gettext_lazy("Use the two-letter ISO country code, e.g. CN or GB.")
            )
        return text.upper()
    if kind == Kind.CURRENCY:
        if not re.fullmatch(r"[A-Za-z]{3}", text):
            raise ValidationError(gettext_lazy("Use the three-letter ISO currency code, e.g. CNY."))
        return text.upper()
    if kind == Kind.LEGAL_BASIS:
        return _choice(text, LegalBasis, _LEGAL_BASIS_ALIASES)
    if kind == Kind.CHANNEL:
        return _choice(text, InteractionChannel, _CHANNEL_ALIASES)
    if "\x00" in text:
        raise ValidationError(gettext_lazy("Contains a NUL character."))
    return text
