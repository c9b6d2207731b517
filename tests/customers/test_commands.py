"""``import_customers`` and the demo customer book of ``seed_demo``."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from customers.demo import demo_file
from customers.models import Customer, Interaction, PurchaseRecord

pytestmark = pytest.mark.django_db


def test_import_customers_imports_a_file_and_prints_one_summary_line(seller, tmp_path):
    path = tmp_path / "book.csv"
    path.write_bytes("客户编号,姓名,手机,备注\nK-1,周杰,13800138000,x\n".encode("gbk"))
    out = StringIO()
    call_command("import_customers", "--org", seller.slug, str(path), stdout=out)
    assert out.getvalue().count("\n") == 1
    assert "imported 1 customers" in out.getvalue() and "not stored: 备注" in out.getvalue()
    assert Customer.objects.get().full_name == "周杰"


def test_a_dry_run_writes_nothing(seller, tmp_path):
    path = tmp_path / "book.csv"
    path.write_text("reference,full_name\nK-1,Ann\n")
    out = StringIO()
    call_command("import_customers", "--org", seller.slug, str(path), "--dry-run", stdout=out)
    assert "would import 1" in out.getvalue()
    assert not Customer.objects.exists()


def test_a_file_with_problems_fails_and_names_rows_and_columns(seller, tmp_path):
    path = tmp_path / "book.csv"
    path.write_text("reference,full_name,email\nK-1,,bad\n")
    err = StringIO()
    with pytest.raises(CommandError, match="nothing imported"):
        call_command("import_customers", "--org", seller.slug, str(path), stderr=err)
    assert "row 2 [full_name]" in err.getvalue() and "row 2 [email]" in err.getvalue()


def test_the_demo_book_is_valid_and_holds_chinese_and_english_customers(seller):
    from customers.services import customer_import

    outcome = customer_import(actor=None, organization=seller, data=demo_file())
    assert outcome.applied, outcome.problems[:3]
    assert outcome.customers == 300
    assert PurchaseRecord.objects.count() == 300 and Interaction.objects.count() == 300
    names = [c.full_name for c in Customer.objects.with_data_keys()[:8]]
    assert any(" " in n for n in names) and any(not n.isascii() for n in names)


def test_seed_demo_seeds_meridian_once_and_grants_the_brokers(db):
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    from accounts.models import User

    assert Customer.objects.filter(organization__slug="meridian").count() == 300
    meridian = Customer.objects.first().organization
    broker, broker2 = User.objects.get(username="broker"), User.objects.get(username="broker2")
    assert broker.has_perm("customers.reveal_core", meridian)
    assert broker2.has_perm("customers.manage_customers", meridian)
    assert not broker2.has_perm("customers.reveal_core", meridian)


def test_import_customers_generates_references_for_a_file_without_them(seller, tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes("姓名,邮箱\n王小明,wang@example.cn\n李娜,lina@example.cn\n".encode("gb18030"))
    with pytest.raises(CommandError):
        call_command("import_customers", "--org", seller.slug, str(path), stdout=StringIO())
    out = StringIO()
    call_command(
        "import_customers", "--org", seller.slug, str(path), "--generate-references", stdout=out
    )
    assert "imported 2 customers" in out.getvalue()
    customers = Customer.objects.order_by("reference")
    assert [(c.reference, c.full_name) for c in customers] == [
        ("TD-000001", "王小明"),
        ("TD-000002", "李娜"),
    ]
