"""The OpenAPI document: the key's security scheme (drf-spectacular asks an extension for each
authentication class it does not know) and the view that serves the document."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.utils import translation
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.views import SpectacularAPIView
from rest_framework.response import Response


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`: a key issued on the API keys page, shown once.",
        }


class SchemaView(SpectacularAPIView):
    """The OpenAPI document, generated once per process and language (it changes only with the
    code). It is open to everyone: without this, each anonymous call would cost a full
    generation. An unknown ``lang`` gets the default language's document, so the memo holds at
    most one document per language of ``settings.LANGUAGES``."""

    _documents: ClassVar[dict[str, Any]] = {}

    def _get_schema_response(self, request: Any) -> Response:
        language = translation.get_language()
        if language not in dict(settings.LANGUAGES):
            language = settings.LANGUAGE_CODE
        if language not in self._documents:
            with translation.override(language):
                generator = self.generator_class(urlconf=self.urlconf, patterns=self.patterns)
                self._documents[language] = generator.get_schema(request=request, public=True)
        return Response(
            data=self._documents[language],
            headers={"Content-Disposition": 'inline; filename="transferdesk-api.yaml"'},
        )
