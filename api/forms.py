"""The forms of the API's pages: a key (organisation, name, scopes) and a webhook endpoint
(organisation, address, events), both for a seller or a buyer organisation."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from customers.models import Organization
from transferdesk.principals import ApiScope

from .services import KEY_HOLDER_KINDS


class _OrganizationForm(forms.Form):
    """The organisation a key or an endpoint is for: a seller or a buyer, by its name."""

    organization = forms.ModelChoiceField(
        label=_("Organisation"),
        queryset=Organization.objects.none(),
        error_messages={"invalid_choice": _("Choose an organisation from the list.")},
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        field = self.fields["organization"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = Organization.objects.filter(kind__in=KEY_HOLDER_KINDS).order_by(
            "legal_name"
        )


class ApiKeyForm(_OrganizationForm):
    name = forms.CharField(
        label=_("Key name"),
        max_length=50,
        help_text=_("What the key is for, e.g. the system that will use it."),
    )
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        # Evaluated when the form is shown, so the label is in the reader's language; the code
        # is what the integrator will see in the API's answers and documentation.
        choices=lambda: [(value, f"{value} · {label}") for value, label in ApiScope.choices],
        widget=forms.SelectMultiple(attrs={"size": 5}),
        help_text=_("What the key may do; nothing else is open to it."),
        error_messages={"invalid_choice": _("Choose scopes from the list.")},
    )


class WebhookEndpointForm(_OrganizationForm):
    """A webhook endpoint: whose, where, which events (the address is checked by the service
    too, ``api.webhooks.check_url``)."""

    url = forms.URLField(
        label=_("Address"),
        max_length=500,
        assume_scheme="https",
        help_text=_("Where the organisation's system receives the events (https://…)."),
    )
    description = forms.CharField(label=_("Description"), max_length=100, required=False)
    event_types = forms.MultipleChoiceField(
        label=_("Subscribed events"),
        choices=lambda: [(value, f"{value} · {label}") for value, label in _event_choices()],
        widget=forms.SelectMultiple(attrs={"size": 5}),
        error_messages={"invalid_choice": _("Choose events from the list.")},
    )


def _event_choices() -> list[tuple[str, str]]:
    from .webhook_models import WebhookEventType

    return [(value, str(label)) for value, label in WebhookEventType.choices]
