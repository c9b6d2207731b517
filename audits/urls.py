from django.urls import path

from . import views

app_name = "audits"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("events/", views.events, name="events"),
    path("events/export.csv", views.events_export, name="events_export"),
    path("deals/<str:reference>/timeline/", views.deal_timeline, name="deal_timeline"),
    path("reports/", views.reports, name="reports"),
    path("reports/new/", views.report_create, name="report_create"),
    path("reports/<uuid:pk>/", views.report_detail, name="report_detail"),
    path("reports/<uuid:pk>/download/", views.report_download, name="report_download"),
    path("chain/", views.chain, name="chain"),
    path("chain/verify/", views.chain_verify, name="chain_verify"),
    path("chain/runs/<uuid:pk>/", views.chain_run, name="chain_run"),
    path("reviews/", views.reviews, name="reviews"),
    path("reviews/new/", views.review_create, name="review_create"),
    path("reviews/<int:pk>/", views.review_detail, name="review_detail"),
    path("reviews/<int:pk>/items/<int:item_pk>/", views.review_decide, name="review_decide"),
    path("reviews/<int:pk>/report/", views.review_report, name="review_report"),
]
