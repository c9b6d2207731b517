from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from tests.factories import OrganizationFactory, UserFactory
from transferdesk.middleware import RequestIdMiddleware
from transferdesk.trail import (
    GENESIS_MAC,
    AuditAction,
    AuditEvent,
    chain_head,
    clean_details,
    record_event,
)
from transferdesk.trail.chain import audit_key, compute_mac

pytestmark = pytest.mark.django_db


def _in_request(call, **meta: str) -> AuditEvent:
    """Run ``call`` inside the request-id middleware, as a view would."""
    events: list[AuditEvent] = []

    def view(request: HttpRequest) -> HttpResponse:
        events.append(call(request))
        return HttpResponse()

    RequestIdMiddleware(view)(RequestFactory().get("/", **meta))
    return events[0]


def test_record_event_fills_actor_frozen_name_and_request_context(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.5"]  # the request id and client come from the proxy
    user = UserFactory(username="broker")
    org = OrganizationFactory()
    deal = uuid.uuid4()

    event = _in_request(
        lambda request: record_event(
            action=AuditAction.VIEW_SENSITIVE, actor=user, obj=org, deal=deal, details={"n": 1}
        ),
        HTTP_X_REQUEST_ID="req-0123456789",
        REMOTE_ADDR="10.0.0.5",
        HTTP_X_FORWARDED_FOR="203.0.113.9",
        HTTP_USER_AGENT="Pytest/1.0",
    )

    stored = AuditEvent.objects.get(seq=event.seq)
    assert stored.actor == user
    assert stored.actor_name == "broker"
    assert stored.action == AuditAction.VIEW_SENSITIVE
    assert (stored.object_type, stored.object_id) == ("customers.organization", str(org.pk))
    assert stored.deal_ref == str(deal)
    assert stored.request_id == "req-0123456789"
    assert stored.ip == "203.0.113.9"
    assert stored.user_agent == "Pytest/1.0"
    assert stored.details == {"n": 1}
    assert stored.time.tzinfo is not None


def test_the_frozen_name_stays_when_the_user_is_renamed():
    user = UserFactory(username="before")
    event = record_event(action=AuditAction.SIGN_IN, actor=user)
    user.username = "after"
    user.save()
    assert AuditEvent.objects.get(seq=event.seq).actor_name == "before"


def test_each_event_links_to_the_mac_of_the_one_before():
    events = [record_event(action=AuditAction.CREATE, details={"n": n}) for n in range(5)]

    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_mac == GENESIS_MAC
    for before, after in itertools.pairwise(events):
        assert after.prev_mac == before.mac
    assert len({e.mac for e in events}) == 5


def test_the_stored_mac_is_the_hmac_of_what_the_database_gives_back():
    record_event(action=AuditAction.EXPORT, object_type="x.y", object_id=7, details={"k": [1]})
    row = AuditEvent.objects.values().get(seq=1)
    assert compute_mac(audit_key(), row) == row["mac"]


def test_system_events_have_no_actor_and_no_request_context():
    event = record_event(action=AuditAction.BACKUP)
    assert event.actor is None
    assert (event.actor_name, event.request_id, event.ip, event.user_agent) == ("", "", None, "")


def test_an_anonymous_user_is_recorded_as_no_actor():
    from django.contrib.auth.models import AnonymousUser

    event = record_event(action=AuditAction.PORTAL_VIEW, actor=AnonymousUser())
    assert event.actor is None


def test_an_ipv4_mapped_address_is_stored_as_ipv4():
    event = _in_request(
        lambda request: record_event(action=AuditAction.SIGN_IN),
        REMOTE_ADDR="::ffff:198.51.100.7",
    )
    assert AuditEvent.objects.get(seq=event.seq).ip == "198.51.100.7"


def test_events_written_in_an_outer_transaction_that_rolls_back_leave_no_trace():
    record_event(action=AuditAction.CREATE)
    with pytest.raises(RuntimeError), transaction.atomic():
        record_event(action=AuditAction.UPDATE)
        raise RuntimeError("the change failed")
    after = record_event(action=AuditAction.DELETE)

    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == [1, 2]
    assert after.prev_mac == AuditEvent.objects.get(seq=1).mac


def test_model_instances_in_details_are_refused():
    user = UserFactory()
    with pytest.raises(TypeError, match="primary key"):
        record_event(action=AuditAction.GRANT, details={"user": user})
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    "value",
    [1.5, b"bytes", {1, 2}, dt.date(2026, 1, 1), {1: "non-string key"}],
    ids=["float", "bytes", "set", "date", "int-key"],
)
def test_details_refuse_values_that_are_not_ids_counts_or_codes(value):
    with pytest.raises(TypeError):
        clean_details({"value": value})


def test_details_turn_uuids_into_text_and_tuples_into_lists():
    key = uuid.uuid4()
    assert clean_details({"ids": (key, 2)}) == {"ids": [str(key), 2]}


def test_oversized_details_are_refused():
    with pytest.raises(ValueError, match="too large"):
        record_event(action=AuditAction.IMPORT, details={"ids": list(range(2000))})


def test_an_unknown_action_is_refused():
    with pytest.raises(ValueError):
        record_event(action="made_up")


def test_chain_head_gives_count_position_and_mac_of_the_last_event():
    assert chain_head() == (0, 0, GENESIS_MAC)
    record_event(action=AuditAction.CREATE)
    last = record_event(action=AuditAction.UPDATE)
    assert chain_head() == (2, 2, last.mac)


def test_a_deal_given_as_an_instance_is_stored_as_its_primary_key():
    deal_like = OrganizationFactory()  # any model instance stands in until deals exist
    event = record_event(action=AuditAction.NDA_ACCEPTED, deal=deal_like)
    assert event.deal_ref == str(deal_like.pk)


def test_every_action_in_the_catalogue_can_be_recorded_and_verified():
    from transferdesk.trail.chain import verify_chain

    for action in AuditAction:
        record_event(action=action)
    result = verify_chain()
    assert result.ok and result.count == len(AuditAction)
