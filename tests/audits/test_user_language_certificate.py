"""A large purge run's destruction certificate is built by a job in the language of the
officer who ran the purge (read from their row by the task), the site's default otherwise."""

from __future__ import annotations

import datetime as dt

import pypdf
import pytest

from audits.models import DestructionCertificate, PurgeRun
from audits.retention import purge_policy
from tests.lifecycle.conftest import contract_policy, make_customer, seller  # noqa: F401

pytestmark = pytest.mark.django_db

LONG_AGO = dt.date(2020, 1, 1)


def certificate_text(certificate: DestructionCertificate) -> str:
    import io

    reader = pypdf.PdfReader(io.BytesIO(bytes(certificate.pdf)))
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.mark.parametrize(
    ("stored", "expected", "absent"),
    [
        ("zh-hans", "销毁证明", "Destruction certificate"),
        ("", "Destruction certificate", "销毁证明"),
    ],
)
def test_a_certificate_job_is_built_in_the_language_of_the_officer_who_purged(
    cast, settings, eager_tasks, django_capture_on_commit_callbacks, stored, expected, absent,
    make_customer, contract_policy,  # noqa: F811 - the lifecycle tests' fixtures, imported above
):  # fmt: skip
    settings.TRANSFERDESK_CERTIFICATE_INLINE_MAX = 0  # always a job
    type(cast.compliance).objects.filter(pk=cast.compliance.pk).update(language=stored)
    cast.compliance.refresh_from_db()
    make_customer(retention_until=LONG_AGO)
    with django_capture_on_commit_callbacks(execute=True):
        purge_policy(policy=contract_policy(), actor=cast.compliance)

    run = PurgeRun.objects.select_related("certificate_job").get()
    assert run.certificate_job.status == "succeeded"
    text = certificate_text(DestructionCertificate.objects.get(run=run))
    assert expected in text
    assert absent not in text
