"""Work done outside the user's request speaks the user's language: report jobs in the
language stored on the row of whoever asked (not the page they asked from), reminder e-mails
in the recipient's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse
from django.utils import timezone, translation

from audits.models import ReportRun
from audits.reviews import campaign_send_reminders, campaign_start
from tests.audits.reporting import make_customer, make_deal, pdf_text
from transfers import requests
from transfers.notice_models import DataSubjectRequest, RequestKind, RequestSource

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _site_language_afterwards():
    """Signing in a user with a stored language, or a request in Chinese, activates it in this
    thread; later tests expect the site's default."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def speaks(user, language: str) -> None:
    type(user).objects.filter(pk=user.pk).update(language=language)


def report_pdf(client, user, *, page_language: str, capture) -> str:
    """Ask for the deal audit report from a page in ``page_language``; the job runs after
    commit (eagerly) and the stored PDF's text is returned."""
    client.force_login(user)
    with capture(execute=True):
        response = client.post(
            reverse("audits:report_create"),
            {"kind": "deal_audit", "deal": "D-1"},
            HTTP_ACCEPT_LANGUAGE=page_language,
        )
    assert response.status_code == 302
    run = ReportRun.objects.get(requested_by=user)
    download = client.get(reverse("audits:report_download", args=[run.pk]))
    return pdf_text(b"".join(download.streaming_content))[1]


@pytest.mark.parametrize(
    ("stored", "page", "expected", "absent"),
    [
        ("zh-hans", "en", "交易审计报告", "Deal audit report"),
        ("en", "zh-hans", "Deal audit report", "交易审计报告"),
    ],
)
def test_a_report_job_comes_out_in_the_language_of_the_user_who_asked(
    client,
    cast,
    settings,
    tmp_path,
    eager_tasks,
    django_capture_on_commit_callbacks,
    stored,
    page,
    expected,
    absent,
):
    settings.MEDIA_ROOT = str(tmp_path)
    make_deal(cast)
    speaks(cast.compliance, stored)
    cast.compliance.refresh_from_db()

    text = report_pdf(
        client, cast.compliance, page_language=page, capture=django_capture_on_commit_callbacks
    )

    assert expected in text
    assert absent not in text
    assert "美瑞家电有限公司" in text  # the data itself is untouched by the language


def test_a_report_by_someone_who_never_chose_follows_the_page_they_asked_from(
    client, cast, settings, tmp_path, eager_tasks, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = str(tmp_path)
    make_deal(cast)
    text = report_pdf(
        client,
        cast.compliance,
        page_language="zh-hans",
        capture=django_capture_on_commit_callbacks,
    )
    assert "交易审计报告" in text


def test_an_access_review_reminder_to_a_chinese_speaking_officer_is_in_chinese(cast, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    make_deal(cast)
    speaks(cast.compliance, "zh-hans")
    campaign_start(
        actor=cast.compliance, name="Q4 review", deadline=timezone.now() + timedelta(days=2)
    )

    assert campaign_send_reminders() == 1

    (message,) = mail.outbox
    assert message.to == [cast.compliance.email]
    assert "权限审查“Q4 review”" in message.subject
    assert "Access review" not in message.subject
    assert "Grants not kept" not in message.body


def test_a_request_reminder_goes_to_each_officer_in_their_own_language(
    cast, settings, eager_tasks, django_capture_on_commit_callbacks
):
    from accounts.choices import Role
    from tests.factories import UserFactory

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    deal = make_deal(cast)
    speaks(cast.compliance, "zh-hans")
    english = UserFactory(username="officer-en", roles=[Role.COMPLIANCE], language="en")
    dsr = requests.request_create(
        customer=make_customer(cast),
        deal=deal,
        kind=RequestKind.COMPLAINT,
        source=RequestSource.CUSTOMER_PAGE,
        message="Too many calls",
    )
    DataSubjectRequest.objects.filter(pk=dsr.pk).update(due_at=timezone.now() + timedelta(days=1))

    mail.outbox.clear()  # the notices of the new request
    with django_capture_on_commit_callbacks(execute=True):
        assert requests.requests_remind() == 1

    # The reminder is the notification centre's: one e-mail per officer, in their language.
    by_recipient = {tuple(m.to): m for m in mail.outbox}
    chinese = by_recipient[(cast.compliance.email,)]
    assert chinese.subject == "TransferDesk：数据主体请求即将到期"  # noqa: RUF001
    assert f"数据主体请求 {str(dsr.pk)[:8]} 须于" in chinese.body
    assert "Data-subject request" not in chinese.subject + chinese.body
    english_mail = by_recipient[(english.email,)]
    assert english_mail.subject == "TransferDesk: Data-subject request due soon"
    assert f"Data-subject request {str(dsr.pk)[:8]} must be answered by" in english_mail.body
