"""The receipt verify page answers every upload with a clear message, never a server error:
malformed bundles of every shape are named for what is wrong with them."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transferdesk.trail import AuditAction  # noqa: F401 - the audit app is loaded with its models
from transfers.receipts import manifest_bundle

from .conftest import make_customers, make_deal

pytestmark = pytest.mark.django_db

PROPERTY_SETTINGS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SAMPLE_DIGEST = "ab" * 32
SAMPLE_KEY = "A" * 43 + "="


def post(client, payload: object | bytes):
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    upload = SimpleUploadedFile("bundle.json", raw, content_type="application/json")
    return client.post(reverse("transfers:verify_receipt"), {"file": upload})


def shaped(**overrides: object) -> dict[str, object]:
    """A bundle with the right fields, each replaceable by something malformed."""
    bundle: dict[str, object] = {
        "manifest": {
            "format": "transferdesk-manifest/1",
            "stage": {"id": "00000000-0000-0000-0000-000000000001"},
            "item_count": 1,
            "merkle_root": SAMPLE_DIGEST,
        },
        "items": [["00000000-0000-0000-0000-000000000002", SAMPLE_DIGEST]],
        "signature": "A" * 86 + "==",
        "public_key": SAMPLE_KEY,
    }
    bundle.update(overrides)
    return bundle


@pytest.fixture
def officer(client, cast):
    client.force_login(cast.compliance)
    return client


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ([], "must hold a JSON object"),
        ({"manifest": "x"}, "it lacks"),
        (shaped(manifest="x"), "“manifest” must be a JSON object"),
        (shaped(items=5), "“items” must be a list"),
        (shaped(items=[["c-1", "not-hex"]]), "Item 1 must be a pair"),
        (shaped(items=[["c-1", "zz" * 32]]), "Item 1 must be a pair"),
        (shaped(items=[[1, SAMPLE_DIGEST]]), "Item 1 must be a pair"),
        (shaped(items=[None]), "Item 1 must be a pair"),
        (shaped(manifest={"stage": {"id": "x"}, "item_count": "5"}), "whole number"),
        (shaped(manifest={"stage": "x"}), "does not name its stage"),
        (
            shaped(manifest={"stage": {"id": "x"}, "item_count": 1, "merkle_root": 5}),
            "64 hexadecimal digits",
        ),
        (shaped(public_key="not base64!"), "“public_key” must be a 32-byte key"),
        (shaped(signature=5), "“signature” must be a 64-byte signature"),
    ],
)
def test_a_malformed_bundle_is_answered_400_with_what_is_wrong(officer, payload, words):
    response = post(officer, payload)
    assert response.status_code == 400
    assert words in response.content.decode()


def test_bytes_that_are_not_json_are_answered_with_a_clear_message(officer):
    response = post(officer, b"\xff\xfe[[[")
    assert response.status_code < 500
    assert "This is not a JSON receipt bundle." in response.content.decode()


def test_json_nested_past_the_parsers_depth_is_answered_with_a_clear_message(officer):
    response = post(officer, b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code < 500
    assert "This is not a JSON receipt bundle." in response.content.decode()


def test_a_sound_bundle_still_verifies_on_the_page(
    officer, cast, django_capture_on_commit_callbacks
):
    from customers.choices import Tier
    from transferdesk.celery import app
    from transfers import services
    from transfers.choices import StageKind

    deal = make_deal(cast)
    make_customers(cast.seller, 2)
    stage = services.stage_create(
        actor=cast.broker,
        deal=deal,
        name="Overview",
        kind=StageKind.PSEUDONYMISED,
        tier_scope=[Tier.GENERAL],
    )
    services.stage_submit(actor=cast.broker, stage=stage)
    eager, app.conf.task_always_eager = app.conf.task_always_eager, True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.stage_approve(actor=cast.compliance, stage=stage, note="Checked.")
    finally:
        app.conf.task_always_eager = eager
    stage.refresh_from_db()

    response = post(officer, manifest_bundle(stage))
    assert response.status_code == 200
    assert "Verified" in response.content.decode()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "manifest",
                    "items",
                    "signature",
                    "public_key",
                    "stage",
                    "id",
                    "item_count",
                    "merkle_root",
                    "format",
                    "x",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)
ITEM = st.one_of(
    JSON,
    st.tuples(st.text(max_size=40), st.text(alphabet="0123456789abcdefg", max_size=70)).map(list),
)


@PROPERTY_SETTINGS
@given(
    payload=st.one_of(
        JSON,
        st.builds(
            lambda manifest, items, signature, key: shaped(
                manifest=manifest, items=items, signature=signature, public_key=key
            ),
            manifest=st.one_of(
                JSON,
                st.fixed_dictionaries(
                    {
                        "stage": st.one_of(JSON, st.fixed_dictionaries({"id": JSON})),
                        "item_count": JSON,
                        "merkle_root": JSON,
                    },
                ),
            ),
            items=st.one_of(JSON, st.lists(ITEM, max_size=4)),
            signature=JSON,
            key=st.one_of(JSON, st.just(SAMPLE_KEY)),
        ),
    )
)
def test_any_json_structure_gets_an_answer_never_a_server_error(officer, payload):
    response = post(officer, payload)
    assert response.status_code in (200, 400)
    body = response.content.decode()
    assert "Verify a receipt" in body
    if response.status_code == 400:
        assert "invalid-feedback" in body or "alert" in body
