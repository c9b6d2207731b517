"""The test identity provider's ID tokens carry the ``amr``/``acr`` that its user was given
(groups ``amr:<value>`` and ``acr:<value>``), as a real provider reports how someone signed in."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from allauth.idp.oidc.adapter import DefaultOIDCAdapter


class ProviderAdapter(DefaultOIDCAdapter):
    def populate_id_token(
        self, id_token: dict[str, Any], client: Any, scopes: Iterable[str], **kwargs: Any
    ) -> None:
        user = self.get_user_by_sub(client, str(id_token.get("sub", "")))
        if user is None:
            return
        groups = list(user.groups.values_list("name", flat=True))
        amr = [g.removeprefix("amr:") for g in groups if g.startswith("amr:")]
        acr = [g.removeprefix("acr:") for g in groups if g.startswith("acr:")]
        if amr:
            id_token["amr"] = amr
        if acr:
            id_token["acr"] = acr[0]
