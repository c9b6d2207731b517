"""My work: the page of everything waiting on the signed-in user, and its top rows for the
landing pages (an htmx fragment, so that the pages of lower apps show it by URL name)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render

from transferdesk.http import AuthenticatedHttpRequest
from transferdesk.sessions import passive_session

from .mywork import PAGE_SIZE, TOP_SIZE, my_work


@login_required
def mine(request: AuthenticatedHttpRequest) -> HttpResponse:
    page = Paginator(my_work(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "audits/my_work.html", {"page_obj": page})


@passive_session  # a background fetch of the landing page: see transferdesk/sessions.py
@login_required
def top(request: AuthenticatedHttpRequest) -> HttpResponse:
    items = my_work(request.user)
    return render(
        request, "audits/_my_work_top.html", {"items": items[:TOP_SIZE], "total": len(items)}
    )
