from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _campaign_link(job: Any) -> str | None:
    """A notice campaign's sending job: the campaign's page."""
    from django.urls import reverse

    if not job.object_id:
        return None
    return reverse("notices:campaign_detail", args=[job.object_id])


class TransfersConfig(AppConfig):
    name = "transfers"
    verbose_name = _("Transfers")

    def ready(self) -> None:
        from notifications.jobs import register_job_link
        from transferdesk.trail.scoping import register_machine_event_scope

        from . import (
            invitations,  # noqa: F401  (assigns a deal's invited buyers)
            portal_services,  # noqa: F401  (follow-ups for corrected customers)
        )

        register_job_link("notice_campaign", _campaign_link)
        from .models import machine_seller_events_q

        register_machine_event_scope(machine_seller_events_q)
