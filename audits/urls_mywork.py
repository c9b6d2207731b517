from django.urls import path

from . import views_mywork as views

app_name = "work"

urlpatterns = [
    path("", views.mine, name="mine"),
    path("top/", views.top, name="top"),
]
