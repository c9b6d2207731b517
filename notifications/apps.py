from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("Notifications")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from transferdesk.jobs import job_finished

        from .jobs import on_job_finished

        job_finished.connect(on_job_finished, dispatch_uid="notifications.job_finished")
