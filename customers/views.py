"""Broker pages of the customer vault: books, list and search, record, reveal, edit, history,
verification, and the import (upload → mapping → result).

Every object is fetched through ``restrict`` (guarantee 5): outside the user's scope is the
same 404 as a missing object; inside it but without the permission an action needs is a 403.
Reads of sensitive and core fields are recorded with ``transferdesk.trail.log_access``.
"""

from __future__ import annotations

import csv
import datetime
import io
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import replace
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadhandler import MemoryFileUploadHandler
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from accounts.choices import Role
from accounts.mfa import step_up
from transferdesk.crypto.errors import DataKeyDestroyed, DecryptionError, MissingMasterKey
from transferdesk.jobs import JobStatus
from transferdesk.permissions import role_required
from transferdesk.spreadsheets import neutralise
from transferdesk.trail import AuditAction, log_access

from . import importing, selectors, services
from .choices import StatusChangeReason, Tier
from .forms import (
    BookGrantForm,
    BookRevokeForm,
    CoreCorrectionForm,
    CustomerCreateForm,
    CustomerEditForm,
    CustomerFilterForm,
    ImportMappingForm,
    ImportUploadForm,
    InteractionForm,
    PurchaseForm,
    RevealForm,
)
from .models import Customer, ImportUpload, Interaction, Organization, PurchaseRecord
from .registry import fields_of

logger = logging.getLogger(__name__)

PAGE_SIZES = (25, 50, 100)
#: History entries per page of the history tab.
HISTORY_PAGE = 50
#: Encrypted fields the list shows (decrypted for the rows of the page, nothing else).
LIST_FIELDS = ("full_name",)


_KEY_ID = re.compile(r"master key '([^']*)'")


def _explains_crypto_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page whose records cannot be decrypted says why instead of failing with a bare 500:
    which master key id the configured keyring lacks (503, an operations fix), or that a stored
    value failed its integrity check (500). Messages name key ids and places, never values;
    the error is logged for the administrators. Erased records (a destroyed data key) are not
    errors: the pages show them as erased."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except MissingMasterKey as exc:
            logger.error("customer page %s: %s", request.path, exc)
            match = _KEY_ID.search(str(exc))
            context = {"missing_key": match.group(1) if match else "?"}
            return render(request, "customers/crypto_error.html", context, status=503)
        except DecryptionError as exc:
            if isinstance(exc, DataKeyDestroyed):
                raise
            logger.error("customer page %s: %s", request.path, exc)
            return render(request, "customers/crypto_error.html", {}, status=500)

    return wrapper


def _organization(request: HttpRequest, slug: str, action: str = "view") -> Organization:
    """The organisation, if its book is in the user's scope for ``action`` (404 otherwise)."""
    return get_object_or_404(Organization.objects.restrict(request.user, action), slug=slug)


def _customer(request: HttpRequest, pk: uuid.UUID) -> Customer:
    return get_object_or_404(
        Customer.objects.with_data_keys().restrict(request.user, "view"), pk=pk
    )


def _require(request: HttpRequest, organization: Organization, action: str) -> None:
    """Inside the scope but without the permission ``action`` needs: 403."""
    if not selectors.organization_allows(
        user=request.user, organization=organization, action=action
    ):
        raise PermissionDenied


def _actions(request: HttpRequest, organization: Organization) -> frozenset[str]:
    """What the user may do with this book; changes and reveals are for brokers only."""
    user: Any = request.user
    actions = selectors.organization_actions(user=user, organization=organization)
    if not user.has_role(Role.BROKER):
        actions = actions & {"view"}
    return actions


# --- books and records ----------------------------------------------------------------------


@role_required(Role.BROKER, Role.COMPLIANCE)
def organization_list(request: HttpRequest) -> HttpResponse:
    """The customer books the user may open, with their size."""
    organizations = (
        Organization.objects.restrict(request.user, "view")
        .annotate(customer_count=Count("customers"))
        .order_by("legal_name")
    )
    return render(request, "customers/organization_list.html", {"organizations": organizations})


@role_required(Role.BROKER, Role.COMPLIANCE)
@_explains_crypto_errors
def customer_list(request: HttpRequest, slug: str) -> HttpResponse:
    """One book, paginated, filtered on general fields, searched exactly by blind index.

    A constant number of queries whatever the page size; only the name is decrypted, and only
    for people who may see the sensitive tier (compliance sees general fields alone).
    """
    organization = _organization(request, slug)
    actions = _actions(request, organization)
    tiers = selectors.visible_tiers(actions)
    show_names = Tier.SENSITIVE in tiers
    form = CustomerFilterForm(request.GET or None, segments=selectors.segments_of(organization))
    filters: dict[str, str] = {}
    if form.is_valid():
        filters = {k: form.cleaned_data[k] or "" for k in ("q", "status", "segment", "city")}
    customers = selectors.customer_list(
        user=request.user,
        organization=organization,
        status=filters.get("status", ""),
        segment=filters.get("segment", ""),
        city=filters.get("city", ""),
        query=filters.get("q", ""),
        shown=LIST_FIELDS if show_names else (),
    )
    try:
        per_page = int(request.GET.get("per_page", PAGE_SIZES[0]))
    except ValueError:
        per_page = PAGE_SIZES[0]
    per_page = per_page if per_page in PAGE_SIZES else PAGE_SIZES[0]
    page = Paginator(customers, per_page).get_page(request.GET.get("page"))
    # An erased customer's data key is destroyed: their row stays, their name is gone.
    rows = [
        (c, None if c.data_key.is_destroyed else (c.full_name if show_names else ""))
        for c in page.object_list
    ]
    if show_names and page.object_list:
        log_access(request, action=AuditAction.VIEW_SENSITIVE, obj=organization, fields=LIST_FIELDS)
    return render(
        request,
        "customers/customer_list.html",
        {
            "organization": organization,
            "form": form,
            "page_obj": page,
            "rows": rows,
            "show_names": show_names,
            "searched": bool(filters.get("q")),
            "filtered": any(filters.values()),
            "no_substring_search": selectors.NO_SUBSTRING_SEARCH,
            "can_import": "import" in actions,
            "can_manage_access": request.user.is_superuser
            or request.user.has_role(Role.COMPLIANCE),  # type: ignore[union-attr]
            "can_add": "change" in actions,
            "page_sizes": PAGE_SIZES,
            "per_page": per_page,
        },
    )


def _display(name: str, value: Any) -> Any:
    """A stored value as people read it: choice labels, ISO dates."""
    field = Customer._meta.get_field(name)
    choices = dict(getattr(field, "flatchoices", None) or ())
    if value in choices:
        return choices[value]
    if isinstance(value, datetime.date):
        return value.isoformat()  # one unambiguous form in every language
    return value


def _label(name: str) -> Any:
    return getattr(Customer._meta.get_field(name), "verbose_name", name)


def _fields(customer: Customer, tier: str) -> list[tuple[Any, Any]]:
    rows = []
    for name in fields_of(Customer, tier):
        rows.append((_label(name), _display(name, getattr(customer, name))))
    return rows


def _detail(
    request: HttpRequest,
    customer: Customer,
    *,
    revealed: bool = False,
    status: int = 200,
    reveal_form: RevealForm | None = None,
) -> HttpResponse:
    organization = customer.organization
    actions = _actions(request, organization)
    tiers = selectors.visible_tiers(actions)
    erased = customer.data_key.is_destroyed  # crypto-shredded: nothing left to read
    show_sensitive = Tier.SENSITIVE in tiers and not erased
    revealed = revealed and not erased
    context: dict[str, Any] = {
        "customer": customer,
        "organization": organization,
        "general": _fields(customer, Tier.GENERAL),
        "sensitive": _fields(customer, Tier.SENSITIVE) if show_sensitive else None,
        "core": _fields(customer, Tier.CORE) if revealed else None,
        "core_labels": [_label(n) for n in fields_of(Customer, Tier.CORE)],
        "can_edit": "change" in actions,
        "can_change_records": "change" in actions and not erased,
        "can_reveal": "reveal" in actions and not erased,
        "erased": erased,
        "revealed": revealed,
        "reveal_form": reveal_form or RevealForm(),
        "purchases": customer.purchases.all(),
        "interactions": customer.interactions.all(),
        "show_sensitive": show_sensitive,
        "tab": "details",
    }
    if show_sensitive:
        log_access(
            request,
            action=AuditAction.VIEW_SENSITIVE,
            obj=customer,
            fields=[
                *fields_of(Customer, Tier.SENSITIVE),
                "purchases.notes",
                "interactions.summary",
            ],
        )
    return render(request, "customers/customer_detail.html", context, status=status)


@role_required(Role.BROKER, Role.COMPLIANCE)
@_explains_crypto_errors
def customer_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The record, tiers side by side; core fields masked until revealed."""
    return _detail(request, _customer(request, pk))


@require_POST
@role_required(Role.BROKER, Role.COMPLIANCE)
@_explains_crypto_errors
@step_up
def customer_reveal(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Show the core fields once (this response only), with the REVEAL and VIEW_CORE events.

    A POST, so that a link, a prefetch or a crawler never reveals anything; the next plain
    view is masked again.
    """
    customer = _customer(request, pk)
    user: Any = request.user
    if not user.has_role(Role.BROKER):
        raise PermissionDenied
    _require(request, customer.organization, "reveal")
    form = RevealForm(request.POST)
    if not form.is_valid():
        return _detail(request, customer, status=400, reveal_form=form)
    core = fields_of(Customer, Tier.CORE)
    reason = form.cleaned_data["reason"]
    log_access(request, action=AuditAction.REVEAL, obj=customer, fields=core, reason=reason)
    log_access(request, action=AuditAction.VIEW_CORE, obj=customer, fields=core, reason=reason)
    return _detail(request, customer, revealed=True)


@require_http_methods(["GET", "POST"])
@role_required(Role.BROKER)
@_explains_crypto_errors
def customer_edit(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Correct general and sensitive fields; errors by field, nothing half-applied (the
    service validates everything before it saves anything)."""
    customer = _customer(request, pk)
    _require(request, customer.organization, "change")
    if customer.data_key.is_destroyed:
        raise PermissionDenied  # an erased record has nothing left to correct
    form = CustomerEditForm(request.POST if request.method == "POST" else None, customer=customer)
    if request.method == "POST" and form.is_valid():
        try:
            services.customer_update(
                actor=request.user, customer=customer, values=form.changed_values()
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, _("The record was saved."))
            return redirect("customers:customer_detail", pk=customer.pk)
    log_access(
        request,
        action=AuditAction.VIEW_SENSITIVE,
        obj=customer,
        fields=fields_of(Customer, Tier.SENSITIVE),
    )
    return render(
        request,
        "customers/customer_edit.html",
        {
            "customer": customer,
            "organization": customer.organization,
            "form": form,
            "can_correct_core": selectors.organization_allows(
                user=request.user, organization=customer.organization, action="reveal"
            ),
        },
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@role_required(Role.BROKER)
@_explains_crypto_errors
def customer_correct_core(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Correct core fields (national id, bank account, special-category notes): for brokers
    holding ``reveal_core``, with a reason; new values are typed, current ones never shown."""
    customer = _customer(request, pk)
    _require(request, customer.organization, "change")
    _require(request, customer.organization, "reveal")
    if customer.data_key.is_destroyed:
        raise PermissionDenied  # an erased record has nothing left to correct
    form = CoreCorrectionForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            corrected = services.customer_correct_core(
                actor=request.user,
                customer=customer,
                values=form.values(),
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            names = ", ".join(
                str(_label(name))
                for name in fields_of(Customer, Tier.CORE)
                if name in form.values()
            )
            messages.success(request, _("Core fields corrected: {fields}.").format(fields=names))
            return redirect("customers:customer_detail", pk=corrected.pk)
    return render(
        request,
        "customers/customer_correct_core.html",
        {"customer": customer, "organization": customer.organization, "form": form},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@role_required(Role.BROKER)
@_explains_crypto_errors
def customer_add(request: HttpRequest, slug: str) -> HttpResponse:
    """Add a customer by hand to a book the broker may change; core fields are asked only of
    a broker holding ``reveal_core`` for it. Errors by field, nothing created."""
    organization = _organization(request, slug)
    _require(request, organization, "change")
    with_core = selectors.organization_allows(
        user=request.user, organization=organization, action="reveal"
    )
    form = CustomerCreateForm(
        request.POST if request.method == "POST" else None,
        organization=organization,
        with_core=with_core,
    )
    if request.method == "POST" and form.is_valid():
        try:
            customer = services.customer_add(
                actor=request.user, organization=organization, values=form.values()
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(
                request, _("Customer {reference} was added.").format(reference=customer.reference)
            )
            return redirect("customers:customer_detail", pk=customer.pk)
    return render(
        request,
        "customers/customer_add.html",
        {"organization": organization, "form": form, "with_core": with_core},
        status=400 if form.errors else 200,
    )


_RECORD_KINDS: dict[str, Any] = {
    "purchase": (PurchaseRecord, PurchaseForm, "purchases"),
    "interaction": (Interaction, InteractionForm, "interactions"),
}


def _changeable_customer(request: HttpRequest, pk: uuid.UUID) -> Customer:
    customer = _customer(request, pk)
    _require(request, customer.organization, "change")
    if customer.data_key.is_destroyed:
        raise PermissionDenied  # an erased record has nothing left to change
    return customer


def _record_form(
    request: HttpRequest, customer: Customer, kind: str, record: Any = None
) -> HttpResponse:
    """Add (``record`` None) or edit a purchase or an interaction of ``customer``."""
    model, form_class, _related = _RECORD_KINDS[kind]
    data = request.POST if request.method == "POST" else None
    form = form_class(data, **({kind: record} if record is not None else {}))
    if request.method == "POST" and form.is_valid():
        try:
            if record is None:
                getattr(services, f"{kind}_add")(
                    actor=request.user, customer=customer, values=form.values()
                )
            else:
                getattr(services, f"{kind}_update")(
                    actor=request.user, **{kind: record}, values=form.values()
                )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, _("The record was saved."))
            return redirect("customers:customer_detail", pk=customer.pk)
    if record is not None:
        log_access(
            request,
            action=AuditAction.VIEW_SENSITIVE,
            obj=customer,
            fields=[f"{_related}.{fields_of(model, Tier.SENSITIVE)[0]}"],
        )
    return render(
        request,
        "customers/record_form.html",
        {
            "customer": customer,
            "organization": customer.organization,
            "form": form,
            "kind": kind,
            "record": record,
        },
        status=400 if form.errors else 200,
    )


def _record(customer: Customer, kind: str, record_pk: uuid.UUID) -> Any:
    model = _RECORD_KINDS[kind][0]
    return get_object_or_404(
        model.objects.select_related("customer"), pk=record_pk, customer=customer
    )


@require_http_methods(["GET", "POST"])
@role_required(Role.BROKER)
@_explains_crypto_errors
def purchase_add(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Record a purchase of the customer."""
    return _record_form(request, _changeable_customer(request, pk), "purchase")


@require_http_methods(["GET", "POST"])
@role_required(Role.BROKER)
@_explains_crypto_errors
def purchase_edit(request: HttpRequest, pk: uuid.UUID, record_pk: uuid.UUID) -> HttpResponse:
    """Correct one purchase of the customer."""
    customer = _changeable_customer(request, pk)
    return _record_form(request, customer, "purchase", _record(customer, "purchase", record_pk))


@require_POST
@role_required(Role.BROKER)
def purchase_delete(request: HttpRequest, pk: uuid.UUID, record_pk: uuid.UUID) -> HttpResponse:
    """Remove one purchase recorded by mistake."""
    customer = _changeable_customer(request, pk)
    services.purchase_delete(actor=request.user, purchase=_record(customer, "purchase", record_pk))
    messages.success(request, _("The purchase was removed."))
    return redirect("customers:customer_detail", pk=customer.pk)


@require_http_methods(["GET", "POST"])
@role_required(Role.BROKER)
@_explains_crypto_errors
def interaction_add(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Record a contact with the customer."""
    return _record_form(request, _changeable_customer(request, pk), "interaction")


@require_http_methods(["GET", "POST"])
@role_required(Role.BROKER)
@_explains_crypto_errors
def interaction_edit(request: HttpRequest, pk: uuid.UUID, record_pk: uuid.UUID) -> HttpResponse:
    """Correct one interaction with the customer."""
    customer = _changeable_customer(request, pk)
    record = _record(customer, "interaction", record_pk)
    return _record_form(request, customer, "interaction", record)


@require_POST
@role_required(Role.BROKER)
def interaction_delete(request: HttpRequest, pk: uuid.UUID, record_pk: uuid.UUID) -> HttpResponse:
    """Remove one interaction recorded by mistake."""
    customer = _changeable_customer(request, pk)
    record = _record(customer, "interaction", record_pk)
    services.interaction_delete(actor=request.user, interaction=record)
    messages.success(request, _("The interaction was removed."))
    return redirect("customers:customer_detail", pk=customer.pk)


def _add_errors(form: Any, exc: ValidationError) -> None:
    """A service's ``ValidationError`` shown on the form: by field where it names one."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc)


@require_POST
@role_required(Role.BROKER)
def customer_verify(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Record today's verification of the record."""
    customer = _customer(request, pk)
    _require(request, customer.organization, "change")
    services.customer_mark_verified(actor=request.user, customer=customer)
    messages.success(request, _("The record is marked as verified today."))
    return redirect("customers:customer_detail", pk=customer.pk)


@role_required(Role.BROKER, Role.COMPLIANCE)
@_explains_crypto_errors
def customer_history(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Who changed what and when; values only for the tiers the viewer sees (core values
    stay masked until revealed, as on the record)."""
    return _history(request, _customer(request, pk))


@require_POST
@role_required(Role.BROKER)
@_explains_crypto_errors
@step_up
def customer_history_reveal(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The history with core values shown, this response only, with REVEAL and VIEW_CORE
    events naming the core fields shown; for holders of ``reveal_core``."""
    customer = _customer(request, pk)
    _require(request, customer.organization, "reveal")
    form = RevealForm(request.POST)
    if not form.is_valid():
        return _history(request, customer, reveal_form=form, status=400)
    return _history(request, customer, revealed=True, reason=form.cleaned_data["reason"])


def _reason_label(code: str) -> str:
    """The label of a stored change reason; codes this version does not know are dropped."""
    for reasons in (services.CoreCorrectionReason, StatusChangeReason):
        if code in reasons.values:
            return str(reasons(code).label)
    return ""


def _history(
    request: HttpRequest,
    customer: Customer,
    *,
    revealed: bool = False,
    reason: str = "",
    reveal_form: RevealForm | None = None,
    status: int = 200,
) -> HttpResponse:
    actions = _actions(request, customer.organization)
    tiers = selectors.visible_tiers(actions)
    erased = customer.data_key.is_destroyed
    if erased:
        tiers = [Tier.GENERAL]  # erased: history rows are unreadable too, by design
        revealed = False
    elif revealed:
        tiers = [*tiers, Tier.CORE]
    page = Paginator(selectors.customer_history_rows(customer=customer), HISTORY_PAGE).get_page(
        request.GET.get("page")
    )
    entries = [
        replace(
            entry,
            reason=_reason_label(entry.reason),
            changes=[
                replace(c, old=_display(c.field, c.old), new=_display(c.field, c.new))
                if c.visible
                else c
                for c in entry.changes
            ],
        )
        for entry in selectors.customer_history(
            customer=customer,
            visible_tiers=tiers,
            start=page.start_index() - 1 if page.paginator.count else 0,
            stop=page.end_index(),
        )
    ]
    shown = {c.field for e in entries for c in e.changes if c.visible}
    sensitive = sorted(n for n in shown if n in fields_of(Customer, Tier.SENSITIVE))
    core = sorted(n for n in shown if n in fields_of(Customer, Tier.CORE))
    if sensitive:
        log_access(request, action=AuditAction.VIEW_SENSITIVE, obj=customer, fields=sensitive)
    if revealed:
        log_access(request, action=AuditAction.REVEAL, obj=customer, fields=core, reason=reason)
        if core:
            log_access(
                request, action=AuditAction.VIEW_CORE, obj=customer, fields=core, reason=reason
            )
    has_core_changes = any(c.tier == Tier.CORE for e in entries for c in e.changes)
    return render(
        request,
        "customers/customer_history.html",
        {
            "customer": customer,
            "organization": customer.organization,
            "entries": entries,
            "page_obj": page,
            "tab": "history",
            "can_edit": "change" in actions,
            "can_reveal": "reveal" in actions and not erased and has_core_changes,
            "revealed": revealed,
            "reveal_form": reveal_form or RevealForm(),
        },
        status=status,
    )


# --- import ---------------------------------------------------------------------------------


class _MemoryUpload(MemoryFileUploadHandler):
    """Keeps an upload in memory whatever its size (up to ``importing.MAX_FILE_BYTES``), so
    the customer file never lands in clear in a temporary file on disk."""

    def handle_raw_input(
        self,
        input_data: Any,
        META: Any,
        content_length: int,
        boundary: Any,
        encoding: str | None = None,
    ) -> None:
        super().handle_raw_input(input_data, META, content_length, boundary, encoding)
        # A larger body is dropped (the form then says the file is too large) rather than
        # spooled to disk.
        self.activated = content_length <= importing.MAX_FILE_BYTES + 1024 * 1024


@csrf_exempt  # the handlers must be set before the CSRF check reads the body; checked below
@role_required(Role.BROKER)
def import_upload(request: HttpRequest, slug: str) -> HttpResponse:
    request.upload_handlers = [_MemoryUpload(request)]
    return _import_upload(request, slug)


@csrf_protect
def _import_upload(request: HttpRequest, slug: str) -> HttpResponse:
    """Step 1: upload a file; it is kept encrypted and the page goes on to the mapping."""
    if request.method not in ("GET", "POST"):
        return HttpResponse(status=405)
    organization = _organization(request, slug)
    _require(request, organization, "import")
    posted = request.method == "POST"
    form = ImportUploadForm(request.POST if posted else None, request.FILES if posted else None)
    if request.method == "POST":
        if form.is_valid():
            try:
                upload = services.import_upload_create(
                    actor=request.user,
                    organization=organization,
                    data=form.cleaned_data["file"].read(),
                )
            except ValidationError as exc:
                form.add_error("file", exc)
            else:
                return redirect("customers:import_mapping", slug=slug, pk=upload.pk)
        elif "file" not in request.FILES:
            form.add_error(None, _("Choose a file of at most 50 MB."))
    recent = ImportUpload.objects.restrict(request.user, "import").filter(
        organization=organization
    )[:10]
    return render(
        request,
        "customers/import_upload.html",
        {"organization": organization, "form": form, "recent": recent},
        status=400 if form.errors else 200,
    )


def _upload(request: HttpRequest, slug: str, pk: uuid.UUID) -> ImportUpload:
    organization = _organization(request, slug)
    _require(request, organization, "import")
    return get_object_or_404(
        ImportUpload.objects.restrict(request.user, "import").select_related("job"),
        pk=pk,
        organization=organization,
    )


@require_http_methods(["GET", "POST"])
@role_required(Role.BROKER)
def import_mapping(request: HttpRequest, slug: str, pk: uuid.UUID) -> HttpResponse:
    """Step 2: confirm or change which column fills which field, then import."""
    upload = _upload(request, slug, pk)
    if not upload.can_apply:
        return redirect("customers:import_result", slug=slug, pk=upload.pk)
    first = services.next_generated_reference(upload.organization)
    form = ImportMappingForm(
        request.POST if request.method == "POST" else None,
        headers=upload.headers,
        mapping=upload.mapping,
        references=(
            importing.generated_reference(first),
            importing.generated_reference(first + max(upload.row_count, 1) - 1),
        ),
    )
    if request.method == "POST" and form.is_valid():
        services.import_upload_set_mapping(
            upload=upload,
            mapping=form.mapping(),
            generate_references=form.cleaned_data["generate_references"],
        )
        if "check" in request.POST:
            # Check only: the same validation as the import, nothing written; the page stays
            # at this step with the mapping kept, so the file can be imported next. A large
            # file is checked by a job, whose progress and result this page then shows.
            check = None
            try:
                outcome, job = services.import_upload_check_start(actor=request.user, upload=upload)
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                if job is not None:
                    url = reverse("customers:import_mapping", args=[slug, upload.pk])
                    return redirect(f"{url}?check={job.pk}")
                assert outcome is not None
                check = outcome.as_dict()
            return _mapping_page(request, upload, form, check=check)
        try:
            services.import_upload_start(actor=request.user, upload=upload)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("customers:import_result", slug=slug, pk=upload.pk)
    check, check_job = None, None
    if request.method == "GET" and request.GET.get("check"):
        check_job = services.import_check_job(
            user=request.user, upload=upload, job_id=request.GET["check"]
        )
        if check_job is not None and check_job.status == JobStatus.SUCCEEDED:
            check, check_job = check_job.result.get("check"), None
    return _mapping_page(
        request, upload, form, check=check, check_job=check_job,
        status=400 if form.errors else 200,
    )  # fmt: skip


def _mapping_page(
    request: HttpRequest,
    upload: ImportUpload,
    form: ImportMappingForm,
    *,
    check: dict[str, Any] | None = None,
    check_job: Any = None,
    status: int = 200,
) -> HttpResponse:
    """The mapping step, with the outcome of a check (its problems in the reader's language)
    or the progress of a check still running."""
    if check is not None:
        check = {
            **check,
            "problems": [{**p, "message": importing.localised(p)} for p in check["problems"]],
        }
    return render(
        request,
        "customers/import_mapping.html",
        {
            "organization": upload.organization,
            "upload": upload,
            "form": form,
            "as_job": upload.row_count > importing.JOB_THRESHOLD_ROWS,
            "check": check,
            "check_job": check_job,
        },
        status=status,
    )


@role_required(Role.BROKER)
def import_result(request: HttpRequest, slug: str, pk: uuid.UUID) -> HttpResponse:
    """Step 3: what happened (or the progress of the job), with every problem listed."""
    upload = _upload(request, slug, pk)
    report = upload.report or {}
    # In the reader's language where the problem was stored in every language.
    shown = [{**p, "message": importing.localised(p)} for p in report.get("problems", [])]
    problems = Paginator(shown, 100).get_page(request.GET.get("page"))
    return render(
        request,
        "customers/import_result.html",
        {
            "organization": upload.organization,
            "upload": upload,
            "report": report,
            "page_obj": problems,
            "file_level": [p for p in shown if p["row"] == 0],
        },
    )


@role_required(Role.BROKER)
def import_report(request: HttpRequest, slug: str, pk: uuid.UUID) -> HttpResponse:
    """The problems as CSV (UTF-8 with BOM, so that Excel opens Chinese text correctly)."""
    upload = _upload(request, slug, pk)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_("Row"), _("Column"), _("Problem")])
    for problem in (upload.report or {}).get("problems", []):
        row = problem["row"] or _("whole file")
        writer.writerow(
            [
                neutralise(row),
                neutralise(problem["column"]),
                neutralise(importing.localised(problem)),
            ]
        )
    for column in (upload.report or {}).get("unmapped_columns", []):
        writer.writerow(
            ["", neutralise(column), _("Not mapped to any field: not imported and not stored.")]
        )
    response = HttpResponse("\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{upload.pk}-report.csv"'
    return response


# --- who holds the book (compliance officers and administrators) ---------------------------


def _access_admin(request: HttpRequest, slug: str) -> Organization:
    """Compliance officers and administrators only (403 for everyone else, before any lookup);
    a slug that is not a seller's book is the 404 of a missing one."""
    user: Any = request.user
    if not (user.is_superuser or user.has_role(Role.COMPLIANCE)):
        raise PermissionDenied
    organization = selectors.organization_for_access(user=user, slug=slug)
    if organization is None:
        raise Http404
    return organization


def _access_page(
    request: HttpRequest,
    organization: Organization,
    form: BookGrantForm | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "customers/book_access.html",
        {
            "organization": organization,
            "grants": selectors.organization_grants(organization=organization),
            "form": form or BookGrantForm(),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET"])
def book_access(request: HttpRequest, slug: str) -> HttpResponse:
    """Who holds ``manage_customers`` and ``reveal_core`` on a seller's book, since when; a
    form to give either to a broker; a revoke button per grant."""
    return _access_page(request, _access_admin(request, slug))


@login_required
@require_POST
def book_access_grant(request: HttpRequest, slug: str) -> HttpResponse:
    organization = _access_admin(request, slug)
    form = BookGrantForm(request.POST)
    if form.is_valid():
        user, permission = form.cleaned_data["user"], form.cleaned_data["permission"]
        try:
            granted = services.organization_access_grant(
                actor=request.user,
                user=user,
                organization=organization,
                permission=permission,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            if granted:
                messages.success(
                    request,
                    _("{person} now holds “{permission}” on this book.").format(
                        person=user.display_name, permission=form.permission_label(permission)
                    ),
                )
            else:
                messages.info(
                    request, _("{person} already held it.").format(person=user.display_name)
                )
            return redirect("customers:book_access", slug=organization.slug)
    return _access_page(request, organization, form, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def book_access_revoke(
    request: HttpRequest, slug: str, user_pk: int, permission: str
) -> HttpResponse:
    """Confirm, with a reason, then take the permission away (``manage_customers`` takes
    ``reveal_core`` with it)."""
    organization = _access_admin(request, slug)
    grant = next(
        (
            g
            for g in selectors.organization_grants(organization=organization)
            if g.user.pk == user_pk and g.permission == permission
        ),
        None,
    )
    if grant is None:
        raise Http404
    form = BookRevokeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            revoked = services.organization_access_revoke(
                actor=request.user,
                user=grant.user,
                organization=organization,
                permission=permission,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            if revoked:
                messages.success(
                    request,
                    _("Access taken away from {person}.").format(person=grant.user.display_name),
                )
            return redirect("customers:book_access", slug=organization.slug)
    return render(
        request,
        "customers/book_access_revoke.html",
        {"organization": organization, "grant": grant, "form": form},
        status=400 if form.errors else 200,
    )
