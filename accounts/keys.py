"""The keyring page for administrators (issue 15): its state, and re-wrapping the data keys
under the active master key from the browser, behind a fresh second factor (``step_up``).

The same work as the ``rotate_keys`` command (transferdesk/crypto/rotation.py), bounded to
``ROTATE_LIMIT`` keys a press so that a request stays short: each press commits its batches and
says how many keys are left; pressing again carries on where it stopped. The second factors'
secrets, sealed directly under a master key (``accounts/mfa_secrets.py``), are counted per master
key beside the data keys and sealed again by the same press: an old key can leave the keyring
when neither count under it is above 0. Only superusers operate keys; the page shows key ids
and counts, never key material.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from transferdesk.crypto.errors import CryptoError
from transferdesk.crypto.keyring import get_keyring
from transferdesk.crypto.models import DataKey
from transferdesk.crypto.rotation import rotate_data_keys
from transferdesk.trail import AuditAction
from transferdesk.trail.models import AuditEvent

from .mfa import step_up
from .mfa_secrets import CLEAR, count_by_master_key

#: Keys re-wrapped per press (in batches of ``BATCH_SIZE``, each committed on its own).
ROTATE_LIMIT = 5000
BATCH_SIZE = 500


def _require_key_operator(user: Any) -> None:
    if not (user.is_active and user.is_superuser):
        raise PermissionDenied


def keyring_state() -> dict[str, Any]:
    """The active master key id, the keyring's ids, the live data keys and the second-factor
    secrets per master key id (flagging ids the keyring lacks), the secrets still in clear, the
    destroyed data keys, and the last rotation."""
    keyring = get_keyring()
    data_keys = dict(
        DataKey.objects.live()
        .values("master_key_id")
        .annotate(count=Count("pk"))
        .values_list("master_key_id", "count")
    )
    secrets = count_by_master_key()
    clear_secrets = secrets.pop(CLEAR, 0)
    per_master: list[dict[str, Any]] = [
        {
            "id": key_id,
            "count": data_keys.get(key_id, 0),
            "secrets": secrets.get(key_id, 0),
            "active": key_id == keyring.active_id,
            "missing": key_id not in keyring.keys,
        }
        for key_id in sorted(set(data_keys) | set(secrets))
    ]
    return {
        "active_id": keyring.active_id,
        "key_ids": keyring.key_ids,
        "per_master": per_master,
        "pending": sum(row["count"] for row in per_master if not row["active"]),
        "clear_secrets": clear_secrets,
        "secrets_pending": clear_secrets
        + sum(row["secrets"] for row in per_master if not row["active"]),
        "destroyed": DataKey.objects.filter(destroyed_at__isnull=False).count(),
        "last_rotation": AuditEvent.objects.filter(action=AuditAction.KEY_ROTATED)
        .order_by("-seq")
        .first(),
    }


@require_GET
@login_required
def keyring(request: HttpRequest) -> HttpResponse:
    _require_key_operator(request.user)
    return render(request, "accounts/keys.html", {**keyring_state(), "limit": ROTATE_LIMIT})


@require_POST
@login_required
@step_up
def keyring_rotate(request: HttpRequest) -> HttpResponse:
    _require_key_operator(request.user)
    try:
        result = rotate_data_keys(batch_size=BATCH_SIZE, limit=ROTATE_LIMIT, actor=request.user)
    except CryptoError as exc:
        # A data key under a master key the keyring lacks: the batches before it stay done.
        messages.error(
            request,
            _("Re-wrapping stopped: {reason} Put the missing key back in the keyring.").format(
                reason=exc
            ),
        )
        return redirect("accounts:keyring")
    left = result.remaining + result.secrets_remaining
    if not (result.rewrapped or result.resealed or left):
        messages.info(
            request,
            _("Nothing to do: every data key and second-factor secret is under the active key."),
        )
    if result.remaining:
        messages.warning(
            request,
            _(
                "{done} data key(s) re-wrapped under {key}; {left} left: re-wrap again to go on."
            ).format(done=result.rewrapped, key=result.active_id, left=result.remaining),
        )
    elif result.rewrapped and not left:
        messages.success(
            request,
            _(
                "{done} data key(s) re-wrapped under {key}. No key is under an older master key "
                "now: the old keys can leave the keyring."
            ).format(done=result.rewrapped, key=result.active_id),
        )
    if result.resealed:
        messages.info(
            request,
            _("{done} second-factor secret(s) sealed again under {key}.").format(
                done=result.resealed, key=result.active_id
            ),
        )
    if result.secrets_remaining:
        messages.warning(
            request,
            _("{left} second-factor secret(s) not yet under {key}: re-wrap again to go on.").format(
                left=result.secrets_remaining, key=result.active_id
            ),
        )
    elif result.resealed and not result.rewrapped and not left:
        messages.success(
            request,
            _(
                "No data key or second-factor secret is under an older master key now: the old "
                "keys can leave the keyring."
            ),
        )
    return redirect("accounts:keyring")
