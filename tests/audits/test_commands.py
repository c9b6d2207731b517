"""The verify_audit_chain command and the daily task that runs the same check."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from audits.tasks import verify_audit_chain_task
from transferdesk.trail import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db


def _verify(*args: str) -> str:
    out = io.StringIO()
    call_command("verify_audit_chain", *args, stdout=out)
    return out.getvalue()


def test_verify_audit_chain_prints_one_ok_line_with_count_and_head(chain):
    assert _verify() == f"verify_audit_chain: OK 6 events, head 6 {chain[-1].mac}\n"


def test_verify_audit_chain_on_an_empty_trail_is_ok():
    assert _verify().startswith("verify_audit_chain: OK 0 events, head 0 ")


def test_verify_audit_chain_exits_non_zero_naming_the_altered_event(chain, tamper):
    tamper("UPDATE audits_auditevent SET object_id = 'x' WHERE seq = 4", [])
    with pytest.raises(CommandError, match=r"FAILED at event 4 \(altered\)") as failure:
        _verify()
    assert failure.value.returncode == 1


def test_verify_audit_chain_checks_a_head_printed_on_a_receipt(chain, tamper):
    anchor = f"{chain[-1].seq}:{chain[-1].mac}"
    assert "OK 6 events" in _verify("--anchor", anchor)
    tamper("DELETE FROM audits_auditevent WHERE seq = 6", [])
    with pytest.raises(CommandError, match=r"FAILED at event 6 \(truncated\)"):
        _verify("--anchor", anchor)


def test_verify_audit_chain_refuses_a_malformed_anchor(chain):
    with pytest.raises(CommandError, match="SEQ:MAC"):
        _verify("--anchor", "6:not-a-mac")


def test_the_daily_task_writes_nothing_when_the_chain_is_sound(chain):
    assert verify_audit_chain_task.apply().get().startswith("OK 6 6 ")
    assert not AuditEvent.objects.filter(action=AuditAction.CHAIN_VERIFICATION_FAILED).exists()


def test_the_daily_task_raises_an_alert_event_naming_the_broken_event(chain, tamper):
    tamper("DELETE FROM audits_auditevent WHERE seq = 2", [])

    verify_audit_chain_task.apply()

    alert = AuditEvent.objects.get(action=AuditAction.CHAIN_VERIFICATION_FAILED)
    assert alert.details == {"first_bad_seq": 2, "problem": "removed", "verified_events": 1}
    assert (alert.object_type, alert.object_id) == ("audits.auditevent", "2")
    assert alert.actor is None


def test_the_daily_task_is_scheduled_on_the_maintenance_queue(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["audits-verify-chain"]
    assert entry["task"] == verify_audit_chain_task.name
    assert entry["options"] == {"queue": "maintenance"}


def test_verify_audit_chain_accepts_the_mac_prefix_a_receipt_prints(chain, tamper):
    anchor = f"{chain[3].seq}:{chain[3].mac[:32]}"
    assert "OK 6 events" in _verify("--anchor", anchor)
    tamper("UPDATE audits_auditevent SET mac = %s WHERE seq = 4", ["f" * 64])
    with pytest.raises(CommandError, match="FAILED at event 4"):
        _verify("--anchor", anchor)
