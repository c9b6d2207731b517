"""``{{ session.user_agent|device }}``: "Chrome · Linux" for the sessions page, as the new-device
e-mail names a browser (accounts.devices)."""

from __future__ import annotations

from django import template

from accounts.devices import summarise_user_agent

register = template.Library()


@register.filter
def device(user_agent: str) -> str:
    return summarise_user_agent(user_agent or "")
