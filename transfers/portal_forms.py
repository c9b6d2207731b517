"""Forms of the buyer portal; choice fields are narrowed to what the buyer may reach."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import HandoverStage


class NdaAcceptForm(forms.Form):
    agree = forms.BooleanField(
        label=_("I have read this agreement and accept it on behalf of my organisation."),
        error_messages={"required": _("Tick the box to accept the agreement.")},
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )


class AcknowledgeForm(forms.Form):
    merkle_root = forms.CharField(
        label=_("Manifest root you verified"),
        max_length=200,
        help_text=_("64 hexadecimal characters, as printed by the receipt verification."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "class": "font-monospace"}
        ),
    )


class ReceiptUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Receipt bundle"),
        help_text=_("The ZIP you downloaded from this page (or its receipt JSON)."),
    )


class QuestionForm(forms.Form):
    stage = forms.ModelChoiceField(
        label=_("About stage"), queryset=HandoverStage.objects.none(), empty_label=None
    )
    item = forms.IntegerField(widget=forms.HiddenInput, required=False)
    subject = forms.CharField(label=_("Subject"), max_length=200)
    body = forms.CharField(
        label=_("Question"), max_length=4000, widget=forms.Textarea(attrs={"rows": 4})
    )

    def __init__(self, *args: Any, stages: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["stage"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = stages
        field.label_from_instance = lambda s: f"{s.order}. {s.name}"  # type: ignore[method-assign,assignment]


class AnswerForm(forms.Form):
    body = forms.CharField(
        label=_("Answer"), max_length=4000, widget=forms.Textarea(attrs={"rows": 4})
    )


class FollowUpForm(forms.Form):
    """A buyer's further message in a question's thread (same limit as the thread's rows)."""

    body = forms.CharField(
        label=_("Your reply"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )


class AttestForm(forms.Form):
    attestation = forms.CharField(
        label=_("What was done"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("For example: updated in our CRM on 3 May; deleted from all systems."),
    )


class ItemFilterForm(forms.Form):
    """Exact filters on the general fields of the stage (built per stage), and a prefix
    search on the record's reference or pseudonym."""

    q = forms.CharField(label=_("Reference or pseudonym starts with"), required=False)

    def __init__(self, *args: Any, fields: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, label in fields:
            self.fields[name] = forms.CharField(label=label, required=False, max_length=128)

    def filters(self) -> dict[str, str]:
        if not self.is_valid():
            return {}
        return {k: v for k, v in self.cleaned_data.items() if k != "q" and v}
