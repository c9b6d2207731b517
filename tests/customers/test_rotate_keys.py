from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from customers.models import Customer, PurchaseRecord
from transferdesk.crypto.errors import MissingMasterKey
from transferdesk.models import DataKey
from transferdesk.trail import AuditEvent

from .conftest import random_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def old_key(settings) -> str:
    entry = f"k1:{random_key()}"
    settings.TRANSFERDESK_MASTER_KEYS = entry
    return entry


def snapshot() -> dict:
    return {
        c.pk: (c.full_name, c.email, c.national_id, [p.notes for p in c.purchases.all()])
        for c in Customer.objects.order_by("pk")
    }


def raw_data() -> list:
    return list(Customer.objects.order_by("pk").values_list("full_name", "email", "national_id"))


def run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("rotate_keys", *args, stdout=out)
    return out.getvalue()


def test_after_rotation_the_old_master_key_can_be_removed_and_everything_still_reads(
    settings, old_key, make_customer
):
    for i in range(5):
        customer = make_customer(
            full_name=f"Rotated {i}", email=f"r{i}@example.com", national_id=f"ID{i:06d}"
        )
        PurchaseRecord.objects.create(
            customer=customer,
            purchased_on="2026-01-01",
            product="Kettle",
            amount="9.90",
            currency="CNY",
            notes=f"note {i}",
        )
    before, ciphertext_before = snapshot(), raw_data()

    settings.TRANSFERDESK_MASTER_KEYS = f"k2:{random_key()},{old_key}"
    output = run("--batch-size", "2")
    assert "re-wrapped 2, 3 left" in output  # a progress line per committed batch
    assert output.strip().splitlines()[-1] == (
        "rotate_keys: 5 data key(s) re-wrapped under 'k2', 0 already current, "
        "0 destroyed (skipped)."
    )
    assert set(DataKey.objects.values_list("master_key_id", flat=True)) == {"k2"}
    assert raw_data() == ciphertext_before  # the data itself was not re-encrypted

    settings.TRANSFERDESK_MASTER_KEYS = settings.TRANSFERDESK_MASTER_KEYS.split(",")[0]
    assert snapshot() == before
    assert AuditEvent.objects.filter(action="key_rotated").count() == 1


def test_a_second_run_has_nothing_to_do(settings, old_key, make_customer):
    make_customer(full_name="Once")
    settings.TRANSFERDESK_MASTER_KEYS = f"k2:{random_key()},{old_key}"
    assert "1 data key(s) re-wrapped" in run()
    assert run().strip() == (
        "rotate_keys: 0 data key(s) re-wrapped under 'k2', 1 already current, "
        "0 destroyed (skipped)."
    )


def test_destroyed_keys_are_skipped_and_counted(settings, old_key, make_customer):
    make_customer(full_name="Kept")
    make_customer(full_name="Shredded").data_key.destroy()
    settings.TRANSFERDESK_MASTER_KEYS = f"k2:{random_key()},{old_key}"
    assert (
        run()
        .strip()
        .endswith("1 data key(s) re-wrapped under 'k2', 0 already current, 1 destroyed (skipped).")
    )


def test_reading_with_the_old_key_missing_before_rotation_names_the_key_id(
    settings, old_key, make_customer
):
    customer = make_customer(full_name="Stranded")
    settings.TRANSFERDESK_MASTER_KEYS = f"k2:{random_key()}"  # k1 dropped too early
    with pytest.raises(MissingMasterKey) as excinfo:
        _ = Customer.objects.get(pk=customer.pk).full_name
    assert "master key 'k1' is not in TRANSFERDESK_MASTER_KEYS" in str(excinfo.value)
    assert "Stranded" not in str(excinfo.value)
    with pytest.raises(CommandError, match="master key 'k1' is not in TRANSFERDESK_MASTER_KEYS"):
        run()


def test_new_customers_are_wrapped_under_the_first_key(settings, old_key, make_customer):
    settings.TRANSFERDESK_MASTER_KEYS = f"k9:{random_key()},{old_key}"
    assert make_customer(full_name="Newcomer").data_key.master_key_id == "k9"


def test_an_interrupted_rotation_resumes_where_it_stopped(settings, old_key, make_customer):
    from transferdesk.crypto.rotation import rotate_data_keys

    for i in range(5):
        make_customer(full_name=f"Resume {i}")
    settings.TRANSFERDESK_MASTER_KEYS = f"k2:{random_key()},{old_key}"

    def crash(result, remaining):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rotate_data_keys(batch_size=2, on_batch=crash)
    assert DataKey.objects.filter(master_key_id="k2").count() == 2  # the first batch stayed
    assert "3 data key(s) re-wrapped under 'k2', 2 already current" in run()


def test_a_wrong_master_key_under_the_right_id_is_a_clear_error_naming_the_key_id(
    settings, old_key, make_customer
):
    from transferdesk.crypto.errors import DecryptionError

    customer = make_customer(full_name="Misconfigured", national_id="ID000001")
    settings.TRANSFERDESK_MASTER_KEYS = f"k1:{random_key()}"  # the id is right, the key is not
    fresh = Customer.objects.get(pk=customer.pk)
    with pytest.raises(DecryptionError) as excinfo:
        _ = fresh.full_name
    message = str(excinfo.value)
    assert "master key 'k1'" in message and "the key is wrong" in message
    assert "Misconfigured" not in message
    # rotate_keys refuses too, naming the key id, and changes nothing.
    settings.TRANSFERDESK_MASTER_KEYS = f"k2:{random_key()},k1:{random_key()}"
    with pytest.raises(CommandError, match="master key 'k1'"):
        run()
    assert set(DataKey.objects.values_list("master_key_id", flat=True)) == {"k1"}


def test_the_pages_say_which_master_key_is_missing_instead_of_failing(
    settings, old_key, make_customer, cast, client, caplog
):
    from django.urls import reverse

    from customers.services import organization_grant

    organization_grant(
        actor=cast.admin, user=cast.broker, organization=cast.seller, permission="manage_customers"
    )
    customer = make_customer(organization=cast.seller, full_name="Stranded Page")
    settings.TRANSFERDESK_MASTER_KEYS = f"k2:{random_key()}"  # k1 dropped too early
    client.force_login(cast.broker)
    for url in (
        reverse("customers:customer_list", args=[cast.seller.slug]),
        reverse("customers:customer_detail", args=[customer.pk]),
    ):
        page = client.get(url)
        assert page.status_code == 503, url
        assert "master key “k1”" in page.text and "Stranded" not in page.text
    assert "master key 'k1' is not in TRANSFERDESK_MASTER_KEYS" in caplog.text


def test_a_value_that_fails_its_integrity_check_is_a_clear_error_page(make_customer, cast, client):
    from django.urls import reverse

    from customers.services import organization_grant

    organization_grant(
        actor=cast.admin, user=cast.broker, organization=cast.seller, permission="manage_customers"
    )
    alice = make_customer(organization=cast.seller, full_name="Alice Copied")
    bob = make_customer(organization=cast.seller, full_name="Bob Target")
    moved = Customer.objects.filter(pk=alice.pk).values_list("full_name", flat=True).get()
    Customer.objects.filter(pk=bob.pk).update(full_name=moved)
    client.force_login(cast.broker)
    page = client.get(reverse("customers:customer_detail", args=[bob.pk]))
    assert page.status_code == 500
    assert "failed its integrity check" in page.text and "Alice" not in page.text
