"""Deal invitations, the deal's side: a buyer invited to a deal by its broker is assigned to
it in the same transaction that creates their account (``accounts.services.invitation_accept``
sends ``invitation_accepted``; accounts sits below transfers and does not import it)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from accounts.services import invitation_accepted

from .services import _assign


@receiver(invitation_accepted, dispatch_uid="transfers_assign_invited")
def assign_invited(sender: Any, invitation: Any, user: Any, **_: Any) -> None:
    """The inviter gives the role, as if they had assigned the new account by hand: the GRANT
    event names them."""
    _assign(actor=invitation.invited_by, deal=invitation.deal, user=user, role=invitation.deal_role)
