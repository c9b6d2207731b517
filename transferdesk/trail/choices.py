"""The catalogue of audit actions: every kind of event the trail can hold."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    """What happened. Values are stable identifiers stored in the chain: never rename one.

    A stored value is covered by the event's MAC, so renaming a value would make every past
    event of that kind fail verification. Add new members; change only labels.
    """

    # Accounts
    SIGN_IN = "sign_in", _("Sign-in")
    SIGN_IN_FAILED = "sign_in_failed", _("Failed sign-in")
    SIGN_OUT = "sign_out", _("Sign-out")
    ACCOUNT_LOCKED = "account_locked", _("Account locked out")
    FACTOR_ADDED = "factor_added", _("Second factor enrolled")
    FACTOR_REMOVED = "factor_removed", _("Second factor removed")
    RECOVERY_CODE_USED = "recovery_code_used", _("Recovery code used")
    SESSION_ENDED = "session_ended", _("Session signed out")
    PASSWORD_RESET_REQUESTED = "password_reset_requested", _("Password reset requested")
    PASSWORD_RESET_COMPLETED = "password_reset_completed", _("Password reset completed")
    NEW_DEVICE_SIGN_IN = "new_device_sign_in", _("Sign-in from a new device")
    SSO_SIGN_IN = "sso_sign_in", _("Single sign-on")
    SSO_REFUSED = "sso_refused", _("Single sign-on refused")
    SSO_CONFIGURED = "sso_configured", _("Single sign-on configured")
    # Reads of customer data
    VIEW_SENSITIVE = "view_sensitive", _("Viewed sensitive data")
    VIEW_CORE = "view_core", _("Viewed core data")
    REVEAL = "reveal", _("Revealed a masked value")
    PORTAL_VIEW = "portal_view", _("Buyer portal view")
    # Changes to records
    CREATE = "create", _("Created")
    UPDATE = "update", _("Updated")
    DELETE = "delete", _("Deleted")
    IMPORT = "import", _("Imported")
    EXPORT = "export", _("Exported")
    # Permissions and agreements
    GRANT = "grant", _("Permission granted")
    REVOKE = "revoke", _("Permission revoked")
    NDA_ACCEPTED = "nda_accepted", _("NDA accepted")
    # Stages and handover
    STAGE_SUBMITTED = "stage_submitted", _("Stage submitted for approval")
    STAGE_APPROVED = "stage_approved", _("Stage approved")
    STAGE_REJECTED = "stage_rejected", _("Stage rejected")
    STAGE_CANCELLED = "stage_cancelled", _("Stage cancelled")
    HANDOVER_STARTED = "handover_started", _("Handover started")
    HANDOVER_INTERRUPTED = "handover_interrupted", _("Handover interrupted")
    HANDOVER_COMPLETED = "handover_completed", _("Handover completed")
    HANDOVER_REFUSED = "handover_refused", _("Handover refused by the engine")
    ACKNOWLEDGED = "acknowledged", _("Receipt acknowledged")
    ACKNOWLEDGE_REFUSED = "acknowledge_refused", _("Receipt acknowledgement refused")
    # Data subjects
    NOTICE_SENT = "notice_sent", _("Transfer notice sent")
    OBJECTION = "objection", _("Objection received")
    REQUEST_RECEIVED = "request_received", _("Data-subject request received")
    REQUEST_FULFILLED = "request_fulfilled", _("Data-subject request fulfilled")
    # Retention, keys, backups
    PURGE = "purge", _("Data purged")
    KEY_DESTROYED = "key_destroyed", _("Key destroyed")
    KEY_ROTATED = "key_rotated", _("Keys rotated")
    BACKUP = "backup", _("Backup taken")
    RESTORE = "restore", _("Backup restored")
    # Compliance
    INCIDENT = "incident", _("Incident recorded")
    REPORT_GENERATED = "report_generated", _("Report generated")
    ACCESS_REVIEW_DECISION = "access_review_decision", _("Access review decision")
    CHAIN_VERIFICATION_FAILED = "chain_verification_failed", _("Audit chain verification failed")
    # The API (api app): keys issued and revoked by people, and every call made with a key.
    API_KEY_CREATED = "api_key_created", _("API key created")
    API_KEY_REVOKED = "api_key_revoked", _("API key revoked")
    API_CALL = "api_call", _("API call")
    # Webhooks (api/webhooks.py): endpoints added and disabled, deliveries sent again by hand.
    WEBHOOK_CREATED = "webhook_created", _("Webhook endpoint created")
    WEBHOOK_DISABLED = "webhook_disabled", _("Webhook endpoint disabled")
    WEBHOOK_REPLAYED = "webhook_replayed", _("Webhook delivery replayed")
