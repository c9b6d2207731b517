"""Compliance pages."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.choices import Role
from transferdesk.permissions import role_required


@role_required(Role.COMPLIANCE)
def dashboard(request: HttpRequest) -> HttpResponse:
    """The compliance officer's landing page."""
    return render(request, "audits/dashboard.html", {})
