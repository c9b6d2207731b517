"""Forms of the broker pages: filters, search, the record editor, upload and column mapping."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.db import models
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from accounts.choices import Role

from . import importing
from .choices import CustomerStatus, RevealReason
from .models import Customer, Interaction, PurchaseRecord
from .registry import fields_of
from .services import CORE_FIELDS, CoreCorrectionReason


class CustomerFilterForm(forms.Form):
    """Filters on general (clear) fields, and the exact search through the blind index."""

    q = forms.CharField(
        label=_("Exact search"),
        required=False,
        max_length=254,
        help_text=_("E-mail address, phone number, national id number or reference."),
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any status")), *CustomerStatus.choices],
    )
    segment = forms.ChoiceField(label=_("Segment"), required=False)
    city = forms.CharField(label=_("City"), required=False, max_length=128)

    def __init__(self, *args: Any, segments: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        segment = self.fields["segment"]
        assert isinstance(segment, forms.ChoiceField)
        segment.choices = [("", _("Any segment")), *((s, s) for s in segments)]


class CustomerEditForm(forms.Form):
    """General and sensitive fields of one record. Core fields are corrected by a person
    holding ``reveal_core`` through the service, never shown pre-filled in a form."""

    def __init__(self, *args: Any, customer: Customer, **kwargs: Any) -> None:
        kwargs["initial"] = {name: getattr(customer, name) for name in self.field_names()}
        super().__init__(*args, **kwargs)
        for name in self.field_names():
            model_field = Customer._meta.get_field(name)
            assert isinstance(model_field, models.Field)
            field = model_field.formfield()
            assert field is not None
            self.fields[name] = field

    @staticmethod
    def field_names() -> list[str]:
        # The status has its own workflows (objections, erasure, legal hold), each with its
        # rules and events; a plain edit must not short-circuit them.
        return [
            name
            for name in (*fields_of(Customer, "general"), *fields_of(Customer, "sensitive"))
            if name != "status"
        ]

    def changed_values(self) -> dict[str, Any]:
        """Only what the person changed: untouched encrypted fields keep their ciphertext."""
        return {name: self.cleaned_data[name] for name in self.changed_data}


#: Form fields held to the import's own rules (``importing.clean_cell``): identifiers and
#: codes in NFKC form, e-mail, phone read with the book's country, the national id rule.
_IMPORT_RULES = {
    "reference": "reference",
    "email": "email",
    "phone": "phone",
    "national_id": "national_id",
    "country": "country",
    "currency": "purchase_currency",
}


def _model_field(model: type[models.Model], name: str, **kwargs: Any) -> forms.Field:
    model_field = model._meta.get_field(name)
    assert isinstance(model_field, models.Field)
    field = model_field.formfield(**kwargs)
    assert field is not None
    return field


class _ImportRulesMixin:
    """Cleans the fields named in ``_IMPORT_RULES`` as the import cleans the same column."""

    region: str | None
    cleaned_data: dict[str, Any]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}  # type: ignore[misc]
        for name, target in _IMPORT_RULES.items():
            value = cleaned.get(name)
            if not value:
                continue
            try:
                cleaned[name] = importing.clean_cell(
                    importing.TARGETS_BY_NAME[target], value, self.region
                )
            except forms.ValidationError as exc:
                self.add_error(name, exc)  # type: ignore[attr-defined]
        return cleaned


class CustomerCreateForm(_ImportRulesMixin, forms.Form):
    """A customer typed in by hand: the general and sensitive fields the edit form offers,
    and the core fields only for a person holding ``reveal_core`` (otherwise the form has
    none). Values are held to the import's rules; duplicates are found by the service."""

    def __init__(self, *args: Any, organization: Any, with_core: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.region = organization.country
        for name in CustomerEditForm.field_names():
            self.fields[name] = _model_field(Customer, name)
            widget = self.fields[name].widget
            if isinstance(self.fields[name], forms.DateField):
                self.fields[name].widget = forms.DateInput(
                    format="%Y-%m-%d", attrs={"type": "date"}
                )
            elif isinstance(widget, forms.Textarea):
                widget.attrs["rows"] = 3
        if with_core:
            for name in CORE_FIELDS:
                model_field = Customer._meta.get_field(name)
                assert isinstance(model_field, models.Field)
                self.fields[name] = forms.CharField(
                    label=capfirst(model_field.verbose_name),
                    required=False,
                    max_length=model_field.max_length,
                    widget=(
                        forms.Textarea(attrs={"rows": 3, "autocomplete": "off"})
                        if name == "special_category_notes"
                        else forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"})
                    ),
                )

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        """The fields by tier, as the record page shows them side by side."""
        return [
            (tier, [self[name] for name in fields_of(Customer, tier) if name in self.fields])
            for tier in ("general", "sensitive", "core")
        ]

    def values(self) -> dict[str, Any]:
        """The fields the person filled (empty boxes are left to the model's defaults)."""
        return {k: v for k, v in self.cleaned_data.items() if v not in ("", None)}


class PurchaseForm(_ImportRulesMixin, forms.Form):
    """One purchase of a customer; the notes are encrypted (sensitive tier)."""

    region = None

    def __init__(self, *args: Any, purchase: PurchaseRecord | None = None, **kwargs: Any):
        if purchase is not None:
            kwargs["initial"] = {n: getattr(purchase, n) for n in PURCHASE_FIELDS}
        super().__init__(*args, **kwargs)
        for name in PURCHASE_FIELDS:
            self.fields[name] = _model_field(PurchaseRecord, name)
        self.fields["purchased_on"].widget = forms.DateInput(
            format="%Y-%m-%d", attrs={"type": "date"}
        )
        self.fields["notes"].widget.attrs["rows"] = 4

    def values(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in PURCHASE_FIELDS}


class InteractionForm(forms.Form):
    """One contact with a customer; the summary is encrypted (sensitive tier)."""

    def __init__(self, *args: Any, interaction: Interaction | None = None, **kwargs: Any):
        if interaction is not None:
            kwargs["initial"] = {n: getattr(interaction, n) for n in INTERACTION_FIELDS}
        super().__init__(*args, **kwargs)
        for name in INTERACTION_FIELDS:
            self.fields[name] = _model_field(Interaction, name)
        self.fields["occurred_on"].widget = forms.DateInput(
            format="%Y-%m-%d", attrs={"type": "date"}
        )
        self.fields["summary"].widget.attrs["rows"] = 4

    def values(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in INTERACTION_FIELDS}


PURCHASE_FIELDS = ("purchased_on", "product", "amount", "currency", "notes")
INTERACTION_FIELDS = ("occurred_on", "channel", "summary")


class CoreCorrectionForm(forms.Form):
    """New values for core-tier fields, typed blind: the current values are never pre-filled
    (showing them is a reveal, with its own audit event). An empty box keeps the value; a
    ticked "clear" box removes it. The reason is required."""

    reason = forms.ChoiceField(
        label=_("Reason for the correction"),
        choices=[("", _("— Choose a reason —")), *CoreCorrectionReason.choices],
        help_text=_("Recorded in the history and the audit trail, with your name."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        reason = self.fields.pop("reason")
        for name in CORE_FIELDS:
            model_field = Customer._meta.get_field(name)
            assert isinstance(model_field, models.Field)
            multiline = name == "special_category_notes"
            self.fields[name] = forms.CharField(
                label=model_field.verbose_name,
                required=False,
                max_length=model_field.max_length,
                strip=True,
                widget=(
                    forms.Textarea(attrs={"rows": 3, "autocomplete": "off"})
                    if multiline
                    else forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"})
                ),
                help_text=_("Leave empty to keep the current value."),
            )
            self.fields[f"clear_{name}"] = forms.BooleanField(
                label=_("Clear this field"), required=False
            )
        self.fields["reason"] = reason

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        touched = False
        for name in CORE_FIELDS:
            value, clear = cleaned.get(name), cleaned.get(f"clear_{name}")
            if value and clear:
                self.add_error(name, _("Type a new value or clear the field, not both."))
            touched = touched or bool(value) or bool(clear)
        if not touched:
            raise forms.ValidationError(
                _("Type a new value, or tick “Clear this field”, for at least one field.")
            )
        return cleaned

    def pairs(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        """Each core field with its "clear" box, for the page's layout."""
        return [(self[name], self[f"clear_{name}"]) for name in CORE_FIELDS]

    def values(self) -> dict[str, str]:
        """Field → new text (``""`` clears it), for the fields the person filled or cleared."""
        values: dict[str, str] = {}
        for name in CORE_FIELDS:
            if self.cleaned_data.get(f"clear_{name}"):
                values[name] = ""
            elif self.cleaned_data.get(name):
                values[name] = self.cleaned_data[name]
        return values


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Customer file"),
        help_text=_(
            "CSV (UTF-8 or GBK, as Excel and WPS save it) or XLSX, with the column names in "
            "the first row, in English or Chinese. At most 50 MB."
        ),
    )


class ImportMappingForm(forms.Form):
    """One select per column of the file: which field it fills, or "do not import"; and, for a
    file without a reference column, the choice to generate references (ticked when no column
    was recognised as one), whose first and last values the page shows before anything runs."""

    def __init__(
        self,
        *args: Any,
        headers: list[str],
        mapping: dict[str, str],
        references: tuple[str, str] | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        first, last = references or (importing.generated_reference(1),) * 2
        choices = [("", _("— Do not import —"))] + [
            (t.name, str(t.label).capitalize()) for t in importing.TARGETS
        ]
        self.headers = headers
        for index, header in enumerate(headers):
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=header or _("column {number}").format(number=index + 1),
                choices=choices,
                required=False,
                initial=mapping.get(str(index), ""),
            )
        self.fields["generate_references"] = forms.BooleanField(
            label=_("Generate references"),
            required=False,
            initial="reference" not in mapping.values(),
            help_text=(
                _(
                    "For a file with no column of customer references: each customer gets one, "
                    "{first} for the first row to {last} for the last, in the file's order, "
                    "kept with the customer for good."
                )
                if first != last
                else _(
                    "For a file with no column of customer references: the customer gets "
                    "{first}, kept with the customer for good."
                )
            ).format(first=first, last=last),
        )

    def rows(self) -> list[tuple[int, str, forms.BoundField]]:
        return [(i + 1, h, self[f"col_{i}"]) for i, h in enumerate(self.headers)]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        chosen = [v for k, v in cleaned.items() if k.startswith("col_") and v]
        duplicates = sorted({v for v in chosen if chosen.count(v) > 1})
        if duplicates:
            raise forms.ValidationError(
                _("Each field can be filled from one column only: {fields}.").format(
                    fields=", ".join(str(importing.TARGETS_BY_NAME[d].label) for d in duplicates)
                )
            )
        generate = bool(cleaned.get("generate_references"))
        if generate and "reference" in chosen:
            raise forms.ValidationError(
                _(
                    "A column is mapped to the reference: either keep it or generate "
                    "references, not both."
                )
            )
        if not generate and "reference" not in chosen:
            self.add_error(
                None,
                _("Choose the column holding the reference, or tick “Generate references”."),
            )
        missing = [
            t
            for t in importing.TARGETS
            if t.required and t.name not in chosen and t.name != "reference"
        ]
        if missing:
            raise forms.ValidationError(
                _("Choose the columns holding: {fields}.").format(
                    fields=", ".join(str(t.label) for t in missing)
                )
            )
        return cleaned

    def mapping(self) -> dict[int, str]:
        return {
            int(k.removeprefix("col_")): v
            for k, v in self.cleaned_data.items()
            if k.startswith("col_") and v
        }


class RevealForm(forms.Form):
    """The reason a broker gives before core fields are shown (recorded with the reveal)."""

    reason = forms.ChoiceField(
        label=_("Reason for revealing"),
        choices=[("", _("Choose a reason…")), *RevealReason.choices],
    )


#: The two organisation permissions, in the words of the access page.
BOOK_PERMISSION_LABELS = {
    "manage_customers": _("See, correct and import"),
    "reveal_core": _("Reveal core fields"),
}


class _BrokerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.display_name} ({obj.get_username()})"


class BookGrantForm(forms.Form):
    """Give a broker one of the two organisation permissions. The person is chosen from active
    brokers only (never buyers); an id outside that list is refused as an unknown choice."""

    user: forms.ModelChoiceField[Any] = _BrokerChoiceField(
        label=_("Broker"),
        queryset=None,
        error_messages={"invalid_choice": _("Choose a broker from the list.")},
    )
    permission = forms.ChoiceField(
        label=_("Permission"),
        error_messages={"invalid_choice": _("Choose one of the two permissions.")},
    )
    reason = forms.CharField(label=_("Reason"), required=False, max_length=300)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from django.contrib.auth import get_user_model

        users = cast(forms.ModelChoiceField, self.fields["user"])
        users.queryset = (
            get_user_model()
            .objects.filter(is_active=True, groups__name=Role.BROKER)
            .exclude(groups__name=Role.BUYER)
            .distinct()
            .order_by("username")
        )
        permissions = cast(forms.ChoiceField, self.fields["permission"])
        permissions.choices = list(BOOK_PERMISSION_LABELS.items())

    def permission_label(self, codename: str) -> str:
        return str(BOOK_PERMISSION_LABELS.get(codename, codename))


class BookRevokeForm(forms.Form):
    """Why the access is taken away: required, kept in the REVOKE event."""

    reason = forms.CharField(
        label=_("Reason"),
        max_length=300,
        widget=forms.TextInput(),
        help_text=_("Recorded in the audit trail with the revocation."),
    )
