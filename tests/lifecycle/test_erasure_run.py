"""An erasure on request ends its purge run: succeeded with its certificate, or, when nothing
was erased (the customer already was), no run left "running" for ever."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from audits.models import PurgeRun
from audits.models.retention import PurgeStatus
from audits.retention import customer_erase

pytestmark = pytest.mark.django_db


def test_an_erasure_ends_its_run_succeeded(cast, make_customer):
    customer, _sentinels = make_customer()
    run = customer_erase(actor=cast.compliance, customer=customer, request_ref="DSR-1")
    run.refresh_from_db()
    assert run.status == PurgeStatus.SUCCEEDED
    assert run.finished_at is not None and run.customers == 1


def test_erasing_an_erased_customer_again_leaves_no_run_running(cast, make_customer):
    customer, _sentinels = make_customer()
    customer_erase(actor=cast.compliance, customer=customer, request_ref="DSR-1")
    for _attempt in range(2):
        with translation.override("en"), pytest.raises(ValidationError, match="already erased"):
            customer_erase(actor=cast.compliance, customer=customer, request_ref="DSR-1")
    assert not PurgeRun.objects.filter(status=PurgeStatus.RUNNING).exists()
    assert list(PurgeRun.objects.values_list("status", flat=True)) == [PurgeStatus.SUCCEEDED]
