"""Project-level views: the role-based landing redirect."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.choices import Role

LANDING = {
    Role.COMPLIANCE: "audits:dashboard",
    Role.BROKER: "transfers:deal_list",
    Role.BUYER: "portal:home",
}


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each user to the page of their role; staff without a role go to the admin."""
    role = request.user.primary_role
    if role:
        return redirect(LANDING[Role(role)])
    if request.user.is_staff:
        return redirect("admin:index")
    return render(request, "no_role.html", status=403)
