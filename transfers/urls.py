from django.urls import path

from . import views

app_name = "transfers"

urlpatterns = [
    path("", views.deal_list, name="deal_list"),
]
