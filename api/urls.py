from django.urls import path
from drf_spectacular.views import SpectacularSwaggerSplitView

from . import buyer, compliance, key_views, schema, subject_requests, upsert, views, webhook_views

app_name = "api"

# Ids are any text, not the uuid or int converters: an id of the wrong shape is then the API's
# own JSON 404 (``views.path_id``); a converter would leave it to the site's HTML page.
urlpatterns = [
    path("v1/deals/", views.DealList.as_view(), name="deal_list"),
    path("v1/deals/<str:pk>/", views.DealDetail.as_view(), name="deal_detail"),
    path("v1/events/", compliance.EventList.as_view(), name="event_list"),
    path("v1/verification/", compliance.Verification.as_view(), name="verification"),
    # The buyer's side (api/buyer.py).
    path("v1/stages/<str:pk>/items/", buyer.StageItems.as_view(), name="stage_items"),
    path(
        "v1/stages/<str:pk>/dictionary/",
        buyer.StageDictionary.as_view(),
        name="stage_dictionary",
    ),
    path("v1/stages/<str:pk>/manifest/", buyer.StageManifest.as_view(), name="stage_manifest"),
    path(
        "v1/stages/<str:pk>/acknowledge/",
        buyer.StageAcknowledge.as_view(),
        name="stage_acknowledge",
    ),
    path("v1/deals/<str:pk>/questions/", buyer.DealQuestions.as_view(), name="deal_questions"),
    path("v1/followups/", buyer.FollowUpList.as_view(), name="followup_list"),
    path("v1/followups/<str:pk>/attest/", buyer.FollowUpAttest.as_view(), name="followup_attest"),
    # The seller's side (api/upsert.py, api/subject_requests.py).
    path("v1/customers/upsert/", upsert.CustomerUpsert.as_view(), name="customer_upsert"),
    path("v1/requests/", subject_requests.SubjectRequestCreate.as_view(), name="request_create"),
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
