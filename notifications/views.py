"""The notification centre: the bell's count, the list, "mark read", e-mail preferences.

Every view reaches only the signed-in user's own notifications (``restrict``): another
user's notification is the same 404 as a missing one.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from transferdesk.http import AuthenticatedHttpRequest
from transferdesk.sessions import passive_session

from . import services
from .choices import Delivery
from .forms import NotificationFilterForm, PreferencesForm
from .models import Notification

PAGE_SIZE = 25


def _unread(user: object) -> int:
    return Notification.objects.restrict(user).filter(read_at__isnull=True).count()


#: htmx stops polling on this status (https://htmx.org/docs/#polling).
STOP_POLLING = 286


@passive_session
def bell(request: HttpRequest) -> HttpResponse:
    """The unread count in the top bar, fetched by htmx on load and once a minute. The poll
    is not the person's activity (``passive_session``: it never keeps an idle session alive);
    once the session has ended, it answers "stop polling" rather than the sign-in page."""
    if not request.user.is_authenticated:
        return HttpResponse(status=STOP_POLLING)
    return render(request, "notifications/_bell.html", {"unread": _unread(request.user)})


@login_required
def notification_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = NotificationFilterForm(request.GET or None)
    notifications = Notification.objects.restrict(request.user)
    if form.is_valid():
        if form.cleaned_data["kind"]:
            notifications = notifications.filter(kind=form.cleaned_data["kind"])
        if form.cleaned_data["unread"]:
            notifications = notifications.filter(read_at__isnull=True)
    page = Paginator(notifications.order_by("-created_at", "-pk"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "notifications/list.html",
        {
            "form": form,
            "page_obj": page,
            "notifications": list(page.object_list),
            "unread": _unread(request.user),
        },
    )


def _back(request: AuthenticatedHttpRequest) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("notifications:list")


@login_required
@require_POST
def mark_read(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    notification = get_object_or_404(Notification.objects.restrict(request.user), pk=pk)
    services.notification_mark_read(actor=request.user, notification=notification)
    return _back(request)


@login_required
@require_POST
def mark_all_read(request: AuthenticatedHttpRequest) -> HttpResponse:
    count = services.notifications_mark_all_read(actor=request.user)
    messages.success(request, _("{count} notifications marked read.").format(count=count))
    return _back(request)


@login_required
def preferences(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = PreferencesForm(request.POST or None, initial=services.delivery_of(request.user))
    if request.method == "POST" and form.is_valid():
        services.preferences_set(actor=request.user, values=form.cleaned_data)
        messages.success(request, _("Your e-mail preferences are saved."))
        return redirect("notifications:preferences")
    return render(
        request, "notifications/preferences.html", {"form": form, "deliveries": Delivery.choices}
    )
