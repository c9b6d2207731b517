"""Admin registrations of accounts. What remains writable here (users) goes through the
services and writes the same audit events as the pages; roles (groups), invitations and the
sign-in records of django-axes are only shown."""

from __future__ import annotations

from typing import Any

from allauth.account.admin import EmailAddressAdmin
from allauth.account.models import EmailAddress
from allauth.mfa.admin import AuthenticatorAdmin
from allauth.mfa.models import Authenticator
from allauth.socialaccount.admin import SocialAccountAdmin, SocialAppAdmin, SocialTokenAdmin
from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
from allauth.usersessions.admin import UserSessionAdmin
from allauth.usersessions.models import UserSession
from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from transferdesk.admin import ReadOnlyAdmin, ReadOnlyAdminMixin

from .models import Invitation, KnownDevice, User
from .services import user_admin_password_set, user_admin_save
from .usersessions import end_user_sessions


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    """Users are created and changed here, through ``user_admin_save``: every change is an
    event, and every role, permission or power given or taken a GRANT or a REVOKE. Users are
    never deleted (the trail and the deals point at them): deactivate them instead."""

    list_display = ("username", "email", "organization", "is_active", "is_staff")
    list_filter = ("is_active", "is_staff", "groups", "organization")
    list_select_related = ("organization",)
    actions = ["sign_out_everywhere"]
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        (_("Organisation"), {"fields": ("organization",)}),
        (_("Language"), {"fields": ("language",)}),
    )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=_("Sign the selected users out everywhere"))
    def sign_out_everywhere(self, request: HttpRequest, queryset: Any) -> None:
        """ASVS 5.0 7.4.5: an administrator ends a person's sessions (one event each)."""
        ended = sum(
            end_user_sessions(actor=request.user, user=user, reason="administrator")
            for user in queryset
        )
        self.message_user(
            request,
            ngettext("%(count)d session signed out.", "%(count)d sessions signed out.", ended)
            % {"count": ended},
        )

    def save_model(self, request: Any, obj: User, form: Any, change: bool) -> None:
        data = form.cleaned_data
        user_admin_save(
            actor=request.user,
            user=obj,
            changed=form.changed_data,
            created=not change,
            groups=data.get("groups"),
            permissions=data.get("user_permissions"),
        )

    def save_related(self, request: Any, form: Any, formsets: Any, change: bool) -> None:
        # The roles and permissions were set by ``user_admin_save``, with their events; the
        # form's own ``save_m2m`` would set them again, silently.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def user_change_password(self, request: Any, id: str, form_url: str = "") -> HttpResponse:
        """Django's password form, in one transaction with its event."""
        with transaction.atomic():
            response = super().user_change_password(request, id, form_url)
            if request.method == "POST" and response.status_code == 302:
                user = self.get_object(request, unquote(id))
                user_admin_password_set(actor=request.user, user=user)
        return response


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    """Invitations, to look at: they are made, accepted and revoked on the site's pages, through
    the audited services (an admin form would bypass the events). The token's hash is not
    shown: it opens nothing, but has no reader either."""

    list_display = (
        "email", "role", "organization", "deal", "invited_by", "created_at", "expires_at",
        "accepted_at", "revoked_at",
    )  # fmt: skip
    list_filter = ("role", "organization")
    list_select_related = ("organization", "deal", "invited_by")
    search_fields = ("email",)
    exclude = ("token_sha256",)


@admin.register(KnownDevice)
class KnownDeviceAdmin(ReadOnlyAdmin):
    """The browsers each user signed in from (the new-device e-mail), to look at. The id's hash
    is not shown: it identifies nothing to a reader."""

    list_display = ("user", "user_agent", "address", "first_seen", "last_seen")
    list_select_related = ("user",)
    search_fields = ("user__username",)
    exclude = ("device_sha256",)


# Roles are groups of fixed names (a data migration makes them; ``Role`` reads them): renaming
# or deleting one would take a role from everyone at once, with no event. Who holds a role is
# changed on the user, through ``user_admin_save``.
admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(ReadOnlyAdminMixin, BaseGroupAdmin):
    pass


# django-axes's records of sign-in attempts are evidence of who tried what; lock-outs end by
# themselves (AXES_COOLOFF_TIME), so operators have nothing to delete there. allauth's e-mail
# addresses and second factors are shown only: marking an address verified or removing a
# person's factor from here would bypass the factor policy and its audit events; a session is
# signed out on the person's sessions page, which records it (accounts.usersessions). Single
# sign-on (allauth's social apps and the accounts linked to them) is set up by compliance on its
# page (customers/sso.py), with its events: here it is only shown.
for _model, _base in (
    (EmailAddress, EmailAddressAdmin),
    (Authenticator, AuthenticatorAdmin),
    (UserSession, UserSessionAdmin),
    (SocialAccount, SocialAccountAdmin),
    (SocialToken, SocialTokenAdmin),
    (AccessAttempt, AccessAttemptAdmin),
    (AccessLog, AccessLogAdmin),
    (AccessFailureLog, AccessFailureLogAdmin),
):
    admin.site.unregister(_model)
    admin.site.register(_model, type(_base.__name__, (ReadOnlyAdminMixin, _base), {}))


admin.site.unregister(SocialApp)


@admin.register(SocialApp)
class IdentityProviderAppAdmin(ReadOnlyAdminMixin, SocialAppAdmin):
    """An organisation's identity provider, shown without its client secret."""

    fields = ("provider", "provider_id", "name", "client_id", "settings")
    readonly_fields = fields
