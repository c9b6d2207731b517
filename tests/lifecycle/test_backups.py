"""Backups are encrypted streams; restores refuse altered files and re-apply the destruction
ledger, so a customer purged after the backup cannot be read in the restored database."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import uuid
from pathlib import Path

import environ
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from audits.backups import (
    BackupError,
    backup_keys,
    backup_prune,
    backup_run,
    decrypt_stream,
    encrypt_stream,
    restore,
    restore_drill,
    target_alias,
)
from audits.models import BackupRun, RestoreDrill
from audits.retention import customer_erase
from customers.models import Customer
from transferdesk.crypto.errors import DataKeyDestroyed

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def backup_dir(settings, tmp_path):
    settings.TRANSFERDESK_BACKUP_DIR = tmp_path / "backups"
    settings.TRANSFERDESK_DRILL_DATABASE_PREFIX = "td_life_restore_drill"
    return settings.TRANSFERDESK_BACKUP_DIR


def _roundtrip(data: bytes) -> bytes:
    key_id, keys = backup_keys()
    sealed = io.BytesIO()
    encrypt_stream(io.BytesIO(data), sealed, key_id=key_id, key=keys[key_id])
    return b"".join(decrypt_stream(io.BytesIO(sealed.getvalue())))


@pytest.mark.parametrize("size", [0, 1, (1 << 20) - 1, 1 << 20, (3 << 20) + 5])
def test_streaming_encryption_round_trips_at_chunk_boundaries(size):
    data = os.urandom(size)
    assert _roundtrip(data) == data


def test_a_cut_file_and_reordered_segments_are_detected():
    key_id, keys = backup_keys()
    sealed = io.BytesIO()
    encrypt_stream(io.BytesIO(os.urandom(3 << 20)), sealed, key_id=key_id, key=keys[key_id])
    blob = sealed.getvalue()
    segment = 4 + (1 << 20) + 16
    header = len(blob) - 3 * segment - (4 + 16)
    cut = blob[: header + 2 * segment]  # ends cleanly at a segment boundary
    with pytest.raises(BackupError, match="truncated"):
        b"".join(decrypt_stream(io.BytesIO(cut)))
    first, second = blob[header : header + segment], blob[header + segment : header + 2 * segment]
    swapped = blob[:header] + second + first + blob[header + 2 * segment :]
    with pytest.raises(BackupError, match="segment 0"):
        b"".join(decrypt_stream(io.BytesIO(swapped)))


def _restore_url(tmp_path) -> tuple[str, object]:
    """A fresh empty target database (SQLite file, or a td_life_restore_* database)."""
    if connection.vendor != "postgresql":
        return f"sqlite:///{tmp_path / 'restored.sqlite3'}", lambda: None
    from audits.backups import _pg_connect

    settings = connection.settings_dict
    name = f"td_life_restore_{uuid.uuid4().hex[:8]}"

    def run(sql: str) -> None:
        admin = _pg_connect(settings, "postgres", autocommit=True)
        try:
            with admin.cursor() as cursor:
                cursor.execute(sql)
        finally:
            admin.close()

    run(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    user = settings["USER"]
    auth = f"{user}:{settings['PASSWORD']}@" if settings["PASSWORD"] else f"{user}@"
    return f"postgres://{auth}{settings['HOST']}:{settings['PORT'] or 5432}/{name}", drop


def _read_all(alias: str) -> dict:
    readable = {}
    for customer in Customer.objects.using(alias).select_related("data_key"):
        try:
            readable[customer.pk] = (customer.full_name, customer.national_id, customer.email)
        except DataKeyDestroyed:
            readable[customer.pk] = "destroyed"
    return readable


def test_backup_then_purge_then_restore_cannot_read_the_purged_customer(
    cast, make_customer, tmp_path
):
    victim, _ = make_customer()
    others = [make_customer()[0] for _ in range(3)]
    original = {
        c.pk: (c.full_name, c.national_id, c.email)
        for c in Customer.objects.filter(pk__in=[o.pk for o in others])
    }
    backup = backup_run(actor=cast.compliance)
    assert backup.status == "succeeded" and backup.size > 0
    file_path = backup.manifest and (tmp_path / "backups" / backup.file_name)
    assert file_path.exists()
    assert victim.full_name.encode() not in file_path.read_bytes()

    customer_erase(actor=cast.compliance, customer=victim, request_ref="REQ-1")

    url, drop = _restore_url(tmp_path)
    try:
        outcome = restore(path=file_path, target_url=url)
        assert outcome.chain_ok
        assert outcome.keys_redestroyed >= 1 and outcome.customers_removed == 1
        with target_alias(url) as alias:
            restored = _read_all(alias)
            from transferdesk.models import DataKey

            assert DataKey.objects.using(alias).get(pk=victim.data_key_id).is_destroyed
            from customers.models import Customer as C

            assert not C.history.using(alias).filter(id=victim.pk).exists()
    finally:
        drop()
    assert victim.pk not in restored
    assert restored == original


def test_a_backup_with_one_flipped_byte_is_refused_naming_the_failure(
    cast, make_customer, tmp_path
):
    make_customer()
    backup = backup_run()
    path = tmp_path / "backups" / backup.file_name
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    path.write_bytes(bytes(blob))
    url, drop = _restore_url(tmp_path)
    try:
        with pytest.raises(CommandError, match="SHA-256 checksum mismatch"):
            call_command("restore", str(path), "--target", url)
        # Without its manifest the restore needs the explicit flag, and the tag check still
        # names the segment.
        path.with_name(path.name + ".manifest.json").unlink()
        with pytest.raises(CommandError, match="manifest is missing"):
            call_command("restore", str(path), "--target", url)
        with pytest.raises(CommandError, match="Authentication tag check failed at segment"):
            call_command("restore", str(path), "--target", url, "--allow-unauthenticated-manifest")
    finally:
        drop()


def test_a_restore_drill_on_a_good_backup_passes_and_records_its_figures(cast, make_customer):
    for _ in range(3):
        make_customer()
    backup_run()
    drill = restore_drill(actor=cast.compliance)
    assert drill.status == "succeeded", (drill.error, drill.mismatches)
    assert drill.chain_ok and drill.chain_events > 0
    assert drill.tables_checked > 10 and drill.rows_checked > 0 and drill.mismatches == []
    assert RestoreDrill.objects.count() == 1


def test_backup_command_prints_one_line_and_prune_removes_old_files(capsys, backup_dir):
    call_command("backup")
    out = capsys.readouterr().out
    assert out.startswith("backup: OK transferdesk-") and out.count("\n") == 1
    run = BackupRun.objects.get()
    assert backup_prune(now=run.started_at + dt.timedelta(days=31)) == 1
    assert not (backup_dir / run.file_name).exists()


def test_a_restore_never_overwrites_a_database_in_use(cast, make_customer, tmp_path):
    make_customer()
    backup = backup_run()
    path = tmp_path / "backups" / backup.file_name
    url, drop = _restore_url(tmp_path)
    try:
        restore(path=path, target_url=url)
        with pytest.raises(BackupError, match=r"not empty|already exists"):
            restore(path=path, target_url=url)
    finally:
        drop()


@pytest.mark.postgres
def test_on_postgresql_the_backup_is_an_encrypted_pg_dump(make_customer, tmp_path):
    from audits.backups import read_manifest

    make_customer()
    backup = backup_run()
    path = tmp_path / "backups" / backup.file_name
    manifest = read_manifest(path)
    assert manifest["database"] == "postgresql"
    assert manifest["database_version"].startswith("PostgreSQL")
    assert manifest["tables"]["customers_customer"]["rows"] == 1
    with path.open("rb") as handle:
        plain = b"".join(decrypt_stream(handle))
    assert plain.startswith(b"PGDMP")  # the custom format's signature, only after decryption
    assert b"PGDMP" not in path.read_bytes()


# --- the manifest is authenticated; the ledger is replayed whole (issue: moving taken_at) ----


def _manifest_path(backup: BackupRun, backup_dir) -> object:
    return backup_dir / f"{backup.file_name}.manifest.json"


def _edit_manifest(path, **changes) -> None:
    """What an attacker with write access to the backup directory does: edit the JSON."""
    doc = json.loads(path.read_text())
    for name, value in changes.items():
        if value is None:
            doc.pop(name, None)
        else:
            doc[name] = value
    path.write_text(json.dumps(doc, indent=1))


def _moved(iso: str, hours: int) -> str:
    return (dt.datetime.fromisoformat(iso) + dt.timedelta(hours=hours)).isoformat()


def _target_is_empty(url: str) -> bool:
    if url.startswith("sqlite"):
        return not Path(url.removeprefix("sqlite:///")).exists()
    from audits.backups import _pg_connect

    config = environ.Env.db_url_config(url)
    probe = _pg_connect(config, config["NAME"], autocommit=True)
    try:
        with probe.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            return cursor.fetchone()[0] == 0
    finally:
        probe.close()


@pytest.mark.parametrize("hours", [2, -2], ids=["forward", "backward"])
def test_a_manifest_whose_taken_at_was_moved_is_refused_and_the_target_left_untouched(
    cast, make_customer, tmp_path, backup_dir, hours
):
    victim, _ = make_customer()
    backup = backup_run()
    customer_erase(actor=cast.compliance, customer=victim, request_ref="REQ-SKEW")
    manifest = _manifest_path(backup, backup_dir)
    taken_at = json.loads(manifest.read_text())["taken_at"]
    _edit_manifest(manifest, taken_at=_moved(taken_at, hours))
    url, drop = _restore_url(tmp_path)
    try:
        with pytest.raises(CommandError, match="failed its MAC check") as refused:
            call_command("restore", str(backup_dir / backup.file_name), "--target", url)
        assert "taken_at" in str(refused.value) and "Nothing was restored" in str(refused.value)
        assert _target_is_empty(url)
    finally:
        drop()
    # The drill reads the same manifest: it fails, naming the MAC, instead of comparing.
    drill = restore_drill(actor=cast.compliance)
    assert drill.status == "failed" and "MAC" in drill.error


def test_a_manifest_stripped_of_its_mac_needs_the_flag_and_even_then_the_erased_stay_erased(
    cast, make_customer, tmp_path, backup_dir
):
    victim, _ = make_customer()
    survivor, _ = make_customer()
    backup = backup_run()
    customer_erase(actor=cast.compliance, customer=victim, request_ref="REQ-LEGACY")
    manifest = _manifest_path(backup, backup_dir)
    taken_at = json.loads(manifest.read_text())["taken_at"]
    # As a backup from before manifests were authenticated, and its time moved past the erasure.
    _edit_manifest(manifest, mac=None, taken_at=_moved(taken_at, 2))
    path = backup_dir / backup.file_name
    url, drop = _restore_url(tmp_path)
    try:
        with pytest.raises(CommandError, match="carries no MAC"):
            call_command("restore", str(path), "--target", url)
        assert _target_is_empty(url)
        call_command("restore", str(path), "--target", url, "--allow-unauthenticated-manifest")
        with target_alias(url) as alias:
            restored = _read_all(alias)
    finally:
        drop()
    assert victim.pk not in restored
    assert restored[survivor.pk] != "destroyed"


def test_an_erasure_on_a_server_whose_clock_runs_two_hours_behind_is_still_replayed(
    cast, make_customer, tmp_path, backup_dir, monkeypatch
):
    victim, _ = make_customer()
    backup = backup_run()  # taken_at: the database server's clock (SQLite: this process's)
    real_now = timezone.now
    with monkeypatch.context() as skewed:
        # The application server that erases runs two hours behind the one that backed up:
        # its destroyed_at is earlier than the backup's taken_at.
        skewed.setattr(timezone, "now", lambda: real_now() - dt.timedelta(hours=2))
        customer_erase(actor=cast.compliance, customer=victim, request_ref="REQ-CLOCK")
    url, drop = _restore_url(tmp_path)
    try:
        outcome = restore(path=backup_dir / backup.file_name, target_url=url)
        assert outcome.chain_ok and outcome.keys_redestroyed >= 1
        assert outcome.customers_removed == 1
        with target_alias(url) as alias:
            restored = _read_all(alias)
    finally:
        drop()
    assert victim.pk not in restored
