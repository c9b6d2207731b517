"""The buyer portal (``portal:``), plus the brokers' question queue and compliance's list of
overdue follow-ups, which belong to the portal's threads and tasks."""

from django.urls import path

from . import portal_views as views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("deals/<uuid:deal_pk>/nda/", views.nda, name="nda"),
    path("deals/<uuid:deal_pk>/questions/", views.questions, name="questions"),
    path("deals/<uuid:deal_pk>/follow-ups/", views.tasks, name="tasks"),
    path("stages/<uuid:pk>/", views.stage, name="stage"),
    path("stages/<uuid:pk>/records/<int:item_pk>/", views.item, name="item"),
    path("stages/<uuid:pk>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("stages/<uuid:pk>/receipt.pdf", views.receipt, name="receipt"),
    path("stages/<uuid:pk>/manifest.json", views.manifest, name="manifest"),
    path("stages/<uuid:pk>/receipt.zip", views.receipt_bundle, name="receipt_bundle"),
    path("stages/<uuid:pk>/verify/", views.verify, name="verify"),
    path("stages/<uuid:pk>/export.<str:fmt>", views.export, name="export"),
    path("questions/", views.question_queue, name="question_queue"),
    path("questions/<int:pk>/", views.question, name="question"),
    path("questions/<int:pk>/follow-up/", views.question_follow_up, name="question_follow_up"),
    path("follow-ups/<int:pk>/attest/", views.task_attest, name="task_attest"),
    path("follow-ups/overdue/", views.overdue, name="overdue"),
]
