"""Staff pages of notices (``notices:``) and of the request register (``requests:``)."""

from django.urls import path

from . import register_views as views

app_name = "requests"

urlpatterns = [
    path("", views.request_list, name="request_list"),
    path("new/", views.request_create, name="request_create"),
    path("<uuid:pk>/", views.request_detail, name="request_detail"),
    path("<uuid:pk>/assign/", views.request_assign, name="request_assign"),
    path("<uuid:pk>/fulfil/", views.request_fulfil, name="request_fulfil"),
    path("<uuid:pk>/refuse/", views.request_refuse, name="request_refuse"),
]

#: Mounted with ``include((campaign_urlpatterns, "notices"))``.
campaign_urlpatterns = [
    path("deal/<uuid:pk>/", views.campaign_list, name="campaign_list"),
    path("<uuid:pk>/", views.campaign_detail, name="campaign_detail"),
    path("<uuid:pk>/preview/", views.campaign_preview, name="campaign_preview"),
    path("<uuid:pk>/approve/", views.campaign_approve, name="campaign_approve"),
    path("<uuid:pk>/send/", views.campaign_send, name="campaign_send"),
    path("<uuid:pk>/letters.pdf", views.campaign_letters, name="campaign_letters"),
    path("<uuid:pk>/resend/", views.campaign_resend, name="campaign_resend"),
    path("manual/<int:pk>/", views.notice_manual_done, name="notice_manual_done"),
]
