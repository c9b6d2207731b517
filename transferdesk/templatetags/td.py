"""Small template helpers shared by every app."""

from __future__ import annotations

from datetime import timedelta

from django import forms, template
from django.forms import BoundField

register = template.Library()


@register.filter
def minutes(value: timedelta | None) -> int:
    """Whole minutes of a duration, rounded up (a lock-out of 29.5 minutes reads as 30)."""
    if not value:
        return 0
    return int(-(-value.total_seconds() // 60))


@register.filter
def control(field: BoundField) -> str:
    """Render a form field's widget with Bootstrap's classes and its error/help wiring.

    Templates cannot pass attributes to a widget, and inline styles are forbidden by the
    Content-Security-Policy, so the classes are added here instead of in every form.
    """
    widget = field.field.widget
    if isinstance(widget, forms.CheckboxInput):
        css = "form-check-input"
    elif isinstance(widget, forms.Select | forms.SelectMultiple):
        css = "form-select"
    else:
        css = "form-control"
    classes = [widget.attrs.get("class", ""), css, "is-invalid" if field.errors else ""]
    attrs: dict[str, str | bool] = {"class": " ".join(c for c in classes if c)}
    if field.help_text:
        attrs["aria-describedby"] = f"{field.auto_id}_help"
    return field.as_widget(attrs=attrs)


@register.filter
def before_full_stop(name: str) -> str:
    """A name that ends a sentence, without its own full stop ("Eastlake Commerce Ltd." →
    "Eastlake Commerce Ltd"): the sentence's stop follows it, and "Ltd.." is a typo to read."""
    return str(name).rstrip().removesuffix(".")
