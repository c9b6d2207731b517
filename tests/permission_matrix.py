"""Every URL and every actor → the expected status. A URL with no row here fails the suite.

Add a row for each view you add. Statuses: 200 page, 302 redirect (anonymous → sign-in, or a
POST-only action's redirect), 403 signed in but the role may not, 404 outside the user's scope,
405 wrong method. ``kwargs`` builds the URL arguments from the test's objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ACTORS = ("broker", "other_broker", "compliance", "buyer", "other_buyer", "anonymous")

#: Namespaces whose permissions are owned by another system and tested on their own.
EXCLUDED_NAMESPACES = {"admin"}


@dataclass(frozen=True)
class Row:
    expected: dict[str, int]
    method: str = "get"
    kwargs: Callable[[Any], dict[str, Any]] = field(default=lambda world: {})
    #: What a POST sends, where an empty form would only be refused as invalid.
    data: dict[str, Any] = field(default_factory=dict)


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(ACTORS, status)


def signed_in(status: int) -> dict[str, int]:
    return {**everyone(status), "anonymous": 302}


def only(status_for: dict[str, int], others: int = 403) -> dict[str, int]:
    return {**signed_in(others), **status_for}


def _deal(world: Any) -> dict[str, Any]:
    return {"pk": world.deal.pk}


def _draft(world: Any) -> dict[str, Any]:
    return {"pk": world.draft_stage.pk}


def _submitted(world: Any) -> dict[str, Any]:
    return {"pk": world.submitted_stage.pk}


def _delivered(world: Any) -> dict[str, Any]:
    return {"pk": world.delivered_stage.pk}


MATRIX: dict[str, Row] = {
    "home": Row(signed_in(302)),
    "healthz": Row(everyone(200)),
    "readyz": Row(everyone(200)),
    "set_language": Row(everyone(302), method="post"),
    "accounts:login": Row({**everyone(302), "anonymous": 200}),
    "accounts:logout": Row(everyone(302), method="post"),
    "accounts:password_change": Row(signed_in(200)),
    "accounts:password_change_done": Row(signed_in(200)),
    # The notification centre: everyone's own; another's notification is outside the scope.
    "notifications:list": Row(signed_in(200)),
    # The bell's poll: signed out, it tells htmx to stop polling (286), not a sign-in page.
    "notifications:bell": Row({**everyone(200), "anonymous": 286}),
    "notifications:preferences": Row(signed_in(200)),
    "notifications:mark_all_read": Row(signed_in(302), method="post"),
    "notifications:mark_read": Row(
        {**signed_in(404), "broker": 302},
        method="post",
        kwargs=lambda world: {"pk": world.notification.pk},
    ),
    # allauth's pages (accounts/allauth_urls.py, allauth.mfa): one's own account only. The
    # world's users have no authenticator yet (force_login records a passed factor only):
    # pages about a factor one does not have are 404, or lead back to the factors page.
    "account_login": Row({**everyone(302), "anonymous": 200}),
    "account_logout": Row(everyone(302), method="post"),
    "account_inactive": Row(everyone(200)),
    "account_reauthenticate": Row(signed_in(200)),
    "mfa_index": Row(signed_in(200)),
    "mfa_activate_totp": Row(signed_in(200)),
    "mfa_deactivate_totp": Row(signed_in(404)),
    "mfa_authenticate": Row(everyone(302)),
    "mfa_reauthenticate": Row(signed_in(302)),
    "mfa_view_recovery_codes": Row(signed_in(404)),
    "mfa_generate_recovery_codes": Row(signed_in(200)),
    "mfa_download_recovery_codes": Row(signed_in(404)),
    "mfa_add_webauthn": Row(signed_in(200)),
    "mfa_list_webauthn": Row(signed_in(200)),
    "mfa_login_webauthn": Row(everyone(302)),
    "mfa_reauthenticate_webauthn": Row(signed_in(302)),
    "mfa_edit_webauthn": Row(signed_in(404), kwargs=lambda world: {"pk": 1}),
    "mfa_remove_webauthn": Row(signed_in(404), kwargs=lambda world: {"pk": 1}),
    # Password reset by e-mail (allauth): open to everyone; a link that is not one (here a
    # made-up key) gets the "unusable link" page, never an account.
    "account_reset_password": Row(everyone(200)),
    "account_reset_password_done": Row(everyone(200)),
    "account_reset_password_from_key": Row(
        everyone(200), kwargs=lambda world: {"uidb36": "1", "key": "made-up-key"}
    ),
    "account_reset_password_from_key_done": Row(everyone(200)),
    # The keyring and its re-wrap: superusers only (no actor of the matrix is one).
    "accounts:keyring": Row(signed_in(403)),
    "accounts:keyring_rotate": Row(signed_in(403), method="post"),
    # The sessions page (allauth.usersessions): one's own sessions; another's is out of scope.
    "usersessions_list": Row(signed_in(200)),
    "accounts:session_end": Row(
        {**signed_in(404), "broker": 302},
        method="post",
        kwargs=lambda world: {"pk": world.user_session.pk},
    ),
    # Inviting staff: compliance officers (and administrators) only.
    "accounts:staff_invitations": Row(only({"compliance": 200})),
    # The world's invitation is the deal's, made by its broker: the broker may revoke it;
    # anyone else (compliance included: not a staff invitation) is outside the scope.
    "accounts:invitation_revoke": Row(
        {**signed_in(404), "broker": 302},
        method="post",
        kwargs=lambda world: {"pk": world.invitation.pk},
    ),
    # The second-factor policy of a buyer organisation: compliance (and administrators) only.
    "accounts:buyer_second_factor": Row(
        only({"compliance": 302}),
        method="post",
        kwargs=lambda world: {"pk": world.buyer_org.pk},
        data={"required": "0"},
    ),
    # Single sign-on: compliance (and administrators) set an organisation's provider up; the
    # OpenID Connect client's own URLs answer 404 for a provider that is not set up.
    "customers:identity_providers": Row(only({"compliance": 200})),
    "customers:identity_provider_edit": Row(
        only({"compliance": 200}), kwargs=lambda world: {"slug": world.buyer_org.slug}
    ),
    "openid_connect_login": Row(everyone(404), kwargs=lambda world: {"provider_id": "nobody"}),
    "openid_connect_callback": Row(everyone(404), kwargs=lambda world: {"provider_id": "nobody"}),
    # The invited person's page: the link is the only key, the same page for everyone.
    "invitation_accept": Row(everyone(200), kwargs=lambda world: {"token": world.invitation_token}),
    "transfers:deal_list": Row(only({"broker": 200, "other_broker": 200, "compliance": 200})),
    "transfers:deal_create": Row(only({"broker": 200, "other_broker": 200})),
    "transfers:approval_queue": Row(only({"compliance": 200})),
    # Compliance officers (and the Django admin's staff: tests/transferdesk/test_periodic.py).
    "periodic_jobs": Row(only({"compliance": 200})),
    # Everyone's own work: nothing of anybody else's (tests/audits/test_my_work.py).
    "work:mine": Row(signed_in(200)),
    "work:top": Row(signed_in(200)),
    "transfers:verify_receipt": Row(only({"broker": 200, "other_broker": 200, "compliance": 200})),
    "transfers:deal_detail": Row(
        only({"broker": 200, "other_broker": 404, "compliance": 200}), kwargs=_deal
    ),
    # Changing a deal is its broker's: compliance sees the deal but may not edit it (403).
    "transfers:deal_edit": Row(
        only({"broker": 200, "other_broker": 404, "compliance": 403}), kwargs=_deal
    ),
    # The world's deal is in handover with its stages open: completing it is refused (302
    # back with a message) for its broker; others never reach the service.
    "transfers:deal_complete": Row(
        only({"broker": 302, "other_broker": 404, "compliance": 403}),
        method="post",
        kwargs=_deal,
    ),
    "transfers:deal_assignments": Row(
        only({"broker": 200, "other_broker": 404, "compliance": 403}), kwargs=_deal
    ),
    "transfers:assignment_remove": Row(
        only({"broker": 302, "other_broker": 404, "compliance": 403}),
        method="post",
        kwargs=lambda world: {"pk": world.deal.pk, "assignment_pk": world.assignment.pk},
    ),
    # Inviting a buyer by e-mail: the deal's broker (an empty form: refused with a message, 302).
    "transfers:deal_invite": Row(
        only({"broker": 302, "other_broker": 404, "compliance": 403}),
        method="post",
        kwargs=_deal,
    ),
    "transfers:nda_publish": Row(
        only({"broker": 200, "other_broker": 404, "compliance": 403}), kwargs=_deal
    ),
    "transfers:stage_create": Row(
        only({"broker": 200, "other_broker": 404, "compliance": 403}), kwargs=_deal
    ),
    "transfers:stage_detail": Row(
        only({"broker": 200, "other_broker": 404, "compliance": 200}), kwargs=_submitted
    ),
    "transfers:stage_edit": Row(
        only({"broker": 200, "other_broker": 404, "compliance": 403}), kwargs=_draft
    ),
    "transfers:stage_progress": Row(
        only({"broker": 200, "other_broker": 404, "compliance": 200}), kwargs=_submitted
    ),
    "transfers:stage_submit": Row(
        only({"broker": 302, "other_broker": 404, "compliance": 403}),
        method="post",
        kwargs=_draft,
    ),
    "transfers:stage_cancel": Row(
        only({"broker": 302, "other_broker": 404, "compliance": 403}),
        method="post",
        kwargs=_draft,
    ),
    "transfers:stage_approve": Row(only({"compliance": 200}), kwargs=_submitted),
    "transfers:stage_reject": Row(only({"compliance": 200}), kwargs=_submitted),
    "transfers:stage_receipt": Row(
        only({"broker": 200, "other_broker": 404, "compliance": 200}), kwargs=_delivered
    ),
    "transfers:stage_manifest": Row(
        only({"broker": 200, "other_broker": 404, "compliance": 200}), kwargs=_delivered
    ),
    "portal:home": Row(only({"buyer": 200, "other_buyer": 200})),
    # Buyer portal: the deal's buyer only; the other bidder gets the 404 of a missing object.
    **{
        f"portal:{name}": Row(only({"buyer": status, "other_buyer": 404}), method, kwargs)
        for name, status, method, kwargs in (
            ("nda", 200, "get", lambda world: {"deal_pk": world.deal.pk}),
            ("questions", 200, "get", lambda world: {"deal_pk": world.deal.pk}),
            ("tasks", 200, "get", lambda world: {"deal_pk": world.deal.pk}),
            ("stage", 200, "get", _delivered),
            ("item", 200, "get", lambda w: {"pk": w.delivered_stage.pk, "item_pk": w.item.pk}),
            ("acknowledge", 200, "get", _delivered),
            ("receipt", 200, "get", _delivered),
            ("manifest", 200, "get", _delivered),
            ("receipt_bundle", 200, "get", _delivered),
            ("verify", 200, "get", _delivered),
            ("export", 200, "post", lambda w: {"pk": w.delivered_stage.pk, "fmt": "csv"}),
            # An empty attestation is refused with a message and a redirect to the tasks.
            ("task_attest", 302, "post", lambda world: {"pk": world.task.pk}),
            # An empty reply is shown again on the thread with its error.
            ("question_follow_up", 200, "post", lambda world: {"pk": world.question.pk}),
        )
    },
    "portal:question": Row(
        {**signed_in(404), "buyer": 200, "broker": 200, "compliance": 200},
        kwargs=lambda world: {"pk": world.question.pk},
    ),
    "portal:question_queue": Row(only({"broker": 200, "other_broker": 200, "compliance": 200})),
    "portal:overdue": Row(only({"compliance": 200})),
    "audits:dashboard": Row(only({"compliance": 200})),
    # Compliance pages: compliance officers only; everyone else 403, anonymous to sign-in.
    "audits:events": Row(only({"compliance": 200})),
    "audits:events_export": Row(only({"compliance": 200})),
    "audits:deal_timeline": Row(
        only({"compliance": 200}), kwargs=lambda world: {"reference": world.deal.reference}
    ),
    "audits:reports": Row(only({"compliance": 200})),
    # An empty form is shown again with its errors.
    "audits:report_create": Row(only({"compliance": 200}), method="post"),
    "audits:report_detail": Row(
        only({"compliance": 200}), kwargs=lambda world: {"pk": world.report.pk}
    ),
    "audits:report_download": Row(
        only({"compliance": 200}), kwargs=lambda world: {"pk": world.report.pk}
    ),
    # Verify the audit chain: start a run (a job; redirect to the page), watch it, its history.
    "audits:chain": Row(only({"compliance": 200})),
    "audits:chain_verify": Row(only({"compliance": 302}), method="post"),
    "audits:chain_run": Row(
        only({"compliance": 200}), kwargs=lambda world: {"pk": world.chain_run.pk}
    ),
    "audits:reviews": Row(only({"compliance": 200})),
    "audits:review_create": Row(only({"compliance": 200})),
    "audits:review_detail": Row(
        only({"compliance": 200}), kwargs=lambda world: {"pk": world.campaign.pk}
    ),
    # An empty decision is refused with a message and a redirect back to the campaign.
    "audits:review_decide": Row(
        only({"compliance": 302}),
        method="post",
        kwargs=lambda world: {"pk": world.campaign.pk, "item_pk": world.review_item.pk},
    ),
    "audits:review_report": Row(
        only({"compliance": 302}), method="post", kwargs=lambda world: {"pk": world.campaign.pk}
    ),
    # Customer books: brokers holding organisation permissions, compliance reads the general
    # tier only (and may not change, reveal or import), everyone else is outside the scope.
    "customers:organization_list": Row(
        only({"broker": 200, "other_broker": 200, "compliance": 200})
    ),
    "customers:customer_list": Row(
        only({"broker": 200, "other_broker": 404, "compliance": 200}),
        kwargs=lambda world: {"slug": world.seller.slug},
    ),
    "customers:customer_detail": Row(
        only({"broker": 200, "other_broker": 404, "compliance": 200}),
        kwargs=lambda world: {"pk": world.customer.pk},
    ),
    "customers:customer_history": Row(
        only({"broker": 200, "other_broker": 404, "compliance": 200}),
        kwargs=lambda world: {"pk": world.customer.pk},
    ),
    "customers:customer_reveal": Row(
        only({"broker": 200, "other_broker": 404}),
        method="post",
        kwargs=lambda world: {"pk": world.customer.pk},
        data={"reason": "identity_check"},
    ),
    "customers:customer_edit": Row(
        only({"broker": 200, "other_broker": 404}),
        kwargs=lambda world: {"pk": world.customer.pk},
    ),
    "customers:customer_verify": Row(
        only({"broker": 302, "other_broker": 404}),
        method="post",
        kwargs=lambda world: {"pk": world.customer.pk},
    ),
    # Core-tier corrections and revealed history: brokers holding reveal_core (the world's
    # broker does); compliance may not (403), the other deal's broker is outside the scope.
    "customers:customer_correct_core": Row(
        only({"broker": 200, "other_broker": 404}),
        kwargs=lambda world: {"pk": world.customer.pk},
    ),
    "customers:customer_history_reveal": Row(
        only({"broker": 200, "other_broker": 404}),
        method="post",
        kwargs=lambda world: {"pk": world.customer.pk},
        data={"reason": "identity_check"},
    ),
    # Who holds a book: compliance officers (and administrators) give and take it; brokers and
    # buyers may not (403). An empty grant form is shown again with its errors (400).
    "customers:book_access": Row(
        only({"compliance": 200}), kwargs=lambda world: {"slug": world.seller.slug}
    ),
    "customers:book_access_grant": Row(
        only({"compliance": 400}), method="post", kwargs=lambda world: {"slug": world.seller.slug}
    ),
    "customers:book_access_revoke": Row(
        only({"compliance": 200}),
        kwargs=lambda world: {
            "slug": world.seller.slug,
            "user_pk": world.broker.pk,
            "permission": "manage_customers",
        },
    ),
    # Adding customers and their purchases and interactions is for brokers who may change the
    # book; compliance reads books but never writes them (403).
    "customers:customer_add": Row(
        only({"broker": 200, "other_broker": 404}),
        kwargs=lambda world: {"slug": world.seller.slug},
    ),
    "customers:purchase_add": Row(
        only({"broker": 200, "other_broker": 404}),
        kwargs=lambda world: {"pk": world.customer.pk},
    ),
    "customers:purchase_edit": Row(
        only({"broker": 200, "other_broker": 404}),
        kwargs=lambda world: {"pk": world.customer.pk, "record_pk": world.purchase.pk},
    ),
    "customers:purchase_delete": Row(
        only({"broker": 302, "other_broker": 404}),
        method="post",
        kwargs=lambda world: {"pk": world.customer.pk, "record_pk": world.purchase.pk},
    ),
    "customers:interaction_add": Row(
        only({"broker": 200, "other_broker": 404}),
        kwargs=lambda world: {"pk": world.customer.pk},
    ),
    "customers:interaction_edit": Row(
        only({"broker": 200, "other_broker": 404}),
        kwargs=lambda world: {"pk": world.customer.pk, "record_pk": world.interaction.pk},
    ),
    "customers:interaction_delete": Row(
        only({"broker": 302, "other_broker": 404}),
        method="post",
        kwargs=lambda world: {"pk": world.customer.pk, "record_pk": world.interaction.pk},
    ),
    "customers:import_upload": Row(
        only({"broker": 200, "other_broker": 404}),
        kwargs=lambda world: {"slug": world.seller.slug},
    ),
    "customers:import_mapping": Row(
        only({"broker": 200, "other_broker": 404}),
        kwargs=lambda world: {"slug": world.seller.slug, "pk": world.upload.pk},
    ),
    "customers:import_result": Row(
        only({"broker": 200, "other_broker": 404}),
        kwargs=lambda world: {"slug": world.seller.slug, "pk": world.upload.pk},
    ),
    "customers:import_report": Row(
        only({"broker": 200, "other_broker": 404}),
        kwargs=lambda world: {"slug": world.seller.slug, "pk": world.upload.pk},
    ),
    "job_progress": Row(
        {**signed_in(404), "broker": 200, "compliance": 200},
        kwargs=lambda world: {"pk": world.job.pk},
    ),
    # Retention, backups and incidents: compliance officers only.
    "lifecycle:retention": Row(only({"compliance": 200})),
    "lifecycle:policy_confirm": Row(
        only({"compliance": 302}), method="post", kwargs=lambda world: {"pk": world.policy.pk}
    ),
    "lifecycle:policy_run": Row(
        only({"compliance": 302}), method="post", kwargs=lambda world: {"pk": world.policy.pk}
    ),
    "lifecycle:hold_release": Row(
        only({"compliance": 302}), method="post", kwargs=lambda world: {"pk": world.hold.pk}
    ),
    # An empty form: the retention page again, with the errors (200).
    "lifecycle:hold_place": Row(only({"compliance": 200}), method="post"),
    # The erasure run's certificate exists: its page redirects to the PDF.
    "lifecycle:run_certificate": Row(
        only({"compliance": 302}), kwargs=lambda world: {"pk": world.certificate.run_id}
    ),
    "lifecycle:certificate_pdf": Row(
        only({"compliance": 200}), kwargs=lambda world: {"pk": world.certificate.pk}
    ),
    "lifecycle:deal_destroy": Row(
        only({"compliance": 200}), kwargs=lambda world: {"pk": world.deal.pk}
    ),
    # The buyer's attestation: buyers of the deal's buying organisation only.
    "lifecycle:destruction_attest": Row(
        only({"buyer": 200, "other_buyer": 404}),
        kwargs=lambda world: {"pk": world.destruction.pk},
    ),
    "lifecycle:backups": Row(only({"compliance": 200})),
    "lifecycle:drill_start": Row(only({"compliance": 302}), method="post"),
    "lifecycle:incidents": Row(only({"compliance": 200})),
    "lifecycle:incident_detail": Row(
        only({"compliance": 200}), kwargs=lambda world: {"pk": world.incident.pk}
    ),
    # Preparing notices for an incident nobody was affected by: refused with a message (302).
    "lifecycle:incident_notices_prepare": Row(
        only({"compliance": 302}), method="post", kwargs=lambda world: {"pk": world.incident.pk}
    ),
    "lifecycle:incident_notices": Row(
        only({"compliance": 200}), kwargs=lambda world: {"pk": world.notified_incident.pk}
    ),
    "lifecycle:incident_notice_preview": Row(
        only({"compliance": 200}), kwargs=lambda world: {"pk": world.notified_incident.pk}
    ),
    # Saving the notice's texts (EN/ZH): an empty form is refused with a message (302).
    "lifecycle:incident_texts": Row(
        only({"compliance": 302}), method="post", kwargs=lambda world: {"pk": world.incident.pk}
    ),
    "lifecycle:incident_status": Row(
        only({"compliance": 302}), method="post", kwargs=lambda world: {"pk": world.incident.pk}
    ),
    "lifecycle:incident_report": Row(
        only({"compliance": 200}), kwargs=lambda world: {"pk": world.incident.pk}
    ),
    # Customer pages (``notice:``): the signed link is the only key, so every actor (signed in
    # or not) gets the same answer; an action without a choice re-renders the page (400).
    "notice:page": Row(everyone(200), kwargs=lambda world: {"token": world.notice_token}),
    "notice:act": Row(
        everyone(400), method="post", kwargs=lambda world: {"token": world.notice_token}
    ),
    "notice:done": Row(
        everyone(200), kwargs=lambda world: {"token": world.notice_token, "what": "complaint"}
    ),
    # Notice campaigns: the deal's broker and compliance; another deal's broker is outside the
    # scope; the four-eyes rules answer 403 to the preparer.
    "notices:campaign_list": Row(
        only({"broker": 200, "other_broker": 404, "compliance": 200}),
        kwargs=lambda world: {"pk": world.deal.pk},
    ),
    "notices:campaign_detail": Row(
        only({"broker": 200, "other_broker": 404, "compliance": 200}),
        kwargs=lambda world: {"pk": world.notice_campaign.pk},
    ),
    "notices:campaign_preview": Row(
        only({"broker": 200, "other_broker": 404, "compliance": 200}),
        kwargs=lambda world: {"pk": world.notice_campaign.pk},
    ),
    "notices:campaign_approve": Row(
        only({"broker": 403, "other_broker": 404, "compliance": 302}),
        method="post",
        kwargs=lambda world: {"pk": world.notice_campaign.pk},
    ),
    "notices:campaign_send": Row(
        only({"broker": 302, "other_broker": 404, "compliance": 302}),
        method="post",
        kwargs=lambda world: {"pk": world.notice_campaign.pk},
    ),
    "notices:campaign_resend": Row(
        only({"broker": 302, "other_broker": 404, "compliance": 302}),
        method="post",
        kwargs=lambda world: {"pk": world.notice_campaign.pk},
    ),
    # Letters: a draft campaign is refused with a message (approved notices only).
    "notices:campaign_letters": Row(
        only({"broker": 302, "other_broker": 404, "compliance": 302}),
        method="post",
        kwargs=lambda world: {"pk": world.notice_campaign.pk},
    ),
    "notices:notice_manual_done": Row(
        only({"broker": 302, "other_broker": 404, "compliance": 302}),
        method="post",
        kwargs=lambda world: {"pk": world.notice.pk},
    ),
    # The request register: compliance officers only.
    "requests:request_list": Row(only({"compliance": 200})),
    "requests:request_create": Row(only({"compliance": 200})),
    "requests:request_detail": Row(
        only({"compliance": 200}), kwargs=lambda world: {"pk": world.subject_request.pk}
    ),
    "requests:request_assign": Row(
        only({"compliance": 302}),
        method="post",
        kwargs=lambda world: {"pk": world.subject_request.pk},
    ),
    "requests:request_fulfil": Row(
        only({"compliance": 302}),
        method="post",
        kwargs=lambda world: {"pk": world.subject_request.pk},
    ),
    "requests:request_refuse": Row(
        only({"compliance": 302}),
        method="post",
        kwargs=lambda world: {"pk": world.subject_request.pk},
    ),
    # The API (api:): only API keys authenticate there (tests/api/test_key_matrix.py walks
    # the keys), so every person's session, even past the second factor, gets 401.
    "api:deal_list": Row(everyone(401)),
    "api:deal_detail": Row(everyone(401), kwargs=_deal),
    "api:stage_items": Row(everyone(401), kwargs=_delivered),
    "api:stage_dictionary": Row(everyone(401), kwargs=_delivered),
    "api:stage_manifest": Row(everyone(401), kwargs=_delivered),
    "api:stage_acknowledge": Row(everyone(401), method="post", kwargs=_delivered),
    "api:deal_questions": Row(everyone(401), kwargs=_deal),
    "api:followup_list": Row(everyone(401)),
    "api:customer_upsert": Row(everyone(401), method="post"),
    "api:event_list": Row(everyone(401)),
    "api:verification": Row(everyone(401)),
    "api:request_create": Row(everyone(401), method="post"),
    "api:followup_attest": Row(everyone(401), method="post", kwargs=lambda world: {"pk": 1}),
    # The OpenAPI document and its page describe the API and hold no data: open to all.
    "api:schema": Row(everyone(200)),
    "api:docs": Row(everyone(200)),
    # The keys pages: compliance officers (and administrators: tests/api/test_keys.py). An
    # empty form is shown again with its errors (400).
    "api:keys": Row(only({"compliance": 200})),
    "api:key_create": Row(only({"compliance": 400}), method="post"),
    "api:key_revoke": Row(
        only({"compliance": 302}),
        method="post",
        kwargs=lambda world: {"prefix": world.api_key.prefix},
    ),
    # The webhooks pages: compliance officers (and administrators: tests/api/test_webhooks.py).
    "api:webhooks": Row(only({"compliance": 200})),
    "api:webhook_create": Row(only({"compliance": 400}), method="post"),
    "api:webhook_disable": Row(
        only({"compliance": 302}), method="post", kwargs=lambda world: {"pk": world.webhook.pk}
    ),
    "api:webhook_deliveries": Row(
        only({"compliance": 200}), kwargs=lambda world: {"pk": world.webhook.pk}
    ),
    "api:webhook_replay": Row(
        only({"compliance": 302}),
        method="post",
        kwargs=lambda world: {"pk": world.webhook_delivery.pk},
    ),
}
