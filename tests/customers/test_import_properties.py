"""Property tests: whatever bytes or CSV shape arrive, the import answers with problems or a
complete import, never a server error and never a partial one."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customers.models import Customer, ImportUpload
from customers.services import customer_import, organization_grant

pytestmark = pytest.mark.django_db

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
HEADERS = st.sampled_from(
    [
        "reference",
        "full_name",
        "email",
        "phone",
        "姓名",
        "手机",
        "邮箱",
        "客户编号",
        "身份证号",
        "customer_since",
        "purchase_amount",
        "purchase_date",
        "purchase_product",
        "purchase_currency",
        "interaction_channel",
        "interaction_date",
        "legal_basis",
        "country",
        "x",
        "",
    ]
)
CELLS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "R-1",
            "a@b.cn",
            "13800138000",
            "2024-02-30",
            "1e99",
            "NaN",
            "=1+1",
            "x" * 300,
            "consent",
            "CN",
            "chat",
            "12.345",
        ]
    ),
)


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    headers = draw(st.lists(HEADERS, min_size=0, max_size=8))
    rows = draw(st.lists(st.lists(CELLS, max_size=10), max_size=8))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=draw(st.sampled_from([",", ";", "\t"])))
    writer.writerow(headers)
    writer.writerows(rows)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
    return buffer.getvalue().encode(encoding, errors="replace")


FILES = st.one_of(st.binary(max_size=400), csv_files())


def outcome_is_whole_or_nothing(before: int, outcome) -> None:
    after = Customer.objects.count()
    if outcome.applied:
        assert after == before + outcome.customers and not outcome.problems
    else:
        assert after == before


@PROPERTY_SETTINGS
@given(data=FILES)
def test_the_import_service_never_raises_and_never_half_applies(seller, data):
    before = Customer.objects.count()
    outcome = customer_import(actor=None, organization=seller, data=data)
    outcome_is_whole_or_nothing(before, outcome)


@PROPERTY_SETTINGS
@given(
    data=FILES,
    mapped=st.lists(st.sampled_from(["reference", "full_name", "email", ""]), max_size=6),
)
def test_the_upload_pages_never_answer_with_a_server_error(cast, client, data, mapped):
    organization_grant(
        actor=None, user=cast.broker, organization=cast.seller, permission="manage_customers"
    ) if not cast.broker.has_perm("customers.manage_customers", cast.seller) else None
    client.force_login(cast.broker)
    before = Customer.objects.count()
    file = io.BytesIO(data)
    file.name = "upload.csv"
    response = client.post(
        reverse("customers:import_upload", args=[cast.seller.slug]), {"file": file}
    )
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        posted = {f"col_{i}": name for i, name in enumerate(mapped)}
        response = client.post(response["Location"], posted)
        assert response.status_code in (302, 400)
        upload = ImportUpload.objects.latest("created_at")
        result = client.get(reverse("customers:import_result", args=[cast.seller.slug, upload.pk]))
        assert result.status_code == 200
        if upload.status == "applied":
            assert Customer.objects.count() == before + upload.report["customers"]
            return
    assert Customer.objects.count() == before
