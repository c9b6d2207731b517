"""The incident's affected customers come from the access log, exactly."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation

from accounts.choices import Role
from audits.incidents import (
    affected,
    deadlines,
    incident_create,
    incident_notices_prepare,
    incident_report_pdf,
    incident_set_status,
)
from customers.labels import field_labels
from customers.services import organization_grant
from tests.audits.reporting import pdf_text
from tests.e2e.conftest import compiled_catalogues  # noqa: F401 - fixture
from tests.factories import CustomerFactory, UserFactory
from tests.notices.conftest import link_path
from tests.transfers.conftest import make_deal
from transferdesk.trail import AuditAction, AuditEvent, record_event
from transfers import notices
from transfers.notice_models import CampaignKind, CampaignStatus, NoticeStatus

pytestmark = pytest.mark.django_db


def _open(client, user, customer) -> None:
    client.force_login(user)
    response = client.get(reverse("customers:customer_detail", kwargs={"pk": customer.pk}))
    assert response.status_code == 200


def test_affected_customers_are_exactly_those_the_access_log_shows_in_the_window(
    cast, client, make_customer, seller
):
    organization_grant(
        actor=cast.admin, user=cast.broker, organization=seller, permission="manage_customers"
    )
    before, inside_a, inside_b, inside_c, after, untouched = (make_customer()[0] for _ in range(6))
    _open(client, cast.broker, before)  # before the window
    start = timezone.now()
    _open(client, cast.broker, inside_a)
    _open(client, cast.broker, inside_b)
    record_event(  # a reveal of core fields by the same account
        action=AuditAction.REVEAL,
        actor=cast.broker,
        obj=inside_c,
        details={"fields": ["national_id"]},
    )
    record_event(  # not a read of customer data: ignored
        action=AuditAction.UPDATE, actor=cast.broker, obj=untouched, details={"fields": ["city"]}
    )
    end = timezone.now()
    _open(client, cast.broker, after)  # after the window

    incident = incident_create(
        actor=cast.compliance,
        detected_at=end,
        description="A broker laptop was stolen with an open session.",
        severity="high",
        window_start=start,
        window_end=end,
        suspect_users=[cast.broker],
        contact="dpo@example.test",
    )
    found = affected(incident)
    assert set(found.customers) == {str(inside_a.pk), str(inside_b.pk), str(inside_c.pk)}
    assert "full_name" in found.customers[str(inside_a.pk)]
    assert found.customers[str(inside_c.pk)] == {"national_id"}

    # Narrowed to another account: nobody.
    incident_other = incident_create(
        actor=cast.compliance, detected_at=end, description="x", severity="low",
        window_start=start, window_end=end, suspect_users=[cast.other_broker],
    )  # fmt: skip
    assert affected(incident_other).customers == {}


def _second_officer(cast):
    return UserFactory(
        username="compliance-2", organization=cast.compliance.organization,
        roles=[Role.COMPLIANCE],
    )  # fmt: skip


def _notice_incident(cast, deal):
    """Three customers of the deal's book read in the window (one in Chinese, one whose mail
    server refuses the address, one without an address), one read outside it."""
    chinese = CustomerFactory(
        organization=cast.seller, preferred_language="zh-hans", email="wang.fang@example.test"
    )
    refused = CustomerFactory(organization=cast.seller, email="refused7@example.test")
    no_address = CustomerFactory(organization=cast.seller, email="")
    outside = CustomerFactory(organization=cast.seller)
    record_event(
        action=AuditAction.VIEW_SENSITIVE, actor=cast.broker, obj=outside, deal=deal,
        details={"fields": ["email"]},
    )  # fmt: skip
    start = timezone.now()
    record_event(
        action=AuditAction.VIEW_SENSITIVE, actor=cast.broker, obj=chinese, deal=deal,
        details={"fields": ["email", "full_name"]},
    )  # fmt: skip
    record_event(
        action=AuditAction.REVEAL, actor=cast.broker, obj=refused,
        details={"fields": ["national_id"]},
    )  # fmt: skip
    record_event(
        action=AuditAction.VIEW_SENSITIVE, actor=cast.broker, obj=no_address,
        details={"fields": ["phone"]},
    )  # fmt: skip
    incident = incident_create(
        actor=cast.compliance, detected_at=timezone.now(), description="Misdirected export.",
        severity="medium", window_start=start, window_end=timezone.now(),
        measures="Export link revoked.", contact="Data-protection officer, dpo@example.test",
        description_zh="误发的导出文件。", measures_zh="导出链接已撤销。",
        contact_zh="数据保护官 dpo@example.test",
    )  # fmt: skip
    return incident, chinese, refused, no_address, outside


def test_incident_notices_go_through_the_notice_machinery_step_by_step(
    cast, client, settings, eager_tasks, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "tests.notices.backends.RefusingBackend"
    deal = make_deal(cast)
    incident, chinese, refused, no_address, _outside = _notice_incident(cast, deal)

    # Prepared from the access log: one notice per person, with the fields read.
    campaign = incident_notices_prepare(actor=cast.compliance, incident=incident)
    assert campaign.kind == CampaignKind.INCIDENT and campaign.deal_id is None
    rows = {n.customer_id: n for n in campaign.notices.all()}
    assert set(rows) == {chinese.pk, refused.pk, no_address.pk}
    assert rows[chinese.pk].fields == ["email", "full_name"]
    assert rows[chinese.pk].language == "zh-hans"
    assert rows[refused.pk].fields == ["national_id"]
    assert rows[no_address.pk].status == NoticeStatus.MANUAL
    # The personal link: for the deal the read named; a read outside any deal gives none.
    assert rows[chinese.pk].link_deal_id == deal.pk and rows[refused.pk].link_deal_id is None
    with pytest.raises(ValidationError):
        incident_notices_prepare(actor=cast.compliance, incident=incident)

    # Another officer finds it in the approvals queue, linked to the incident's notices page.
    second = UserFactory(username="second-officer", roles=[Role.COMPLIANCE])
    client.force_login(second)
    queue = client.get(reverse("transfers:approval_queue")).content.decode()
    assert reverse("lifecycle:incident_notices", args=[incident.pk]) in queue
    assert "Incident notice" in queue

    # Four eyes: not the preparer, not a broker (who cannot even see the campaign).
    with pytest.raises(PermissionDenied):
        notices.campaign_approve(actor=cast.compliance, campaign=campaign)
    with pytest.raises(PermissionDenied):
        notices.campaign_approve(actor=cast.broker, campaign=campaign)
    with pytest.raises(ValidationError):
        notices.campaign_send(actor=cast.compliance, campaign=campaign)
    client.force_login(cast.broker)
    assert client.get(reverse("notices:campaign_detail", args=[campaign.pk])).status_code == 404
    client.force_login(cast.compliance)
    response = client.get(reverse("notices:campaign_detail", args=[campaign.pk]))
    assert response["Location"] == reverse("lifecycle:incident_notices", args=[incident.pk])
    notices.campaign_approve(actor=_second_officer(cast), campaign=campaign)
    with pytest.raises(PermissionDenied):
        notices.campaign_send(actor=cast.broker, campaign=campaign)

    # Sending: a job with progress; the deal's own notice period is untouched.
    with django_capture_on_commit_callbacks(execute=True):
        job = notices.campaign_send(actor=cast.compliance, campaign=campaign)
    job.refresh_from_db()
    campaign.refresh_from_db()
    deal.refresh_from_db()
    assert job.status == "succeeded" and job.done == job.total == 2
    assert campaign.status == CampaignStatus.SENT
    assert deal.notices_sent_at is None
    assert len(mail.outbox) == 1  # the refused address failed, the other one went
    message = mail.outbox[0]
    assert message.to == [chinese.email] and incident.reference in message.subject
    with translation.override("zh-hans"):
        phrases = [
            translation.gettext("What happened"),
            translation.gettext("What you can do"),
            *field_labels(["email", "full_name"]),
        ]
    for body in (message.body, message.alternatives[0][0]):  # the Chinese texts, only them
        assert "误发的导出文件。" in body and "导出链接已撤销。" in body
        assert "数据保护官 dpo@example.test" in body
        for english in ("Misdirected export.", "Export link revoked.", "Data-protection officer"):
            assert english not in body
        for phrase in phrases:
            assert phrase in body, phrase
    assert client.get(link_path(message.body)).status_code == 200  # the customer's page

    failed = campaign.notices.get(customer=refused)
    assert failed.status == NoticeStatus.FAILED and "550" in failed.failure_reason
    incident.refresh_from_db()
    assert incident.customers_notified_at is None and incident.notices_sent == 1
    assert deadlines(incident)[1].state == "running"
    page = client.get(reverse("lifecycle:incident_notices", args=[incident.pk])).content.decode()
    assert no_address.reference in page and refused.reference in page and "550" in page

    # The two left are told by letter and by phone: then the customers' clock stops.
    for notice, channel in ((failed, "phone"), (rows[no_address.pk], "letter")):
        url = reverse("notices:notice_manual_done", args=[notice.pk])
        assert client.post(url, {"channel": channel}).status_code == 302
    incident.refresh_from_db()
    assert incident.customers_notified_at is not None and incident.notices_sent == 3

    incident_set_status(actor=cast.compliance, incident=incident, status="reported")
    assert [d.state for d in deadlines(incident)] == ["met", "met"]

    # Every step is an event, on the incident or on its campaign, and none holds personal data.
    trail = AuditEvent.objects.filter(
        Q(object_type="audits.incident", object_id=str(incident.pk))
        | Q(object_type="transfers.noticecampaign", object_id=str(campaign.pk))
        | Q(object_type="transfers.notice", object_id__in=[str(n.pk) for n in rows.values()])
    ).order_by("seq")
    steps = [(e.action, e.details.get("step")) for e in trail]
    assert steps == [
        (AuditAction.INCIDENT, "recorded"),
        (AuditAction.CREATE, "prepared"),
        (AuditAction.INCIDENT, "notices_prepared"),
        (AuditAction.UPDATE, "approved"),
        (AuditAction.UPDATE, "sending"),
        (AuditAction.NOTICE_SENT, None),
        (AuditAction.NOTICE_SENT, None),
        (AuditAction.NOTICE_SENT, None),
        (AuditAction.INCIDENT, "customers_notified"),
        (AuditAction.INCIDENT, "status"),
    ]
    for event in trail:
        text = str(event.details)
        for customer in (chinese, refused, no_address):
            assert customer.email not in text or not customer.email
            assert customer.full_name not in text


@pytest.mark.usefixtures("compiled_catalogues")
def test_the_report_names_the_deadlines_the_people_and_the_notices(cast, settings):
    deal = make_deal(cast)
    incident, *_ = _notice_incident(cast, deal)
    incident_notices_prepare(actor=cast.compliance, incident=incident)
    settings.LANGUAGE_CODE = "zh-hans"
    with translation.override("zh-hans"):
        pdf = incident_report_pdf(actor=cast.compliance, incident=incident)
        expected = [
            translation.gettext("What happened"),
            translation.gettext("Notices to the people affected"),
            str(CampaignStatus.DRAFT.label),
            *field_labels(["national_id"]),  # fields by their names in the language
        ]
    reader, text = pdf_text(pdf)
    flat = "".join(text.split())  # table cells and CJK text wrap anywhere
    for phrase in expected:
        assert "".join(phrase.split()) in flat, phrase
    assert "发生了什么" in flat  # the report is in Chinese, not only its values
    # ... and so are the texts compliance wrote, in their Chinese version.
    for chinese in ("误发的导出文件。", "导出链接已撤销。", "数据保护官 dpo@example.test"):
        assert "".join(chinese.split()) in flat, chinese
    assert "Misdirected export." not in text and "Export link revoked." not in text
    assert reader.pages and b"/FontFile2" in pdf  # the CJK font is embedded
    assert AuditEvent.objects.filter(
        action=AuditAction.REPORT_GENERATED, object_id=str(incident.pk)
    ).exists()


@pytest.mark.usefixtures("compiled_catalogues")
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_clock_follows_the_configured_hours_and_shows_on_the_page(
    cast, client, settings, language
):
    settings.TRANSFERDESK_INCIDENT_DEADLINES = {"gdpr_authority": 48, "pipl_authority": 1}
    detected = timezone.now() - dt.timedelta(hours=2)
    incident = incident_create(
        actor=cast.compliance, detected_at=detected, description="Lost laptop.",
        severity="high", window_start=detected - dt.timedelta(days=1), window_end=detected,
    )  # fmt: skip
    gdpr, pipl = deadlines(incident)
    assert gdpr.due == detected + dt.timedelta(hours=48) and gdpr.state == "running"
    assert pipl.due == detected + dt.timedelta(hours=1) and pipl.state == "overdue"
    assert 45 * 3600 < gdpr.seconds_left <= 46 * 3600

    client.force_login(cast.compliance)
    client.cookies["django_language"] = language
    html = client.get(reverse("lifecycle:incident_detail", args=[incident.pk])).content.decode()
    with translation.override(language):
        gdpr, pipl = deadlines(incident)
        assert f'lang="{language}"' in html
        assert gdpr.label in html and pipl.label in html and "48" in gdpr.label
        for message in ("%(time)s overdue", "%(time)s left"):  # the template's two states
            assert translation.gettext(message).replace("%(time)s", "").strip() in html
        assert translation.gettext("Prepare the notices") in html


def _portal_buyer(cast, deal):
    from transfers import services

    nda = services.nda_publish(actor=cast.broker, deal=deal, text="Keep every record secret.")
    services.nda_accept(actor=cast.buyer, nda=nda, ip="10.0.0.1", user_agent="pytest")


def test_a_seeded_portal_scenario_gives_exactly_the_customers_each_page_showed(
    cast, client, delivered
):
    """A buyer's session in the portal, seeded page by page: a filtered list page shows two
    records, one record is opened, the receipt shows no one; a later export shows the whole
    stage. Reads by others, and reads outside the window, do not count."""
    from transfers.engine import snapshot_fields
    from transfers.portal_selectors import list_columns

    deal, stage = delivered
    _portal_buyer(cast, deal)
    from customers.models import Customer

    records = list(stage.items.order_by("pk"))
    segment = dict(
        Customer.objects.filter(pk__in=[i.customer_id for i in records]).values_list(
            "pk", "segment"
        )
    )
    business = [i for i in records if segment[i.customer_id] == "business"]
    retail = [i for i in records if segment[i.customer_id] == "retail"]
    assert len(business) == 2 and len(retail) == 2
    client.force_login(cast.buyer)
    item_url = lambda item: reverse("portal:item", args=[stage.pk, item.pk])  # noqa: E731
    assert client.get(item_url(retail[1])).status_code == 200  # before the window

    start = timezone.now()
    listing = client.get(reverse("portal:stage", args=[stage.pk]), {"segment": "business"})
    assert listing.status_code == 200
    assert client.get(item_url(retail[0])).status_code == 200
    assert client.get(reverse("portal:receipt", args=[stage.pk])).status_code == 200
    record_event(  # another account reads a customer of the deal meanwhile
        action=AuditAction.VIEW_SENSITIVE, actor=cast.broker, deal=deal,
        obj=Customer.objects.get(pk=retail[1].customer_id), details={"fields": ["email"]},
    )  # fmt: skip
    end = timezone.now()

    client.force_login(cast.buyer)
    assert client.post(reverse("portal:export", args=[stage.pk, "csv"])).status_code == 200
    after_export = timezone.now()

    def incident(window_start, window_end):
        return incident_create(
            actor=cast.compliance, detected_at=timezone.now(), description="Buyer account shared.",
            severity="high", window_start=window_start, window_end=window_end, deals=[deal],
            suspect_users=[cast.buyer],
        )  # fmt: skip

    browsing = affected(incident(start, end))
    expected = {str(i.customer_id) for i in business} | {str(retail[0].customer_id)}
    assert set(browsing.customers) == expected
    columns = set(list_columns(stage))
    for item in business:
        assert browsing.customers[str(item.customer_id)] == columns
    shown = browsing.customers[str(retail[0].customer_id)]
    assert "full_name" in shown and shown <= set(snapshot_fields(stage))
    assert browsing.deals[str(retail[0].customer_id)] == {str(deal.pk)}

    exporting = affected(incident(end, after_export))
    assert set(exporting.customers) == {str(i.customer_id) for i in stage.items.all()}
    assert all(names == set(snapshot_fields(stage)) for names in exporting.customers.values())


def test_the_notices_are_prepared_approved_and_sent_from_the_incident_pages(
    cast, client, settings, eager_tasks, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    deal = make_deal(cast)
    incident, chinese, *_ = _notice_incident(cast, deal)
    detail = reverse("lifecycle:incident_detail", args=[incident.pk])
    page = reverse("lifecycle:incident_notices", args=[incident.pk])
    client.force_login(cast.compliance)
    assert client.get(page)["Location"] == detail  # nothing prepared yet
    response = client.post(reverse("lifecycle:incident_notices_prepare", args=[incident.pk]))
    assert response["Location"] == page
    campaign = incident.notice_campaigns.get()
    html = client.get(page).content.decode()
    assert chinese.reference in html and "another compliance officer must approve" in html
    assert reverse("notices:campaign_approve", args=[campaign.pk]) not in html

    client.force_login(_second_officer(cast))
    html = client.get(page).content.decode()
    approve = reverse("notices:campaign_approve", args=[campaign.pk])
    assert approve in html
    assert client.post(approve, follow=True).redirect_chain[-1][0] == page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("notices:campaign_send", args=[campaign.pk]), follow=True)
    assert response.redirect_chain[-1][0] == page
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT and len(mail.outbox) == 2
    html = client.get(detail).content.decode()
    assert page in html and str(CampaignStatus.SENT.label) in html
    preview = client.get(reverse("lifecycle:incident_notice_preview", args=[incident.pk]))
    assert "Misdirected export." in preview.content.decode()


def test_each_customer_reads_the_incident_texts_in_their_own_language(cast):
    deal = make_deal(cast)
    incident, chinese, _refused, _none, _outside = _notice_incident(cast, deal)
    english = CustomerFactory(organization=cast.seller, email="ann.lee@example.test")
    renderer = notices.IncidentNoticeRenderer(incident=incident)
    fields = ["email"]
    zh = renderer.build(customer=chinese, fields=fields, url="https://td.example/n/x/")
    en = renderer.build(customer=english, fields=fields, url="https://td.example/n/y/")
    chinese_texts = ("误发的导出文件。", "导出链接已撤销。", "数据保护官")
    english_texts = ("Misdirected export.", "Export link revoked.", "Data-protection officer")
    for body in (zh.body, zh.alternatives[0][0]):
        assert all(t in body for t in chinese_texts)
        assert not any(t in body for t in english_texts)
    for body in (en.body, en.alternatives[0][0]):
        assert all(t in body for t in english_texts)
        assert not any(t in body for t in chinese_texts)


@pytest.mark.usefixtures("compiled_catalogues")
def test_notices_are_refused_while_a_language_of_the_people_affected_has_no_text(cast, client):
    from audits.incidents import incident_set_texts

    deal = make_deal(cast)
    incident, *_ = _notice_incident(cast, deal)
    incident_set_texts(
        actor=cast.compliance, incident=incident, texts={"description_zh": "", "contact_zh": ""}
    )
    with pytest.raises(ValidationError) as refused:
        incident_notices_prepare(actor=cast.compliance, incident=incident)
    (message,) = refused.value.messages
    assert "1 of the people affected read Simplified Chinese" in message
    assert "What happened" in message and "Contact" in message
    assert "What we have done" not in message  # the Chinese measures are there
    assert not incident.notice_campaigns.exists()

    # From the page, in Chinese: the message names the language, and nothing is prepared.
    client.force_login(cast.compliance)
    client.cookies["django_language"] = "zh-hans"
    response = client.post(
        reverse("lifecycle:incident_notices_prepare", args=[incident.pk]), follow=True
    )
    with translation.override("zh-hans"):
        assert translation.gettext("Simplified Chinese") in response.content.decode()
    assert not incident.notice_campaigns.exists()

    # Written in Chinese on the incident page: the notices are prepared.
    data = {"description": incident.description, "description_zh": "误发的导出文件。",
            "measures": incident.measures, "measures_zh": incident.measures_zh,
            "contact": incident.contact, "contact_zh": "数据保护官"}  # fmt: skip
    response = client.post(reverse("lifecycle:incident_texts", args=[incident.pk]), data)
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.description_zh == "误发的导出文件。" and incident.contact_zh == "数据保护官"
    assert AuditEvent.objects.filter(object_id=str(incident.pk), details__step="texts").exists()
    assert incident_notices_prepare(actor=cast.compliance, incident=incident)
    page = client.get(reverse("lifecycle:incident_notices", args=[incident.pk])).content.decode()
    assert "误发的导出文件。" in page and "Misdirected export." in page  # both versions


def test_the_notice_emails_name_chinese_system_fonts_before_the_generic_family():
    from pathlib import Path

    from django.conf import settings as django_settings

    folder = Path(django_settings.BASE_DIR) / "templates" / "notice" / "email"
    for name in ("incident.html", "notice.html"):
        html = (folder / name).read_text()
        stack = html.split("font-family:", 1)[1].split(";", 1)[0]
        fonts = [f.strip().strip("'") for f in stack.split(",")]
        for cjk in ("PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", "Source Han Sans SC"):
            assert fonts.index(cjk) < fonts.index("sans-serif"), (name, cjk)
