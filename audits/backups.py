"""Encrypted backups, restore with the destruction ledger re-applied, and restore drills.

File format (``.tdbk``), a STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár, "Online
Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", 2015; the same shape as
Tink's AES-GCM-HKDF streaming AEAD) over AES-256-GCM::

    header  = MAGIC | len(key_id) (1) | key_id | salt (16) | nonce_prefix (7) | chunk size (4)
    segment = len(ciphertext) (4, big endian) | AES-GCM(file_key, nonce, chunk, aad)
    file_key = HKDF-SHA256(backup key, salt, "transferdesk/backup/v1")
    nonce    = nonce_prefix (7) | segment index (4, big endian) | final flag (1)
    aad      = header | segment index | final flag

Every segment is authenticated on its own, so memory stays at one chunk whatever the size of
the database; the index in the nonce and the AAD detects reordered or dropped segments, the
final flag detects a file cut at a segment boundary, and the header in the AAD binds every
segment to this file's key id and salt. A fresh salt per file gives a fresh file key, so the
random nonce prefix never has to be unique across files.

Next to each file a JSON manifest (not secret: counts and checksums, no data) records the
time, size, SHA-256, key id, database version, and per-table row counts and checksums, taken
in the same snapshot as the dump, which the restore drill compares against. The manifest is
authenticated: ``mac`` is HMAC-SHA256 over its canonical JSON (every other field, sorted keys,
no whitespace) under a key derived with HKDF from the backup key it names (info
``transferdesk/backup/manifest/v1``), so whoever can write to the backup directory but does
not hold the backup key cannot change a figure or a time without restore refusing the file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

import environ
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections
from django.utils import timezone
from django.utils.translation import gettext as _

from customers import erasure
from customers.models import Customer, Interaction, PurchaseRecord
from transferdesk.crypto.keyring import KEY_ID_PATTERN, decode_key
from transferdesk.trail import AuditAction, chain_head, record_event
from transfers.models import HandoverItem

from .models import BackupRun, RestoreDrill
from .models.backups import RunStatus

MAGIC = b"TDBK\x01\n"
SALT_BYTES = 16
PREFIX_BYTES = 7
CHUNK_BYTES = 1 << 20  # 1 MiB of plaintext per segment
TAG_BYTES = 16
SETTING = "TRANSFERDESK_BACKUP_KEY"
#: The alias a restore target is reached by while the ledger is re-applied and checked.
TARGET_ALIAS = "restore_target"
#: Tables the ledger changes on restore: their checksums legitimately differ from the manifest.
LEDGER_TABLES = {
    "transferdesk_datakey",
    "customers_customer",
    "customers_historicalcustomer",
    "customers_purchaserecord",
    "customers_historicalpurchaserecord",
    "customers_interaction",
    "customers_historicalinteraction",
    "transfers_handoveritem",
    "audits_legalhold",
}


class BackupError(Exception):
    """A backup or restore that cannot go on; the message names the failure for a person."""


# --- keys ---------------------------------------------------------------------------------


def backup_keys() -> tuple[str, dict[str, bytes]]:
    """``(active id, {id: key})`` from ``TRANSFERDESK_BACKUP_KEY`` ("id:key[,id:key...]"; the
    first encrypts, the others still decrypt older backups)."""
    raw = getattr(settings, SETTING, "") or ""
    keys: dict[str, bytes] = {}
    for entry in (item.strip() for item in raw.split(",") if item.strip()):
        key_id, sep, encoded = entry.partition(":")
        if not sep or not KEY_ID_PATTERN.match(key_id.strip()):
            raise ImproperlyConfigured(f"{SETTING}: each entry is 'id:base64key'.")
        keys[key_id.strip()] = decode_key(encoded.strip(), what=f"{SETTING}: {key_id}")
    if not keys:
        raise ImproperlyConfigured(f"{SETTING} is empty; backups need a key.")
    return next(iter(keys)), keys


def _file_key(key: bytes, salt: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=salt, info=b"transferdesk/backup/v1"
    ).derive(key)


def _manifest_key(key: bytes) -> bytes:
    """The manifest's MAC key: its own derivation of the backup key (domain separation from
    the file keys, which use a per-file salt)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"transferdesk/backup/manifest/v1"
    ).derive(key)


def manifest_mac(manifest: dict[str, Any], key: bytes) -> str:
    """HMAC-SHA256 of the manifest's canonical JSON (every field but ``mac``)."""
    body = {name: value for name, value in manifest.items() if name != "mac"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hmac.new(_manifest_key(key), canonical.encode(), hashlib.sha256).hexdigest()


def _nonce(prefix: bytes, index: int, final: bool) -> bytes:
    return prefix + struct.pack(">I", index) + (b"\x01" if final else b"\x00")


# --- streaming encryption -----------------------------------------------------------------------


def encrypt_stream(source: IO[bytes], target: IO[bytes], *, key_id: str, key: bytes) -> None:
    """Encrypt ``source`` into ``target`` one chunk at a time (constant memory).

    One chunk is read ahead so that the last segment can carry the final flag.
    """
    salt, prefix = os.urandom(SALT_BYTES), os.urandom(PREFIX_BYTES)
    encoded_id = key_id.encode()
    header = (
        MAGIC
        + bytes([len(encoded_id)])
        + encoded_id
        + salt
        + prefix
        + struct.pack(">I", CHUNK_BYTES)
    )
    target.write(header)
    aead = AESGCM(_file_key(key, salt))
    index = 0
    current = _read_full(source, CHUNK_BYTES)
    while True:
        following = _read_full(source, CHUNK_BYTES) if len(current) == CHUNK_BYTES else b""
        final = not following
        flag = b"\x01" if final else b"\x00"
        sealed = aead.encrypt(
            _nonce(prefix, index, final), current, header + struct.pack(">I", index) + flag
        )
        target.write(struct.pack(">I", len(sealed)) + sealed)
        if final:
            return
        current, index = following, index + 1


def _read_full(source: IO[bytes], size: int) -> bytes:
    """Read exactly ``size`` bytes unless the stream ends (pipes return short reads)."""
    parts, remaining = [], size
    while remaining:
        data = source.read(remaining)
        if not data:
            break
        parts.append(data)
        remaining -= len(data)
    return b"".join(parts)


def decrypt_stream(source: IO[bytes]) -> Iterator[bytes]:
    """Yield the plaintext chunks of an encrypted backup, checking each segment's tag.

    Raises ``BackupError`` naming the failure: not a backup, unknown key, a segment whose
    tag fails (altered, reordered or from another file), a file cut short, or bytes after the
    end.
    """
    magic = source.read(len(MAGIC))
    if magic != MAGIC:
        raise BackupError(_("Not a TransferDesk backup (wrong file signature)."))
    id_length = source.read(1)
    if not id_length:
        raise BackupError(_("The backup is truncated inside its header."))
    encoded_id = source.read(id_length[0])
    rest = source.read(SALT_BYTES + PREFIX_BYTES + 4)
    if len(rest) != SALT_BYTES + PREFIX_BYTES + 4:
        raise BackupError(_("The backup is truncated inside its header."))
    salt, prefix = rest[:SALT_BYTES], rest[SALT_BYTES : SALT_BYTES + PREFIX_BYTES]
    (chunk_size,) = struct.unpack(">I", rest[-4:])
    header = magic + id_length + encoded_id + rest
    key_id = encoded_id.decode(errors="replace")
    _active, keys = backup_keys()
    if key_id not in keys:
        raise BackupError(
            _("The backup was encrypted under key {key_id!r}, which is not configured.").format(
                key_id=key_id
            )
        )
    aead = AESGCM(_file_key(keys[key_id], salt))
    index = 0
    while True:
        length_bytes = source.read(4)
        if len(length_bytes) < 4:
            raise BackupError(
                _(
                    "The backup is truncated: segment {index} and the end marker are missing."
                ).format(index=index)
            )
        (length,) = struct.unpack(">I", length_bytes)
        if length > chunk_size + TAG_BYTES:
            raise BackupError(
                _("Authentication failed at segment {index}: its length field was altered.").format(
                    index=index
                )
            )
        sealed = source.read(length)
        if len(sealed) < length:
            raise BackupError(
                _("The backup is truncated inside segment {index}.").format(index=index)
            )
        plain, final = None, False
        for flag in (b"\x00", b"\x01"):
            try:
                plain = aead.decrypt(
                    _nonce(prefix, index, flag == b"\x01"),
                    sealed,
                    header + struct.pack(">I", index) + flag,
                )
                final = flag == b"\x01"
                break
            except InvalidTag:
                continue
        if plain is None:
            raise BackupError(
                _(
                    "Authentication tag check failed at segment {index}: the file was altered, "
                    "or the segments were reordered or come from another file."
                ).format(index=index)
            )
        yield plain
        if final:
            if source.read(1):
                raise BackupError(_("The backup has unexpected bytes after its final segment."))
            return
        index += 1


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


# --- table figures (counts and checksums, taken in the dump's snapshot) -----------------------


def _pg_figures(cursor: Any) -> dict[str, dict[str, Any]]:
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
    figures: dict[str, dict[str, Any]] = {}
    for (table,) in cursor.fetchall():
        quoted = '"' + table.replace('"', '""') + '"'
        # md5 of the sorted md5s of every row's text: independent of physical order, equal
        # after pg_restore into the same major version.
        cursor.execute(
            f"SELECT count(*), coalesce(md5(string_agg(h, '' ORDER BY h)), '') "  # noqa: S608
            f"FROM (SELECT md5(t::text) AS h FROM {quoted} t) s"
        )
        rows, checksum = cursor.fetchone()
        figures[table] = {"rows": int(rows), "checksum": checksum}
    return figures


def _sqlite_figures(db: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    figures: dict[str, dict[str, Any]] = {}
    tables = [
        row[0]
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    for table in tables:
        quoted = '"' + table.replace('"', '""') + '"'
        digest, rows = hashlib.sha256(), 0
        for row in db.execute(f"SELECT * FROM {quoted} ORDER BY rowid"):  # noqa: S608
            digest.update(repr(row).encode())
            rows += 1
        figures[table] = {"rows": rows, "checksum": digest.hexdigest()}
    return figures


# --- backup ---------------------------------------------------------------------------------


@dataclass
class DumpResult:
    taken_at: dt.datetime
    engine: str
    tables: dict[str, dict[str, Any]]


def _backup_dir() -> Path:
    path = Path(settings.TRANSFERDESK_BACKUP_DIR)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _tool(name: str) -> str:
    """The full path of a PostgreSQL client tool, or a clear error naming it."""
    found = shutil.which(name)
    if found is None:
        raise BackupError(_("{tool} is not installed on this machine.").format(tool=name))
    return found


def _pg_connect(params: dict[str, Any], dbname: str, *, autocommit: bool = False) -> Any:
    """A plain driver connection outside Django's (snapshot holder, CREATE/DROP DATABASE)."""
    import psycopg2

    conn = psycopg2.connect(
        dbname=dbname,
        host=params.get("HOST") or None,
        port=params.get("PORT") or None,
        user=params.get("USER") or None,
        password=params.get("PASSWORD") or None,
    )
    conn.autocommit = autocommit
    return conn


def _pg_env(params: dict[str, Any]) -> dict[str, str]:
    env = {**os.environ}
    if params.get("PASSWORD"):
        env["PGPASSWORD"] = str(params["PASSWORD"])
    return env


def _pg_args(params: dict[str, Any]) -> list[str]:
    args = []
    if params.get("HOST"):
        args += ["-h", str(params["HOST"])]
    if params.get("PORT"):
        args += ["-p", str(params["PORT"])]
    if params.get("USER"):
        args += ["-U", str(params["USER"])]
    return args


def _dump_postgres(target: IO[bytes], key_id: str, key: bytes) -> DumpResult:
    """``pg_dump -Fc`` of an exported snapshot, streamed through the encryptor; the figures are
    read in the same snapshot, so they describe exactly what was dumped."""
    params = connection.settings_dict
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT version()")
        engine = cursor.fetchone()[0]
    # A separate connection holds the snapshot open while pg_dump reads it.
    holder = _pg_connect(params, params["NAME"])
    try:
        with holder.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot(), now()")
            snapshot, taken_at = cursor.fetchone()
            process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [_tool("pg_dump"), "-Fc", "--no-owner", f"--snapshot={snapshot}",
                 *_pg_args(params), params["NAME"]],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=_pg_env(params),
            )  # fmt: skip
            assert process.stdout is not None
            encrypt_stream(process.stdout, target, key_id=key_id, key=key)
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            if process.wait() != 0:
                raise BackupError(_("pg_dump failed: {error}").format(error=stderr.strip()[:500]))
            tables = _pg_figures(cursor)
        holder.rollback()
    finally:
        holder.close()
    return DumpResult(taken_at=taken_at, engine=engine, tables=tables)


def _dump_sqlite(target: IO[bytes], key_id: str, key: bytes) -> DumpResult:
    """The online backup API into a private temporary copy, which is encrypted and removed."""
    connection.ensure_connection()
    source = connection.connection
    with tempfile.TemporaryDirectory(prefix="tdbk-") as scratch:
        copy_path = Path(scratch) / "copy.sqlite3"
        copy = sqlite3.connect(copy_path)
        taken_at = timezone.now()
        source.backup(copy)
        tables = _sqlite_figures(copy)
        engine = "SQLite " + copy.execute("SELECT sqlite_version()").fetchone()[0]
        copy.close()
        with copy_path.open("rb") as plain:
            encrypt_stream(plain, target, key_id=key_id, key=key)
    return DumpResult(taken_at=taken_at, engine=engine, tables=tables)


def backup_run(*, actor: Any = None) -> BackupRun:
    """Take one encrypted backup with its manifest, record it, and prune old ones."""
    key_id, keys = backup_keys()
    run = BackupRun.objects.create(started_by=actor, key_id=key_id)
    directory = _backup_dir()
    stamp = run.started_at.strftime("%Y%m%dT%H%M%SZ")
    name = f"transferdesk-{stamp}-{run.pk.hex[:8]}.tdbk"
    path = directory / name
    partial = path.with_suffix(".partial")
    # The head committed before the dump starts is inside the dump: a checkpoint that the
    # restored chain, and the live one, must still hold (``audits.checkpoints``).
    head = chain_head()
    try:
        with partial.open("wb") as target:
            os.chmod(partial, 0o600)
            if connection.vendor == "postgresql":
                result = _dump_postgres(target, key_id, keys[key_id])
            else:
                result = _dump_sqlite(target, key_id, keys[key_id])
        partial.rename(path)
        size, digest = path.stat().st_size, sha256_file(path)
        manifest = {
            "format": "tdbk/1",
            "file": name,
            "created_at": timezone.now().isoformat(),
            "taken_at": result.taken_at.isoformat(),
            "size": size,
            "sha256": digest,
            "key_id": key_id,
            "database": connection.vendor,
            "database_version": result.engine,
            "chain_head": {"seq": head.seq, "mac": head.mac},
            "tables": result.tables,
        }
        manifest["mac"] = manifest_mac(manifest, keys[key_id])
        (directory / f"{name}.manifest.json").write_text(json.dumps(manifest, indent=1))
    except Exception as exc:
        partial.unlink(missing_ok=True)
        BackupRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FAILED, finished_at=timezone.now(), error=str(exc)[:2000]
        )
        record_event(action=AuditAction.BACKUP, actor=actor, obj=run, details={"status": "failed"})
        raise
    BackupRun.objects.filter(pk=run.pk).update(
        status=RunStatus.SUCCEEDED,
        finished_at=timezone.now(),
        taken_at=result.taken_at,
        file_name=name,
        size=size,
        sha256=digest,
        engine=result.engine[:100],
        manifest={k: v for k, v in manifest.items() if k not in ("tables", "mac")}
        | {"tables": len(result.tables), "rows": sum(t["rows"] for t in result.tables.values())},
    )
    run.refresh_from_db()
    record_event(
        action=AuditAction.BACKUP,
        actor=actor,
        obj=run,
        details={"status": "succeeded", "size": size, "sha256": digest, "key_id": key_id},
    )
    backup_prune()
    return run


def backup_prune(*, now: dt.datetime | None = None) -> int:
    """Delete backup files older than ``TRANSFERDESK_BACKUP_RETENTION_DAYS``.

    This bound is what the destruction certificate promises: once it has passed, no retained
    backup holds a destroyed key.
    """
    days = int(getattr(settings, "TRANSFERDESK_BACKUP_RETENTION_DAYS", 30))
    limit = (now or timezone.now()) - dt.timedelta(days=days)
    directory = _backup_dir()
    pruned = 0
    for run in BackupRun.objects.filter(started_at__lt=limit, pruned_at__isnull=True):
        if run.file_name:
            (directory / run.file_name).unlink(missing_ok=True)
            (directory / f"{run.file_name}.manifest.json").unlink(missing_ok=True)
        BackupRun.objects.filter(pk=run.pk).update(pruned_at=timezone.now())
        pruned += 1
    return pruned


# --- restore ---------------------------------------------------------------------------------


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest beside ``path`` as written, NOT authenticated (see
    ``authenticate_manifest``); ``None`` when there is none."""
    manifest_path = path.with_name(path.name + ".manifest.json")
    if not manifest_path.exists():
        return None
    try:
        loaded = json.loads(manifest_path.read_text())
    except (ValueError, UnicodeDecodeError):
        loaded = None
    if not isinstance(loaded, dict):
        raise BackupError(_("The backup's manifest is not a JSON object; nothing was restored."))
    return loaded


def authenticate_manifest(
    manifest: dict[str, Any] | None, *, allow_unauthenticated: bool = False
) -> dict[str, Any] | None:
    """The manifest if its MAC verifies under the backup key it names; ``BackupError`` otherwise.

    A manifest whose MAC fails is always refused: it was edited (its ``taken_at``, a checksum, a
    row count) or belongs to another backup. A manifest without a MAC (written before manifests
    were authenticated, or stripped of it), and a missing manifest, are refused too unless the
    operator says ``allow_unauthenticated``; the restore then trusts only the encrypted stream,
    whose every segment is authenticated, and returns ``None`` so that nothing of the manifest
    is used but its checksum. Nothing the restore does to erased customers depends on the
    manifest either way (``reapply_ledger`` replays the whole ledger).
    """
    if manifest is None:
        if allow_unauthenticated:
            return None
        raise BackupError(
            _(
                "The backup's manifest is missing, so nothing vouches for its figures. Nothing "
                "was restored; to restore from the encrypted file alone, pass "
                "--allow-unauthenticated-manifest."
            )
        )
    if not manifest.get("mac"):
        if allow_unauthenticated:
            return None
        raise BackupError(
            _(
                "The backup's manifest carries no MAC (it was written before manifests were "
                "authenticated, or its MAC was removed). Nothing was restored; to restore it "
                "anyway, trusting only the encrypted file, pass --allow-unauthenticated-manifest."
            )
        )
    _active, keys = backup_keys()
    key_id = str(manifest.get("key_id", ""))
    if key_id not in keys:
        raise BackupError(
            _(
                "The backup's manifest names key {key_id!r}, which is not configured; its MAC "
                "cannot be checked. Nothing was restored."
            ).format(key_id=key_id)
        )
    expected, given = manifest_mac(manifest, keys[key_id]), str(manifest["mac"])
    if not hmac.compare_digest(expected.encode(), given.encode()):  # bytes: any text compares
        raise BackupError(
            _(
                "The backup's manifest failed its MAC check: the manifest was altered (its "
                "taken_at, a checksum or a count) or belongs to another backup. Nothing was "
                "restored."
            )
        )
    return manifest


def verify_file(path: Path, manifest: dict[str, Any] | None) -> None:
    """Checksum (against the manifest) then every segment's tag, before anything is restored."""
    if not path.exists():
        raise BackupError(_("No backup file at {path}.").format(path=path.name))
    if manifest is not None:
        digest = sha256_file(path)
        if digest != manifest.get("sha256"):
            raise BackupError(
                _(
                    "SHA-256 checksum mismatch: the file's checksum {actual} differs from the "
                    "manifest's {expected}; the file was altered or damaged."
                ).format(actual=digest[:16], expected=str(manifest.get("sha256"))[:16])
            )
    with path.open("rb") as handle:
        for _chunk in decrypt_stream(handle):
            pass


@dataclass
class RestoreOutcome:
    target: str
    taken_at: dt.datetime | None
    keys_redestroyed: int = 0
    customers_removed: int = 0
    chain_ok: bool = False
    chain_events: int = 0
    chain_message: str = ""
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0


def _target_settings(url: str) -> dict[str, Any]:
    config = environ.Env.db_url_config(url)
    base = dict(connections.databases["default"])
    base.update(config)
    base.setdefault("OPTIONS", {})
    base["CONN_MAX_AGE"] = 0
    base["TEST"] = {"MIRROR": None}
    return base


@contextmanager
def target_alias(url: str) -> Iterator[str]:
    """Register the restore target as a database alias for the duration."""
    connections.databases[TARGET_ALIAS] = _target_settings(url)
    try:
        # Connect at once: a wrong URL fails here, before anything is done to the target.
        connections[TARGET_ALIAS].connect()
        yield TARGET_ALIAS
    finally:
        if TARGET_ALIAS in connections:
            connections[TARGET_ALIAS].close()
        connections.databases.pop(TARGET_ALIAS, None)
        with suppress(AttributeError, KeyError):
            del connections[TARGET_ALIAS]


def _load_postgres(path: Path, url: str) -> None:
    config = environ.Env.db_url_config(url)
    if not str(config["ENGINE"]).endswith("postgresql"):
        raise BackupError(_("A PostgreSQL backup needs a PostgreSQL target."))
    # Only into an empty database: overwriting one would have to delete audit events, which
    # the append-only trigger refuses (rightly), and would mix two histories.
    probe = _pg_connect(config, config["NAME"], autocommit=True)
    try:
        with probe.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            tables = cursor.fetchone()[0]
    finally:
        probe.close()
    if tables:
        raise BackupError(
            _(
                "The target database is not empty ({count} tables); restore into a new, empty "
                "database (the audit trail cannot be overwritten)."
            ).format(count=tables)
        )
    process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        [
            _tool("pg_restore"),
            "--no-owner",
            "--exit-on-error",
            "-d",
            config["NAME"],
            *_pg_args(config),
        ],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_pg_env(config),
    )
    assert process.stdin is not None
    try:
        with path.open("rb") as handle:
            for chunk in decrypt_stream(handle):
                process.stdin.write(chunk)
        process.stdin.close()
    except BrokenPipeError:
        pass
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.wait() != 0:
        raise BackupError(_("pg_restore failed: {error}").format(error=stderr.strip()[:500]))


def _load_sqlite(path: Path, url: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme != "sqlite":
        raise BackupError(_("A SQLite backup needs a sqlite:/// target."))
    target = Path(environ.Env.db_url_config(url)["NAME"])
    if target.exists() and target.stat().st_size > 0:
        raise BackupError(_("The target database file already exists; restore into a new one."))
    partial = target.with_name(target.name + ".partial")
    with path.open("rb") as handle, partial.open("wb") as out:
        os.chmod(partial, 0o600)
        for chunk in decrypt_stream(handle):
            out.write(chunk)
    partial.rename(target)


def _taken_at(manifest: dict[str, Any] | None) -> dt.datetime | None:
    """When the snapshot was taken, from an AUTHENTICATED manifest; shown, never relied on."""
    if manifest and manifest.get("taken_at"):
        return dt.datetime.fromisoformat(manifest["taken_at"])
    return None


#: Ledger entries read from the live database per round trip.
LEDGER_BATCH = 5000


def reapply_ledger(alias: str) -> tuple[int, int]:
    """Destroy again, in the restored database, every key the LIVE ledger holds as destroyed,
    then remove what the purge removed for those customers. Returns (keys destroyed again,
    customers removed).

    The WHOLE ledger, not the part after the backup's time. A cut-off time would have to come
    from the manifest, which anyone who can write to the backup directory can edit (moving
    ``taken_at`` two hours forward once skipped every key destroyed in those hours), or from
    a clock: the snapshot time is the database server's clock, ``destroyed_at`` the
    application server's, and the two can be skewed. Missing one key means an erased customer
    readable again, while replaying an entry that the dump already holds changes nothing: a
    key destroyed before the backup is destroyed in the dump (``destroyed_at IS NULL`` finds
    nothing) and a customer purged before it is not in the dump. So the replay needs no time
    at all and is idempotent: a restore run twice, or a restore of a very old backup, ends the
    same. Each batch first asks the target which of its keys are still live, so the cost is
    one query per ``LEDGER_BATCH`` ledger entries plus the work actually needed.
    """
    from transferdesk.models import DataKey

    keys = removed = 0
    last = None
    while True:
        page = DataKey.objects.using("default").filter(destroyed_at__isnull=False)
        if last is not None:
            page = page.filter(pk__gt=last)
        batch = list(
            page.order_by("pk").values_list("pk", "destroyed_at", "purpose")[:LEDGER_BATCH]
        )
        if not batch:
            break
        last = batch[-1][0]
        live = set(
            DataKey.objects.using(alias)
            .filter(pk__in=[pk for pk, _d, _p in batch], destroyed_at__isnull=True)
            .values_list("pk", flat=True)
        )
        for pk, destroyed_at, _purpose in batch:
            if pk in live:
                keys += (
                    DataKey.objects.using(alias)
                    .filter(pk=pk, destroyed_at__isnull=True)
                    .update(wrapped_key=None, destroyed_at=destroyed_at)
                )
        # Every customer key of the batch, not only those destroyed just now: a customer row
        # left beside an already destroyed key (however it came about) goes too.
        removed += _remove_shredded_customers(
            alias, [pk for pk, _d, purpose in batch if purpose == "customer"]
        )
    return keys, removed


def _remove_shredded_customers(alias: str, key_batch: list[Any]) -> int:
    """Remove (or anonymise, as their tombstone says) the customers of ``alias`` whose data key
    is in ``key_batch``, with their history and snapshots; returns how many were found."""
    from .models import DestructionTombstone, LegalHold
    from .models.retention import RetentionAction
    from .retention import _raw_delete, reference_hash

    found = list(
        Customer.objects.using(alias)
        .filter(data_key_id__in=key_batch)
        .exclude(status="erased")
        .values_list("pk", "data_key_id")
    )
    if not found:
        return 0
    actions = dict(
        DestructionTombstone.objects.using("default")
        .filter(data_key_id__in=[key for _pk, key in found])
        .values_list("data_key_id", "action")
    )
    ids = [pk for pk, _k in found]
    for model, column in erasure.history_models():
        _raw_delete(model._default_manager.using(alias).filter(**{f"{column}__in": ids}))
    HandoverItem.objects.using(alias).filter(customer_id__in=ids).update(snapshot=b"")
    destroy = [pk for pk, key in found if actions.get(key) != RetentionAction.ANONYMISE]
    keep = [pk for pk, key in found if actions.get(key) == RetentionAction.ANONYMISE]
    if destroy:
        _raw_delete(PurchaseRecord.objects.using(alias).filter(customer_id__in=destroy))
        _raw_delete(Interaction.objects.using(alias).filter(customer_id__in=destroy))
        _raw_delete(LegalHold.objects.using(alias).filter(customer_id__in=destroy))
        _raw_delete(Customer.objects.using(alias).filter(pk__in=destroy))
    if keep:
        erasure.anonymise(keep, {pk: reference_hash(pk) for pk in keep}, using=alias)
    return len(found)


def verify_target_chain(alias: str) -> tuple[bool, int, str]:
    from transferdesk.trail import AuditEvent
    from transferdesk.trail.chain import CHAIN_FIELDS, audit_key, verify_rows

    rows = (
        AuditEvent.objects.using(alias)
        .order_by("seq")
        .values_list(*CHAIN_FIELDS)
        .iterator(chunk_size=10_000)
    )
    result = verify_rows(rows, key=audit_key())
    return result.ok, result.count, result.message


def target_figures(alias: str) -> dict[str, dict[str, Any]]:
    conn = connections[alias]
    if conn.vendor == "postgresql":
        with conn.cursor() as cursor:
            return _pg_figures(cursor)
    # A plain connection: Django's converts column types, so its rows would hash differently
    # from the ones the backup hashed.
    plain = sqlite3.connect(f"file:{conn.settings_dict['NAME']}?mode=ro", uri=True)
    try:
        return _sqlite_figures(plain)
    finally:
        plain.close()


def restore(
    *,
    path: Path,
    target_url: str,
    actor: Any = None,
    figures: bool = False,
    allow_unauthenticated_manifest: bool = False,
) -> RestoreOutcome:
    """Authenticate the manifest, verify the file, load, re-apply the destruction ledger,
    verify the chain.

    Everything that can refuse the backup (the manifest's MAC, the checksum, every segment's
    tag) runs before anything touches the target. The ledger is applied through the same
    connection right after the load, before this function returns the database to anyone; a
    restore into a database that others already use is not supported (restore into a new one,
    then switch).
    """
    started = time.monotonic()
    written = read_manifest(path)
    manifest = authenticate_manifest(written, allow_unauthenticated=allow_unauthenticated_manifest)
    # An unauthenticated manifest's checksum is still worth comparing: it can only refuse.
    verify_file(path, manifest or written)
    if manifest and manifest.get("database") == "postgresql":
        _load_postgres(path, target_url)
    elif (manifest and manifest.get("database") == "sqlite") or target_url.startswith("sqlite"):
        _load_sqlite(path, target_url)
    else:
        _load_postgres(path, target_url)
    outcome = RestoreOutcome(target=_redacted(target_url), taken_at=_taken_at(manifest))
    with target_alias(target_url) as alias:
        outcome.keys_redestroyed, outcome.customers_removed = reapply_ledger(alias)
        outcome.chain_ok, outcome.chain_events, outcome.chain_message = verify_target_chain(alias)
        if figures:
            outcome.tables = target_figures(alias)
    outcome.seconds = time.monotonic() - started
    record_event(
        action=AuditAction.RESTORE,
        actor=actor,
        object_type="audits.backuprun",
        object_id=str(
            BackupRun.objects.filter(file_name=path.name).values_list("pk", flat=True).first() or ""
        ),
        details={
            "keys_redestroyed": outcome.keys_redestroyed,
            "customers_removed": outcome.customers_removed,
            "chain_ok": outcome.chain_ok,
            "chain_events": outcome.chain_events,
        },
    )
    return outcome


def _redacted(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


# --- the restore drill -------------------------------------------------------------------------


def _scratch_url() -> tuple[str, Any]:
    """A fresh scratch database URL and a function that drops it."""
    default = connections["default"].settings_dict
    if connections["default"].vendor == "postgresql":
        # The drill's scratch databases share a prefix, so an operator can see (and a
        # crashed drill's leftovers can be found) at a glance.
        prefix = getattr(settings, "TRANSFERDESK_DRILL_DATABASE_PREFIX", "") or (
            f"{default['NAME']}_restore"
        )
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"

        def run(sql: str) -> None:
            admin = _pg_connect(default, "postgres", autocommit=True)
            try:
                with admin.cursor() as cursor:
                    cursor.execute(sql)
            finally:
                admin.close()

        run(f'CREATE DATABASE "{name}"')
        user = default.get("USER") or ""
        password = f":{default['PASSWORD']}" if default.get("PASSWORD") else ""
        auth = f"{user}{password}@" if user else ""
        host = default.get("HOST") or "localhost"
        port = f":{default['PORT']}" if default.get("PORT") else ""
        url = f"postgres://{auth}{host}{port}/{name}"
        return url, lambda: run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    scratch = Path(tempfile.mkdtemp(prefix="tddrill-"))
    return f"sqlite:///{scratch / 'drill.sqlite3'}", lambda: shutil.rmtree(scratch, True)


def compare_figures(
    expected: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]], *, ledger_changed: bool
) -> list[dict[str, Any]]:
    """Tables whose row count or checksum differ (a table the ledger changed is compared by
    count only, and only when the ledger removed no rows from it)."""
    problems = []
    for table, want in sorted(expected.items()):
        got = actual.get(table)
        if got is None:
            problems.append({"table": table, "problem": "missing"})
            continue
        if ledger_changed and table in LEDGER_TABLES:
            continue
        if got["rows"] != want["rows"]:
            problems.append(
                {"table": table, "problem": "rows", "expected": want["rows"], "found": got["rows"]}
            )
        elif got["checksum"] != want["checksum"]:
            problems.append({"table": table, "problem": "checksum"})
    return problems


def latest_backup() -> BackupRun | None:
    return (
        BackupRun.objects.filter(status=RunStatus.SUCCEEDED, pruned_at__isnull=True)
        .order_by("-started_at")
        .first()
    )


def restore_drill(*, actor: Any = None, backup: BackupRun | None = None) -> RestoreDrill:
    """Restore the latest backup into a scratch database, compare it with its manifest, verify
    its chain, record the figures, drop the scratch database."""
    backup = backup or latest_backup()
    drill = RestoreDrill.objects.create(
        backup=backup, file_name=backup.file_name if backup else "", started_by=actor
    )
    started = time.monotonic()
    drop = None
    try:
        if backup is None:
            raise BackupError(_("There is no backup to drill with yet."))
        path = _backup_dir() / backup.file_name
        # Its figures are what the drill compares against: an authenticated manifest only.
        manifest = authenticate_manifest(read_manifest(path))
        assert manifest is not None  # refused above when missing or without a MAC
        url, drop = _scratch_url()
        outcome = restore(path=path, target_url=url, actor=actor, figures=True)
        mismatches = compare_figures(
            manifest["tables"], outcome.tables, ledger_changed=outcome.keys_redestroyed > 0
        )
        ok = outcome.chain_ok and not mismatches
        RestoreDrill.objects.filter(pk=drill.pk).update(
            status=RunStatus.SUCCEEDED if ok else RunStatus.FAILED,
            finished_at=timezone.now(),
            tables_checked=len(manifest["tables"]),
            rows_checked=sum(t["rows"] for t in outcome.tables.values()),
            mismatches=mismatches,
            keys_redestroyed=outcome.keys_redestroyed,
            chain_ok=outcome.chain_ok,
            chain_events=outcome.chain_events,
            seconds=time.monotonic() - started,
            error="" if ok else (outcome.chain_message or _("Tables differ from the manifest.")),
        )
    except Exception as exc:  # noqa: BLE001 - a failed drill is a result to record, not a crash
        RestoreDrill.objects.filter(pk=drill.pk).update(
            status=RunStatus.FAILED,
            finished_at=timezone.now(),
            seconds=time.monotonic() - started,
            error=str(exc)[:2000],
        )
    finally:
        if drop is not None:
            drop()
    drill.refresh_from_db()
    record_event(
        action=AuditAction.RESTORE,
        actor=actor,
        obj=drill,
        details={
            "drill": True,
            "status": drill.status,
            "tables": drill.tables_checked,
            "rows": drill.rows_checked,
            "mismatches": len(drill.mismatches),
            "chain_ok": drill.chain_ok,
        },
    )
    return drill
