"""Forms of the retention, backup and incident pages (compliance only)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from customers.choices import OrganizationKind
from customers.models import Organization

from .models.incidents import IncidentSeverity, IncidentStatus
from .models.retention import RetentionAction, RetentionCategory, RetentionEvent


class PolicyForm(forms.Form):
    organization = forms.ModelChoiceField(
        label=_("Seller organisation"),
        queryset=Organization.objects.filter(kind=OrganizationKind.SELLER),
    )
    category = forms.ChoiceField(label=_("Category"), choices=RetentionCategory.choices)
    event = forms.ChoiceField(label=_("Counted from"), choices=RetentionEvent.choices)
    period_days = forms.IntegerField(label=_("Period (days)"), min_value=1, max_value=36500)
    action = forms.ChoiceField(label=_("Then"), choices=RetentionAction.choices)


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class IncidentForm(forms.Form):
    detected_at = forms.DateTimeField(label=_("Detected at"), widget=DateTimeInput())
    severity = forms.ChoiceField(label=_("Severity"), choices=IncidentSeverity.choices)
    description = forms.CharField(
        label=_("What happened"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=4000,
        help_text=_("Describe the event, not the people: the affected customers are computed."),
    )
    window_start = forms.DateTimeField(label=_("Access window from"), widget=DateTimeInput())
    window_end = forms.DateTimeField(label=_("Access window until"), widget=DateTimeInput())
    suspect_users = forms.ModelMultipleChoiceField(
        label=_("Accounts involved"),
        queryset=User.objects.filter(is_active=True).order_by("username"),
        required=False,
        help_text=_("Leave empty to count every access in the window."),
    )
    measures = forms.CharField(
        label=_("Measures taken"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    contact = forms.CharField(label=_("Contact for the people affected"), required=False)

    def __init__(self, *args: Any, deals: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if deals is not None:
            self.fields["deals"] = forms.ModelMultipleChoiceField(
                label=_("Affected deals"), queryset=deals, required=False
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("window_start"), data.get("window_end")
        if start and end and end < start:
            self.add_error("window_end", _("The window ends after it starts."))
        return data


class IncidentStatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=IncidentStatus.choices)
