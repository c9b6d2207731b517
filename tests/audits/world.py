"""The audits objects of the permission-matrix world (tests/test_permission_matrix.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from audits.models import ChainVerificationRun, ReportKind, ReportRun, VerificationTrigger
from audits.reviews import campaign_start


def audits_world(world: Any) -> None:
    """A ready report (a file under MEDIA_ROOT) and a campaign with one item to decide."""
    run = ReportRun.objects.create(
        kind=ReportKind.ACCESS, params={}, requested_by=world.compliance, file="reports/m.pdf"
    )
    path = Path(settings.MEDIA_ROOT) / run.file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"%PDF-1.4 matrix\n")
    world.report = run
    world.chain_run = ChainVerificationRun.objects.create(trigger=VerificationTrigger.DAILY)
    world.campaign = campaign_start(
        actor=world.compliance, name="Matrix review", deadline=timezone.now() + timedelta(days=7)
    )
    world.review_item = world.campaign.items.first()
