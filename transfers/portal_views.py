"""The buyer portal."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.choices import Role
from transferdesk.permissions import role_required


@role_required(Role.BUYER)
def home(request: HttpRequest) -> HttpResponse:
    """The buyer's landing page: their deals and the stages delivered to them."""
    return render(request, "portal/home.html", {"deals": [], "columns": []})
