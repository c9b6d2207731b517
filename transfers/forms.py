"""Forms of the deal and stage pages; choice fields are narrowed to what the user may reach."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.choices import Role
from accounts.models import User
from customers.choices import OrganizationKind, Tier
from customers.models import Organization

from .choices import AssignmentRole, StageKind
from .models import TransferDeal
from .selectors import deal_customers


class DealForm(forms.ModelForm):
    class Meta:
        model = TransferDeal
        fields = [
            "reference",
            "title",
            "seller",
            "buyer",
            "target_closing_date",
            "purposes",
            "legal_basis",
            "cross_border",
            "destination_country",
            "cross_border_assessment",
        ]
        widgets = {
            "target_closing_date": forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
            "purposes": forms.Textarea(attrs={"rows": 3}),
            "cross_border_assessment": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, kind in (("seller", OrganizationKind.SELLER), ("buyer", OrganizationKind.BUYER)):
            party = cast(forms.ModelChoiceField, self.fields[name])
            party.queryset = Organization.objects.filter(kind=kind)
        if not self.instance._state.adding:
            # Parties and reference are fixed once the deal exists (its key and grants follow).
            # Not ``instance.pk``: a new deal has its UUID from the start, before any insert.
            for name in ("reference", "seller", "buyer"):
                del self.fields[name]


class AssignForm(forms.Form):
    user = forms.ModelChoiceField(label=_("Person"), queryset=User.objects.none())
    role = forms.ChoiceField(label=_("Role"), choices=AssignmentRole.choices)

    def __init__(self, *args: Any, deal: TransferDeal, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from django.db.models import Q

        cast(forms.ModelChoiceField, self.fields["user"]).queryset = (
            User.objects.filter(is_active=True)
            .filter(
                Q(groups__name__in=[Role.BROKER, Role.COMPLIANCE])
                | Q(groups__name=Role.BUYER, organization=deal.buyer)
            )
            .distinct()
            .order_by("username")
        )


class NdaForm(forms.Form):
    text = forms.CharField(label=_("Agreement text"), widget=forms.Textarea(attrs={"rows": 10}))


class StageForm(forms.Form):
    """The planner: kind, tiers and an optional filter on general fields of the seller's book."""

    name = forms.CharField(label=_("Stage name"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=StageKind.choices)
    tier_scope = forms.MultipleChoiceField(
        label=_("Tiers"),
        choices=Tier.choices,
        widget=forms.SelectMultiple(attrs={"size": 3}),
        initial=[Tier.GENERAL],
        help_text=_("Aggregate and pseudonymised stages carry general fields only."),
    )
    segment = forms.MultipleChoiceField(
        label=_("Segments"), required=False, help_text=_("None chosen: every segment.")
    )
    country = forms.MultipleChoiceField(
        label=_("Countries"), required=False, help_text=_("None chosen: every country.")
    )

    def __init__(self, *args: Any, deal: TransferDeal, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        customers = deal_customers(deal)
        for name in ("segment", "country"):
            values = customers.order_by(name).values_list(name, flat=True).distinct()
            field = cast(forms.MultipleChoiceField, self.fields[name])
            field.choices = [(v, v) for v in values if v]

    def selection(self) -> dict[str, list[str]]:
        return {
            name: list(self.cleaned_data[name])
            for name in ("segment", "country")
            if self.cleaned_data.get(name)
        }


class ApproveForm(forms.Form):
    note = forms.CharField(
        label=_("Approval note"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What you checked; kept with the approval in the audit trail."),
    )


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for rejection"), widget=forms.Textarea(attrs={"rows": 3})
    )


class VerifyForm(forms.Form):
    file = forms.FileField(label=_("Receipt bundle (JSON)"))
    fingerprint = forms.CharField(
        label=_("Expected key fingerprint"),
        required=False,
        help_text=_("The fingerprint you received with the deal."),
    )
