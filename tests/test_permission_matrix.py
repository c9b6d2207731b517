"""Walks every URL pattern for every actor (DESIGN.md guarantee 5): nothing outside a user's
scope is reachable, and a view added without a row in tests/permission_matrix.py fails here."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.audits.world import audits_world
from tests.factories import make_cast
from tests.lifecycle.world import lifecycle_world
from tests.notices.world import notices_world
from tests.permission_matrix import ACTORS, EXCLUDED_NAMESPACES, MATRIX
from tests.portal.world import portal_world
from tests.support.world import shared_world, tasks_in_process
from transferdesk.trail import AuditEvent


def url_names(patterns=None, namespace: str = "") -> set[str]:
    names: set[str] = set()
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            ns = pattern.namespace or ""
            if ns in EXCLUDED_NAMESPACES:
                continue
            prefix = f"{namespace}{ns}:" if ns else namespace
            names |= url_names(pattern.url_patterns, prefix)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(f"{namespace}{pattern.name}")
    return names


def test_every_url_has_a_row_in_the_permission_matrix():
    missing = sorted(url_names() - set(MATRIX))
    assert not missing, f"URLs without a permission-matrix row: {missing}"
    stale = sorted(set(MATRIX) - url_names())
    assert not stale, f"Permission-matrix rows for URLs that no longer exist: {stale}"


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The objects URL arguments are built from, built once for the whole module.

    Building it (deals, a delivered stage, reports, campaigns, notices) costs far more than
    one request, and ~600 cases ask for it. It is built inside a transaction that stays open
    for the module and is rolled back at its end (tests/support/world.py); each case runs in a
    savepoint within it, so a POST that changes something is undone before the next case,
    exactly as with a fresh world per case. Cases use only primary keys and the users.
    """
    from customers.services import customer_create, import_upload_create, organization_grant
    from transferdesk.jobs import job_create

    # /readyz reads the setting (the broker is checked elsewhere); tasks run in-process.
    overrides = override_settings(
        CELERY_TASK_ALWAYS_EAGER=True,
        MEDIA_ROOT=str(tmp_path_factory.mktemp("matrix-media")),  # audits report files
        # As tests/conftest.py's _fast_password_hashing, which is per test: too late here.
        PASSWORD_HASHERS=[
            "django.contrib.auth.hashers.MD5PasswordHasher",
            *settings.PASSWORD_HASHERS,
        ],
    )
    with overrides, tasks_in_process(), shared_world(django_db_blocker):
        cast = make_cast()
        cast.job = job_create(kind="test", actor=cast.broker, total=10)
        # One notification of the broker's: "mark read" is theirs alone.
        from notifications.models import Notification

        cast.notification = Notification.objects.create(
            recipient=cast.broker, kind="stage_approved", url="/deals/"
        )
        # One session of the broker's (the sessions page): signing it out is theirs alone.
        from allauth.usersessions.models import UserSession

        cast.user_session = UserSession.objects.create(
            user=cast.broker, session_key="matrix-broker", ip="192.0.2.1", user_agent="Matrix"
        )
        # The broker holds both organisation permissions on the seller; other_broker none.
        for permission in ("manage_customers", "reveal_core"):
            organization_grant(
                actor=cast.admin, user=cast.broker, organization=cast.seller, permission=permission
            )
        cast.customer = customer_create(
            actor=cast.broker,
            organization=cast.seller,
            values={"reference": "M-1", "full_name": "Matrix Customer", "national_id": "X1"},
        )
        from customers.services import interaction_add, purchase_add

        cast.purchase = purchase_add(
            actor=cast.broker,
            customer=cast.customer,
            values={"purchased_on": "2026-01-05", "product": "Plan", "amount": "10.00",
                    "currency": "CNY", "notes": ""},
        )  # fmt: skip
        cast.interaction = interaction_add(
            actor=cast.broker,
            customer=cast.customer,
            values={"occurred_on": "2026-01-06", "channel": "phone", "summary": ""},
        )
        _deal_world(cast)
        portal_world(cast)
        audits_world(cast)
        lifecycle_world(cast)
        notices_world(cast)
        # After the worlds: an erasure in the seller's book (lifecycle_world) destroys the
        # files still kept for an import, as it must.
        cast.upload = import_upload_create(
            actor=cast.broker,
            organization=cast.seller,
            data=b"reference,full_name\nM-2,Second Customer\n",
        )
        from api.services import api_key_create

        cast.api_key, _text = api_key_create(
            actor=cast.compliance, organization=cast.seller, name="CRM", scopes=["stages.read"]
        )
        from api.webhook_models import WebhookDelivery
        from api.webhooks import emit, endpoint_create

        cast.webhook, _secret = endpoint_create(
            actor=cast.compliance, organization=cast.seller, url="http://127.0.0.1:9/",
            description="CRM", event_types=["deal.cancelled"],
        )  # fmt: skip
        emit("deal.cancelled", [cast.seller.pk], {"deal": str(cast.deal.pk)})
        cast.webhook_delivery = WebhookDelivery.objects.get(endpoint=cast.webhook)
        # What each case checks it starts from: an earlier case's writes must not leak.
        cast.events_at_start = AuditEvent.objects.count()
        yield cast


def _deal_world(cast):
    """Two competing deals on one seller; stages of the first in draft, submitted, delivered."""
    from customers.choices import Tier
    from tests.factories import CustomerFactory
    from transferdesk.celery import app
    from transfers import services
    from transfers.choices import AssignmentRole, StageKind
    from transfers.engine import run_stage

    def deal(reference, buyer_org, broker, buyer):
        made = services.deal_create(
            actor=broker, reference=reference, title=reference, seller=cast.seller,
            buyer=buyer_org, purposes="Service continuity", legal_basis="Contract",
        )  # fmt: skip
        services.deal_assign(actor=broker, deal=made, user=buyer, role=AssignmentRole.BUYER)
        return made

    cast.deal = deal("DEAL-1", cast.buyer_org, cast.broker, cast.buyer)
    deal("DEAL-2", cast.other_buyer_org, cast.other_broker, cast.other_buyer)
    cast.assignment = cast.deal.assignments.get(user=cast.buyer)
    from accounts.services import invitation_create

    cast.invitation, cast.invitation_token = invitation_create(
        actor=cast.broker,
        email="invited@example.test",
        role="buyer",
        organization=cast.buyer_org,
        deal=cast.deal,
    )
    for _ in range(6):
        CustomerFactory(organization=cast.seller, segment="retail")

    def stage(name):
        return services.stage_create(
            actor=cast.broker, deal=cast.deal, name=name, kind=StageKind.PSEUDONYMISED,
            tier_scope=[Tier.GENERAL],
        )  # fmt: skip

    cast.draft_stage = stage("Draft")
    cast.submitted_stage = services.stage_submit(actor=cast.broker, stage=stage("Submitted"))
    delivered = services.stage_submit(actor=cast.broker, stage=stage("Delivered"))
    services.stage_approve(actor=cast.compliance, stage=delivered, note="ok")
    # on_commit never fires inside the test's transaction, so run the engine here, in-process
    # (with Redis configured it would otherwise send the partitions to a worker).
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        run_stage(delivered.pk)
    finally:
        app.conf.task_always_eager = eager
    delivered.refresh_from_db()
    cast.delivered_stage = delivered


@pytest.mark.parametrize("name", sorted(MATRIX))
@pytest.mark.parametrize("actor", ACTORS)
def test_each_actor_gets_the_expected_status(world, db, client, name, actor):
    assert AuditEvent.objects.count() == world.events_at_start, (
        "an earlier case's writes leaked into this one: each case must start from the world"
    )
    row = MATRIX[name]
    user = world.actors()[actor]
    if user is not None:
        client.force_login(user)
    url = reverse(name, kwargs=row.kwargs(world))
    response = getattr(client, row.method)(url, row.data)
    expected = row.expected[actor]
    assert response.status_code == expected, (
        f"{actor} {row.method.upper()} {url}: {response.status_code}, expected {expected}"
    )
    if expected == 302 and actor == "anonymous" and name not in {"set_language", "accounts:logout"}:
        assert response["Location"].startswith(reverse("accounts:login"))
