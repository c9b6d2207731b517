"""My work (issue 17): per role, the page lists exactly what waits on this user — not another
deal's, not another user's — overdue first, then by due date, then the oldest undated work;
each row links to the page where it is done; the query count does not grow with the work.

Built on the portal's delivered world (tests/portal/conftest.py), whose fixtures are imported
here by name; the tests take them as arguments, hence F811 for the whole file."""

# ruff: noqa: F811

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.choices import Role
from audits.incidents import incident_create
from audits.reviews import campaign_start
from customers.models import ImportUpload
from customers.services import import_upload_create, organization_grant
from tests.factories import UserFactory
from tests.portal.conftest import _eager_engine, _portal_world, cast, delivered  # noqa: F401
from transfers import portal_services, requests, services
from transfers.choices import StageKind
from transfers.models import HandoverStage, Nda
from transfers.notice_models import CampaignKind, CampaignStatus, DataSubjectRequest, NoticeCampaign
from transfers.portal_models import FollowUpTask, Question

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def days(n: float):
    return NOW + timedelta(days=n)


def page_rows(client, user, page=None):
    client.force_login(user)
    response = client.get(reverse("work:mine"), {"page": page} if page else {})
    assert response.status_code == 200
    return response, [(i.kind, i.title, i.deal) for i in response.context["page_obj"].object_list]


def _question(cast, stage, subject, asked):
    question = portal_services.question_ask(
        actor=cast.buyer if stage.deal.reference == "D-1" else cast.other_buyer,
        stage=stage,
        subject=subject,
        body="Which segment?",
    )
    Question.objects.filter(pk=question.pk).update(asked_at=asked)
    return question


def _broker_work(cast, delivered):
    """The broker's waiting work, and the other broker's (which must not show)."""
    HandoverStage.objects.filter(pk=delivered.draft.pk).update(created_at=days(-3))
    _question(cast, delivered.pseudo, "Segment codes?", days(-2))
    _question(cast, delivered.other_stage, "Bidder B's question", days(-9))
    rejected = services.stage_create(
        actor=cast.broker, deal=delivered.deal, name="Sent back", kind=StageKind.PSEUDONYMISED,
        tier_scope=["general"],
    )  # fmt: skip
    services.stage_submit(actor=cast.broker, stage=rejected)
    services.stage_reject(actor=cast.compliance, stage=rejected, reason="Too wide.")
    HandoverStage.objects.filter(pk=rejected.pk).update(submitted_at=days(-1))
    services.stage_create(
        actor=cast.other_broker, deal=delivered.other_deal, name="Bidder B draft",
        kind=StageKind.PSEUDONYMISED, tier_scope=["general"],
    )  # fmt: skip
    for broker in (cast.broker, cast.other_broker):
        organization_grant(
            actor=cast.admin, user=broker, organization=cast.seller, permission="manage_customers"
        )
    old = import_upload_create(actor=cast.broker, organization=cast.seller, data=b"ref\nA\n")
    ImportUpload.objects.filter(pk=old.pk).update(created_at=days(-2))
    import_upload_create(actor=cast.broker, organization=cast.seller, data=b"ref\nB\n")
    import_upload_create(actor=cast.other_broker, organization=cast.seller, data=b"ref\nC\n")


def test_the_broker_sees_their_stages_questions_and_imports_in_order_of_urgency(
    client, cast, delivered
):
    _broker_work(cast, delivered)
    seller = cast.seller.legal_name
    _response, rows = page_rows(client, cast.broker)
    assert rows == [
        ("import_mapping", seller, ""),  # its file is destroyed a day after upload: overdue
        ("import_mapping", seller, ""),  # due tomorrow
        ("stage_draft", "Later", "D-1"),  # undated, oldest first
        ("question_open", "Segment codes?", "D-1"),
        ("stage_rejected", "Sent back", "D-1"),
    ]
    assert "D-2" not in {deal for _k, _t, deal in rows}


def test_the_other_broker_sees_the_notices_their_deal_still_needs_and_nothing_of_deal_one(
    client, cast, delivered
):
    _broker_work(cast, delivered)
    response, rows = page_rows(client, cast.other_broker)
    assert [kind for kind, _t, _d in rows] == [
        "import_mapping",
        "question_open",  # asked nine days ago
        "campaign_prepare",  # D-2 was never told to its customers
        "stage_draft",
    ]
    assert {deal for _k, _t, deal in rows} <= {"", "D-2"}
    page = response.content.decode()
    assert reverse("notices:campaign_list", args=[delivered.other_deal.pk]) in page


def _compliance_work(cast, delivered):
    second = UserFactory(username="compliance2", organization=cast.broker_firm,
                         roles=[Role.COMPLIANCE])  # fmt: skip
    stage = services.stage_create(
        actor=cast.broker, deal=delivered.deal, name="Next wave", kind=StageKind.PSEUDONYMISED,
        tier_scope=["general"],
    )  # fmt: skip
    services.stage_submit(actor=cast.broker, stage=stage)
    HandoverStage.objects.filter(pk=stage.pk).update(submitted_at=days(-1))
    # Transfer notices prepared by a broker wait on every officer; the officer's own do not.
    NoticeCampaign.objects.create(
        deal=delivered.other_deal, prepared_by=cast.other_broker, prepared_at=days(-4),
        objection_deadline=days(30),
    )  # fmt: skip
    NoticeCampaign.objects.create(
        deal=delivered.deal, prepared_by=cast.compliance, objection_deadline=days(30)
    )
    incident = incident_create(
        actor=second, detected_at=NOW - timedelta(hours=1), description="Laptop lost.",
        severity="high", window_start=days(-3), window_end=NOW,
    )  # fmt: skip
    NoticeCampaign.objects.create(
        kind=CampaignKind.INCIDENT, incident=incident, prepared_by=second, prepared_at=days(-2),
        status=CampaignStatus.DRAFT,
    )  # fmt: skip
    customer = delivered.customers[0]
    mine = requests.request_create(
        customer=customer, deal=delivered.deal, kind="access", source="email"
    )
    requests.request_update(actor=cast.compliance, request=mine, assignee=cast.compliance)
    DataSubjectRequest.objects.filter(pk=mine.pk).update(due_at=days(-1))
    requests.request_create(customer=customer, deal=delivered.deal, kind="erasure", source="phone")
    theirs = requests.request_create(
        customer=customer, deal=delivered.other_deal, kind="restriction", source="email"
    )
    requests.request_update(actor=second, request=theirs, assignee=second)
    item = delivered.pseudo.items.order_by("pk").first()
    task = portal_services.followup_create(item=item, kind="update", reason="correction")
    FollowUpTask.objects.filter(pk=task.pk).update(due_at=days(-3))
    campaign_start(actor=cast.compliance, name="Year-end review", deadline=days(7),
                   reviewer=cast.compliance)  # fmt: skip
    campaign_start(actor=cast.compliance, name="Someone else's", deadline=days(2), reviewer=second)
    return second


def test_the_compliance_officer_sees_approvals_requests_tasks_reviews_and_clocks_by_urgency(
    client, cast, delivered
):
    _compliance_work(cast, delivered)
    _response, rows = page_rows(client, cast.compliance)
    incident = rows[2][1]
    assert rows == [
        ("followup_overdue", "1 record", "D-1"),  # three days late
        ("request_assigned", "Access", "D-1"),  # a day late
        ("incident_clock", incident, ""),  # PIPL: 24 hours from detection
        ("access_review", "Year-end review", ""),  # in a week
        ("request_unassigned", "Erasure", "D-1"),  # the legal deadline, weeks away
        ("campaign_approve", delivered.other_deal.title, "D-2"),  # undated, oldest first
        ("incident_notices_approve", incident, ""),
        ("stage_approve", "Next wave", "D-1"),
    ]


def test_the_second_officer_sees_the_request_assigned_to_them_but_not_their_own_notices(
    client, cast, delivered
):
    second = _compliance_work(cast, delivered)
    _response, rows = page_rows(client, second)
    kinds = [kind for kind, _t, _d in rows]
    assert "incident_notices_approve" not in kinds  # they prepared them
    assert ("request_assigned", "Restriction of processing", "D-2") in rows
    assert ("access_review", "Someone else's", "") in rows
    assert ("access_review", "Year-end review", "") not in rows


def _buyer_work(cast, delivered):
    now = timezone.now()
    HandoverStage.objects.filter(pk=delivered.pseudo.pk).update(delivered_at=days(-5))
    HandoverStage.objects.filter(pk=delivered.identified.pk).update(delivered_at=days(-4))
    portal_services.stage_acknowledge(
        stage=delivered.aggregate, actor=cast.buyer,
        merkle_root=delivered.aggregate.manifest.merkle_root,
    )  # fmt: skip
    nda = services.nda_publish(actor=cast.broker, deal=delivered.deal, text="Version two.")
    Nda.objects.filter(pk=nda.pk).update(published_at=days(-1))
    answered = _question(cast, delivered.pseudo, "Answered one", days(-10))
    portal_services.question_answer(actor=cast.broker, question=answered, body="Retail.")
    _question(cast, delivered.pseudo, "Still open", days(-9))
    _question(cast, delivered.other_stage, "Bidder B answered", days(-11))
    first, second = delivered.pseudo.items.order_by("pk")[:2]
    portal_services.followup_create(item=first, kind="delete", reason="erasure")
    portal_services.followup_create(item=second, kind="delete", reason="erasure")
    assert now  # the world's clock, for the reader


def test_the_buyer_sees_ndas_receipts_tasks_and_answers_of_their_own_deal_only(
    client, cast, delivered
):
    _buyer_work(cast, delivered)
    response, rows = page_rows(client, cast.buyer)
    assert rows == [
        ("followup_due", "2 records", "D-1"),  # one row per deal, its earliest deadline
        ("question_answered", "Answered one", "D-1"),  # undated, oldest first
        ("receipt_acknowledge", "Overview", "D-1"),
        ("receipt_acknowledge", "Contacts", "D-1"),
        ("nda_accept", delivered.deal.title, "D-1"),
    ]
    page = response.content.decode()
    assert reverse("portal:acknowledge", args=[delivered.pseudo.pk]) in page
    assert reverse("portal:nda", args=[delivered.deal.pk]) in page
    assert "Bidder B" not in page


def test_an_administrator_sees_failed_periodic_jobs_and_locked_out_accounts(client, cast, settings):
    from axes.models import AccessAttempt

    from transferdesk.periodic import PeriodicRun, RunOutcome

    task = "audits.tasks.verify_audit_chain"
    settings.CELERY_BEAT_SCHEDULE = {"audits-verify-chain": {"task": task, "schedule": 60}}
    PeriodicRun.objects.create(task=task, started_at=days(-2), outcome=RunOutcome.FAILED)
    PeriodicRun.objects.create(task=task, started_at=days(-1), outcome=RunOutcome.FAILED)
    PeriodicRun.objects.create(
        task="audits.tasks.other", started_at=days(-1), outcome=RunOutcome.FAILED
    )  # not on the schedule
    AccessAttempt.objects.create(
        username="buyer", ip_address="10.0.0.9", failures_since_start=5, user_agent="x",
        get_data="", post_data="", http_accept="", path_info="/accounts/login/",
    )  # fmt: skip
    _response, rows = page_rows(client, cast.admin)
    assert [kind for kind, _t, _d in rows] == ["periodic_failed", "account_locked"]
    assert rows[1][1] == "buyer"
    # Once it succeeds again, the job waits on nobody.
    PeriodicRun.objects.create(task=task, outcome=RunOutcome.SUCCEEDED)
    _response, rows = page_rows(client, cast.admin)
    assert [kind for kind, _t, _d in rows] == ["account_locked"]


def test_a_failed_chain_verification_waits_on_officers_and_administrators(client, cast):
    from audits.models.backups import RunStatus
    from audits.models.verification import ChainVerificationRun

    failed = ChainVerificationRun.objects.create(
        trigger="daily", status=RunStatus.FAILED, first_bad_seq=7, started_at=days(-1)
    )
    for user, url in (
        (cast.admin, reverse("periodic_jobs")),
        (cast.compliance, reverse("audits:chain_run", args=[failed.pk])),
    ):
        client.force_login(user)
        items = client.get(reverse("work:mine")).context["page_obj"].object_list
        assert [(i.kind, i.title, i.url) for i in items] == [
            ("chain_failed", "first bad event 7", url)
        ]
    _response, rows = page_rows(client, cast.broker)
    assert "chain_failed" not in {kind for kind, _t, _d in rows}
    # A later verification that passed clears it.
    ChainVerificationRun.objects.create(trigger="daily", status=RunStatus.SUCCEEDED)
    _response, rows = page_rows(client, cast.compliance)
    assert rows == []


def test_nothing_waiting_shows_the_empty_state_in_both_languages(client, cast):
    newcomer = UserFactory(username="newcomer", organization=cast.buyer_org, roles=[Role.BUYER])
    client.force_login(newcomer)
    page = client.get(reverse("work:mine")).content.decode()
    assert "Nothing waits on you" in page
    page = client.get(reverse("work:mine"), headers={"accept-language": "zh-hans"})
    assert page.context["page_obj"].paginator.count == 0
    assert "没有等待您处理的事项" in page.content.decode()


def test_a_long_list_is_paginated(client, cast, delivered):
    for n in range(30):
        _question(cast, delivered.pseudo, f"Q{n:02d}", days(-40 + n))
    _response, rows = page_rows(client, cast.broker)
    assert len(rows) == 25
    _response, rest = page_rows(client, cast.broker, page=2)
    assert len(rest) == 31 - 25  # 30 questions and the draft stage
    assert "Q29" in {title for _k, title, _d in rest}


def _queries(client, user) -> int:
    client.force_login(user)
    client.get(reverse("work:mine"))  # the first request fills per-process caches (content types)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("work:mine")).status_code == 200
    return len(captured)


@pytest.mark.parametrize("role", ["broker", "compliance", "buyer", "admin"])
def test_the_page_costs_the_same_queries_however_much_work_waits(
    client, cast, delivered, role, django_assert_max_num_queries
):
    user = getattr(cast, role)
    before = _queries(client, user)
    _broker_work(cast, delivered)
    _compliance_work(cast, delivered)
    _buyer_work(cast, delivered)
    for n in range(10):
        _question(cast, delivered.pseudo, f"More {n}", days(-1))
    assert _queries(client, user) == before
    with django_assert_max_num_queries(20):
        client.get(reverse("work:mine"))


def test_the_landing_fragment_shows_the_top_rows_and_links_to_the_page(client, cast, delivered):
    _buyer_work(cast, delivered)
    client.force_login(cast.buyer)
    response = client.get(reverse("work:top"))
    assert [i.kind for i in response.context["items"]] == [
        "followup_due", "question_answered", "receipt_acknowledge", "receipt_acknowledge",
        "nda_accept",
    ]  # fmt: skip
    assert reverse("work:mine") in response.content.decode()
    home = client.get(reverse("portal:home")).content.decode()
    assert f'hx-get="{reverse("work:top")}"' in home


def test_every_row_opens_the_page_where_its_work_is_done(client, cast, delivered):
    second = _compliance_work(cast, delivered)
    _broker_work(cast, delivered)
    _buyer_work(cast, delivered)
    opened = set()
    for user in (cast.broker, cast.other_broker, cast.compliance, second, cast.buyer):
        client.force_login(user)
        for item in client.get(reverse("work:mine")).context["page_obj"].object_list:
            # A portal page may first pass through the NDA gate (the new version waits too).
            assert client.get(item.url, follow=True).status_code == 200, (user, item)
            opened.add(item.kind)
    assert len(opened) >= 15  # every kind of row the worlds above make


def test_signing_out_while_the_landing_fragment_loads_is_not_an_error(client, cast, monkeypatch):
    """The fragment is fetched in the background as the landing page loads, so the user may
    sign out while it is in flight; it never saves the session, so it cannot fail on the
    session's deletion (transferdesk/sessions.py), and it stays private to its user."""
    from django.contrib.sessions.models import Session

    from audits import views_mywork

    def signed_out_meanwhile(user):
        Session.objects.all().delete()  # what the concurrent sign-out request does
        return []

    client.force_login(cast.broker)
    monkeypatch.setattr(views_mywork, "my_work", signed_out_meanwhile)
    response = client.get(reverse("work:top"))
    assert response.status_code == 200
    assert "Cookie" in response["Vary"] and "private" in response["Cache-Control"]
