"""The buyer portal as a buyer meets it: scope, NDA gate, records, audit trail, revocation."""

from __future__ import annotations

import pytest
from django.urls import reverse

from customers.choices import Tier
from customers.models import Customer
from customers.registry import fields_of
from transferdesk.trail import AuditAction, AuditEvent
from transfers import services
from transfers.engine import snapshot_fields
from transfers.models import DealAssignment, NdaAcceptance

pytestmark = pytest.mark.django_db


def deal_urls(d):
    """Every portal URL of the buyer's deal (GET ones; POST-only ones are checked apart)."""
    item = d.pseudo.items.order_by("pk").first()
    return [
        reverse("portal:questions", args=[d.deal.pk]),
        reverse("portal:tasks", args=[d.deal.pk]),
        *(
            reverse(name, args=[stage.pk])
            for stage in (d.pseudo, d.identified, d.aggregate)
            for name in ("portal:stage", "portal:acknowledge", "portal:receipt", "portal:manifest")
        ),
        reverse("portal:item", args=[d.pseudo.pk, item.pk]),
    ]


@pytest.fixture
def buyer(client, cast):
    client.force_login(cast.buyer)
    return client


# --- scope -----------------------------------------------------------------------------------


def test_home_lists_the_buyers_deals_and_delivered_stages_only(buyer, delivered):
    page = buyer.get(reverse("portal:home")).content.decode()
    for stage in (delivered.pseudo, delivered.identified, delivered.aggregate):
        assert stage.name in page
    assert delivered.draft.name not in page
    assert delivered.other_stage.name not in page and "D-2" not in page


def test_a_buyer_of_another_deal_gets_404_on_every_portal_url_of_this_deal(client, cast, delivered):
    client.force_login(cast.other_buyer)
    for url in [*deal_urls(delivered), reverse("portal:nda", args=[delivered.deal.pk])]:
        assert client.get(url).status_code == 404, url
    stage = delivered.pseudo
    assert client.post(reverse("portal:export", args=[stage.pk, "csv"])).status_code == 404
    assert client.post(reverse("portal:acknowledge", args=[stage.pk])).status_code == 404


def test_a_stage_not_yet_delivered_is_404(buyer, delivered):
    for name in ("portal:stage", "portal:acknowledge", "portal:receipt", "portal:manifest"):
        assert buyer.get(reverse(name, args=[delivered.draft.pk])).status_code == 404


def test_an_item_of_another_stage_is_404_under_this_stage(buyer, delivered):
    other_item = delivered.other_stage.items.first()
    url = reverse("portal:item", args=[delivered.pseudo.pk, other_item.pk])
    assert buyer.get(url).status_code == 404
    own = delivered.identified.items.first()
    assert buyer.get(reverse("portal:item", args=[delivered.pseudo.pk, own.pk])).status_code == 404


def _shown_fields(response):
    import re

    return set(re.findall(r'data-field="([a-z_]+)"', response.content.decode()))


def test_the_pseudonymised_item_page_shows_exactly_the_stage_fields(buyer, delivered):
    stage = delivered.pseudo
    item = stage.items.order_by("pk").first()
    customer = Customer.objects.get(pk=item.customer_id)
    response = buyer.get(reverse("portal:item", args=[stage.pk, item.pk]))
    assert response.status_code == 200
    assert _shown_fields(response) == set(snapshot_fields(stage))
    page = response.content.decode()
    assert "reference" not in _shown_fields(response)  # the pseudonym stands in for it
    for name in (*fields_of(Customer, Tier.SENSITIVE), *fields_of(Customer, Tier.CORE)):
        value = getattr(customer, name)
        if value:
            assert str(value) not in page, name
    assert customer.reference not in page


def test_the_identified_item_page_shows_sensitive_fields_but_never_core(buyer, delivered):
    stage = delivered.identified
    item = stage.items.order_by("pk").first()
    customer = Customer.objects.get(pk=item.customer_id)
    response = buyer.get(reverse("portal:item", args=[stage.pk, item.pk]))
    shown = _shown_fields(response)
    assert shown == set(snapshot_fields(stage))
    page = response.content.decode()
    assert customer.full_name in page and customer.phone in page
    for name in fields_of(Customer, Tier.CORE):
        assert name not in shown
        value = getattr(customer, name)
        if value:
            assert str(value) not in page, name


# --- NDA gate --------------------------------------------------------------------------------


def test_a_buyer_who_accepted_no_version_is_not_told_the_agreement_changed(buyer, cast, delivered):
    """A second version published before this buyer ever accepted one is simply the
    agreement: "replaces the one you accepted" would be untrue."""
    NdaAcceptance.objects.filter(user=cast.buyer, nda__deal=delivered.deal).delete()
    services.nda_publish(actor=cast.broker, deal=delivered.deal, text="Version two.")
    page = buyer.get(reverse("portal:nda", args=[delivered.deal.pk])).content.decode()
    assert "Version two." in page
    assert "replaces the one you accepted" not in page


def test_every_portal_url_of_the_deal_redirects_to_the_nda_until_accepted(buyer, cast, delivered):
    services.nda_publish(actor=cast.broker, deal=delivered.deal, text="Version two.")
    nda_url = reverse("portal:nda", args=[delivered.deal.pk])
    for url in deal_urls(delivered):
        response = buyer.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(nda_url), url
    stage = delivered.pseudo
    response = buyer.post(reverse("portal:export", args=[stage.pk, "csv"]))
    assert response["Location"].startswith(nda_url)
    # The NDA page says the agreement changed; accepting reopens the data room.
    page = buyer.get(nda_url).content.decode()
    assert "Version two." in page and "replaces the one you accepted" in page
    response = buyer.post(
        nda_url + "?next=" + deal_urls(delivered)[2],
        {"agree": "on", "next": deal_urls(delivered)[2]},
        HTTP_USER_AGENT="Portal test browser",
        REMOTE_ADDR="192.0.2.7",
    )
    assert response.status_code == 302 and response["Location"] == deal_urls(delivered)[2]
    acceptance = NdaAcceptance.objects.get(user=cast.buyer, nda__version=2)
    assert acceptance.user_agent == "Portal test browser"
    assert str(acceptance.ip) == "192.0.2.7"
    assert acceptance.text_sha256 == acceptance.nda.text_sha256
    for url in deal_urls(delivered):
        assert buyer.get(url).status_code == 200, url


def test_the_nda_must_be_ticked(buyer, cast, delivered):
    services.nda_publish(actor=cast.broker, deal=delivered.deal, text="Version two.")
    response = buyer.post(reverse("portal:nda", args=[delivered.deal.pk]), {})
    assert "Tick the box" in response.content.decode()
    assert not services.has_accepted_current_nda(user=cast.buyer, deal=delivered.deal)


# --- records and the audit trail --------------------------------------------------------------


def _portal_events():
    return AuditEvent.objects.filter(action=AuditAction.PORTAL_VIEW).order_by("-seq")


def test_the_list_page_records_which_items_it_showed(buyer, delivered):
    stage = delivered.pseudo
    response = buyer.get(reverse("portal:stage", args=[stage.pk]))
    assert response.status_code == 200
    event = _portal_events().first()
    shown = sorted(stage.items.values_list("pk", flat=True))
    assert sorted(event.details["items"]) == shown
    assert event.object_id == str(stage.pk) and event.deal_ref == str(delivered.deal.pk)
    assert event.actor_id == delivered.deal.assignments.get(role="buyer").user_id


def test_the_item_page_records_the_item_and_field_names_never_values(buyer, delivered):
    stage = delivered.identified
    item = stage.items.order_by("pk").first()
    buyer.get(reverse("portal:item", args=[stage.pk, item.pk]))
    event = _portal_events().first()
    assert (event.object_type, event.object_id) == ("transfers.handoveritem", str(item.pk))
    assert set(event.details["fields"]) == set(snapshot_fields(stage))
    customer = Customer.objects.get(pk=item.customer_id)
    assert customer.full_name not in str(event.details)


def test_filters_narrow_the_list_on_general_fields(buyer, delivered):
    stage = delivered.pseudo
    response = buyer.get(reverse("portal:stage", args=[stage.pk]), {"segment": "BUSINESS"})
    event = _portal_events().first()
    business = Customer.objects.filter(segment="business").values_list("pk", flat=True)
    expected = stage.items.filter(customer_id__in=list(business)).values_list("pk", flat=True)
    assert sorted(event.details["items"]) == sorted(expected) and event.details["filtered"]
    assert response.status_code == 200


def test_the_list_page_keeps_a_constant_number_of_queries(
    buyer, cast, delivered, django_assert_max_num_queries, settings
):
    from transfers import portal_views

    url = reverse("portal:stage", args=[delivered.pseudo.pk])
    buyer.get(url)  # warm the session and the translation catalogue
    portal_views.PAGE_SIZE, saved = 3, portal_views.PAGE_SIZE
    try:
        with django_assert_max_num_queries(20) as small:
            buyer.get(url)
        portal_views.PAGE_SIZE = 25
        with django_assert_max_num_queries(len(small.captured_queries)):
            buyer.get(url)
    finally:
        portal_views.PAGE_SIZE = saved


def test_the_aggregate_stage_shows_tables_and_svg_charts(buyer, delivered):
    response = buyer.get(reverse("portal:stage", args=[delivered.aggregate.pk]))
    page = response.content.decode()
    assert page.count("<svg") == 2 and "td-chart-bar" in page
    assert "style=" not in page.split("<main", 1)[1]
    assert _portal_events().first().details["view"] == "aggregate"


# --- revocation ------------------------------------------------------------------------------


def _assert_ended(response):
    assert response.status_code == 410
    assert "Your access to this data room has ended" in response.content.decode()


def test_removing_the_buyer_ends_access_on_the_next_request(buyer, cast, delivered):
    url = reverse("portal:stage", args=[delivered.pseudo.pk])
    assert buyer.get(url).status_code == 200
    services.deal_unassign(
        actor=cast.broker,
        assignment=DealAssignment.objects.get(deal=delivered.deal, user=cast.buyer),
    )
    for url in deal_urls(delivered):
        _assert_ended(buyer.get(url))
    page = buyer.get(reverse("portal:home")).content.decode()
    assert delivered.pseudo.name not in page


def test_cancelling_the_deal_ends_access(buyer, delivered):
    from transfers.choices import DealStatus

    type(delivered.deal).objects.filter(pk=delivered.deal.pk).update(status=DealStatus.CANCELLED)
    for url in deal_urls(delivered):
        _assert_ended(buyer.get(url))
    assert "Access ended" in buyer.get(reverse("portal:home")).content.decode()


def test_destroying_the_deal_key_ends_access_with_a_clear_page(buyer, cast, delivered):
    from transferdesk.crypto.services import data_key_destroy

    data_key_destroy(data_key=delivered.deal.data_key, actor=cast.compliance, reason="cancelled")
    for url in deal_urls(delivered):
        response = buyer.get(url)
        _assert_ended(response)
        assert "destroyed" in response.content.decode()


@pytest.mark.parametrize("target", ["Plausible text", "portal:home", "//evil.example/x", ""])
def test_accepting_the_nda_with_a_next_that_is_no_path_lands_on_the_portal(
    buyer, cast, delivered, target
):
    """Found by the form crawl: a ``next`` that is not a path of this site answered 500
    (``redirect`` took it for a view name); it now falls back to the portal's home."""
    services.nda_publish(actor=cast.broker, deal=delivered.deal, text="Version two.")
    response = buyer.post(
        reverse("portal:nda", args=[delivered.deal.pk]), {"agree": "on", "next": target}
    )
    assert response.status_code == 302 and response["Location"] == reverse("portal:home")
