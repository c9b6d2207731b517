# ruff: noqa: F811 (the portal world's fixtures, imported, are parameters of the tests)
"""The buyer's system pulls a delivered stage: its records (decrypted in scope, cursor-paginated,
each page in the trail), its dictionary and its signed manifest, and acknowledges it with the
root, through the portal's own selectors and services."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.api.conftest import auth
from tests.portal.conftest import _eager_engine, _portal_world, cast, delivered  # noqa: F401
from transferdesk.principals import ApiScope
from transferdesk.trail import AuditAction, AuditEvent
from transfers import portal_selectors as sel
from transfers import receipts, services
from transfers.choices import StageStatus
from transfers.engine import snapshot_fields
from transfers.portal_models import StageAcknowledgement

pytestmark = pytest.mark.django_db


def url(name, stage) -> str:
    return reverse(f"api:stage_{name}", args=[stage.pk])


@pytest.fixture
def buyer_key(issue, cast):
    return issue(cast.buyer_org)


def pull(api, text, stage, page_size):
    """Every page of the stage's items, following the cursor: (items, pages)."""
    items, pages, link = [], 0, f"{url('items', stage)}?page_size={page_size}"
    while link:
        response = api.get(link, **auth(text))
        assert response.status_code == 200, response.content
        body = response.json()
        items += body["results"]
        pages += 1
        link = body["next"]
    return items, pages


@pytest.mark.parametrize("which", ["pseudo", "identified"])
def test_items_come_in_scope_once_each_across_cursor_pages(api, cast, delivered, buyer_key, which):
    stage = getattr(delivered, which)
    _key, text = buyer_key
    key = stage.deal.data_key.unwrap()
    expected = [
        {"id": row.pk, "label": row.label, "fields": row.fields}
        for row in sel.all_shown(stage, key)
    ]
    assert len(expected) > 5

    items, pages = pull(api, text, stage, page_size=5)

    assert pages == -(-len(expected) // 5)
    assert [i["id"] for i in items] == sorted(i["id"] for i in items)
    assert items == expected  # every record once, exactly as the portal shows and exports it
    assert {name for i in items for name in i["fields"]} <= set(snapshot_fields(stage))


def test_the_identified_stage_carries_its_sensitive_fields_the_pseudonymised_none(
    api, cast, delivered, buyer_key
):
    _key, text = buyer_key
    for stage, sensitive in ((delivered.identified, True), (delivered.pseudo, False)):
        fields = api.get(url("dictionary", stage), **auth(text)).json()["fields"]
        assert ("sensitive" in {f["tier"] for f in fields}) is sensitive
        assert [f["name"] for f in fields] == snapshot_fields(stage)


def test_the_cursor_is_stable_while_records_are_withdrawn(api, cast, delivered, buyer_key):
    from transfers.portal_services import followup_create

    stage = delivered.pseudo
    _key, text = buyer_key
    first = api.get(f"{url('items', stage)}?page_size=4", **auth(text)).json()
    # A record of the first page is erased at the seller meanwhile: it leaves the stage,
    # and the next page neither repeats nor skips anything.
    gone = first["results"][0]["id"]
    followup_create(item=stage.items.get(pk=gone), kind="delete", reason="erasure")
    rest, link = [], first["next"]
    while link:
        body = api.get(link, **auth(text)).json()
        rest += [i["id"] for i in body["results"]]
        link = body["next"]
    shown = [i["id"] for i in first["results"]] + rest
    assert len(shown) == len(set(shown))
    assert set(shown) == set(sel.stage_items(stage).values_list("pk", flat=True)) | {gone}


def test_each_page_read_is_the_portals_view_event_naming_records_and_fields(
    api, cast, delivered, buyer_key
):
    stage = delivered.identified
    key, text = buyer_key
    before = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()

    items, pages = pull(api, text, stage, page_size=5)

    views = list(
        AuditEvent.objects.filter(action=AuditAction.PORTAL_VIEW, seq__gt=before).order_by("seq")
    )
    assert len(views) == pages
    assert [i for v in views for i in v.details["items"]] == [i["id"] for i in items]
    for view in views:
        assert view.actor_name == f"api-key:{key.prefix}@buyer-a" and view.actor_id is None
        assert (view.object_id, view.deal_ref) == (str(stage.pk), str(stage.deal_id))
        assert view.details["fields"] == snapshot_fields(stage)
        assert view.details["view"] == "items" and view.details["via"] == "api"
    calls = AuditEvent.objects.filter(action=AuditAction.API_CALL, object_id=str(stage.pk))
    assert calls.count() == pages
    assert {c.deal_ref for c in calls} == {str(stage.deal_id)}


def test_another_buyers_stage_a_draft_and_the_sellers_key_are_404(
    api, cast, delivered, issue, buyer_key
):
    _key, text = buyer_key
    _other, other_text = issue(cast.other_buyer_org)
    _seller, seller_text = issue(cast.seller)
    pseudo = delivered.pseudo

    assert api.get(url("items", pseudo), **auth(other_text)).status_code == 404
    assert api.get(url("items", delivered.other_stage), **auth(other_text)).status_code == 200
    assert api.get(url("items", delivered.other_stage), **auth(text)).status_code == 404
    for name in ("items", "dictionary", "manifest"):
        assert api.get(url(name, delivered.draft), **auth(text)).status_code == 404
        assert api.get(url(name, pseudo), **auth(seller_text)).status_code == 404
    refused = api.post(url("acknowledge", pseudo), {"merkle_root": "x"}, **auth(other_text))
    assert refused.status_code == 404 and "merkle" not in refused.text


def test_an_undelivered_stage_is_404_until_it_is_delivered(api, cast, delivered, buyer_key):
    _key, text = buyer_key
    stage = delivered.pseudo
    type(stage).objects.filter(pk=stage.pk).update(status=StageStatus.RUNNING)
    assert api.get(url("items", stage), **auth(text)).status_code == 404
    type(stage).objects.filter(pk=stage.pk).update(status=StageStatus.DELIVERED)
    assert api.get(url("items", stage), **auth(text)).status_code == 200


def test_an_aggregate_stage_has_no_records_but_a_dictionary(api, cast, delivered, buyer_key):
    _key, text = buyer_key
    assert api.get(url("items", delivered.aggregate), **auth(text)).status_code == 404
    assert api.get(url("dictionary", delivered.aggregate), **auth(text)).json()["fields"] == []


def test_a_new_nda_closes_the_stage_to_the_key_until_a_person_accepts_it(
    api, cast, delivered, buyer_key
):
    _key, text = buyer_key
    stage = delivered.pseudo
    nda = services.nda_publish(actor=cast.broker, deal=stage.deal, text="Version two.")

    refused = api.get(url("items", stage), **auth(text))

    assert refused.status_code == 403 and "NDA" in refused.json()["detail"]
    services.nda_accept(actor=cast.buyer, nda=nda, ip="10.0.0.1", user_agent="pytest")
    assert api.get(url("items", stage), **auth(text)).status_code == 200


def test_a_cancelled_deal_ends_access_with_410(api, cast, delivered, buyer_key):
    from transfers.choices import DealStatus

    _key, text = buyer_key
    stage = delivered.pseudo
    type(stage.deal).objects.filter(pk=stage.deal_id).update(status=DealStatus.CANCELLED)
    response = api.get(url("items", stage), **auth(text))
    assert response.status_code == 410 and "cancelled" in response.json()["detail"]


def test_the_manifest_is_the_portals_receipt_and_its_download_is_recorded(
    api, cast, delivered, buyer_key
):
    stage = delivered.pseudo
    _key, text = buyer_key

    body = api.get(url("manifest", stage), **auth(text)).json()

    bundle = receipts.manifest_bundle(stage)
    assert body["signature"] == bundle["signature"] == stage.manifest.signature
    assert body["manifest"] == bundle["manifest"] and body["items"] == bundle["items"]
    assert body["manifest"]["merkle_root"] == stage.manifest.merkle_root
    event = AuditEvent.objects.get(action=AuditAction.PORTAL_VIEW, object_id=str(stage.pk))
    assert event.details["view"] == "manifest"


def test_the_right_root_acknowledges_once_and_names_the_key(api, cast, delivered, buyer_key):
    stage = delivered.pseudo
    key, text = buyer_key
    root = stage.manifest.merkle_root

    response = api.post(
        url("acknowledge", stage), {"merkle_root": f" sha256:{root.upper()}"}, **auth(text)
    )

    assert response.status_code == 201, response.content
    assert response.json()["merkle_root"] == root and response.json()["api_key"] == key.prefix
    stage.refresh_from_db()
    assert stage.status == StageStatus.ACKNOWLEDGED
    ack = StageAcknowledgement.objects.get(stage=stage)
    assert (ack.user, ack.api_key, ack.merkle_root) == (None, key.prefix, root)
    event = AuditEvent.objects.get(action=AuditAction.ACKNOWLEDGED, object_id=str(stage.pk))
    assert event.actor_name == f"api-key:{key.prefix}@buyer-a"
    again = api.post(url("acknowledge", stage), {"merkle_root": root}, **auth(text))
    assert again.status_code == 409 and "already been acknowledged" in again.json()["detail"]
    # Still readable once acknowledged; the portal page says who acknowledged.
    assert api.get(url("items", stage), **auth(text)).status_code == 200
    from django.test import Client

    person = Client()
    person.force_login(cast.buyer)
    page = person.get(reverse("portal:acknowledge", args=[stage.pk])).content.decode()
    assert f"API key {key.prefix}" in page


@pytest.mark.parametrize("body", [{"merkle_root": "0" * 64}, {"merkle_root": ""}, {}])
def test_a_wrong_or_missing_root_is_refused_and_nothing_changes(
    api, cast, delivered, buyer_key, body
):
    stage = delivered.pseudo
    _key, text = buyer_key

    response = api.post(url("acknowledge", stage), body, **auth(text))

    assert response.status_code == 400
    assert "merkle_root" in response.json()
    stage.refresh_from_db()
    assert stage.status == StageStatus.DELIVERED
    assert not StageAcknowledgement.objects.filter(stage=stage).exists()
    refusals = AuditEvent.objects.filter(action=AuditAction.ACKNOWLEDGE_REFUSED)
    assert refusals.count() == (1 if body.get("merkle_root") else 0)


def test_a_key_without_stages_read_is_refused(api, cast, delivered, issue):
    _key, text = issue(cast.buyer_org, scopes=[ApiScope.FOLLOWUPS_WRITE])
    assert api.get(url("items", delivered.pseudo), **auth(text)).status_code == 403


def test_a_page_costs_the_same_queries_whatever_its_size(
    api, cast, delivered, buyer_key, django_assert_max_num_queries
):
    stage = delivered.identified
    _key, text = buyer_key
    with django_assert_max_num_queries(40) as few:
        assert (
            len(api.get(f"{url('items', stage)}?page_size=2", **auth(text)).json()["results"]) == 2
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        body = api.get(f"{url('items', stage)}?page_size=10", **auth(text)).json()
        assert len(body["results"]) == 10
