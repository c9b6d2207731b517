"""``{% sso_provider request as provider %}``: the identity provider named by the sign-in page's
``?organisation=`` (a link an organisation gives its people), for its "Sign in with …" button."""

from __future__ import annotations

from typing import Any

from django import template

from customers import sso

register = template.Library()


@register.simple_tag
def sso_provider(request: Any) -> Any:
    return sso.provider_for(str(request.GET.get("organisation", "")))
