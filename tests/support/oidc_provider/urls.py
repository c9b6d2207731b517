from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def no_icon(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=204)  # the browser asks; a 404 would be a console error


urlpatterns = [
    path("", include("allauth.idp.urls")),
    path("accounts/", include("allauth.account.urls")),
    path("favicon.ico", no_icon),
]
