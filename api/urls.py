from django.urls import path
from drf_spectacular.views import SpectacularSwaggerSplitView

from . import key_views, schema, subject_requests, upsert, views

app_name = "api"

urlpatterns = [
    path("v1/deals/", views.DealList.as_view(), name="deal_list"),
    path("v1/deals/<uuid:pk>/", views.DealDetail.as_view(), name="deal_detail"),
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
]
