"""A small handed-over stage for the permission matrix: two records delivered by the real
engine to buyer A, the deal's NDA accepted by buyer A's user, one open follow-up task."""

from __future__ import annotations

from typing import Any

from django.test import TestCase

from customers.choices import Tier
from tests.portal.conftest import deliver
from tests.support.world import tasks_in_process
from tests.transfers.conftest import make_customers
from transfers import services
from transfers.choices import StageKind
from transfers.portal_services import followup_create


def handed_over(cast: Any, deal: Any) -> dict[str, Any]:
    make_customers(cast.seller, 2)
    with tasks_in_process():
        stage = deliver(
            cast, deal, StageKind.PSEUDONYMISED, [Tier.GENERAL], name="Handed over",
            capture=TestCase.captureOnCommitCallbacks,
        )  # fmt: skip
    nda = services.nda_publish(actor=cast.broker, deal=deal, text="Keep it confidential.")
    services.nda_accept(actor=cast.buyer, nda=nda, ip="10.0.0.1", user_agent="pytest")
    task = followup_create(item=stage.items.first(), kind="update", reason="correction")
    return {"stage": stage, "task": task}
