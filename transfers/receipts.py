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

from customers.choices import Tier
from transferdesk.crypto.errors import CryptoError
from transferdesk.pdf import EvidenceDocument, ReportMeta, para, table_chunks, title_page
from transferdesk.trail import chain_head

from . import signing
from .choices import ExclusionReason, choice_label
from .models import HandoverItem, HandoverStage

#: The statement of records withdrawn after delivery (``withdrawals_notice``).
WITHDRAWALS_FORMAT = "transferdesk-withdrawals/1"


def manifest_bundle(stage: HandoverStage) -> dict[str, Any]:
    """The downloadable receipt: signed manifest + ordered item digests + signature + key."""
    manifest = stage.manifest
    public_b64 = _public_b64()
    from .engine import receipt_items

    # Pseudonymised stages name their items by pseudonym only (``receipt_namer``).
    items = [[name, digest] for name, digest in receipt_items(stage)]
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
        problems.append(
            _("unknown manifest format {format}").format(format=repr(manifest.get("format")))
        )
    try:
        public_fp = signing.fingerprint(base64.b64decode(public_b64))
    except ValueError:
        public_fp = ""
    if expected_fingerprint and public_fp != expected_fingerprint:
        problems.append(
            _("public key fingerprint {fingerprint} is not the expected one").format(
                fingerprint=public_fp
            )
        )
    if not signing.verify_signature(manifest, signature, public_b64):
        problems.append(_("the manifest's signature does not verify (the manifest was altered)"))
    if len(items) != manifest.get("item_count"):
        problems.append(
            _("the receipt lists {listed} items, the manifest says {signed}").format(
                listed=len(items), signed=manifest.get("item_count")
            )
        )
    ids = [row[0] for row in items]
    if ids != sorted(ids):
        problems.append(_("the items are not sorted by their ids"))
    try:
        root = signing.merkle_root(row[1] for row in items)
    except ValueError:
        root = ""
    if root != manifest.get("merkle_root"):
        problems.append(_("the item digests do not match the signed Merkle root"))
    problems.extend(_check_withdrawals(bundle.get("withdrawals"), manifest, items, public_b64))
    if stage is not None:
        problems.extend(_check_stored_items(stage, items))
    stage_ref = manifest.get("stage", {}).get("id", "?")
    if problems:
        summary = _("FAIL stage {stage}: {problems}").format(
            stage=stage_ref, problems="; ".join(problems[:5])
        )
        return Verification(False, summary, problems)
    return Verification(
        True,
        _("OK stage {stage}: {items} items, root {root}…, signed by key {fingerprint}").format(
            stage=stage_ref, items=len(items), root=root[:16], fingerprint=public_fp
        ),
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
        return [_("the withdrawals statement is malformed")]
    if not (isinstance(body, dict) and isinstance(withdrawn, list) and isinstance(signature, str)):
        return [_("the withdrawals statement is malformed")]
    problems = []
    if not signing.verify_signature(body, signature, public_b64):
        problems.append(_("the withdrawals statement's signature does not verify (altered)"))
    if body.get("merkle_root") != manifest.get("merkle_root"):
        problems.append(_("the withdrawals statement speaks of another manifest"))
    digests = {row[1] for row in items}
    if any(not isinstance(w, dict) or w.get("digest") not in digests for w in withdrawn):
        problems.append(_("the withdrawals statement names a record the manifest does not cover"))
    return problems


def _check_stored_items(stage: HandoverStage, items: list[list[str]]) -> list[str]:
    """Compare each stored item (decrypted and re-hashed) with the receipt; name mismatches."""
    from .engine import decrypt_item, receipt_namer

    problems: list[str] = []
    listed = {row[0]: row[1] for row in items}
    key = stage.deal.data_key.unwrap()
    name_of = receipt_namer(stage)
    seen: set[str] = set()
    for item in stage.items.order_by("customer_id").iterator(chunk_size=2000):
        customer = name_of(item.customer_id)
        seen.add(customer)
        name = _("item {item} (customer {customer})").format(item=item.pk, customer=customer)
        if customer not in listed:
            problems.append(_("{name} is stored but not in the receipt").format(name=name))
            continue
        try:
            document = decrypt_item(item, key)
        except CryptoError:
            problems.append(
                _("{name}: the stored snapshot does not decrypt (altered)").format(name=name)
            )
            continue
        digest = _digest(document)
        if digest != item.digest:
            problems.append(
                _("{name}: the stored snapshot does not match its digest").format(name=name)
            )
        elif digest != listed[customer]:
            problems.append(_("{name}: its digest differs from the receipt's").format(name=name))
    for customer in listed.keys() - seen:
        problems.append(
            _("item for customer {customer} is in the receipt but not stored").format(
                customer=customer
            )
        )
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
                "1. Download the receipt bundle (ZIP) of this stage from the portal's "
                "Receipt & acknowledgement page. 2. Check that the public key fingerprint above "
                "is the one you received with the deal. 3. Either upload the bundle on the "
                "portal's Verify page, or run the verifier it contains on your own machine "
                "(Python 3 with the cryptography package): 'python3 verify_receipt.py "
                "BUNDLE.zip --fingerprint FINGERPRINT'. It checks the Ed25519 signature over "
                "the canonical JSON of the manifest (sorted keys, no spaces, UTF-8) and "
                "rebuilds the Merkle root from the item digests sorted by their ids: leaf = "
                "SHA-256(0x00 || digest), node = SHA-256(0x01 || left || right), an odd node is "
                "carried up."
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


def receipt_zip(stage: HandoverStage) -> bytes:
    """The receipt bundle as the buyer keeps it: the signed manifest, the ordered record
    digests, the signature, the public key, the withdrawals statement, the full JSON bundle
    (what the portal's verify page also accepts), a README and the standalone verifier
    (Python with only the ``cryptography`` package)."""
    import zipfile
    from pathlib import Path

    bundle = manifest_bundle(stage)
    folder = f"receipt-{stage.deal.reference}-{stage.order}"
    verifier = Path(__file__).with_name("verifier") / "verify_receipt.py"
    # The README is in both languages whatever the buyer's: the bundle travels to others.
    readme = (
        (verifier.parent / "README.txt")
        .read_text(encoding="utf-8")
        .format(
            reference=stage.deal.reference,
            stage=f"{stage.order}. {stage.name}",
            fingerprint=bundle["key_fingerprint"],
            root=bundle["manifest"]["merkle_root"],
            folder=folder,
        )
    )
    files = {
        "manifest.json": json.dumps(bundle["manifest"], ensure_ascii=False, indent=1),
        "items.json": json.dumps(bundle["items"], indent=0),
        "signature.txt": bundle["signature"] + "\n",
        "public_key.txt": bundle["public_key"] + "\n",
        "withdrawals.json": json.dumps(bundle["withdrawals"], ensure_ascii=False, indent=1),
        "receipt.json": json.dumps(bundle, ensure_ascii=False, indent=1),
        "README.txt": readme,
        "verify_receipt.py": verifier.read_text(encoding="utf-8"),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(f"{folder}/{name}", text.encode("utf-8"))
    return buffer.getvalue()


class UnreadableBundle(ValueError):
    """An upload that is neither a receipt ZIP nor a JSON receipt bundle."""


def bundle_from_upload(data: bytes) -> dict[str, Any]:
    """The receipt bundle in an uploaded file: the ZIP this module builds (its separate
    files, so what is checked is what the standalone verifier checks) or the JSON bundle."""
    import zipfile

    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                # A bundle is a few files; a ZIP that inflates past the bound is not one.
                if sum(info.file_size for info in archive.infolist()) > MAX_UNZIPPED:
                    raise UnreadableBundle("too large")
                names = {
                    info.filename.rsplit("/", 1)[-1]: info.filename for info in archive.infolist()
                }
                read = {
                    name: archive.read(path) for name, path in names.items() if name in ZIP_PARTS
                }
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise UnreadableBundle(str(exc)) from None
        missing = [name for name in ZIP_PARTS[:4] if name not in read]
        if missing:
            raise UnreadableBundle(", ".join(missing))
        try:
            bundle: dict[str, Any] = {
                "manifest": json.loads(read["manifest.json"]),
                "items": json.loads(read["items.json"]),
                "signature": read["signature.txt"].decode().strip(),
                "public_key": read["public_key.txt"].decode().strip(),
            }
            if "withdrawals.json" in read:
                bundle["withdrawals"] = json.loads(read["withdrawals.json"])
        except (ValueError, UnicodeDecodeError) as exc:
            raise UnreadableBundle(str(exc)) from None
        return bundle
    try:
        value = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnreadableBundle(str(exc)) from None
    if not isinstance(value, dict):
        raise UnreadableBundle("not an object")
    return value


MAX_UNZIPPED = 512 * 1024 * 1024
ZIP_PARTS = ("manifest.json", "items.json", "signature.txt", "public_key.txt", "withdrawals.json")


def verify_for_stage(bundle: dict[str, Any], stage: HandoverStage) -> Verification:
    """The buyer's check of a bundle for one of their stages: against the key published with
    the deal (not the key the file carries) and against the records stored for the stage."""
    manifest = bundle.get("manifest") if isinstance(bundle, dict) else None
    about = manifest.get("stage") if isinstance(manifest, dict) else None
    stage_ref = about.get("id") if isinstance(about, dict) else None
    if stage_ref != str(stage.pk):
        return Verification(False, _("FAIL: this receipt is for another stage."))
    return verify_bundle(
        bundle, stage=stage, expected_fingerprint=stage.deal.signing_key_fingerprint
    )


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
