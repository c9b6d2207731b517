from django.urls import path
from drf_spectacular.views import SpectacularSwaggerSplitView

from . import key_views, schema, views, webhook_views

app_name = "api"

urlpatterns = [
    path("v1/deals/", views.DealList.as_view(), name="deal_list"),
    path("v1/deals/<uuid:pk>/", views.DealDetail.as_view(), name="deal_detail"),
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
    # Webhooks: endpoints, their deliveries, replay.
    path("webhooks/", webhook_views.webhook_list, name="webhooks"),
    path("webhooks/new/", webhook_views.webhook_create, name="webhook_create"),
    path("webhooks/<int:pk>/disable/", webhook_views.webhook_disable, name="webhook_disable"),
    path("webhooks/<int:pk>/", webhook_views.webhook_deliveries, name="webhook_deliveries"),
    path(
        "webhooks/deliveries/<uuid:pk>/replay/",
        webhook_views.webhook_replay,
        name="webhook_replay",
    ),
]
