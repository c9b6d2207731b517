"""The part of allauth's account pages the product uses, under allauth's own URL names (its
views and templates reverse them): the sign-in is ``accounts:login`` (accounts/urls.py, same
path), sign-out is the product's, and re-authentication, the inactive page, the sessions
page (allauth.usersessions; signing out one session is ``accounts:session_end``) and the
password reset by e-mail (accounts/password_reset.py) are allauth's. Sign-up and e-mail
management stay off."""

from __future__ import annotations

from allauth.account import views as allauth_views
from allauth.usersessions import views as usersessions_views
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, path, re_path

from .mfa import step_up_to_change

urlpatterns: list[URLPattern | URLResolver] = [
    path("login/", allauth_views.login, name="account_login"),
    path("logout/", auth_views.LogoutView.as_view(), name="account_logout"),
    path("inactive/", allauth_views.account_inactive, name="account_inactive"),
    path("reauthenticate/", allauth_views.reauthenticate, name="account_reauthenticate"),
    # The sessions page (``usersessions_list``): one's sessions, "sign out everywhere else";
    # signing them out needs a fresh second factor, looking at them does not.
    path(
        "sessions/",
        step_up_to_change(usersessions_views.list_usersessions),
        name="usersessions_list",
    ),
    path("password/reset/", allauth_views.password_reset, name="account_reset_password"),
    path(
        "password/reset/done/",
        allauth_views.password_reset_done,
        name="account_reset_password_done",
    ),
    # allauth's own pattern: the link's key is the account's id (base 36) and the token.
    re_path(
        r"^password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$",
        allauth_views.password_reset_from_key,
        name="account_reset_password_from_key",
    ),
    path(
        "password/reset/key/done/",
        allauth_views.password_reset_from_key_done,
        name="account_reset_password_from_key_done",
    ),
]
