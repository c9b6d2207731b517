"""Handover receipts: the signed manifest bundle (JSON), its verification, and the PDF.

The bundle is what the buyer keeps: the signed manifest, the ordered item digests the Merkle
root is built from, the signature and the public key. ``verify_bundle`` checks it offline
(signature, counts, root); given the stage it also checks every stored item against it, so a
changed item, ciphertext or digest is named.
"""

from __future__ import annotations

import io
import json
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

#: The statement of records withdrawn after delivery (``withdrawals_notice``).
WITHDRAWALS_FORMAT = "transferdesk-withdrawals/1"


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
        "withdrawals": withdrawals_notice(stage),
    }


def withdrawals_notice(stage: HandoverStage) -> dict[str, Any]:
    """The records withdrawn from the stage since delivery, signed on their own.

    The delivery manifest stays exactly as signed at delivery (its root is what the buyer
    acknowledges); what was taken back since is a second, separately signed statement that
    names the manifest root it amends and each withdrawn item by its digest (a leaf of that
    root), with the reason and the date. Its body changes as tasks arrive; its signature is
    made when the bundle is downloaded."""
    from .portal_selectors import stage_withdrawals

    body = {
        "format": WITHDRAWALS_FORMAT,
        "stage": str(stage.pk),
        "merkle_root": stage.manifest.merkle_root,
        "as_of": timezone.now().isoformat(),
        "withdrawn": [
            {
                "item": w.item,
                "digest": w.digest,
                "kind": w.kind,
                "reason": w.reason,
                "since": w.since.isoformat(),
            }
            for w in stage_withdrawals(stage)
        ],
    }
    signature, _public, _fingerprint = signing.sign(body)
    return {"body": body, "signature": signature}


def _public_b64() -> str:
    import base64

    return base64.b64encode(signing.public_key_bytes(signing.signing_key().public_key())).decode()


@dataclass
class Verification:
    ok: bool
    summary: str
    problems: list[str] = field(default_factory=list)


def verify_bundle(
    bundle: dict[str, Any],
    *,
    stage: HandoverStage | None = None,
    expected_fingerprint: str | None = None,
) -> Verification:
    """Check a receipt bundle; with ``stage``, also every stored item against it."""
    problems: list[str] = []
    try:
        manifest = bundle["manifest"]
        items = bundle["items"]
        signature = bundle["signature"]
        public_b64 = bundle["public_key"]
    except (KeyError, TypeError):
        return Verification(False, "FAIL: not a TransferDesk receipt (fields missing)")
    if manifest.get("format") != signing.MANIFEST_FORMAT:
        problems.append(f"unknown manifest format {manifest.get('format')!r}")
    import base64

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
    problems.extend(_check_withdrawals(bundle.get("withdrawals"), manifest, items, public_b64))
    if stage is not None:
        problems.extend(_check_stored_items(stage, items))
    stage_ref = manifest.get("stage", {}).get("id", "?")
    if problems:
        return Verification(False, f"FAIL stage {stage_ref}: " + "; ".join(problems[:5]), problems)
    return Verification(
        True,
        f"OK stage {stage_ref}: {len(items)} items, root {root[:16]}…, signed by key {public_fp}",
    )


def _check_withdrawals(
    notice: Any, manifest: dict[str, Any], items: list[list[str]], public_b64: str
) -> list[str]:
    """A bundle's withdrawals statement, when it has one: signed by the same key, about this
    manifest's root, and naming only digests the manifest covers."""
    if notice is None:
        return []
    try:
        body, signature = notice["body"], notice["signature"]
        withdrawn = body["withdrawn"]
    except (KeyError, TypeError):
        return ["the withdrawals statement is malformed"]
    problems = []
    if not signing.verify_signature(body, signature, public_b64):
        problems.append("the withdrawals statement's signature does not verify (altered)")
    if body.get("merkle_root") != manifest.get("merkle_root"):
        problems.append("the withdrawals statement speaks of another manifest")
    digests = {row[1] for row in items}
    if any(not isinstance(w, dict) or w.get("digest") not in digests for w in withdrawn):
        problems.append("the withdrawals statement names a record the manifest does not cover")
    return problems


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
        facts[6] = (_("Customers counted"), counted if counted is not None else _("suppressed"))
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
    flow += _withdrawals_flow(stage)
    if stage.result:
        flow += [PageBreak(), para(_("Aggregate statistics"), "h2", bold=True)]
        rows = [
            (
                _("Segment"),
                c["value"],
                c["customers"] if c["customers"] is not None else _("suppressed"),
            )
            for c in stage.result.get("by_segment", [])
        ]
        flow += list(table_chunks([_("Dimension"), _("Value"), _("Customers")], rows))
    document = EvidenceDocument(buffer, meta)
    document.build_stream(flow)
    return buffer.getvalue()


def _withdrawals_flow(stage: HandoverStage) -> list[Any]:
    """The receipt's list of records withdrawn since delivery (deleted, erased, restricted)."""
    from .portal_models import FollowUpKind, FollowUpReason
    from .portal_selectors import stage_withdrawals

    withdrawn = stage_withdrawals(stage)
    flow: list[Any] = [Spacer(1, 6 * mm), para(_("Withdrawn since delivery"), "h2", bold=True)]
    if not withdrawn:
        flow.append(para(_("No record of this stage has been withdrawn.")))
        return flow
    flow.append(
        para(
            _(
                "These records are covered by the signed manifest above but were withdrawn "
                "afterwards: they are no longer shown or exported, and you must stop using "
                "them. The receipt bundle carries this list signed on its own."
            )
        )
    )
    rows = [
        (
            f"#{w.item}",
            choice_label(FollowUpKind, w.kind),
            choice_label(FollowUpReason, w.reason),
            timezone.localtime(w.since).strftime("%Y-%m-%d %H:%M"),
            w.digest[:16] + "…",
        )
        for w in withdrawn
    ]
    flow += list(table_chunks([_("Record"), _("Task"), _("Reason"), _("Since"), _("Digest")], rows))
    return flow


def bundle_json(stage: HandoverStage) -> bytes:
    return json.dumps(manifest_bundle(stage), ensure_ascii=False, indent=1).encode()


def stage_for_bundle(bundle: dict[str, Any]) -> HandoverStage | None:
    """The local stage a bundle speaks of, if this installation holds it."""
    stage_id = bundle.get("manifest", {}).get("stage", {}).get("id")
    try:
        return HandoverStage.objects.select_related("deal").filter(pk=stage_id).first()
    except Exception:  # noqa: BLE001 - a malformed id is simply "not ours"
        return None


__all__ = ["HandoverItem", "manifest_bundle", "receipt_pdf", "verify_bundle"]
