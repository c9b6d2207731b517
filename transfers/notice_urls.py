"""The customer's page: ``notice:`` (personal signed links, no account)."""

from django.urls import path

from . import notice_views

app_name = "notice"

urlpatterns = [
    path("<str:token>/", notice_views.page, name="page"),
    path("<str:token>/act/", notice_views.act, name="act"),
    path("<str:token>/done/<slug:what>/", notice_views.done, name="done"),
]
