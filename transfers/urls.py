from django.urls import path

from . import views

app_name = "transfers"

urlpatterns = [
    path("", views.deal_list, name="deal_list"),
    path("new/", views.deal_create, name="deal_create"),
    path("approvals/", views.approval_queue, name="approval_queue"),
    path("verify/", views.verify_receipt, name="verify_receipt"),
    path("<uuid:pk>/", views.deal_detail, name="deal_detail"),
    path("<uuid:pk>/edit/", views.deal_edit, name="deal_edit"),
    path("<uuid:pk>/complete/", views.deal_complete, name="deal_complete"),
    path("<uuid:pk>/assignments/", views.deal_assignments, name="deal_assignments"),
    path(
        "<uuid:pk>/assignments/<int:assignment_pk>/remove/",
        views.assignment_remove,
        name="assignment_remove",
    ),
    path("<uuid:pk>/invite/", views.deal_invite, name="deal_invite"),
    path("<uuid:pk>/nda/", views.nda_publish, name="nda_publish"),
    path("<uuid:pk>/stages/new/", views.stage_create, name="stage_create"),
    path("stages/<uuid:pk>/", views.stage_detail, name="stage_detail"),
    path("stages/<uuid:pk>/edit/", views.stage_edit, name="stage_edit"),
    path("stages/<uuid:pk>/progress/", views.stage_progress, name="stage_progress"),
    path("stages/<uuid:pk>/submit/", views.stage_submit, name="stage_submit"),
    path("stages/<uuid:pk>/cancel/", views.stage_cancel, name="stage_cancel"),
    path("stages/<uuid:pk>/approve/", views.stage_approve, name="stage_approve"),
    path("stages/<uuid:pk>/reject/", views.stage_reject, name="stage_reject"),
    path("stages/<uuid:pk>/receipt.pdf", views.stage_receipt, name="stage_receipt"),
    path("stages/<uuid:pk>/manifest.json", views.stage_manifest, name="stage_manifest"),
]
