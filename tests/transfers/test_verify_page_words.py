"""The staff page that checks a receipt bundle answers in the reader's language, whatever the
bundle holds: the verdict, its summary and each problem."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation
from django.utils.translation import trans_real

from customers.choices import Tier
from transfers.choices import StageKind
from transfers.receipts import manifest_bundle

from .conftest import make_customers
from .test_engine import _on_commit, run  # noqa: F401  (the engine runs in-process)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _catalogues(settings):
    from io import StringIO

    call_command("compile_catalogues", stdout=StringIO())
    trans_real._translations = {}
    trans_real._default = None
    yield
    translation.activate(settings.LANGUAGE_CODE)


def _result(client, bundle: object, fingerprint: str = "") -> str:
    upload = SimpleUploadedFile("receipt.json", json.dumps(bundle).encode(), "application/json")
    page = client.post(
        reverse("transfers:verify_receipt"),
        {"file": upload, "fingerprint": fingerprint},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    ).content.decode()
    # A verification result is a status above the form; a file that is no receipt at all is
    # refused on the form's field (the page validates the bundle's shape first).
    match = re.search(
        r'<div class="alert[^"]*" role="status">(.*?)</div>\s*<form'
        r'|<div class="invalid-feedback d-block">(.*?)</div>',
        page,
        re.S,
    )
    assert match, page
    return re.sub(r"<[^>]+>", " ", match.group(1) or match.group(2))


def _english_words(text: str) -> set[str]:
    """Words of three or more Latin letters outside hex digests and references."""
    text = re.sub(r"“[^”]*”", " ", text)  # quoted JSON keys of the file are names, not words
    return {
        w
        for w in re.findall(r"\b[A-Za-z]{3,}\b", text)
        if not re.fullmatch(r"[a-f]+|Merkle|TransferDesk|JSON", w)
    }


def test_the_staff_verify_page_answers_in_chinese(client, cast, deal):
    make_customers(cast.seller, 6)
    stage = run(cast, deal, StageKind.PSEUDONYMISED, [Tier.GENERAL])
    client.force_login(cast.broker)
    bundle = manifest_bundle(stage)

    sound = _result(client, bundle, bundle["key_fingerprint"])
    tampered_bundle = json.loads(json.dumps(bundle))
    tampered_bundle["items"][2][1] = "0" * 64
    tampered_bundle["manifest"]["item_count"] += 1
    tampered = _result(client, tampered_bundle, "0" * 16)
    broken = [
        _result(client, other)
        for other in ({"manifest": 1}, {"manifest": {"stage": 5}}, [1, 2], "receipt")
    ]

    assert "已校验" in sound and "通过" in sound
    assert "校验失败" in tampered and "记录摘要与已签名的Merkle 根不一致" in tampered
    assert not _english_words(sound), sound
    assert not _english_words(tampered), tampered
    for answer in broken:
        assert "校验失败" in answer or "不是回执包" in answer, answer
        assert not _english_words(answer), answer
