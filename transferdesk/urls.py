from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from accounts.views import invitation_accept, set_language
from transfers.register_urls import campaign_urlpatterns

from . import health, views

# The admin signs in through the product's sign-in (password, then the second factor), not
# through its own password-only form (allauth's documented guard).
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("jobs/<uuid:pk>/progress", views.job_progress, name="job_progress"),
    path("jobs/periodic/", views.periodic_jobs, name="periodic_jobs"),
    path("work/", include("audits.urls_mywork")),
    path("accounts/", include("accounts.urls")),
    path("notifications/", include("notifications.urls")),
    # allauth: its sign-in steps and second factors (/accounts/2fa/).
    path("accounts/", include("accounts.allauth_urls")),
    path("accounts/2fa/", include("allauth.mfa.urls")),
    # Single sign-on: allauth's OpenID Connect client (/accounts/oidc/<organisation>/login/
    # and its callback). No other socialaccount page.
    path("accounts/", include("allauth.socialaccount.providers.openid_connect.urls")),
    path("invite/<str:token>/", invitation_accept, name="invitation_accept"),
    path("customers/", include("customers.urls")),
    path("deals/", include("transfers.urls")),
    path("portal/", include("transfers.portal_urls")),
    path("compliance/", include("audits.urls")),
    path("compliance/lifecycle/", include("audits.urls_lifecycle")),
    path("n/", include("transfers.notice_urls")),
    path("notices/", include((campaign_urlpatterns, "notices"))),
    path("requests/", include("transfers.register_urls")),
    path("api/", include("api.urls")),
    path("admin/", admin.site.urls),
]
