"""The schema class of every API view (``DEFAULT_SCHEMA_CLASS``): it documents the refusals
along with the answer, so that a client (and the contract tests, tests/api/test_contract.py)
knows every status an operation can return.

Apart from ``api.schema`` because drf-spectacular's views read this class while that module
is being imported.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """Every refusal: DRF's ``detail``, and for a bad query or body the problems by name."""

    detail = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="The problems, by the name of the parameter or field.",
    )


#: The refusals any keyed operation can answer with (``KeyAPIView``): no or a bad key (401), a
#: key without the scope (403), outside the key's organisation or a bad cursor (404), over the
#: rate (429).
KEY_ERRORS = (401, 403, 404, 429)


class KeyAutoSchema(AutoSchema):
    """A keyed view (one with a ``required_scope``) documents ``KEY_ERRORS`` and its own
    ``error_statuses`` (400 for those that validate a query or a body)."""

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        if getattr(self.view, "required_scope", None) is None:
            return responses
        for status in sorted({*KEY_ERRORS, *getattr(self.view, "error_statuses", ())}):
            responses.setdefault(
                str(status), self._get_response_for_code(ErrorSerializer, str(status))
            )
        return responses
