"""Views log reads through one helper or decorator, and only successful reads."""

from __future__ import annotations

import pytest
from django.http import Http404, HttpRequest, HttpResponse
from django.test import RequestFactory

from tests.factories import OrganizationFactory, UserFactory
from transferdesk.middleware import RequestIdMiddleware
from transferdesk.trail import AuditAction, AuditEvent, log_access, records_access

pytestmark = pytest.mark.django_db

DEAL = "0b6f2a4e-3b51-4c1e-9d55-2f1e0c9f7a10"


def _serve(view, user, **kwargs) -> HttpResponse:
    request = RequestFactory().get("/x/", REMOTE_ADDR="198.51.100.4")
    request.user = user
    return RequestIdMiddleware(lambda r: view(r, **kwargs))(request)


def test_log_access_records_reader_object_deal_and_field_names():
    user, org = UserFactory(username="compliance"), OrganizationFactory()

    def view(request: HttpRequest) -> HttpResponse:
        log_access(
            request, action=AuditAction.VIEW_CORE, obj=org, deal=DEAL, fields=["phone", "email"]
        )
        return HttpResponse("ok")

    _serve(view, user)

    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.deal_ref) == (AuditAction.VIEW_CORE, user, DEAL)
    assert (event.object_type, event.object_id) == ("customers.organization", str(org.pk))
    assert event.details == {"fields": ["email", "phone"]}
    assert event.ip == "198.51.100.4"


@records_access(AuditAction.PORTAL_VIEW, object_type="transfers.stage", deal_kwarg="deal")
def _portal_page(request: HttpRequest, deal: str, pk: str) -> HttpResponse:
    if pk == "missing":
        raise Http404
    return HttpResponse("page")


def test_the_decorator_records_a_successful_view_of_the_object_named_by_the_url():
    user = UserFactory(username="buyer")
    _serve(_portal_page, user, deal=DEAL, pk="42")

    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.deal_ref) == (AuditAction.PORTAL_VIEW, user, DEAL)
    assert (event.object_type, event.object_id) == ("transfers.stage", "42")


def test_the_decorator_records_nothing_when_the_view_refuses():
    with pytest.raises(Http404):
        _serve(_portal_page, UserFactory(), deal=DEAL, pk="missing")
    assert not AuditEvent.objects.exists()


def test_the_admin_shows_audit_events_but_lets_nobody_add_change_or_delete(admin_client):
    from transferdesk.trail import record_event

    event = record_event(action=AuditAction.BACKUP)
    assert admin_client.get("/admin/audits/auditevent/").status_code == 200
    assert admin_client.get(f"/admin/audits/auditevent/{event.seq}/change/").status_code == 200
    assert admin_client.get("/admin/audits/auditevent/add/").status_code == 403
    response = admin_client.post(f"/admin/audits/auditevent/{event.seq}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert AuditEvent.objects.filter(seq=event.seq).exists()
