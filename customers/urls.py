"""Broker pages of the customer vault (namespace ``customers:``)."""

from __future__ import annotations

from django.urls import path

from . import sso_views, views

app_name = "customers"

urlpatterns = [
    path("", views.organization_list, name="organization_list"),
    path("sign-on/", sso_views.identity_providers, name="identity_providers"),
    path("sign-on/<slug:slug>/", sso_views.identity_provider_edit, name="identity_provider_edit"),
    path("books/<slug:slug>/", views.customer_list, name="customer_list"),
    path("books/<slug:slug>/access/", views.book_access, name="book_access"),
    path("books/<slug:slug>/access/grant/", views.book_access_grant, name="book_access_grant"),
    path(
        "books/<slug:slug>/access/<int:user_pk>/<str:permission>/revoke/",
        views.book_access_revoke,
        name="book_access_revoke",
    ),
    path("books/<slug:slug>/new/", views.customer_add, name="customer_add"),
    path("books/<slug:slug>/import/", views.import_upload, name="import_upload"),
    path(
        "books/<slug:slug>/import/<uuid:pk>/mapping/",
        views.import_mapping,
        name="import_mapping",
    ),
    path("books/<slug:slug>/import/<uuid:pk>/", views.import_result, name="import_result"),
    path(
        "books/<slug:slug>/import/<uuid:pk>/report.csv",
        views.import_report,
        name="import_report",
    ),
    path("records/<uuid:pk>/", views.customer_detail, name="customer_detail"),
    path("records/<uuid:pk>/reveal/", views.customer_reveal, name="customer_reveal"),
    path("records/<uuid:pk>/edit/", views.customer_edit, name="customer_edit"),
    path(
        "records/<uuid:pk>/correct-core/",
        views.customer_correct_core,
        name="customer_correct_core",
    ),
    path("records/<uuid:pk>/verify/", views.customer_verify, name="customer_verify"),
    path("records/<uuid:pk>/purchases/new/", views.purchase_add, name="purchase_add"),
    path(
        "records/<uuid:pk>/purchases/<uuid:record_pk>/edit/",
        views.purchase_edit,
        name="purchase_edit",
    ),
    path(
        "records/<uuid:pk>/purchases/<uuid:record_pk>/delete/",
        views.purchase_delete,
        name="purchase_delete",
    ),
    path("records/<uuid:pk>/interactions/new/", views.interaction_add, name="interaction_add"),
    path(
        "records/<uuid:pk>/interactions/<uuid:record_pk>/edit/",
        views.interaction_edit,
        name="interaction_edit",
    ),
    path(
        "records/<uuid:pk>/interactions/<uuid:record_pk>/delete/",
        views.interaction_delete,
        name="interaction_delete",
    ),
    path("records/<uuid:pk>/history/", views.customer_history, name="customer_history"),
    path(
        "records/<uuid:pk>/history/reveal/",
        views.customer_history_reveal,
        name="customer_history_reveal",
    ),
]
