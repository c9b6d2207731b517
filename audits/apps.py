from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _report_link(job: Any) -> str | None:
    """A report job's page: the report's own page."""
    from django.urls import reverse

    from .models import ReportRun

    run_id = ReportRun.objects.filter(job_id=job.pk).values_list("pk", flat=True).first()
    return reverse("audits:report_detail", args=[run_id]) if run_id else None


def _chain_link(job: Any) -> str | None:
    from django.urls import reverse

    from .models import ChainVerificationRun

    run_id = ChainVerificationRun.objects.filter(job_id=job.pk).values_list("pk", flat=True).first()
    return reverse("audits:chain_run", args=[run_id]) if run_id else None


def _page(url_name: str) -> Any:
    """A job whose outcome is shown on one page of its own (retention, backups)."""

    def link(job: Any) -> str:
        from django.urls import reverse

        return reverse(url_name)

    return link


def _report_kind_label(kind: str) -> str:
    from .models import ReportKind

    return str(ReportKind(kind).label) if kind in ReportKind.values else kind


class AuditsConfig(AppConfig):
    name = "audits"
    verbose_name = _("Audits")

    def ready(self) -> None:
        from customers.erasure import erasure_requested
        from notifications.jobs import register_job_link
        from transferdesk.trail.chain import register_kind_label

        from . import incidents  # noqa: F401  (stops an incident's clock as its notices go out)
        from .retention import erase_on_request

        erasure_requested.connect(erase_on_request, dispatch_uid="audits_erase_on_request")

        register_kind_label("report", _report_kind_label)

        register_job_link("report_", _report_link)
        register_job_link("audit_chain_verify", _chain_link)
        register_job_link("purge", _page("lifecycle:retention"))
        register_job_link("destruction_certificate", _page("lifecycle:retention"))
        register_job_link("restore_drill", _page("lifecycle:backups"))
