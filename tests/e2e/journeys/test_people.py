"""People, in the browser only: a broker invites a buyer to a deal by e-mail, the buyer opens
the link in their own browser, sets a username and password and lands on the deal's NDA; the
link then says it was used; compliance gives a broker a customer book and takes it back.

Runs in English and in Chinese; each step saves a screenshot under
``var/screenshots/journeys/``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.core.cache import cache
from playwright.sync_api import Browser, Locator, Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import Invitation, User
from tests.e2e.browser import enrol_totp_in_page, screenshot, sign_in, sign_out, use_language
from tests.e2e.conftest import VIEWPORT, ConsoleWatch
from tests.factories import PASSWORD, Cast
from transfers import services as deal_services
from transfers.models import DealAssignment

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a long and unusual passphrase 42"

#: What the person reads and clicks, in each language of the interface.
WORDS = {
    "en": {
        "email": "E-mail",
        "send": "Send the invitation",
        "sent": "Invitation sent to",
        "accept": "Accept the invitation",
        "username": "Username",
        "password": "Password",
        "again": "Password again",
        "create": "Create my account",
        "used": "This invitation has already been used",
        "access": "Access to the book",
        "broker": "Broker",
        "permission": "Permission",
        "give": "Give access",
        "holds": "now holds",
        "revoke": "Revoke",
        "reason": "Reason",
        "taken": "Access taken away from",
        "nobody": "Nobody holds access to this book",
        "invite_staff": "Invite staff",
        "role": "Role",
        "revoked": "Invitation revoked",
    },
    "zh-hans": {
        "email": "电子邮件",
        "send": "发送邀请",
        "sent": "邀请已发送至",
        "accept": "接受邀请",
        "username": "用户名",
        "password": "密码",
        "again": "再次输入密码",
        "create": "创建我的账户",
        "used": "此邀请已被使用",
        "access": "名册访问权限",
        "broker": "经纪人",
        "permission": "权限",
        "give": "授予访问权限",
        "holds": "现已拥有",
        "revoke": "撤销",
        "reason": "原因",
        "taken": "已收回",
        "nobody": "无人拥有此名册的访问权限",
        "invite_staff": "邀请员工",
        "role": "角色",
        "revoked": "邀请已撤销",
    },
}


def _field(page: Page, label: str) -> Locator:
    """The form control labelled exactly ``label`` (a required field's label ends in "*")."""
    return page.get_by_label(re.compile(rf"^{re.escape(label)}\*?$"))


def _shot(page: Page, step: str) -> None:
    screenshot(page, f"journeys/people-{step}")


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_broker_invites_a_buyer_who_sets_a_password_and_compliance_gives_and_takes_a_book(
    cast: Cast,
    page: Page,
    browser: Browser,
    live_server: LiveServer,
    console: ConsoleWatch,
    lang: str,
) -> None:
    words = WORDS[lang]
    cache.delete("invite:rl:ip:127.0.0.1")  # the accept page's counter of this address
    deal = deal_services.deal_create(
        actor=cast.broker, reference="PEOPLE-1", title="Northwind book", seller=cast.seller,
        buyer=cast.buyer_org, purposes="Service continuity", legal_basis="Contract",
    )  # fmt: skip
    deal_services.nda_publish(actor=cast.broker, deal=deal, text="Keep it confidential.")
    use_language(page, live_server.url, lang)

    # The broker invites the buyer from the deal page's people section.
    sign_in(page, "broker", PASSWORD)
    page.goto(f"/deals/{deal.pk}/")
    _field(page, words["email"]).fill("li.hua@buyer.example")
    _shot(page, "01-broker-fills-the-invitation")
    with page.expect_navigation():
        page.get_by_role("button", name=words["send"]).click()
    expect(page.get_by_text(words["sent"])).to_be_visible()
    expect(page.get_by_text("li.hua@buyer.example").first).to_be_visible()
    _shot(page, "02-invitation-pending-on-the-deal")
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["li.hua@buyer.example"]
    link = re.search(r"https?://\S+/invite/\S+/", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    path = urlsplit(link.group(0)).path

    # The buyer opens the link in their own browser, with no account yet.
    buyer_context = browser.new_context(
        base_url=live_server.url, viewport=VIEWPORT, locale="en-GB", device_scale_factor=1
    )
    try:
        buyer = buyer_context.new_page()
        buyer.on("console", lambda m: m.type == "error" and console.errors.append(m.text))
        use_language(buyer, live_server.url, lang)
        buyer.goto(path)
        expect(buyer.get_by_role("heading", name=words["accept"])).to_be_visible()
        expect(buyer.get_by_text("PEOPLE-1 · Northwind book")).to_be_visible()
        _field(buyer, words["username"]).fill("lihua")
        _field(buyer, words["password"]).fill(NEW_PASSWORD)
        _field(buyer, words["again"]).fill(NEW_PASSWORD)
        _shot(buyer, "03-buyer-chooses-username-and-password")
        with buyer.expect_navigation():
            buyer.get_by_role("button", name=words["create"]).click()
        # Buyers of this organisation must use a second factor: enrolment comes first.
        expect(buyer).to_have_url(re.compile(r"/accounts/2fa/$"))
        _shot(buyer, "04-buyer-is-led-to-enrol-a-second-factor")
        enrol_totp_in_page(buyer)
        buyer.goto(f"/portal/deals/{deal.pk}/nda/")
        expect(buyer).to_have_url(re.compile(rf"/portal/deals/{deal.pk}/nda/$"))
        _shot(buyer, "04-buyer-lands-on-the-nda")

        user = User.objects.get(username="lihua")
        assert user.organization == cast.buyer_org and user.email == "li.hua@buyer.example"
        assert user.has_role("buyer") and user.check_password(NEW_PASSWORD)
        assert DealAssignment.objects.filter(deal=deal, user=user, role="buyer").exists()
        assert Invitation.objects.get(email="li.hua@buyer.example").accepted_user == user

        # The same link again, in another browser: it says it was used, and nothing more.
        console.allow(r"status of 410")
        again = buyer_context.browser.new_context(base_url=live_server.url)  # type: ignore[union-attr]
        try:
            second = again.new_page()
            use_language(second, live_server.url, lang)
            second.goto(path)
            expect(second.get_by_role("heading", name=words["used"])).to_be_visible()
            expect(second.get_by_text("PEOPLE-1")).to_have_count(0)
            _shot(second, "05-used-link-says-so")
        finally:
            again.close()
    finally:
        buyer_context.close()

    # Compliance invites a new broker from the user menu's "Invite staff", then withdraws it.
    sign_out(page)
    sign_in(page, "compliance", PASSWORD)
    page.click(".td-user")
    page.get_by_role("link", name=words["invite_staff"]).click()
    _field(page, words["email"]).fill("new.broker@firm.example")
    _field(page, words["role"]).select_option("broker")
    with page.expect_navigation():
        page.get_by_role("button", name=words["send"]).click()
    expect(page.get_by_role("cell", name="new.broker@firm.example")).to_be_visible()
    _shot(page, "06-compliance-invites-staff")
    staff_invitation = Invitation.objects.get(email="new.broker@firm.example")
    assert staff_invitation.role == "broker" and staff_invitation.organization == cast.broker_firm
    with page.expect_navigation():
        page.get_by_role("button", name=words["revoke"]).click()
    expect(page.get_by_text(words["revoked"])).to_be_visible()
    staff_invitation.refresh_from_db()
    assert staff_invitation.revoked_at is not None

    # Compliance gives broker2 the seller's book on the access page, then takes it back.
    page.goto(f"/customers/books/{cast.seller.slug}/")
    page.get_by_role("link", name=words["access"]).click()
    expect(page.get_by_text(words["nobody"])).to_be_visible()
    _field(page, words["broker"]).select_option(label=f"{cast.other_broker.display_name} (broker2)")
    _field(page, words["permission"]).select_option("manage_customers")
    _field(page, words["reason"]).fill("Joins the data-room team")
    _shot(page, "07-compliance-gives-a-book")
    with page.expect_navigation():
        page.get_by_role("button", name=words["give"]).click()
    expect(page.get_by_text(words["holds"])).to_be_visible()
    _shot(page, "08-book-given")
    assert cast.other_broker.has_perm("customers.manage_customers", cast.seller)

    page.get_by_role("link", name=words["revoke"]).click()
    _field(page, words["reason"]).fill("Left the data-room team")
    _shot(page, "09-compliance-confirms-the-revocation")
    with page.expect_navigation():
        page.get_by_role("button", name=words["revoke"]).click()
    expect(page.get_by_text(words["taken"])).to_be_visible()
    expect(page.get_by_text(words["nobody"])).to_be_visible()
    _shot(page, "10-book-taken-back")
    fresh = User.objects.get(pk=cast.other_broker.pk)
    assert not fresh.has_perm("customers.manage_customers", cast.seller)
