"""The compliance side of the API: the audit events a key's organisation may read (its own
people's, its own keys', and a seller's deals'), filtered as the explorer filters, paged by
position; and how the chain's last verification went."""

from __future__ import annotations

import pytest
from django.utils import timezone

from audits.models import ChainVerificationRun, VerificationTrigger
from audits.models.backups import RunStatus
from tests.api.conftest import auth
from transferdesk.principals import ApiScope
from transferdesk.trail import AuditAction, AuditEvent, chain_head, record_event

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events/"
VERIFICATION = "/api/v1/verification/"


@pytest.fixture
def trail(cast, deals):
    """Events of every kind of party: the broker on the seller's deal with buyer A, buyer A's
    person on it, buyer B's person on its own deal, the system without a deal."""
    deal, other, _draft = deals
    record_event(action=AuditAction.UPDATE, actor=cast.broker, obj=deal, deal=deal)
    record_event(action=AuditAction.PORTAL_VIEW, actor=cast.buyer, obj=deal, deal=deal)
    record_event(action=AuditAction.PORTAL_VIEW, actor=cast.other_buyer, obj=other, deal=other)
    record_event(action=AuditAction.BACKUP)
    return deal, other


def events_of(api, text, query=""):
    response = api.get(EVENTS + query, **auth(text))
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_a_sellers_key_reads_every_event_of_the_deals_it_sells(api, cast, issue, trail):
    deal, other = trail
    _key, text = issue(cast.seller, scopes=[ApiScope.EVENTS_READ])

    events = events_of(api, text)

    deals = {e["deal"] for e in events if e["deal"]}
    assert deals == {str(deal.pk), str(other.pk)}  # both deals are the seller's
    actions = [(e["actor"], e["action"]) for e in events if e["deal"] == str(deal.pk)]
    assert ("broker", "update") in actions and ("buyer", "portal_view") in actions
    assert "backup" not in {e["action"] for e in events}  # the system's, no deal: not the seller's


def test_a_buyers_key_reads_its_own_peoples_and_keys_events_only(api, cast, issue, trail):
    _deal, other = trail
    key, text = issue(cast.buyer_org, scopes=[ApiScope.EVENTS_READ])

    events = events_of(api, text)

    assert [(e["actor"], e["action"]) for e in events] == [
        ("buyer", "portal_view"),
        ("compliance", "api_key_created"),  # its own key's issue
    ]
    assert str(other.pk) not in str(events)  # buyer B's deal
    assert "broker" not in {e["actor"] for e in events}  # the seller's side of its deal
    # Its own calls are there on the next page read: this one is recorded once answered.
    again = events_of(api, text)
    assert again[-1]["action"] == "api_call"
    assert again[-1]["actor"] == f"api-key:{key.prefix}@buyer-a"


def test_another_buyers_key_reads_nothing_of_this_deal(api, cast, issue, trail):
    deal, _other = trail
    _key, text = issue(cast.other_buyer_org, scopes=[ApiScope.EVENTS_READ])

    events = events_of(api, text)

    assert str(deal.pk) not in str(events)
    assert {e["actor"] for e in events} == {"compliance", "buyer2"}


def test_each_event_carries_its_chain_fields_and_consecutive_ones_link(api, cast, issue, trail):
    _key, text = issue(cast.seller, scopes=[ApiScope.EVENTS_READ])

    events = events_of(api, text, "?action=portal_view")

    assert [e["actor"] for e in events] == ["buyer", "buyer2"]
    stored = AuditEvent.objects.get(seq=events[0]["seq"])
    assert (events[0]["mac"], events[0]["prev_mac"]) == (stored.mac, stored.prev_mac)
    previous = AuditEvent.objects.get(seq=events[0]["seq"] - 1)
    assert events[0]["prev_mac"] == previous.mac


def test_filters_narrow_as_in_the_explorer(api, cast, issue, trail):
    deal, _other = trail
    _key, text = issue(cast.seller, scopes=[ApiScope.EVENTS_READ])

    assert {e["deal"] for e in events_of(api, text, "?deal=D-1")} == {str(deal.pk)}
    assert {e["actor"] for e in events_of(api, text, "?actor=broker")} == {"broker"}
    by_object = events_of(api, text, f"?object_type=transfers.transferdeal&object_id={deal.pk}")
    assert {e["action"] for e in by_object} == {"create", "update", "portal_view"}
    today = timezone.localdate().isoformat()
    assert events_of(api, text, f"?date_from={today}&date_to={today}&action=update")
    assert not events_of(api, text, "?date_to=2000-01-01")
    first = events_of(api, text)[0]["seq"]
    assert all(e["seq"] > first for e in events_of(api, text, f"?after={first}"))


@pytest.mark.parametrize(
    "query, field",
    [
        ("?action=no_such_action", "action"),
        ("?date_from=yesterday", "date_from"),
        ("?date_from=2026-02-30", "date_from"),
        ("?date_from=2026-05-02&date_to=2026-05-01", "__all__"),
        ("?after=-1", "after"),
        ("?after=99999999999999999999", "after"),
        ("?after=1.5", "after"),
        ("?deal=" + "x" * 65, "deal"),
        ("?actor=a%00b", "actor"),
    ],
)
def test_a_bad_filter_value_is_a_400_naming_it(api, cast, issue, trail, query, field):
    _key, text = issue(cast.seller, scopes=[ApiScope.EVENTS_READ])

    response = api.get(EVENTS + query, **auth(text))

    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_pages_are_stable_by_position_while_events_are_appended(api, cast, issue, trail):
    _key, text = issue(cast.seller, scopes=[ApiScope.EVENTS_READ])

    first = api.get(EVENTS + "?page_size=2", **auth(text)).json()
    deal, _other = trail
    record_event(action=AuditAction.UPDATE, actor=cast.broker, obj=deal, deal=deal)
    second = api.get(first["next"], **auth(text)).json()

    seqs = [e["seq"] for e in first["results"] + second["results"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4


def test_a_key_without_events_read_gets_403(api, cast, issue, trail):
    _key, text = issue(cast.seller, scopes=[ApiScope.STAGES_READ])
    assert api.get(EVENTS, **auth(text)).status_code == 403
    assert api.get(VERIFICATION, **auth(text)).status_code == 403


def test_the_verification_status_is_the_last_finished_run_and_the_head(api, cast, issue, trail):
    _key, text = issue(cast.buyer_org, scopes=[ApiScope.EVENTS_READ])

    before = chain_head()
    none_yet = api.get(VERIFICATION, **auth(text)).json()
    assert none_yet["last_run"] is None
    assert none_yet["head"] == before._asdict()  # the call's own event is written after

    head = chain_head()
    ChainVerificationRun.objects.create(
        trigger=VerificationTrigger.DAILY,
        status=RunStatus.SUCCEEDED,
        finished_at=timezone.now(),
        events=head.events,
        head_seq=head.seq,
        head_mac=head.mac,
    )
    ChainVerificationRun.objects.create(trigger=VerificationTrigger.PAGE)  # still running
    body = api.get(VERIFICATION, **auth(text)).json()

    assert body["last_run"]["result"] == "intact"
    assert (body["last_run"]["head_seq"], body["last_run"]["head_mac"]) == (head.seq, head.mac)
    assert body["head"] == head._asdict()


def test_a_broken_chain_shows_as_broken_with_the_first_bad_event(api, cast, issue, trail):
    _key, text = issue(cast.seller, scopes=[ApiScope.EVENTS_READ])
    ChainVerificationRun.objects.create(
        trigger=VerificationTrigger.DAILY,
        status=RunStatus.FAILED,
        finished_at=timezone.now(),
        first_bad_seq=3,
        problem="mac_mismatch",
        params={"checkpoint": "D-2 receipt"},
    )

    run = api.get(VERIFICATION, **auth(text)).json()["last_run"]

    assert (run["result"], run["first_bad_seq"], run["problem"]) == ("broken", 3, "mac_mismatch")
    assert "D-2" not in str(run)  # checkpoint names are other deals' references
