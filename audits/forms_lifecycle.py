"""Forms of the retention, backup and incident pages (compliance only)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from customers.choices import CustomerStatus, OrganizationKind
from customers.models import Customer, Organization
from transfers.models import TransferDeal

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


class IncidentTextsForm(forms.Form):
    """The free texts the people affected read, in English and in Simplified Chinese: each
    customer's notice uses their language's version."""

    description = forms.CharField(
        label=_("What happened (English)"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=4000,
        help_text=_("Describe the event, not the people: the affected customers are computed."),
    )
    description_zh = forms.CharField(
        label=_("What happened (Simplified Chinese)"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=4000,
        required=False,
        help_text=_("Required before notices go to customers who read Chinese."),
    )
    measures = forms.CharField(
        label=_("Measures taken (English)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=4000,
        required=False,
    )
    measures_zh = forms.CharField(
        label=_("Measures taken (Simplified Chinese)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=4000,
        required=False,
    )
    contact = forms.CharField(
        label=_("Contact for the people affected (English)"), max_length=255, required=False
    )
    contact_zh = forms.CharField(
        label=_("Contact for the people affected (Simplified Chinese)"),
        max_length=255,
        required=False,
    )


class IncidentForm(IncidentTextsForm):
    field_order = [
        "detected_at", "severity", "description", "description_zh", "window_start",
        "window_end", "suspect_users", "measures", "measures_zh", "contact", "contact_zh",
    ]  # fmt: skip

    detected_at = forms.DateTimeField(label=_("Detected at"), widget=DateTimeInput())
    severity = forms.ChoiceField(label=_("Severity"), choices=IncidentSeverity.choices)
    window_start = forms.DateTimeField(label=_("Access window from"), widget=DateTimeInput())
    window_end = forms.DateTimeField(label=_("Access window until"), widget=DateTimeInput())
    suspect_users = forms.ModelMultipleChoiceField(
        label=_("Accounts involved"),
        queryset=User.objects.filter(is_active=True).order_by("username"),
        required=False,
        help_text=_("Leave empty to count every access in the window."),
    )

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


class LegalHoldForm(forms.Form):
    """A hold on one customer (the seller's reference) or on one whole deal."""

    organization = forms.ModelChoiceField(
        label=_("Seller organisation"),
        queryset=Organization.objects.filter(kind=OrganizationKind.SELLER),
        required=False,
        help_text=_("With the customer reference: whose customer it is."),
    )
    customer_reference = forms.CharField(
        label=_("Customer reference"), max_length=64, required=False
    )
    deal = forms.ModelChoiceField(
        label=_("Or a whole deal"),
        queryset=TransferDeal.objects.filter(destruction__isnull=True).order_by("reference"),
        required=False,
        help_text=_("Holds every customer of the deal's seller."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("A case or matter reference and why; never the person's data."),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        reference = (data.get("customer_reference") or "").strip()
        organization, deal = data.get("organization"), data.get("deal")
        data["customer"] = None
        if deal is not None and (reference or organization is not None):
            raise forms.ValidationError(_("Hold either one customer or one deal, not both."))
        if deal is None and not reference:
            raise forms.ValidationError(_("Name the customer (seller and reference) or the deal."))
        if reference:
            if organization is None:
                self.add_error("organization", _("Choose whose customer this is."))
                return data
            data["customer"] = (
                Customer.objects.filter(organization=organization, reference=reference)
                .exclude(status=CustomerStatus.ERASED)
                .first()
            )
            if data["customer"] is None:
                self.add_error(
                    "customer_reference",
                    _("{organization} has no customer with this reference.").format(
                        organization=organization.legal_name
                    ),
                )
        return data
