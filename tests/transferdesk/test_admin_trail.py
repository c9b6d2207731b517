"""An admin that cannot bypass the trail (issue 17): every registered ModelAdmin, walked as a
superuser, either cannot add, change or delete at all (the permissions say no and a POST to
its add, change and delete views is refused), or each add, change and delete made through
its real views (the test client posting the admin's own forms) leaves an audit event.

A writable ModelAdmin with no recipe below fails the walk: registering one means proving its
writes are audited here (or making it read-only)."""

from __future__ import annotations

import types
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Group
from django.forms import MultiWidget
from django.test import Client, override_settings
from django.urls import path, reverse
from simple_history.admin import SimpleHistoryAdmin

from accounts.choices import Role
from accounts.models import User
from customers.choices import OrganizationKind
from customers.models import Organization
from customers.services import (
    customer_create,
    import_upload_create,
    interaction_add,
    organization_grant,
    purchase_add,
)
from tests.transfers.conftest import make_deal
from transferdesk.trail import AuditAction, AuditEvent
from transfers import services

pytestmark = pytest.mark.django_db


@dataclass
class Recipe:
    """How to fill a writable admin's forms: what to change on the add and change forms (the
    rest is what the form itself shows), and how to find the object an add created."""

    add: Callable[[Any], dict[str, Any]]
    change: Callable[[Any], dict[str, Any]]
    created: Callable[[dict[str, Any]], Any]
    #: The audit actions an add and a change must leave on the object (at least these).
    add_actions: set[str] = field(default_factory=lambda: {AuditAction.CREATE.value})
    change_actions: set[str] = field(default_factory=lambda: {AuditAction.UPDATE.value})


RECIPES: dict[str, Recipe] = {
    "accounts.user": Recipe(
        add=lambda cast: {
            "username": "added-in-admin",
            "usable_password": "true",
            "password1": "A-long-Passphrase-42",
            "password2": "A-long-Passphrase-42",
        },
        change=lambda cast: {
            "first_name": "Renamed",
            "is_superuser": "on",
            "groups": [str(Group.objects.get(name=Role.COMPLIANCE).pk)],
        },
        created=lambda data: User.objects.get(username=data["username"]),
        change_actions={AuditAction.UPDATE.value, AuditAction.GRANT.value},
    ),
    "customers.organization": Recipe(
        add=lambda cast: {
            "slug": "added-in-admin",
            "legal_name": "Added in the admin Ltd.",
            "kind": OrganizationKind.BUYER,
            "country": "CN",
        },
        change=lambda cast: {"legal_name": "Renamed in the admin Ltd."},
        created=lambda data: Organization.objects.get(slug=data["slug"]),
    ),
}


@pytest.fixture
def world(cast):
    """At least one row behind most registered admins, made through the services."""
    organization_grant(
        actor=cast.admin, user=cast.broker, organization=cast.seller, permission="manage_customers"
    )
    customer = customer_create(
        actor=cast.broker,
        organization=cast.seller,
        values={"reference": "ADM-1", "full_name": "Admin Walk"},
    )
    purchase_add(
        actor=cast.broker,
        customer=customer,
        values={"purchased_on": "2026-01-05", "product": "Plan", "amount": "10.00",
                "currency": "CNY", "notes": ""},
    )  # fmt: skip
    interaction_add(
        actor=cast.broker,
        customer=customer,
        values={"occurred_on": "2026-01-06", "channel": "phone", "summary": ""},
    )
    deal = make_deal(cast)
    nda = services.nda_publish(actor=cast.broker, deal=deal, text="Confidential.")
    services.nda_accept(actor=cast.buyer, nda=nda)
    import_upload_create(
        actor=cast.broker, organization=cast.seller, data=b"reference,full_name\nADM-2,Two\n"
    )
    return cast


def form_data(response: Any) -> dict[str, Any]:
    """The POST an operator's browser would send for an admin form page as it is shown: every
    field of the form (and of its inlines) with its current value."""
    context = response.context
    data: dict[str, Any] = {}
    forms = [context["adminform"].form]
    for inline in context.get("inline_admin_formsets", []):
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        forms += list(formset.forms)
    for form in forms:
        for name, form_field in form.fields.items():
            value = form[name].value()
            key = form.add_prefix(name)
            if value is None or form_field.disabled:
                continue
            widget = form_field.widget
            if isinstance(widget, MultiWidget):
                for i, part in enumerate(widget.decompress(value)):
                    if part is not None:
                        data[f"{key}_{i}"] = str(part)
            elif isinstance(value, bool):
                if value:
                    data[key] = "on"
            elif isinstance(value, list | tuple):
                data[key] = [str(v) for v in value]
            else:
                data[key] = str(value)
    return data


def _events(obj: Any) -> set[str]:
    return set(
        AuditEvent.objects.filter(
            object_type=obj._meta.label_lower, object_id=str(obj.pk)
        ).values_list("action", flat=True)
    )


def _url(model: Any, view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


#: Bulk actions known to go through a service that records each write, with the test proving it.
AUDITED_ACTIONS = {
    # tests/accounts/test_session_rules.py::test_an_administrator_signs_a_person_out_everywhere…
    ("accounts.user", "sign_out_everywhere"),
}


def walk(client: Client, request: Any, cast: Any, registry: dict | None = None) -> list[str]:
    """Every problem found in the registered admins (an empty list when the admin is sound)."""
    problems: list[str] = []
    for model, model_admin in (registry or admin.site._registry).items():
        label = model._meta.label_lower
        obj = model_admin.get_queryset(request).first()
        pk = quote(obj.pk) if obj is not None else str(uuid.uuid4())
        can = {
            "add": model_admin.has_add_permission(request),
            "change": model_admin.has_change_permission(request, obj),
            "delete": model_admin.has_delete_permission(request, obj),
        }
        actions = {
            name
            for name in model_admin.get_actions(request)
            if name != "delete_selected" and (label, name) not in AUDITED_ACTIONS
        }
        if actions:
            problems.append(f"{label}: bulk actions {sorted(actions)} write around the walk")
        if model_admin.list_editable:
            problems.append(f"{label}: list_editable saves rows from the list, unwalked")
        problems += _history_revert(client, model, model_admin, obj)
        if not any(can.values()):
            for view, args in (("add", ()), ("change", (pk,)), ("delete", (pk,))):
                status = client.post(_url(model, view, *args), {"post": "yes"}).status_code
                if status != 403:
                    problems.append(f"{label}: a POST to its {view} view answered {status}")
            continue
        recipe = RECIPES.get(label)
        if recipe is None:
            problems.append(
                f"{label} is writable in the admin ({can}) with no recipe proving its writes "
                "are audited: make it read-only, or route it through a service and add a recipe"
            )
            continue
        problems += _write_through_the_views(client, model, recipe, can, obj, cast)
    return problems


def _history_revert(client: Client, model: Any, model_admin: Any, obj: Any) -> list[str]:
    """django-simple-history's version page saves what is POSTed to it (a revert)."""
    if not isinstance(model_admin, SimpleHistoryAdmin):
        return []
    label = model._meta.label_lower
    version = obj.history.order_by("history_id").first() if obj is not None else None
    if version is None:
        return [f"{label}: no history version to walk its revert with"]
    before = AuditEvent.objects.count()
    url = _url(model, "simple_history", quote(obj.pk), version.history_id)
    status = client.post(url, {"_save": "Save"}).status_code
    if (
        status != 403
        and not AuditEvent.objects.filter(
            seq__gt=before, object_type=label, object_id=str(obj.pk)
        ).exists()
    ):
        return [f"{label}: a POST to a history version answered {status}, with no event"]
    return []


def _write_through_the_views(
    client: Client, model: Any, recipe: Recipe, can: dict[str, bool], obj: Any, cast: Any
) -> list[str]:
    label = model._meta.label_lower
    problems: list[str] = []
    if can["add"]:
        data = {**form_data(client.get(_url(model, "add"))), **recipe.add(cast), "_save": "Save"}
        response = client.post(_url(model, "add"), data)
        if response.status_code != 302:
            problems.append(f"{label}: the add form was refused ({response.status_code})")
        else:
            created = recipe.created(data)
            missing = recipe.add_actions - _events(created)
            if missing:
                problems.append(f"{label}: an add in the admin left no {sorted(missing)} event")
            obj = obj or created
    if can["change"] and obj is not None:
        before = AuditEvent.objects.count()
        url = _url(model, "change", quote(obj.pk))
        data = {**form_data(client.get(url)), **recipe.change(cast), "_save": "Save"}
        response = client.post(url, data)
        if response.status_code != 302:
            problems.append(f"{label}: the change form was refused ({response.status_code})")
        else:
            new = set(
                AuditEvent.objects.filter(
                    seq__gt=before, object_type=label, object_id=str(obj.pk)
                ).values_list("action", flat=True)
            )
            missing = recipe.change_actions - new
            if missing:
                problems.append(f"{label}: a change in the admin left no {sorted(missing)} event")
    if can["delete"] and obj is not None:
        pk = str(obj.pk)
        response = client.post(_url(model, "delete", quote(obj.pk)), {"post": "yes"})
        if response.status_code != 302 or model._default_manager.filter(pk=obj.pk).exists():
            problems.append(f"{label}: the delete was refused ({response.status_code})")
        elif not AuditEvent.objects.filter(
            action=AuditAction.DELETE, object_type=label, object_id=pk
        ).exists():
            problems.append(f"{label}: a delete in the admin left no event")
    return problems


@pytest.fixture
def admin_client(client, world):
    client.force_login(world.admin)
    return client


@pytest.fixture
def admin_request(rf, world):
    request = rf.get("/admin/")
    request.user = world.admin
    return request


def test_every_registered_admin_is_read_only_or_leaves_an_audit_event_for_each_write(
    admin_client, admin_request, world
):
    assert world.admin.is_superuser
    assert len(admin.site._registry) >= 20  # every app's admin was walked, not a subset
    assert walk(admin_client, admin_request, world) == []


@contextmanager
def registered(model: Any, model_admin_class: type) -> Iterator[dict]:
    """``model`` served by the real admin site with ``model_admin_class`` for one test: the
    admin's URLs are built from the registry, so they are built again around the swap."""
    import transferdesk.urls

    saved = admin.site._registry.get(model)
    model_admin = model_admin_class(model, admin.site)
    admin.site._registry[model] = model_admin
    urlconf = types.ModuleType("admin_walk_urls")
    urlconf.urlpatterns = [  # type: ignore[attr-defined]
        path("admin/", admin.site.urls),
        *(p for p in transferdesk.urls.urlpatterns if str(p.pattern) != "admin/"),
    ]
    try:
        with override_settings(ROOT_URLCONF=urlconf):
            yield {model: model_admin}
    finally:
        if saved is None:
            del admin.site._registry[model]
        else:
            admin.site._registry[model] = saved


def test_the_walk_fails_on_a_writable_admin_without_audit(admin_client, admin_request, world):
    """Django's own user admin (the form saves itself) is caught: its add and change leave no
    event. And a writable admin with no recipe at all is caught too."""
    from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

    with registered(User, DjangoUserAdmin) as registry:
        problems = walk(admin_client, admin_request, world, registry=registry)
    assert any("add in the admin left no" in p for p in problems), problems
    assert any("change in the admin left no" in p for p in problems), problems

    from transferdesk.periodic import PeriodicRun

    with registered(PeriodicRun, admin.ModelAdmin) as registry:
        problems = walk(admin_client, admin_request, world, registry=registry)
    assert any("no recipe" in p for p in problems), problems


def test_a_role_given_and_a_password_set_in_the_admin_are_grant_and_update_events(
    admin_client, world
):
    broker = world.broker
    url = _url(User, "change", broker.pk)
    data = form_data(admin_client.get(url))
    data["groups"] = [*data.get("groups", []), str(Group.objects.get(name=Role.COMPLIANCE).pk)]
    assert admin_client.post(url, {**data, "_save": "Save"}).status_code == 302
    grant = AuditEvent.objects.filter(
        action=AuditAction.GRANT, object_type="accounts.user", object_id=str(broker.pk)
    ).get()
    assert grant.details == {"step": "admin", "role": Role.COMPLIANCE.value}
    assert grant.actor == world.admin

    response = admin_client.post(
        reverse("admin:auth_user_password_change", args=[broker.pk]),
        {"password1": "Another-long-Pass-77", "password2": "Another-long-Pass-77"},
    )
    assert response.status_code == 302
    broker.refresh_from_db()
    assert broker.check_password("Another-long-Pass-77")
    assert AuditEvent.objects.filter(
        action=AuditAction.UPDATE,
        object_id=str(broker.pk),
        details={"step": "admin", "fields": ["password"]},
    ).exists()
