"""Template tags that let other apps' pages offer lifecycle actions without their views
knowing the rules: the rule stays in ``audits.retention``."""

from __future__ import annotations

from typing import Any

from django import template

from audits import retention

register = template.Library()


@register.simple_tag(takes_context=True)
def can_destroy_deal(context: dict[str, Any], deal: Any) -> bool:
    """``{% can_destroy_deal deal as allowed %}``: whether this page's user may destroy the
    deal now (a compliance officer, and the service would accept it)."""
    request = context.get("request")
    return retention.can_destroy_deal(getattr(request, "user", None), deal)
