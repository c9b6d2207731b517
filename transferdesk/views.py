"""Project-level views: the role-based landing redirect and job progress."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from accounts.choices import Role

from .http import AuthenticatedHttpRequest
from .jobs import Job
from .periodic import PeriodicRun, every_text, overview

LANDING = {
    Role.COMPLIANCE: "audits:dashboard",
    Role.BROKER: "transfers:deal_list",
    Role.BUYER: "portal:home",
}


@login_required
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Send each user to the page of their role; staff without a role go to the admin."""
    role = request.user.primary_role
    if role:
        return redirect(LANDING[Role(role)])
    if request.user.is_staff:
        return redirect("admin:index")
    return render(request, "no_role.html", status=403)


@login_required
def job_progress(request: AuthenticatedHttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The progress bar of a job, polled by htmx while it runs. Only the person who started the
    job, and compliance, may see it; anyone else gets the same 404 as a missing job."""
    jobs = Job.objects.all()
    if not request.user.has_role(Role.COMPLIANCE):
        jobs = jobs.filter(started_by=request.user)
    job = get_object_or_404(jobs, pk=pk)
    return render(request, "partials/job_progress.html", {"job": job})


@login_required
def periodic_jobs(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every periodic job with its last run, last success and next run, and the runs so far
    (successes too): for compliance officers and administrators."""
    if not (request.user.has_role(Role.COMPLIANCE) or request.user.is_staff):
        raise PermissionDenied
    entries = overview()
    for entry in entries:
        entry["every_text"] = every_text(entry["every"])
    runs = Paginator(PeriodicRun.objects.all(), 25).get_page(request.GET.get("page"))
    return render(
        request,
        "transferdesk/periodic_jobs.html",
        {
            "entries": entries,
            "runs": runs,
            "compliance": request.user.has_role(Role.COMPLIANCE),
        },
    )
