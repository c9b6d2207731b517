"""Retention, backups and incidents (``lifecycle:``), for compliance officers."""

from django.urls import path

from . import views_lifecycle as views

app_name = "lifecycle"

urlpatterns = [
    path("retention/", views.retention, name="retention"),
    path("retention/policies/<uuid:pk>/confirm/", views.policy_confirm, name="policy_confirm"),
    path("retention/policies/<uuid:pk>/run/", views.policy_run, name="policy_run"),
    path("retention/holds/", views.hold_place, name="hold_place"),
    path("retention/holds/<uuid:pk>/release/", views.hold_release, name="hold_release"),
    path("retention/runs/<uuid:pk>/certificate/", views.run_certificate, name="run_certificate"),
    path("certificates/<uuid:pk>.pdf", views.certificate_pdf, name="certificate_pdf"),
    path("deals/<uuid:pk>/destroy/", views.deal_destroy, name="deal_destroy"),
    path(
        "destructions/<uuid:pk>/attestation/",
        views.destruction_attest,
        name="destruction_attest",
    ),
    path("backups/", views.backups, name="backups"),
    path("backups/drill/", views.drill_start, name="drill_start"),
    path("incidents/", views.incidents, name="incidents"),
    path("incidents/<uuid:pk>/", views.incident_detail, name="incident_detail"),
    path(
        "incidents/<uuid:pk>/notices/prepare/",
        views.incident_notices_prepare,
        name="incident_notices_prepare",
    ),
    path("incidents/<uuid:pk>/notices/", views.incident_notices, name="incident_notices"),
    path(
        "incidents/<uuid:pk>/notices/preview/",
        views.incident_notice_preview,
        name="incident_notice_preview",
    ),
    path("incidents/<uuid:pk>/texts/", views.incident_texts, name="incident_texts"),
    path("incidents/<uuid:pk>/status/", views.incident_status, name="incident_status"),
    path("incidents/<uuid:pk>/report.pdf", views.incident_report, name="incident_report"),
]
