"""Broker and compliance pages of transfer deals."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.choices import Role
from transferdesk.permissions import role_required


@role_required(Role.BROKER, Role.COMPLIANCE)
def deal_list(request: HttpRequest) -> HttpResponse:
    """The broker's landing page: the deals they are assigned to."""
    return render(request, "transfers/deal_list.html", {"deals": [], "columns": []})
