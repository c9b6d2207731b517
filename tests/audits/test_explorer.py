"""The event explorer, its CSV export, the deal timeline and the dashboard, as a compliance
officer sees them and as the database records them."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.audits.reporting import FORMULA, HOSTILE, make_customer, make_deal
from tests.factories import UserFactory
from transferdesk.spreadsheets import neutralise
from transferdesk.trail import AuditAction, AuditEvent, record_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer(client, cast):
    client.force_login(cast.compliance)
    return client


def rows_of(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


def test_the_explorer_filters_by_deal_reference_actor_and_action(officer, cast):
    deal = make_deal(cast)
    other = make_deal(cast, reference="D-2", title="Other deal")
    record_event(action=AuditAction.EXPORT, actor=cast.broker, deal=deal, object_type="x.y")
    record_event(action=AuditAction.EXPORT, actor=cast.compliance, deal=other)
    record_event(action=AuditAction.REVEAL, actor=cast.broker, deal=deal)

    response = officer.get(
        reverse("audits:events"), {"deal": "D-1", "actor": "broker", "action": "export"}
    )

    events = list(response.context["page_obj"].object_list)
    assert response.status_code == 200
    assert [(e.action, e.actor_id, e.deal_ref) for e in events] == [
        ("export", cast.broker.pk, str(deal.pk))
    ]
    assert "x.y" in response.content.decode()


def test_the_explorer_filters_by_object_and_date_range(officer, cast):
    customer = make_customer(cast)
    record_event(action=AuditAction.VIEW_CORE, actor=cast.broker, obj=customer)
    record_event(action=AuditAction.VIEW_CORE, actor=cast.broker, object_type="customers.customer")
    today = timezone.localdate()

    hit = officer.get(
        reverse("audits:events"),
        {"object_type": "customers.customer", "object_id": str(customer.pk),
         "date_from": today.isoformat(), "date_to": today.isoformat()},
    )  # fmt: skip
    yesterday = (today - timedelta(days=1)).isoformat()
    miss = officer.get(reverse("audits:events"), {"date_from": yesterday, "date_to": yesterday})

    assert [e.object_id for e in hit.context["page_obj"].object_list] == [str(customer.pk)]
    assert list(miss.context["page_obj"].object_list) == []
    assert "No events match" in miss.content.decode()


def test_a_reversed_date_range_is_refused_with_a_message(officer):
    response = officer.get(
        reverse("audits:events"), {"date_from": "2026-02-01", "date_to": "2026-01-01"}
    )
    assert "The first day is after the last day." in response.content.decode()
    assert list(response.context["page_obj"].object_list) == []


def test_the_explorer_pages_newest_first_with_a_constant_number_of_queries(
    officer, cast, django_assert_max_num_queries
):
    for i in range(120):
        record_event(action=AuditAction.UPDATE, actor=cast.broker, object_id=i, object_type="t.t")
    # A session's first request records it for the sessions page (then once a minute at most).
    officer.get(reverse("audits:events"))

    with django_assert_max_num_queries(12):
        first = officer.get(reverse("audits:events"), {"object_type": "t.t"})
    with django_assert_max_num_queries(12):
        third = officer.get(reverse("audits:events"), {"object_type": "t.t", "page": 3})

    seqs = [e.seq for e in first.context["page_obj"].object_list]
    assert len(seqs) == 50 and seqs == sorted(seqs, reverse=True)
    assert seqs[0] == AuditEvent.objects.order_by("-seq").first().seq
    assert len(third.context["page_obj"].object_list) == 20
    assert "101\u2013120 of 120" in third.content.decode()


def test_formula_cells_are_neutralised_in_the_csv():
    assert neutralise("=1+1") == "'=1+1"
    for prefix in ("+", "-", "@", "\t", "\r"):
        assert neutralise(prefix + "x") == "'" + prefix + "x"
    assert neutralise("plain") == "plain"


def test_the_csv_export_quotes_a_hyperlink_formula_in_details_and_actor_name(officer, cast):
    hostile_user = UserFactory(username=FORMULA[:150])
    record_event(
        action=AuditAction.UPDATE,
        actor=hostile_user,
        object_type="customers.customer",
        object_id="-1",
        details={"note": FORMULA},
    )

    response = officer.get(reverse("audits:events_export"), {"action": "update"})

    rows = rows_of(response)
    assert response["Content-Type"].startswith("text/csv")
    assert rows[0][0] == "Sequence"
    (row,) = rows[1:]
    assert row[2] == "'" + FORMULA  # the actor's frozen name
    assert row[5] == "'-1"
    assert row[9].startswith("'{") is False and FORMULA in row[9]  # JSON text starts with {
    assert not any(cell.startswith(("=", "+", "@")) for cell in row)


def test_details_that_start_with_a_formula_come_out_quoted(officer, cast):
    record_event(action=AuditAction.UPDATE, actor=cast.broker, object_type=FORMULA[:100])
    (row,) = rows_of(officer.get(reverse("audits:events_export"), {"action": "update"}))[1:]
    assert row[4] == "'" + FORMULA[:100]


def test_the_export_is_itself_an_export_event_naming_the_filters(officer, cast):
    make_deal(cast)
    before = AuditEvent.objects.count()

    rows = rows_of(officer.get(reverse("audits:events_export"), {"deal": "D-1"}))

    event = AuditEvent.objects.order_by("-seq").first()
    assert AuditEvent.objects.count() == before + 1
    assert event.action == AuditAction.EXPORT
    assert event.actor == cast.compliance
    assert event.object_type == "audits.auditevent"
    assert event.details["format"] == "csv"
    assert event.details["filters"] == {"deal": "D-1"}
    assert event.details["rows"] == len(rows) - 1


def test_the_deal_timeline_lists_the_deals_events_and_404s_an_unknown_deal(officer, cast):
    deal = make_deal(cast)
    make_deal(cast, reference="D-2", title="Other")

    response = officer.get(reverse("audits:deal_timeline", args=["D-1"]))
    missing = officer.get(reverse("audits:deal_timeline", args=["NOPE"]))

    deal_refs = {e.deal_ref for e in response.context["page_obj"].object_list}
    assert deal_refs == {str(deal.pk)}
    assert "Timeline of D-1" in response.content.decode()
    assert missing.status_code == 404


def test_hostile_values_are_escaped_on_the_explorer(officer, cast):
    record_event(action=AuditAction.UPDATE, actor=cast.broker, details={"note": HOSTILE})
    body = officer.get(reverse("audits:events")).content.decode()
    assert HOSTILE not in body
    assert "&lt;a href=" in body


def test_the_dashboard_charts_the_last_30_days_as_svg_without_inline_styles(officer, cast):
    record_event(action=AuditAction.SIGN_IN, actor=cast.broker)
    record_event(action=AuditAction.EXPORT, actor=cast.broker)

    body = officer.get(reverse("audits:dashboard")).content.decode()

    assert "<svg" in body and "<rect" in body
    assert "style=" not in body
    assert "<script>" not in body
    assert "Events per day by action" in body
    assert "Sign-in" in body  # legend


def test_the_dashboard_shows_honest_states_and_the_chain_head(officer, cast):
    body = officer.get(reverse("audits:dashboard")).content.decode()
    head = AuditEvent.objects.order_by("-seq").first()
    assert head.mac[:16] in body
    assert "No deal has planned a handover stage yet." in body
    assert "no verification has failed" in body


def test_the_dashboard_names_a_failed_verification(officer, cast):
    record_event(
        action=AuditAction.CHAIN_VERIFICATION_FAILED,
        object_type="audits.auditevent",
        object_id=7,
        details={"first_bad_seq": 7, "problem": "altered", "verified_events": 6},
    )
    body = officer.get(reverse("audits:dashboard")).content.decode()
    assert "Verification failed at event 7" in body


@pytest.mark.parametrize("name", ["audits:dashboard", "audits:events", "audits:events_export"])
def test_a_broker_cannot_open_the_compliance_pages(client, cast, name):
    client.force_login(cast.broker)
    assert client.get(reverse(name)).status_code == 403


def test_the_explorer_shows_object_types_permissions_and_details_in_words(officer, cast):
    """Stored codes stay codes; the page shows words: the model's name, the permission's
    label, nested details as text rather than Python reprs."""
    deal = make_deal(cast)
    record_event(
        action=AuditAction.GRANT,
        actor=cast.admin,
        obj=deal,
        deal=deal,
        details={"permission": "access_portal", "user": cast.buyer.pk, "flags": {"a": True}},
    )
    page = officer.get(reverse("audits:events")).content.decode()
    assert "Transfer deal" in page and ">transfers.transferdeal<" not in page
    assert "Can open the deal in the buyer portal" in page
    assert "flags</span> a: yes" in page
    assert "{&#x27;a&#x27;" not in page and "{'a'" not in page
