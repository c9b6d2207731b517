from django.urls import path
from drf_spectacular.views import SpectacularSwaggerSplitView

from . import compliance, key_views, schema, views

app_name = "api"

urlpatterns = [
    path("v1/deals/", views.DealList.as_view(), name="deal_list"),
    # Any text, not the uuid converter: an id that is not a UUID is then the API's own JSON 404
    # (the converter would leave it to the site's HTML page).
    path("v1/deals/<str:pk>/", views.DealDetail.as_view(), name="deal_detail"),
    path("v1/events/", compliance.EventList.as_view(), name="event_list"),
    path("v1/verification/", compliance.Verification.as_view(), name="verification"),
    # The OpenAPI 3.1 document and its Swagger UI, served from the vendored sidecar; the UI's
    # own script is a separate response (the split view), as the Content-Security-Policy
    # allows no inline script.
    path("schema/", schema.SchemaView.as_view(), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api:schema", template_name="api/swagger_ui.html"
        ),
        name="docs",
    ),
    # The people's pages: issuing and revoking keys.
    path("keys/", key_views.key_list, name="keys"),
    path("keys/new/", key_views.key_create, name="key_create"),
    path("keys/<str:prefix>/revoke/", key_views.key_revoke, name="key_revoke"),
]
