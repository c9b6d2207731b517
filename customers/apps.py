from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _import_link(job: Any) -> str | None:
    """An import job's page: the upload's result page in its book."""
    from django.urls import reverse

    from .models import ImportUpload

    if job.object_type != ImportUpload._meta.label or not job.object_id:
        return None
    found = ImportUpload.objects.select_related("organization").filter(pk=job.object_id).first()
    if found is None:
        return None
    return reverse("customers:import_result", args=[found.organization.slug, found.pk])


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from notifications.jobs import register_job_link

        register_job_link("customer_import", _import_link)
