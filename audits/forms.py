"""Forms of the compliance pages: explorer filters, report requests, access reviews."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.choices import Role
from transferdesk.trail import AuditAction, AuditEvent
from transfers.models import TransferDeal

from .models import AccessReviewCampaign, ReportKind, ReviewDecision


class DateInput(forms.DateInput):
    input_type = "date"


class EventFilterForm(forms.Form):
    """The explorer's filters; every one narrows an indexed column."""

    deal = forms.CharField(
        label=_("Deal"), required=False, max_length=64, help_text=_("Deal reference")
    )
    actor = forms.CharField(
        label=_("Actor"), required=False, max_length=150, help_text=_("Username")
    )
    action = forms.ChoiceField(
        label=_("Action"), required=False, choices=[("", _("Any action")), *AuditAction.choices]
    )
    object_type = forms.CharField(label=_("Object type"), required=False, max_length=100)
    object_id = forms.CharField(label=_("Object id"), required=False, max_length=64)
    date_from = forms.DateField(label=_("First day"), required=False, widget=DateInput)
    date_to = forms.DateField(label=_("Last day"), required=False, widget=DateInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError(_("The first day is after the last day."))
        return data

    def deal_ref(self) -> str:
        """The stored ``deal_ref`` (the deal's primary key) for the reference typed."""
        reference = self.cleaned_data.get("deal", "").strip()
        if not reference:
            return ""

        pk = TransferDeal.objects.filter(reference=reference).values_list("pk", flat=True).first()
        return str(pk) if pk else reference

    def filter(self, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        data = self.cleaned_data
        if deal := self.deal_ref():
            events = events.filter(deal_ref=deal)
        if name := data.get("actor", "").strip():
            # By id where the account exists (indexed with time); the frozen name otherwise.
            user_id = (
                get_user_model().objects.filter(username=name).values_list("pk", flat=True).first()
            )
            events = events.filter(actor_id=user_id) if user_id else events.filter(actor_name=name)
        if data.get("action"):
            events = events.filter(action=data["action"])
        if data.get("object_type"):
            events = events.filter(object_type=data["object_type"].strip().lower())
        if data.get("object_id"):
            events = events.filter(object_id=data["object_id"].strip())
        tz = timezone.get_current_timezone()
        if data.get("date_from"):
            events = events.filter(time__gte=datetime.combine(data["date_from"], time.min, tz))
        if data.get("date_to"):
            end = datetime.combine(data["date_to"] + timedelta(days=1), time.min, tz)
            events = events.filter(time__lt=end)
        return events


class ReportForm(forms.Form):
    """What report to generate; the kind decides which of the other fields it needs."""

    kind = forms.ChoiceField(label=_("Report"), choices=ReportKind.choices)
    deal = forms.CharField(label=_("Deal reference"), required=False, max_length=64)
    date_from = forms.DateField(label=_("First day"), required=False, widget=DateInput)
    date_to = forms.DateField(label=_("Last day"), required=False, widget=DateInput)
    by = forms.ChoiceField(
        label=_("Group accesses"),
        choices=[("user", _("by user")), ("customer", _("by customer"))],
        required=False,
    )
    campaign = forms.ModelChoiceField(
        label=_("Access-review campaign"),
        queryset=AccessReviewCampaign.objects.all(),
        required=False,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("kind")
        if kind in (ReportKind.DEAL_AUDIT, ReportKind.PROCESSING) and not data.get("deal"):
            self.add_error("deal", _("This report is about one deal: give its reference."))
        if kind == ReportKind.ACCESS_REVIEW and not data.get("campaign"):
            self.add_error("campaign", _("Choose the campaign."))
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", _("The last day is before the first day."))
        return data


class CampaignForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    deadline = forms.DateField(
        label=_("Deadline"),
        widget=DateInput,
        help_text=_("Grants nobody keeps by the end of this day are revoked automatically."),
    )
    reviewer = forms.ModelChoiceField(
        label=_("Reviewer"),
        queryset=get_user_model().objects.none(),
        help_text=_("Receives daily reminders in the last three days."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)

        reviewer = self.fields["reviewer"]
        assert isinstance(reviewer, forms.ModelChoiceField)
        reviewer.queryset = (
            get_user_model()
            .objects.filter(is_active=True, groups__name=str(Role.COMPLIANCE))
            .order_by("username")
        )

    def clean_deadline(self) -> datetime:
        day = self.cleaned_data["deadline"]
        deadline = datetime.combine(
            day + timedelta(days=1), time.min, timezone.get_current_timezone()
        )
        if deadline <= timezone.now():
            raise forms.ValidationError(_("The deadline must be in the future."))
        return deadline


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[(ReviewDecision.KEEP, _("Keep")), (ReviewDecision.REVOKE, _("Revoke"))],
    )
    reason = forms.CharField(label=_("Reason"), max_length=1000)
