"""The verifier names the first event that was altered, removed, inserted or reordered."""

from __future__ import annotations

import base64
import datetime as dt
from contextlib import nullcontext

import pytest
from django.test import override_settings

from transferdesk.trail import AuditAction, AuditEvent, record_event
from transferdesk.trail.chain import audit_key, compute_mac, verify_chain

pytestmark = pytest.mark.django_db

OTHER_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()


def test_a_clean_chain_verifies_with_its_count_and_head(chain):
    result = verify_chain()
    assert result.ok
    assert (result.count, result.head_seq, result.head_mac) == (6, 6, chain[-1].mac)


def test_an_empty_chain_verifies():
    result = verify_chain()
    assert result.ok and result.count == 0 and result.head_seq == 0


def test_a_chain_streamed_in_small_chunks_verifies(chain):
    assert verify_chain(chunk_size=2).ok


def test_altering_one_events_details_names_that_event(chain, tamper):
    tamper("UPDATE audits_auditevent SET details = %s WHERE seq = 3", ['{"n": 99}'])

    result = verify_chain()
    assert not result.ok
    assert (result.first_bad_seq, result.problem) == (3, "altered")
    assert result.count == 2


def test_altering_the_actor_name_names_that_event(chain, tamper):
    tamper("UPDATE audits_auditevent SET actor_name = 'someone' WHERE seq = 5", [])
    assert verify_chain().first_bad_seq == 5


def test_deleting_one_event_names_the_missing_event(chain, tamper):
    tamper("DELETE FROM audits_auditevent WHERE seq = 4", [])

    result = verify_chain()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 4, "removed")


def test_deleting_the_first_event_names_it(chain, tamper):
    tamper("DELETE FROM audits_auditevent WHERE seq = 1", [])
    assert (verify_chain().first_bad_seq, verify_chain().problem) == (1, "removed")


def test_a_forged_event_appended_after_the_head_is_named(chain):
    # INSERT is allowed (that is how events are written): the forger lacks only the key.
    AuditEvent.objects.create(
        seq=7,
        time=dt.datetime.now(dt.UTC),
        action=AuditAction.GRANT,
        prev_mac=chain[-1].mac,
        mac="ab" * 32,
    )

    result = verify_chain()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 7, "altered")
    assert result.count == 6


def test_a_forged_event_inserted_in_the_middle_is_named(chain, tamper):
    for seq in (6, 5, 4):  # make room at 4, from the top so that seq stays unique
        tamper("UPDATE audits_auditevent SET seq = seq + 1 WHERE seq = %s", [seq])
    AuditEvent.objects.create(
        seq=4,
        time=chain[2].time + dt.timedelta(seconds=1),
        action=AuditAction.GRANT,
        prev_mac=chain[2].mac,
        mac="cd" * 32,
    )

    result = verify_chain()
    assert (result.ok, result.first_bad_seq) == (False, 4)


def test_swapping_two_events_names_the_first_of_them(chain, tamper):
    tamper("UPDATE audits_auditevent SET seq = 1000 WHERE seq = 3", [])
    tamper("UPDATE audits_auditevent SET seq = 3 WHERE seq = 4", [])
    tamper("UPDATE audits_auditevent SET seq = 4 WHERE seq = 1000", [])

    result = verify_chain()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 3, "reordered")


def _rewrite_from(seq: int, tamper, *, settings_key: str | None = None) -> None:
    """Recompute MACs from ``seq`` to the head, as a forger would after changing event ``seq``."""
    rows = list(AuditEvent.objects.order_by("seq").values())
    prev = rows[seq - 2]["mac"] if seq > 1 else rows[0]["prev_mac"]
    with override_settings(TRANSFERDESK_AUDIT_KEY=settings_key) if settings_key else nullcontext():
        key = audit_key()
    for row in rows[seq - 1 :]:
        row["prev_mac"] = prev
        row["mac"] = compute_mac(key, row)
        tamper(
            "UPDATE audits_auditevent SET prev_mac = %s, mac = %s WHERE seq = %s",
            [row["prev_mac"], row["mac"], row["seq"]],
        )
        prev = row["mac"]


def test_recomputing_the_macs_without_the_audit_key_does_not_verify(chain, tamper):
    tamper("UPDATE audits_auditevent SET details = %s WHERE seq = 2", ['{"n": 42}'])
    _rewrite_from(2, tamper, settings_key=OTHER_KEY)

    result = verify_chain()
    assert (result.ok, result.first_bad_seq) == (False, 2)


def test_the_same_rewrite_with_the_audit_key_would_verify_so_the_key_is_what_protects(
    chain, tamper
):
    tamper("UPDATE audits_auditevent SET details = %s WHERE seq = 2", ['{"n": 42}'])
    _rewrite_from(2, tamper)
    assert verify_chain().ok


def test_a_chain_written_under_one_key_does_not_verify_under_another(chain, settings):
    settings.TRANSFERDESK_AUDIT_KEY = OTHER_KEY
    result = verify_chain()
    assert (result.ok, result.first_bad_seq) == (False, 1)


def test_a_truncated_tail_is_caught_by_a_head_printed_on_a_receipt(chain, tamper):
    receipt_head = (chain[-1].seq, chain[-1].mac)
    tamper("DELETE FROM audits_auditevent WHERE seq >= 5", [])

    assert verify_chain().ok  # on its own a shorter chain is still a chain
    result = verify_chain(anchors=dict([receipt_head]))
    # The first missing event is named, and the message gives the whole missing range.
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 5, "truncated")
    assert "events 5 to 6 are missing" in result.message


def test_an_anchor_that_matches_is_reported_as_checked(chain):
    result = verify_chain(anchors={3: chain[2].mac})
    assert result.ok and result.anchors_checked == (3,)


def test_events_appended_after_a_verified_head_keep_verifying(chain):
    record_event(action=AuditAction.REPORT_GENERATED)
    assert verify_chain().count == 7


def test_an_anchor_the_chain_does_not_hold_is_named(chain):
    result = verify_chain(anchors={3: "0" * 32})
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 3, "anchor_mismatch")
