"""Receipt cryptography: the Ed25519 signing key, fingerprints, canonical JSON, Merkle roots.

Kept free of Django models so that verification can run offline on a downloaded receipt with
nothing but the public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

MANIFEST_FORMAT = "transferdesk-manifest/1"


def canonical_json(value: Any) -> bytes:
    """One byte string per value: sorted keys, no spaces, UTF-8. Digests and signatures are
    taken over this, so the same content always hashes the same on every machine."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signing_key() -> Ed25519PrivateKey:
    from django.conf import settings

    raw = base64.urlsafe_b64decode(settings.TRANSFERDESK_SIGNING_KEY)
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def fingerprint(public_raw: bytes) -> str:
    """SHA-256 of the raw public key, in colon-separated groups a person can read aloud."""
    digest = hashlib.sha256(public_raw).hexdigest()
    return ":".join(digest[i : i + 4] for i in range(0, 64, 4))


def current_fingerprint() -> str:
    return fingerprint(public_key_bytes(signing_key().public_key()))


def sign(body: dict[str, Any]) -> tuple[str, str, str]:
    """Sign the canonical body: (signature, public key, fingerprint), base64 / text."""
    key = signing_key()
    public_raw = public_key_bytes(key.public_key())
    signature = key.sign(canonical_json(body))
    return (
        base64.b64encode(signature).decode(),
        base64.b64encode(public_raw).decode(),
        fingerprint(public_raw),
    )


def verify_signature(body: dict[str, Any], signature_b64: str, public_b64: str) -> bool:
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64))
        public.verify(base64.b64decode(signature_b64), canonical_json(body))
    except (InvalidSignature, ValueError):
        return False
    return True


def _seal_key() -> bytes:
    """A key for sealing records the engine trusts (stage approvals), derived from the signing
    key: outside the database, so whoever can write to the database cannot forge a seal."""
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    raw = signing_key().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return hashlib.sha256(b"transferdesk/seal/v1\x00" + raw).digest()


def seal(body: dict[str, Any]) -> str:
    """HMAC-SHA256 of the canonical body under the seal key (hex)."""
    import hmac

    return hmac.new(_seal_key(), canonical_json(body), hashlib.sha256).hexdigest()


def seal_matches(body: dict[str, Any], value: str) -> bool:
    import hmac

    return hmac.compare_digest(seal(body), value or "")


def _leaf(digest_hex: str) -> bytes:
    # Domain separation between leaves and inner nodes (no second-preimage splicing).
    return hashlib.sha256(b"\x00" + bytes.fromhex(digest_hex)).digest()


def merkle_root(digests: Iterable[str]) -> str:
    """Merkle root over hex digests in the given order; an odd node is carried up unchanged.

    Builds level by level while streaming the leaves in, keeping one pending node per level,
    so memory stays logarithmic in the number of items.
    """
    levels: list[bytes | None] = []
    count = 0
    for digest in digests:
        count += 1
        node = _leaf(digest)
        height = 0
        while True:
            if height == len(levels):
                levels.append(node)
                break
            pending = levels[height]
            if pending is None:
                levels[height] = node
                break
            node = hashlib.sha256(b"\x01" + pending + node).digest()
            levels[height] = None
            height += 1
    if count == 0:
        return hashlib.sha256(b"").hexdigest()
    root: bytes | None = None
    for pending in levels:
        if pending is None:
            continue
        root = pending if root is None else hashlib.sha256(b"\x01" + pending + root).digest()
    assert root is not None
    return root.hex()
