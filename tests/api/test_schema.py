"""The OpenAPI 3.1 document and its page, served from this origin (no CDN)."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_the_schema_is_openapi_3_1_with_the_key_scheme_and_the_deal_endpoints(client):
    response = client.get("/api/schema/?format=json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"] == "3.1.0"
    assert {"/api/v1/deals/", "/api/v1/deals/{id}/"} <= set(schema["paths"])
    scheme = schema["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert schema["paths"]["/api/v1/deals/"]["get"]["security"] == [{"ApiKey": []}]


def test_the_schema_generates_without_warnings(tmp_path, capsys):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(out), "--validate", "--fail-on-warn")
    assert yaml.safe_load(out.read_text())["openapi"] == "3.1.0"


def test_the_docs_page_loads_everything_from_this_origin(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    text = page.text
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in text
    assert "http://" not in text and "https://" not in text
    assert "<style" not in text and "<script>" not in text
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.text


def test_the_schema_is_generated_once_per_language_whatever_the_callers_ask(client):
    from api.schema import SchemaView

    SchemaView._documents.clear()
    for lang in ("en", "zh-hans", "xx", "x" * 500, "en"):
        assert client.get(f"/api/schema/?format=json&lang={lang}").status_code == 200
    assert set(SchemaView._documents) == {"en", "zh-hans"}
