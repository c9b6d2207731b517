"""Forms of the broker pages: filters, search, the record editor, upload and column mapping."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.db import models
from django.utils.translation import gettext_lazy as _

from . import importing
from .choices import CustomerStatus, RevealReason
from .models import Customer
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

        from accounts.choices import Role

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
