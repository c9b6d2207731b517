"""Handover receipts: the signed manifest bundle (JSON), its verification, and the PDF.

The bundle is what the buyer keeps: the signed manifest, the ordered item digests the Merkle
root is built from, the signature and the public key. ``verify_bundle`` checks it offline
(signature, counts, root); given the stage it also checks every stored item against it, so a
changed item, ciphertext or digest is named.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Spacer

from audits.selectors import chain_head
from customers.choices import Tier
from transferdesk.crypto.errors import CryptoError
from transferdesk.pdf import EvidenceDocument, ReportMeta, para, table_chunks, title_page

from . import signing
from .choices import ExclusionReason, choice_label
from .models import HandoverItem, HandoverStage


def manifest_bundle(stage: HandoverStage) -> dict[str, Any]:
    """The downloadable receipt: signed manifest + ordered item digests + signature + key."""
    manifest = stage.manifest
    public_b64 = _public_b64()
    items = [
        [str(customer_id), digest]
        for customer_id, digest in stage.items.order_by("customer_id")
        .values_list("customer_id", "digest")
        .iterator(chunk_size=5000)
    ]
    return {
        "manifest": manifest.body,
        "items": items,
        "signature": manifest.signature,
        "public_key": public_b64,
        "key_fingerprint": manifest.key_fingerprint,
    }


def _public_b64() -> str:
    import base64

    return base64.b64encode(signing.public_key_bytes(signing.signing_key().public_key())).decode()


@dataclass
class Verification:
    ok: bool
    summary: str
    problems: list[str] = field(default_factory=list)


_HEX64 = re.compile(r"^[0-9a-f]{64}\Z")
#: Longest id an item may carry (UUIDs and pseudonyms are far shorter).
MAX_ITEM_ID = 200
_REQUIRED = ("manifest", "items", "signature", "public_key")


def _base64_bytes(value: Any, size: int) -> bool:
    if not isinstance(value, str) or len(value) > 4 * size:
        return False
    try:
        return len(base64.b64decode(value, validate=True)) == size
    except (binascii.Error, ValueError):
        return False


def bundle_problem(bundle: Any) -> str | None:
    """Why ``bundle`` is not shaped like a receipt bundle, in words, or None if it is.

    Every value the verifier will use is checked for its type and form first (objects, a
    list of [id, 64-hex digest] pairs, a whole item count, base64 key and signature of the
    right length), so a malformed upload gets a clear answer rather than an error.
    """
    if not isinstance(bundle, dict):
        return _("This is not a receipt bundle: the file must hold a JSON object.")
    missing = [name for name in _REQUIRED if name not in bundle]
    if missing:
        return _("This is not a receipt bundle: it lacks {fields}.").format(
            fields=", ".join(f"“{name}”" for name in missing)
        )
    manifest = bundle["manifest"]
    if not isinstance(manifest, dict):
        return _("The bundle's “manifest” must be a JSON object.")
    stage = manifest.get("stage")
    if not isinstance(stage, dict) or not isinstance(stage.get("id"), str):
        return _("The manifest does not name its stage.")
    count = manifest.get("item_count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        return _("The manifest's “item_count” must be a whole number.")
    root = manifest.get("merkle_root")
    if not isinstance(root, str) or not _HEX64.match(root):
        return _("The manifest's “merkle_root” must be 64 hexadecimal digits.")
    items = bundle["items"]
    if not isinstance(items, list):
        return _("The bundle's “items” must be a list.")
    for number, row in enumerate(items, start=1):
        if not (
            isinstance(row, list)
            and len(row) == 2
            and isinstance(row[0], str)
            and 0 < len(row[0]) <= MAX_ITEM_ID
            and isinstance(row[1], str)
            and _HEX64.match(row[1])
        ):
            return _(
                "Item {number} must be a pair: an id and a digest of 64 hexadecimal digits."
            ).format(number=number)
    if not _base64_bytes(bundle["public_key"], 32):
        return _("The bundle's “public_key” must be a 32-byte key in base64.")
    if not _base64_bytes(bundle["signature"], 64):
        return _("The bundle's “signature” must be a 64-byte signature in base64.")
    return None


def verify_bundle(
    bundle: dict[str, Any],
    *,
    stage: HandoverStage | None = None,
    expected_fingerprint: str | None = None,
) -> Verification:
    """Check a receipt bundle; with ``stage``, also every stored item against it."""
    problems: list[str] = []
    malformed = bundle_problem(bundle)
    if malformed:
        return Verification(False, malformed, [malformed])
    manifest = bundle["manifest"]
    items = bundle["items"]
    signature = bundle["signature"]
    public_b64 = bundle["public_key"]
    if manifest.get("format") != signing.MANIFEST_FORMAT:
        problems.append(f"unknown manifest format {manifest.get('format')!r}")
    try:
        public_fp = signing.fingerprint(base64.b64decode(public_b64))
    except ValueError:
        public_fp = ""
    if expected_fingerprint and public_fp != expected_fingerprint:
        problems.append(f"public key fingerprint {public_fp} is not the expected one")
    if not signing.verify_signature(manifest, signature, public_b64):
        problems.append("the manifest's signature does not verify (the manifest was altered)")
    if len(items) != manifest.get("item_count"):
        problems.append(
            f"the receipt lists {len(items)} items, the manifest says {manifest.get('item_count')}"
        )
    ids = [row[0] for row in items]
    if ids != sorted(ids):
        problems.append("the items are not in customer-id order")
    root = signing.merkle_root(row[1] for row in items)
    if root != manifest.get("merkle_root"):
        problems.append("the item digests do not match the signed Merkle root")
    if stage is not None:
        problems.extend(_check_stored_items(stage, items))
    stage_ref = manifest.get("stage", {}).get("id", "?")
    if problems:
        return Verification(False, f"FAIL stage {stage_ref}: " + "; ".join(problems[:5]), problems)
    return Verification(
        True,
        f"OK stage {stage_ref}: {len(items)} items, root {root[:16]}…, signed by key {public_fp}",
    )


def _check_stored_items(stage: HandoverStage, items: list[list[str]]) -> list[str]:
    """Compare each stored item (decrypted and re-hashed) with the receipt; name mismatches."""
    from .engine import decrypt_item

    problems: list[str] = []
    listed = {row[0]: row[1] for row in items}
    key = stage.deal.data_key.unwrap()
    seen: set[str] = set()
    for item in stage.items.order_by("customer_id").iterator(chunk_size=2000):
        customer = str(item.customer_id)
        seen.add(customer)
        name = f"item {item.pk} (customer {customer})"
        if customer not in listed:
            problems.append(f"{name} is stored but not in the receipt")
            continue
        try:
            document = decrypt_item(item, key)
        except CryptoError:
            problems.append(f"{name}: the stored snapshot does not decrypt (altered)")
            continue
        digest = _digest(document)
        if digest != item.digest:
            problems.append(f"{name}: the stored snapshot does not match its digest")
        elif digest != listed[customer]:
            problems.append(f"{name}: its digest differs from the receipt's")
    for customer in listed.keys() - seen:
        problems.append(f"item for customer {customer} is in the receipt but not stored")
    return problems


def _digest(document: dict[str, Any]) -> str:
    import hashlib

    return hashlib.sha256(signing.canonical_json(document)).hexdigest()


# --- PDF -----------------------------------------------------------------------------------


def receipt_pdf(stage: HandoverStage, *, user: Any) -> bytes:
    """The handover receipt: manifest facts, signature, key fingerprint, how to verify."""
    manifest = stage.manifest
    body = manifest.body
    deal = stage.deal
    buffer = io.BytesIO()
    head = chain_head()
    meta = ReportMeta(
        title=_("Handover receipt {reference} / {stage}").format(
            reference=deal.reference, stage=stage.order
        ),
        generated_by=user.get_username() if user else "system",
        generated_at=timezone.now(),
        chain_head=f"{head.seq}:{head.mac[:32]}",
    )
    facts = [
        (_("Deal"), f"{deal.reference} — {deal.title}"),
        (_("Seller"), deal.seller.legal_name),
        (_("Recipient"), body["recipient"]["name"]),
        (_("Stage"), f"{stage.order}. {stage.name}"),
        (_("Kind"), stage.get_kind_display()),
        (_("Tiers"), ", ".join(choice_label(Tier, t) for t in body["stage"]["tier_scope"])),
        (_("Items"), body["item_count"]),
        (
            _("Items per tier"),
            ", ".join(f"{choice_label(Tier, k)}: {v}" for k, v in body["counts_per_tier"].items()),
        ),
        (
            _("Excluded"),
            ", ".join(
                f"{choice_label(ExclusionReason, k)}: {v}" for k, v in body["exclusions"].items()
            ),
        ),
        (_("Completed"), body["completed_at"]),
        (_("Merkle root (SHA-256)"), body["merkle_root"]),
        (
            _("Audit chain head at delivery"),
            f"{body['chain_head']['seq']}:{body['chain_head']['mac']}",
        ),
        (_("Signature (Ed25519)"), manifest.signature),
        (_("Public key fingerprint"), manifest.key_fingerprint),
    ]
    if body.get("aggregate_digest"):
        # An aggregate stage hands over statistics, not items: say what it counted instead.
        counted = stage.result.get("customers")
        facts[6] = (_("Customers counted"), counted if counted is not None else "<5")
        facts[7] = (_("Aggregate result digest"), body["aggregate_digest"])
    flow: list[Any] = title_page(
        _("Handover receipt"),
        _("What was handed over in this stage, signed by TransferDesk."),
        facts,
    )
    flow += [
        Spacer(1, 8 * mm),
        para(_("How to verify this receipt offline"), "h2", bold=True),
        para(
            _(
                "1. Download the manifest bundle (JSON) of this stage. 2. Check that the public "
                "key fingerprint above is the one you received with the deal. 3. Run "
                "'manage.py verify_receipt FILE --fingerprint FINGERPRINT', or verify the "
                "Ed25519 signature over the canonical JSON of the manifest (sorted keys, no "
                "spaces, UTF-8) with any Ed25519 tool, then rebuild the Merkle root from the "
                "item digests in customer-id order: leaf = SHA-256(0x00 || digest), node = "
                "SHA-256(0x01 || left || right), an odd node is carried up."
            )
        ),
    ]
    if stage.result:
        flow += [PageBreak(), para(_("Aggregate statistics"), "h2", bold=True)]
        rows = [
            (_("Segment"), c["value"], c["customers"] if c["customers"] is not None else "<5")
            for c in stage.result.get("by_segment", [])
        ]
        flow += list(table_chunks([_("Dimension"), _("Value"), _("Customers")], rows))
    document = EvidenceDocument(buffer, meta)
    document.build_stream(flow)
    return buffer.getvalue()


def bundle_json(stage: HandoverStage) -> bytes:
    return json.dumps(manifest_bundle(stage), ensure_ascii=False, indent=1).encode()


def stage_for_bundle(bundle: Any) -> HandoverStage | None:
    """The local stage a bundle speaks of, if this installation holds it."""
    if bundle_problem(bundle) is not None:
        return None
    stage_id = bundle["manifest"]["stage"]["id"]
    try:
        return HandoverStage.objects.select_related("deal").filter(pk=stage_id).first()
    except Exception:  # noqa: BLE001 - a malformed id is simply "not ours"
        return None


__all__ = ["HandoverItem", "manifest_bundle", "receipt_pdf", "verify_bundle"]
