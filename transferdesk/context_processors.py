"""Navigation by role for the base layout."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.choices import Role


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url_name: str

    @property
    def url(self) -> str:
        return reverse(self.url_name)


#: Second, after the role's own landing page. Not in the compliance officers' bar, which is
#: full at 1280 pixels: their landing page (the dashboard) leads with it and links to it.
MY_WORK = NavItem(_("My work"), "work:mine")

#: What each role sees in the top navigation. Later issues add their pages here.
NAVIGATION: dict[str, list[NavItem]] = {
    Role.BROKER: [
        NavItem(_("Deals"), "transfers:deal_list"),
        MY_WORK,
        NavItem(_("Customers"), "customers:organization_list"),
        NavItem(_("Buyer questions"), "portal:question_queue"),
    ],
    Role.COMPLIANCE: [
        NavItem(_("Compliance"), "audits:dashboard"),
        NavItem(_("Retention"), "lifecycle:retention"),
        NavItem(_("Deals"), "transfers:deal_list"),
        NavItem(_("Approvals"), "transfers:approval_queue"),
        NavItem(_("Customers"), "customers:organization_list"),
        NavItem(_("Follow-ups"), "portal:overdue"),
        NavItem(_("Data-subject requests"), "requests:request_list"),
    ],
    Role.BUYER: [NavItem(_("Data room"), "portal:home"), MY_WORK],
}


def navigation(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items: list[NavItem] = []
    for role in (Role.BROKER, Role.COMPLIANCE, Role.BUYER):
        if user.has_role(role):
            items.extend(i for i in NAVIGATION[role] if i not in items)
    if user.is_staff and not user.has_role(Role.COMPLIANCE) and MY_WORK not in items:
        items.append(MY_WORK)
    current = request.resolver_match.view_name if request.resolver_match else ""
    # The item for this very page wins; otherwise the first item of the page's namespace.
    exact = next((i for i in items if i.url_name == current), None)
    section = exact or next(
        (i for i in items if current.split(":")[0] == i.url_name.split(":")[0]), None
    )
    return {"nav_items": [{"label": i.label, "url": i.url, "active": i is section} for i in items]}
