"""The test suite's own machinery: how transactional tests empty the database
(tests/support/flush.py)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, connection, transaction
from django.test import TransactionTestCase

from accounts.choices import Role
from accounts.models import User
from customers.models import Customer
from tests.factories import CustomerFactory, make_cast
from tests.support import flush, snapshot
from transferdesk.trail import AuditAction, AuditEvent, record_event


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_deleting_every_row_empties_every_table_and_leaves_the_audit_trigger_on():
    cast = make_cast()
    CustomerFactory(organization=cast.seller)
    record_event(action=AuditAction.CREATE, actor=cast.broker)

    assert flush.delete_every_row("default")

    for model in (User, Customer, AuditEvent, Group, Permission, ContentType):
        assert not model.objects.exists(), f"{model.__name__} still has rows"
    # The append-only trigger is back on for the next test.
    record_event(action=AuditAction.CREATE)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.all().delete()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_transactional_tests_empty_with_delete_and_get_content_types_and_permissions_back():
    """As after Django's flush, the post_migrate signal has made them again."""
    assert TransactionTestCase._fixture_teardown is flush.fixture_teardown
    User.objects.create(username="left-behind")
    case = type("Case", (TransactionTestCase,), {"databases": {"default"}})("__init__")
    case._fixture_teardown()

    assert not User.objects.filter(username="left-behind").exists()
    assert Permission.objects.filter(codename="view_customer").exists()
    assert ContentType.objects.filter(app_label="audits", model="auditevent").exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audits_auditevent")
        assert cursor.fetchone() == (0,)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_snapshot_restores_exactly_its_rows_with_their_keys():
    for role in Role:  # an earlier transactional test may have emptied the groups
        Group.objects.get_or_create(name=role.value)
    cast = make_cast()
    customer = CustomerFactory(organization=cast.seller)
    event = record_event(action=AuditAction.CREATE, actor=cast.broker, obj=customer)
    taken = snapshot.take()
    CustomerFactory(organization=cast.seller)  # made after the snapshot: gone once restored
    User.objects.filter(pk=cast.buyer.pk).delete()

    snapshot.restore(taken)

    assert list(Customer.objects.values_list("pk", flat=True)) == [customer.pk]
    assert Customer.objects.get().full_name == customer.full_name  # decrypts: its key is back
    assert User.objects.get(pk=cast.buyer.pk).groups.get().name == "buyer"
    assert list(AuditEvent.objects.values_list("seq", flat=True)) == [event.seq]
    assert ContentType.objects.get_for_model(Customer).model_class() is Customer
