#!/usr/bin/env python3
"""Verify a TransferDesk handover receipt on your own machine.

Needs Python 3.9 or later and the ``cryptography`` package, nothing else (no TransferDesk, no
network). Shipped inside every receipt bundle (ZIP), next to the files it checks:

    python3 verify_receipt.py receipt-D-1-2.zip --fingerprint 1a2b:3c4d:...

or, on the unzipped folder, ``python3 verify_receipt.py receipt-D-1-2/``. It checks:

1. the public key is the one you were given with the deal (``--fingerprint``: SHA-256 of the
   raw Ed25519 public key, in groups of four hex digits);
2. the Ed25519 signature over the manifest (canonical JSON: sorted keys, no spaces, UTF-8);
3. the record digests: as many as the manifest says, sorted by their ids (the customer
   ids, or the pseudonyms of a pseudonymised stage), and their Merkle
   root equals the signed root (leaf = SHA-256(0x00 || digest), node = SHA-256(0x01 || left ||
   right), an odd node is carried up unchanged);
4. the list of records withdrawn since delivery, when present: signed by the same key, about
   this manifest's root, naming only digests the manifest covers.

Prints ``OK ...`` and exits 0, or prints ``FAIL ...`` with each problem and exits 1.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MANIFEST_FORMAT = "transferdesk-manifest/1"
FILES = ("manifest.json", "items.json", "signature.txt", "public_key.txt")


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def fingerprint(public_raw: bytes) -> str:
    digest = hashlib.sha256(public_raw).hexdigest()
    return ":".join(digest[i : i + 4] for i in range(0, 64, 4))


def merkle_root(digests: list[str]) -> str:
    if not digests:
        return hashlib.sha256(b"").hexdigest()
    level = [hashlib.sha256(b"\x00" + bytes.fromhex(d)).digest() for d in digests]
    while len(level) > 1:
        up = [
            hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            up.append(level[-1])
        level = up
    return level[0].hex()


def signature_ok(body: Any, signature_b64: str, public_raw: bytes) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(public_raw)
        key.verify(base64.b64decode(signature_b64), canonical_json(body))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def read_bundle(path: Path) -> dict[str, bytes]:
    """The bundle's files by name, from the ZIP or from the unzipped folder."""
    names = (*FILES, "withdrawals.json")
    if path.is_dir():
        return {name: (path / name).read_bytes() for name in names if (path / name).is_file()}
    with zipfile.ZipFile(path) as archive:
        found = {Path(info.filename).name: info.filename for info in archive.infolist()}
        return {name: archive.read(found[name]) for name in names if name in found}


def verify(files: dict[str, bytes], expected_fingerprint: str | None) -> list[str]:
    missing = [name for name in FILES if name not in files]
    if missing:
        return ["missing from the bundle: " + ", ".join(missing)]
    problems = []
    try:
        manifest = json.loads(files["manifest.json"])
        items = json.loads(files["items.json"])
        withdrawals = json.loads(files["withdrawals.json"]) if "withdrawals.json" in files else None
        signature = files["signature.txt"].decode().strip()
        public_raw = base64.b64decode(files["public_key.txt"].decode().strip(), validate=True)
    except (ValueError, UnicodeDecodeError) as exc:
        return [f"unreadable bundle file: {exc}"]
    if not isinstance(manifest, dict) or not isinstance(items, list):
        return ["manifest.json must hold an object and items.json a list"]
    if manifest.get("format") != MANIFEST_FORMAT:
        problems.append(f"unknown manifest format {manifest.get('format')!r}")
    key_fp = fingerprint(public_raw)
    if expected_fingerprint:
        wanted = expected_fingerprint.strip().lower()
        if key_fp != wanted:
            problems.append(f"public key fingerprint {key_fp} is not the expected {wanted}")
    if not signature_ok(manifest, signature, public_raw):
        problems.append("the manifest's signature does not verify (the manifest was altered)")
    try:
        ids = [str(row[0]) for row in items]
        digests = [str(row[1]) for row in items]
        root = merkle_root(digests)
    except (IndexError, TypeError, ValueError):
        return [*problems, "items.json must list [customer id, SHA-256 hex digest] pairs"]
    if len(items) != manifest.get("item_count"):
        problems.append(
            f"{len(items)} items listed, the manifest says {manifest.get('item_count')}"
        )
    if ids != sorted(ids):
        problems.append("the items are not sorted by their ids")
    if root != manifest.get("merkle_root"):
        problems.append("the item digests do not match the signed Merkle root")
    if withdrawals is not None:
        try:
            body, w_signature = withdrawals["body"], withdrawals["signature"]
            listed = [w["digest"] for w in body["withdrawn"]]
        except (KeyError, TypeError):
            return [*problems, "withdrawals.json is malformed"]
        if not signature_ok(body, w_signature, public_raw):
            problems.append("the withdrawals statement's signature does not verify (altered)")
        if body.get("merkle_root") != manifest.get("merkle_root"):
            problems.append("the withdrawals statement speaks of another manifest")
        if set(listed) - set(digests):
            problems.append("the withdrawals statement names a record the manifest does not cover")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a TransferDesk handover receipt.")
    parser.add_argument("bundle", type=Path, help="the receipt ZIP, or the folder it unzips to")
    parser.add_argument("--fingerprint", help="the public key fingerprint given with the deal")
    args = parser.parse_args(argv)
    try:
        files = read_bundle(args.bundle)
    except (OSError, zipfile.BadZipFile) as exc:
        print(f"FAIL: cannot read {args.bundle}: {exc}")
        return 1
    problems = verify(files, args.fingerprint)
    if problems:
        print("FAIL: " + "; ".join(problems))
        return 1
    manifest = json.loads(files["manifest.json"])
    items = json.loads(files["items.json"])
    public_raw = base64.b64decode(files["public_key.txt"].decode().strip())
    withdrawn = 0
    if "withdrawals.json" in files:
        withdrawn = len(json.loads(files["withdrawals.json"])["body"]["withdrawn"])
    stage = manifest.get("stage", {}).get("id", "?")
    print(
        f"OK stage {stage}: {len(items)} items, root {manifest['merkle_root']}, "
        f"signed by key {fingerprint(public_raw)}, {withdrawn} withdrawn since delivery"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
