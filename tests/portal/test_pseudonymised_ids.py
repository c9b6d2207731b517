"""A pseudonymised stage names its records by their pseudonym only: the receipt bundle, the
manifest download, the portal's pages and its exports carry neither the seller's customer id
nor the seller's reference, and the receipt still verifies (portal page, standalone
verifier) with the records found again server-side."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from transfers.models import HandoverItem

pytestmark = pytest.mark.django_db


@pytest.fixture
def buyer(client, cast):
    cache.delete(f"portal:export-rate:{cast.buyer.pk}")
    client.force_login(cast.buyer)
    yield client
    cache.delete(f"portal:export-rate:{cast.buyer.pk}")


def _seller_ids(stage) -> list[str]:
    """Every spelling of the seller's ids for the stage's customers."""
    from customers.models import Customer

    found = []
    for customer in Customer.objects.filter(
        pk__in=HandoverItem.objects.filter(stage=stage).values("customer_id")
    ):
        found += [str(customer.pk), customer.pk.hex, customer.reference]
    assert len(found) == 3 * stage.items.count() > 0
    return found


def _assert_no_seller_id(text: str, ids: list[str]) -> None:
    leaked = [value for value in ids if value and value.lower() in text.lower()]
    assert not leaked, leaked


def test_the_receipt_bundle_and_manifest_carry_pseudonyms_only(buyer, delivered, tmp_path):
    stage = delivered.pseudo
    ids = _seller_ids(stage)
    data = buyer.get(reverse("portal:receipt_bundle", args=[stage.pk])).content
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        texts = {name: archive.read(name).decode("utf-8") for name in archive.namelist()}
        items = json.loads(next(t for n, t in texts.items() if n.endswith("/items.json")))
    for name, text in texts.items():
        if not name.endswith(".py"):
            _assert_no_seller_id(text, ids)
    manifest = buyer.get(reverse("portal:manifest", args=[stage.pk])).content.decode()
    _assert_no_seller_id(manifest, ids)
    listed = {row[0] for row in items}
    assert len(listed) == stage.items.count() and all(len(i) == 32 for i in listed)
    # The ids listed are the pseudonyms the records carry on the portal's pages (the list
    # shows their first twelve characters).
    page = buyer.get(reverse("portal:stage", args=[stage.pk])).content.decode()
    _assert_no_seller_id(page, ids)
    assert all(pseudonym[:12] + "…" in page for pseudonym in listed)
    # Still verifiable: the standalone verifier and the portal's verify page (which finds
    # every stored record again by its pseudonym).
    archive_path = tmp_path / "receipt.zip"
    archive_path.write_bytes(data)
    with zipfile.ZipFile(archive_path) as archive:
        archive.extractall(tmp_path / "x")
    (folder,) = (tmp_path / "x").iterdir()
    done = subprocess.run(
        [sys.executable, "-I", str(folder / "verify_receipt.py"), str(archive_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    url = reverse("portal:verify", args=[stage.pk])
    result = buyer.post(url, {"file": SimpleUploadedFile("r.zip", data)}).content.decode()
    assert "OK stage" in result
    _assert_no_seller_id(result, ids)


def test_a_pseudonymised_stages_pages_and_exports_carry_no_seller_id(buyer, delivered):
    stage = delivered.pseudo
    ids = _seller_ids(stage)
    item = stage.items.order_by("pk").first()
    page = buyer.get(reverse("portal:item", args=[stage.pk, item.pk])).content.decode()
    _assert_no_seller_id(page, ids)
    for fmt in ("csv", "xlsx"):
        response = buyer.post(reverse("portal:export", args=[stage.pk, fmt]))
        assert response.status_code == 200
        content = b"".join(response.streaming_content) if response.streaming else response.content
        if fmt == "xlsx":
            with zipfile.ZipFile(io.BytesIO(content)) as book:
                content = b"".join(book.read(name) for name in book.namelist())
        _assert_no_seller_id(content.decode("utf-8", "replace"), ids)
