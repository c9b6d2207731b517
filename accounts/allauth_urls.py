"""The part of allauth's account pages the product uses, under allauth's own URL names (its
views and templates reverse them): the sign-in is ``accounts:login`` (accounts/urls.py, same
path), sign-out is the product's, and re-authentication, the inactive page and the sessions
page (allauth.usersessions; signing out one session is ``accounts:session_end``) are allauth's.
Sign-up, e-mail management and password reset stay off (password reset: a later issue)."""

from __future__ import annotations

from allauth.account import views as allauth_views
from allauth.usersessions import views as usersessions_views
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, path

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
]
