from allauth.account import views as allauth_views
from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from . import keys, usersessions, views

app_name = "accounts"

urlpatterns = [
    # allauth's sign-in (password, then the second factor, or a passkey alone) under the
    # product's name for it; allauth's own pages (the factor steps, enrolment) follow below.
    path("login/", allauth_views.login, name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password/",
        auth_views.PasswordChangeView.as_view(
            template_name="accounts/password_change.html",
            success_url=reverse_lazy("accounts:password_change_done"),
        ),
        name="password_change",
    ),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="accounts/password_change_done.html"
        ),
        name="password_change_done",
    ),
    path("sessions/<int:pk>/sign-out/", usersessions.end_session, name="session_end"),
    path("keys/", keys.keyring, name="keyring"),
    path("keys/rotate/", keys.keyring_rotate, name="keyring_rotate"),
    path("invitations/", views.staff_invitations, name="staff_invitations"),
    path("invitations/<uuid:pk>/revoke/", views.invitation_revoke, name="invitation_revoke"),
    path("second-factor/buyers/<int:pk>/", views.buyer_second_factor, name="buyer_second_factor"),
]
