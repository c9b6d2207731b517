"""The buyer verifies what they are asked to acknowledge: a verify page in the portal (the
deal's published key, the stored records) and a standalone verifier inside the receipt ZIP
that runs with nothing but Python and ``cryptography``."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile

import pypdf
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from transfers.choices import StageStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def buyer(client, cast):
    client.force_login(cast.buyer)
    return client


def _download(client, stage) -> bytes:
    response = client.get(reverse("portal:receipt_bundle", args=[stage.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    return response.content


def _rezip(data: bytes, change) -> bytes:
    """The same ZIP with one file's text changed by ``change(name, text)``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            text = source.read(info.filename).decode("utf-8")
            target.writestr(info.filename, change(info.filename.rsplit("/", 1)[-1], text))
    return out.getvalue()


def _tamper_manifest(name: str, text: str) -> str:
    if name != "manifest.json":
        return text
    manifest = json.loads(text)
    manifest["item_count"] += 1
    return json.dumps(manifest)


def _run_verifier(tmp_path, data: bytes, *args: str) -> subprocess.CompletedProcess:
    """Unzip the bundle into an empty folder and run the verifier it ships, as a buyer would:
    a fresh interpreter, isolated (-I: no project on the path, no environment)."""
    folder = tmp_path / "bundle"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(folder)
    (root,) = folder.iterdir()
    archive_path = tmp_path / f"{root.name}.zip"
    archive_path.write_bytes(data)
    return subprocess.run(
        [sys.executable, "-I", str(root / "verify_receipt.py"), str(archive_path), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )


def test_the_bundle_ships_a_standalone_verifier_that_says_ok(buyer, delivered, tmp_path):
    stage = delivered.identified
    data = _download(buyer, stage)
    names = {n.rsplit("/", 1)[-1] for n in zipfile.ZipFile(io.BytesIO(data)).namelist()}
    assert {"manifest.json", "items.json", "signature.txt", "public_key.txt"} <= names
    assert {"verify_receipt.py", "README.txt", "withdrawals.json"} <= names
    fingerprint = delivered.deal.signing_key_fingerprint
    done = _run_verifier(tmp_path, data, "--fingerprint", fingerprint)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK") and stage.manifest.merkle_root in done.stdout
    # The script imports nothing of the project: only the standard library and cryptography.
    source = zipfile.ZipFile(io.BytesIO(data)).read(f"receipt-D-1-{stage.order}/verify_receipt.py")
    imports = {
        line.split()[1].split(".")[0]
        for line in source.decode().splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imports <= {"__future__", "argparse", "base64", "hashlib", "json", "sys", "zipfile",
                       "pathlib", "typing", "cryptography"}  # fmt: skip


def test_the_standalone_verifier_fails_on_a_tampered_bundle_or_a_foreign_key(
    buyer, delivered, tmp_path
):
    data = _download(buyer, delivered.identified)
    tampered = _run_verifier(tmp_path / "a", _rezip(data, _tamper_manifest))
    assert tampered.returncode != 0 and tampered.stdout.startswith("FAIL")
    assert "signature does not verify" in tampered.stdout
    wrong_key = _run_verifier(tmp_path / "b", data, "--fingerprint", "00" * 32)
    assert wrong_key.returncode != 0 and "fingerprint" in wrong_key.stdout


def test_the_verify_page_checks_the_downloaded_zip_and_offers_the_acknowledgement(buyer, delivered):
    stage = delivered.identified
    url = reverse("portal:verify", args=[stage.pk])
    upload = SimpleUploadedFile("receipt.zip", _download(buyer, stage), "application/zip")
    page = buyer.post(url, {"file": upload}).content.decode()
    assert "Receipt verified" in page and stage.manifest.merkle_root in page
    assert reverse("portal:acknowledge", args=[stage.pk]) in page
    response = buyer.post(
        reverse("portal:acknowledge", args=[stage.pk]), {"merkle_root": stage.manifest.merkle_root}
    )
    assert response.status_code == 302
    stage.refresh_from_db()
    assert stage.status == StageStatus.ACKNOWLEDGED


def test_the_verify_page_refuses_a_tampered_bundle_and_another_stages_receipt(buyer, delivered):
    stage = delivered.identified
    url = reverse("portal:verify", args=[stage.pk])
    tampered = _rezip(_download(buyer, stage), _tamper_manifest)
    page = buyer.post(url, {"file": SimpleUploadedFile("r.zip", tampered)}).content.decode()
    assert "Verification failed" in page and "Receipt verified" not in page
    other = _download(buyer, delivered.pseudo)
    page = buyer.post(url, {"file": SimpleUploadedFile("r.zip", other)}).content.decode()
    assert "this receipt is for another stage" in page
    junk = buyer.post(url, {"file": SimpleUploadedFile("r.zip", b"PK\x03\x04 not a zip")})
    assert "not a TransferDesk receipt bundle" in junk.content.decode()


@pytest.mark.parametrize(
    "hostile",
    [
        {"manifest": [], "items": {}, "signature": 1, "public_key": None},
        {"manifest": {"stage": "x"}, "items": [[1, 2]], "signature": "", "public_key": ""},
        {
            "manifest": {"stage": {"id": None}},
            "items": [["a", "zz"]],
            "signature": "",
            "public_key": "",
        },
        [1, 2, 3],
    ],
)
def test_the_verify_page_answers_a_hostile_json_with_a_failure_not_a_500(buyer, delivered, hostile):
    stage = delivered.identified
    url = reverse("portal:verify", args=[stage.pk])
    for value in (
        hostile,
        {**hostile, "manifest": {"stage": {"id": str(stage.pk)}}}
        if isinstance(hostile, dict)
        else hostile,
    ):
        data = json.dumps(value).encode()
        response = buyer.post(url, {"file": SimpleUploadedFile("r.json", data)})
        assert response.status_code == 200
        page = response.content.decode()
        assert "Receipt verified" not in page
        assert "Verification failed" in page or "not a TransferDesk receipt bundle" in page
    # The forged withdrawals and non-hex digests of a real bundle fail too.
    bundle = buyer.get(reverse("portal:manifest", args=[stage.pk])).json()
    for change in (
        lambda b: b["items"][0].__setitem__(1, "not hex"),
        lambda b: b.__setitem__("withdrawals", {"body": {"withdrawn": 5}, "signature": 3}),
    ):
        copy = json.loads(json.dumps(bundle))
        change(copy)
        response = buyer.post(
            url, {"file": SimpleUploadedFile("r.json", json.dumps(copy).encode())}
        )
        assert response.status_code == 200 and "Verification failed" in response.content.decode()


def test_the_verify_page_checks_against_the_deals_key_not_the_one_in_the_file(buyer, delivered):
    """A forger re-signs an altered manifest with their own key and ships that key."""
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from transfers import signing

    stage = delivered.identified
    forger = Ed25519PrivateKey.generate()
    public = base64.b64encode(signing.public_key_bytes(forger.public_key())).decode()

    def resign(name: str, text: str) -> str:
        if name == "signature.txt":
            body = json.loads(manifest_text)
            return base64.b64encode(forger.sign(signing.canonical_json(body))).decode()
        return public if name == "public_key.txt" else text

    data = _download(buyer, stage)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest_text = archive.read(f"receipt-D-1-{stage.order}/manifest.json").decode()
    forged = _rezip(data, resign)
    url = reverse("portal:verify", args=[stage.pk])
    page = buyer.post(url, {"file": SimpleUploadedFile("r.zip", forged)}).content.decode()
    assert "Verification failed" in page and "is not the expected one" in page


def test_another_buyer_gets_a_404_for_the_verify_page_and_the_zip(client, cast, delivered):
    client.force_login(cast.other_buyer)
    for name in ("portal:verify", "portal:receipt_bundle"):
        assert client.get(reverse(name, args=[delivered.identified.pk])).status_code == 404


def test_the_receipt_pdf_points_to_the_portal_page_and_the_bundled_script(buyer, delivered):
    for language in ("en", "zh-hans"):
        buyer.cookies["django_language"] = language
        pdf = buyer.get(reverse("portal:receipt", args=[delivered.identified.pk])).content
        text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
        text = "".join(text.split())
        assert "manage.py" not in text
        assert "verify_receipt.py" in text
        assert ("校验回执" in text) == (language == "zh-hans")
