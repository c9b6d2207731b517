"""Words in the reports' narrow columns stay whole: "Pseudonymised" in the stage tables of the
deal audit and the record of processing (read back with pdftotext, as a person copies it)."""

from __future__ import annotations

import io
import subprocess

import pytest

from audits.reports import render_report
from audits.reports.common import ReportParams
from customers.choices import Tier
from tests.audits.reporting import make_deal
from transfers import services
from transfers.choices import StageKind

pytestmark = pytest.mark.django_db


def _text(kind: str) -> str:
    out = io.BytesIO()
    render_report(kind=kind, params=ReportParams(deal="D-1"), target=out, generated_by="compliance")
    done = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=out.getvalue(), capture_output=True, check=True
    )
    return done.stdout.decode()


@pytest.mark.parametrize("kind", ["deal_audit", "processing"])
def test_the_layer_column_keeps_pseudonymised_whole(cast, kind):
    deal = make_deal(cast)
    services.stage_create(
        actor=cast.broker, deal=deal, name="Overview", kind=StageKind.PSEUDONYMISED,
        tier_scope=[Tier.GENERAL],
    )  # fmt: skip
    text = _text(kind)
    assert "Pseudonymised" in text, text


@pytest.mark.parametrize("kind", ["deal_audit", "processing"])
def test_the_tiers_column_names_the_tiers_in_the_readers_words(cast, kind):
    deal = make_deal(cast)
    services.stage_create(
        actor=cast.broker, deal=deal, name="Overview", kind=StageKind.IDENTIFIED,
        tier_scope=[Tier.GENERAL, Tier.SENSITIVE],
    )  # fmt: skip
    text = _text(kind)
    words = text.split()
    assert "General," in words and "Sensitive" in words, text  # labels, each word whole
    assert "general," not in words and "sensitive" not in words
