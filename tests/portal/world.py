"""What the permission matrix needs of the portal: the buyer past the NDA gate of the delivered
stage's deal, a record, a question on it and a follow-up task (tests/test_permission_matrix.py
calls ``portal_world`` from its ``world``)."""

from __future__ import annotations

from typing import Any


def portal_world(cast: Any) -> None:
    from transfers import portal_services, services

    nda = services.nda_publish(actor=cast.broker, deal=cast.deal, text="Confidential.")
    services.nda_accept(actor=cast.buyer, nda=nda, ip="10.0.0.1", user_agent="matrix")
    cast.item = cast.delivered_stage.items.order_by("pk").first()
    cast.question = portal_services.question_ask(
        actor=cast.buyer, stage=cast.delivered_stage, item=cast.item, subject="Q", body="Why?"
    )
    cast.task = portal_services.followup_create(
        item=cast.item, kind="update", reason="correction", actor=cast.broker
    )
