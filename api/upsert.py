"""The seller's CRM pushes its customer book: ``POST /api/v1/customers/upsert/``.

The rows go through the file import's own service (``customers.services.customer_import``):
the JSON body becomes a table whose columns are the import's fields, so every value is
validated and normalised by the same code as a CSV upload (the same messages too), written
by the same writer, all or nothing, with the same IMPORT event. What lives here is only what
JSON adds: the shape of the body (objects, texts and numbers), a bound on its size and rows,
and the ``Idempotency-Key`` that makes a retried request apply once.

Like the file import, the upsert adds customers: a row whose reference, e-mail or national id
the book already holds is a problem of that row (changes to existing customers go through the
record pages, which keep their history and tell the buyers).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from customers import importing
from customers.choices import OrganizationKind
from customers.services import ImportOutcome, customer_import
from transferdesk.principals import ApiScope, MachinePrincipal

from .models import IdempotencyKey
from .parsers import JSONParser
from .views import KeyAPIView

#: Rows one request may carry; a bigger book is sent in several requests.
MAX_ROWS = 1000
#: How long a stored answer is replayed for the same key.
IDEMPOTENCY_TTL = datetime.timedelta(hours=24)
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255

#: The row's customer fields, then its purchase's and its interaction's, as the JSON names
#: them → the import's field. The order is the table's column order (and of the problems).
_CUSTOMER = tuple(
    t.name for t in importing.TARGETS if not t.name.startswith(("purchase_", "interaction_"))
)
_NESTED = {"purchase": "purchase_", "interaction": "interaction_"}
FIELDS: dict[str, str] = {name: name for name in _CUSTOMER}
for _group, _prefix in _NESTED.items():
    for _target in importing.TARGETS:
        if _target.name.startswith(_prefix):
            FIELDS[f"{_group}.{_target.name.removeprefix(_prefix)}"] = _target.name
COLUMNS = list(FIELDS)
MAPPING = dict(enumerate(FIELDS.values()))


class BodyError(Exception):
    """The body is not what the endpoint reads at all (answered 400 or 413, nothing applied)."""

    def __init__(self, message: str, status_code: int = status.HTTP_400_BAD_REQUEST) -> None:
        super().__init__(message)
        self.message, self.status_code = message, status_code


def _problem(row: int, field: str, message: str) -> dict[str, Any]:
    return {"row": row, "field": field, "message": message}


def _refused(*problems: dict[str, Any]) -> Response:
    """The 400 of the schema: every refusal of the request, a row's or the request's own
    (row 0: a bad header, a body that is not the book), in one shape."""
    return Response(
        {"applied": False, "problems": list(problems), "problems_truncated": False},
        status=status.HTTP_400_BAD_REQUEST,
    )


def _cell(value: Any) -> tuple[Any, bool]:
    """A JSON value as a cell: text or a number (a bool is neither), or empty."""
    if value is None or isinstance(value, str):
        return value, True
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value, True
    return None, False


def read_rows(body: bytes) -> tuple[list[list[Any]], list[dict[str, Any]]]:
    """The body's rows as table rows (cells in ``COLUMNS`` order), and the problems of shape
    (a row that is not an object, an unknown field, a value that is neither text nor a number),
    by row (counted from 1) and field. Raises ``BodyError`` if the body is not such a list."""
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BodyError(_("The body must be JSON (UTF-8).")) from None
    customers = data.get("customers") if isinstance(data, dict) else None
    if not isinstance(customers, list) or not customers:
        raise BodyError(_("The body must be an object whose “customers” is a non-empty list."))
    if len(customers) > MAX_ROWS:
        raise BodyError(
            _("At most %(limit)s customers per request; send the book in several requests.")
            % {"limit": f"{MAX_ROWS:,}"},
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    rows: list[list[Any]] = []
    problems: list[dict[str, Any]] = []
    position = {name: index for index, name in enumerate(COLUMNS)}
    for number, item in enumerate(customers, start=1):
        cells: list[Any] = [None] * len(COLUMNS)
        rows.append(cells)
        if not isinstance(item, dict):
            problems.append(_problem(number, "", _("Each customer must be an object.")))
            continue
        if not any(v not in (None, "", {}) for v in item.values()):
            problems.append(_problem(number, "", _("This customer has no values.")))
            continue
        flat: list[tuple[str, Any]] = []
        for name, value in item.items():
            if name not in _NESTED:
                flat.append((name, value))
            elif isinstance(value, dict):
                flat.extend((f"{name}.{k}", v) for k, v in value.items())
            elif value is not None:
                problems.append(_problem(number, name, _("Give an object or null.")))
        for name, value in flat:
            if name not in position:
                problems.append(_problem(number, name[:100], _("Unknown field.")))
                continue
            cell, ok = _cell(value)
            if not ok:
                problems.append(_problem(number, name, _("Give a text, a number or null.")))
            cells[position[name]] = cell
    return rows, problems


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity are not JSON


def _answer(outcome: ImportOutcome) -> tuple[int, dict[str, Any]]:
    if outcome.applied:
        return status.HTTP_200_OK, {
            "applied": True,
            "rows": outcome.rows,
            "customers": outcome.customers,
            "purchases": outcome.purchases,
            "interactions": outcome.interactions,
        }
    return status.HTTP_400_BAD_REQUEST, {
        "applied": False,
        "problems": [_problem(p.row, p.column, p.message) for p in outcome.problems],
        "problems_truncated": outcome.problems_truncated,
    }


def _stored(organization: Any, key: str) -> IdempotencyKey | None:
    since = timezone.now() - IDEMPOTENCY_TTL
    return IdempotencyKey.objects.filter(
        organization=organization, key=key, created_at__gte=since
    ).first()


def _replay(stored: IdempotencyKey, body_hash: str) -> Response:
    if stored.body_hash != body_hash:
        return Response(
            {"detail": _("This Idempotency-Key was used with another body; use a new key.")},
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    response = Response(stored.response, status=stored.status)
    response["Idempotent-Replayed"] = "true"
    return response


_ROWS = inline_serializer(
    "UpsertCustomer",
    {
        **{name: serializers.CharField(required=name in ("reference", "full_name"), allow_null=True)
           for name in _CUSTOMER},
        **{
            group: inline_serializer(
                f"Upsert{group.title()}",
                {
                    column.split(".", 1)[1]: serializers.CharField(required=False, allow_null=True)
                    for column in COLUMNS
                    if column.startswith(f"{group}.")
                },
                required=False,
                allow_null=True,
            )
            for group in _NESTED
        },
    },
    many=True,
)  # fmt: skip
_PROBLEMS = inline_serializer(
    "UpsertProblem",
    {
        "row": serializers.IntegerField(help_text="Counted from 1; 0 is the request as a whole."),
        "field": serializers.CharField(),
        "message": serializers.CharField(),
    },
    many=True,
)


class CustomerUpsert(KeyAPIView):
    """Adds the posted customers to the key's (seller) organisation's book, all or nothing."""

    required_scope = ApiScope.CUSTOMERS_WRITE
    parser_classes = [JSONParser]  # the body is read by ``read_rows``; this names the type

    @extend_schema(
        summary="Push customers",
        description=(
            "Needs the scope `customers.write` and a seller's key. Adds up to "
            f"{MAX_ROWS:,} customers, each with at most one purchase and one interaction, "
            "validated as the file import validates them; one bad row applies nothing and the "
            "answer (400) lists every problem by row and field. A retry with the same "
            "`Idempotency-Key` and body gets the first answer and applies nothing more; the "
            "same key with another body is refused (422). Keys are remembered 24 hours."
        ),
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=False
            )
        ],
        request=inline_serializer("UpsertRequest", {"customers": _ROWS}),
        responses={
            200: inline_serializer(
                "UpsertResult",
                {
                    "applied": serializers.BooleanField(),
                    "rows": serializers.IntegerField(),
                    "customers": serializers.IntegerField(),
                    "purchases": serializers.IntegerField(),
                    "interactions": serializers.IntegerField(),
                },
            ),
            400: inline_serializer(
                "UpsertProblems",
                {
                    "applied": serializers.BooleanField(),
                    "problems": _PROBLEMS,
                    "problems_truncated": serializers.BooleanField(),
                },
            ),
            413: OpenApiTypes.OBJECT,
            422: OpenApiTypes.OBJECT,
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        principal: MachinePrincipal = request.user
        organization = principal.organization
        if organization.kind != OrganizationKind.SELLER:
            raise PermissionDenied(_("Only a seller's key pushes customers."))
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is not None and not (
            0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()
        ):
            return _refused(
                _problem(
                    0,
                    IDEMPOTENCY_HEADER,
                    _("The Idempotency-Key must be 1 to 255 printable ASCII characters."),
                )
            )
        try:
            body = request.body
        except RequestDataTooBig:
            return Response(
                {"detail": _("The body is too large; send the book in several requests.")},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        body_hash = hashlib.sha256(body).hexdigest()
        if key is not None and (stored := _stored(organization, key)) is not None:
            return _replay(stored, body_hash)
        try:
            rows, problems = read_rows(body)
        except BodyError as exc:
            if exc.status_code == status.HTTP_400_BAD_REQUEST:
                return _refused(_problem(0, "body", exc.message))
            return Response({"detail": exc.message}, status=exc.status_code)
        if problems:
            return _refused(*problems)

        def remember(outcome: ImportOutcome) -> None:
            # In the import's transaction: the key is stored with the rows or not at all, and
            # a concurrent request under the same key fails on the unique key and applies
            # nothing (it is answered from the row the first one stored).
            if key is None:
                return
            code, answer = _answer(outcome)
            IdempotencyKey.objects.filter(
                organization=organization, created_at__lt=timezone.now() - IDEMPOTENCY_TTL
            ).delete()
            IdempotencyKey.objects.create(
                organization=organization,
                key=key,
                body_hash=body_hash,
                status=code,
                response=answer,
            )

        table = importing.Table("json", list(COLUMNS), iter(rows))
        outcome = customer_import(
            actor=principal,
            organization=organization,
            table=table,
            first_line=1,
            mapping=MAPPING,
            source="api",
            on_applied=remember,
        )
        if not outcome.applied and key is not None:
            # A concurrent request under the same key won: answer as it was answered.
            stored = _stored(organization, key)
            if stored is not None:
                return _replay(stored, body_hash)
        code, answer = _answer(outcome)
        return Response(answer, status=code)
