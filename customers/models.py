"""Organisations and (from the vault issue on) their customer records."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from accounts.choices import Role
from transferdesk.crypto import blind_index
from transferdesk.crypto.fields import (
    BlindIndexField,
    EncryptedCharField,
    EncryptedEmailField,
    EncryptedTextField,
    is_changed,
)
from transferdesk.crypto.history import EncryptedHistoricalRecords
from transferdesk.crypto.models import EncryptedModel
from transferdesk.models import DataKey
from transferdesk.permissions import RestrictedQuerySet, objects_with_perm
from transferdesk.principals import ApiScope

from . import registry
from .choices import CustomerStatus, InteractionChannel, LegalBasis, OrganizationKind

#: Organisation-level object permissions (granted with ``services.organization_grant``).
MANAGE_CUSTOMERS = "manage_customers"
REVEAL_CORE = "reveal_core"
ORGANIZATION_PERMISSIONS = (MANAGE_CUSTOMERS, REVEAL_CORE)

#: Actions of ``restrict`` and the organisation permission each needs. Compliance officers are
#: the one exception, see ``Organization.restrict_q``.
ACTION_PERMISSIONS = {
    "view": MANAGE_CUSTOMERS,
    "change": MANAGE_CUSTOMERS,
    "import": MANAGE_CUSTOMERS,
    "reveal": REVEAL_CORE,
}


class OrganizationQuerySet(RestrictedQuerySet):
    pass


class Organization(models.Model):
    """A party to transfers: a seller whose customer book moves, a buyer, or the broker firm.

    Organisation details are business contact data, not customer personal data, so they are
    stored in clear. Access to an organisation's customer book is granted per organisation
    (``manage_customers``, ``reveal_core``), never per customer row.
    """

    slug = models.SlugField(_("short name"), max_length=64, unique=True)
    legal_name = models.CharField(_("legal name"), max_length=255)
    kind = models.CharField(_("kind"), max_length=16, choices=OrganizationKind.choices)
    registration_number = models.CharField(_("registration number"), max_length=64, blank=True)
    country = models.CharField(_("country"), max_length=2, help_text=_("ISO 3166-1 alpha-2 code"))
    contact_name = models.CharField(_("contact name"), max_length=255, blank=True)
    contact_email = models.EmailField(_("contact e-mail"), blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=32, blank=True)
    address = models.TextField(_("address"), blank=True)
    second_factor_required = models.BooleanField(
        _("second factor required"),
        default=True,
        help_text=_(
            "For a buyer organisation, set by compliance: its users must sign in with a "
            "passkey or an authenticator app. Staff always must."
        ),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        ordering = ["legal_name"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        permissions = [
            (MANAGE_CUSTOMERS, _("Can see, correct and import the customer book")),
            (REVEAL_CORE, _("Can reveal the core-tier fields of customers (always logged)")),
        ]

    def __str__(self) -> str:
        return self.legal_name

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> Q:
        """The organisations whose customer book ``user`` may ``action``.

        Brokers hold organisation object permissions (``view``/``change``/``import`` need
        ``manage_customers``, ``reveal`` needs ``reveal_core``). Compliance officers oversee
        every book but only ``view`` it, and the views show them the general tier alone:
        "never more plaintext than a task needs" — no names, no reveal, no edits, no imports.
        """
        perm = ACTION_PERMISSIONS.get(action)
        if perm is None:
            return Q(pk__in=[])
        if action == "view" and user.has_role(Role.COMPLIANCE):
            return Q(kind=OrganizationKind.SELLER)  # every customer book, nothing else
        granted = objects_with_perm(user, f"customers.{perm}", cls.objects.all())
        return Q(pk__in=granted.values("pk"))


class IdentityProvider(models.Model):
    """An organisation's single sign-on: its OpenID Connect provider, as an allauth ``SocialApp``
    (provider ``openid_connect``, the issuer in its settings). The identity provider signs in
    the organisation's existing accounts only (customers/sso.py); set through ``sso.configure``,
    never in the admin."""

    organization = models.OneToOneField(
        Organization,
        verbose_name=_("organisation"),
        on_delete=models.CASCADE,
        related_name="identity_provider",
    )
    app = models.OneToOneField(
        "socialaccount.SocialApp",
        on_delete=models.PROTECT,
        related_name="organization_link",
    )
    second_factor_acr = models.CharField(
        _("acr values that mean a second factor"),
        max_length=255,
        blank=True,
        help_text=_(
            "Separated by spaces. An ID token whose amr claim names a second factor always "
            "counts; these acr values count too."
        ),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("identity provider")
        verbose_name_plural = _("identity providers")

    def __str__(self) -> str:
        return f"{self.organization}: {self.app.name}"

    @property
    def acr_values(self) -> frozenset[str]:
        return frozenset(self.second_factor_acr.split())


class OrganizationUserObjectPermission(UserObjectPermissionBase):
    """A user's permission on one organisation (direct foreign key: fast joins, and the grant
    goes away with the organisation)."""

    content_object = models.ForeignKey(Organization, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = _("organisation permission of a user")
        verbose_name_plural = _("organisation permissions of users")


class OrganizationGroupObjectPermission(GroupObjectPermissionBase):
    """A group's permission on one organisation. Scoping reads user grants only (roles are
    groups and must never carry object permissions); kept so that guardian's direct-FK lookup
    has both halves."""

    content_object = models.ForeignKey(Organization, on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = _("organisation permission of a group")
        verbose_name_plural = _("organisation permissions of groups")


def _organizations_q(user: Any, action: str, path: str) -> Q:
    return Q(**{f"{path}__in": Organization.objects.filter(Organization.restrict_q(user, action))})


class CustomerQuerySet(RestrictedQuerySet):
    def with_data_keys(self) -> CustomerQuerySet:
        """Join each customer's data key (and organisation), so that reading the encrypted
        fields a page shows costs no query per row: decryption itself happens in memory."""
        return self.select_related("data_key", "organization")


class Customer(EncryptedModel):
    """One person in a seller's customer book: the asset a transfer moves.

    Fields come in three tiers (see ``customers.registry``): general fields are plain and
    filterable; sensitive and core fields are encrypted under this customer's own data key,
    so destroying that key erases the person everywhere at once (history included). E-mail,
    phone and national id are searchable only through their blind indexes.
    """

    data_key_path = "data_key"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization,
        verbose_name=_("seller organisation"),
        on_delete=models.PROTECT,
        related_name="customers",
        db_index=False,  # led by every composite index and unique constraint of Meta
    )
    reference = models.CharField(_("reference"), max_length=64)
    data_key = models.OneToOneField(
        DataKey,
        verbose_name=_("data key"),
        on_delete=models.PROTECT,
        related_name="customer",
        editable=False,
    )

    # --- general (clear, filterable) ---
    segment = models.CharField(_("segment"), max_length=64, blank=True)
    city = models.CharField(_("city"), max_length=128, blank=True)
    region = models.CharField(_("region"), max_length=128, blank=True)
    country = models.CharField(
        _("country"), max_length=2, blank=True, help_text=_("ISO 3166-1 alpha-2 code")
    )
    customer_since = models.DateField(_("customer since"), null=True, blank=True)
    preferred_language = models.CharField(_("preferred language"), max_length=16, blank=True)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=CustomerStatus.choices,
        default=CustomerStatus.ACTIVE,
    )  # indexed with the organisation (Meta.indexes): every status filter is per book
    legal_basis = models.CharField(
        _("legal basis"), max_length=32, choices=LegalBasis.choices, blank=True
    )
    collection_purpose = models.CharField(_("purpose of collection"), max_length=255, blank=True)
    retention_until = models.DateField(_("retain until"), null=True, blank=True)
    last_verified_on = models.DateField(_("last verified"), null=True, blank=True)

    # --- sensitive (encrypted) ---
    full_name = EncryptedCharField(_("full name"), max_length=255)
    email = EncryptedEmailField(_("e-mail"), blank=True)
    phone = EncryptedCharField(_("phone"), max_length=32, blank=True)
    postal_address = EncryptedTextField(_("postal address"), max_length=1000, blank=True)
    preferences = EncryptedTextField(
        _("preferences and personal needs"), max_length=4000, blank=True
    )

    # --- core (encrypted; view_core_fields permission, every read audited) ---
    national_id = EncryptedCharField(_("national id number"), max_length=64, blank=True)
    bank_account = EncryptedCharField(_("bank account"), max_length=64, blank=True)
    special_category_notes = EncryptedTextField(
        _("special-category notes"), max_length=4000, blank=True
    )

    # --- blind indexes (keyed HMACs for exact search; never shown) ---
    email_bidx = BlindIndexField(_("e-mail index"), source="email", kind=blind_index.EMAIL)
    phone_bidx = BlindIndexField(
        _("phone index"),
        source="phone",
        kind=blind_index.PHONE,
        region_path="organization.country",
    )
    national_id_bidx = BlindIndexField(
        _("national id index"), source="national_id", kind=blind_index.NATIONAL_ID
    )

    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = CustomerQuerySet.as_manager()

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> Q:
        """Customers of the organisations whose book ``user`` may ``action``."""
        return _organizations_q(user, action, "organization")

    @classmethod
    def restrict_machine_q(cls, principal: Any, action: str) -> Q:
        """A seller's key names its own customers, for the one action it has: registering a
        data-subject request from its website (``request``, scope ``requests.write``). It
        reads none of them: no other action opens anything."""
        if action != "request" or not principal.has_scope(ApiScope.REQUESTS_WRITE):
            return Q(pk__in=[])
        return Q(
            organization_id=principal.organization_id,
            organization__kind=OrganizationKind.SELLER,
        )

    # Blind indexes stay out of history: after erasure an old row must not keep an HMAC that
    # could confirm "this e-mail was a customer".
    history = EncryptedHistoricalRecords(
        excluded_fields=["email_bidx", "phone_bidx", "national_id_bidx"]
    )

    class Meta:
        ordering = ["organization", "reference"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        permissions = [
            ("view_core_fields", _("Can view the core-tier fields of customers")),
        ]
        # Every lookup is per organisation: these and the unique constraints below (which index
        # e-mail and national id per organisation) serve the list filters and the exact search.
        indexes = [
            models.Index(fields=["organization", "status"], name="customer_org_status"),
            models.Index(fields=["organization", "phone_bidx"], name="customer_org_phone_bidx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "reference"],
                name="customer_reference_unique_per_org",
                violation_error_message=_(
                    "This organisation already has a customer with this reference."
                ),
            ),
            models.UniqueConstraint(
                fields=["organization", "email_bidx"],
                condition=~Q(email_bidx=""),
                name="customer_email_unique_per_org",
                violation_error_message=_(
                    "Another customer of this organisation has this e-mail address."
                ),
            ),
            models.UniqueConstraint(
                fields=["organization", "national_id_bidx"],
                condition=~Q(national_id_bidx=""),
                name="customer_national_id_unique_per_org",
                violation_error_message=_(
                    "Another customer of this organisation has this national id number."
                ),
            ),
        ]

    def __str__(self) -> str:
        # The reference, never the name: str() ends up in logs, admin and audit details.
        return self.reference

    def clean(self) -> None:
        """Store phones in E.164 (the organisation's country reads local numbers), then let the
        base class compute the blind indexes the unique constraints check."""
        if is_changed(self, "phone") and self.phone:
            region = self.organization.country if self.organization_id else None
            try:
                self.phone = blind_index.normalise_phone(self.phone, region)
            except ValidationError as exc:
                raise ValidationError({"phone": exc.messages}) from None
        super().clean()


class PurchaseRecord(EncryptedModel):
    """A purchase by a customer (the "purchase records" category); notes are encrypted under
    the customer's data key, so erasing the customer erases them too."""

    data_key_path = "customer.data_key"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="purchases"
    )
    purchased_on = models.DateField(_("date"))
    product = models.CharField(_("product or service"), max_length=255)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, help_text=_("ISO 4217 code"))
    notes = EncryptedTextField(_("notes"), max_length=4000, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    objects = RestrictedQuerySet.as_manager()
    history = EncryptedHistoricalRecords()

    class Meta:
        ordering = ["customer", "-purchased_on"]
        verbose_name = _("purchase record")
        verbose_name_plural = _("purchase records")

    def __str__(self) -> str:
        return f"{self.purchased_on} {self.product}"

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> Q:
        return _organizations_q(user, action, "customer__organization")


class Interaction(EncryptedModel):
    """A contact with a customer (the "interaction records" category); the summary is
    encrypted under the customer's data key."""

    data_key_path = "customer.data_key"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="interactions",
    )
    occurred_on = models.DateField(_("date"))
    channel = models.CharField(_("channel"), max_length=16, choices=InteractionChannel.choices)
    summary = EncryptedTextField(_("summary"), max_length=4000, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    objects = RestrictedQuerySet.as_manager()
    history = EncryptedHistoricalRecords()

    class Meta:
        ordering = ["customer", "-occurred_on"]
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")

    def __str__(self) -> str:
        return f"{self.occurred_on} {self.get_channel_display()}"

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> Q:
        return _organizations_q(user, action, "customer__organization")


registry.register(
    Customer,
    general=[
        "reference",
        "segment",
        "city",
        "region",
        "country",
        "customer_since",
        "preferred_language",
        "status",
        "legal_basis",
        "collection_purpose",
        "retention_until",
        "last_verified_on",
    ],
    sensitive=["full_name", "email", "phone", "postal_address", "preferences"],
    core=["national_id", "bank_account", "special_category_notes"],
    bookkeeping=[
        "id",
        "organization",
        "data_key",
        "email_bidx",
        "phone_bidx",
        "national_id_bidx",
        "created_at",
        "updated_at",
    ],
)
registry.register(
    PurchaseRecord,
    general=["purchased_on", "product", "amount", "currency"],
    sensitive=["notes"],
    bookkeeping=["id", "customer", "created_at"],
)
registry.register(
    Interaction,
    general=["occurred_on", "channel"],
    sensitive=["summary"],
    bookkeeping=["id", "customer", "created_at"],
)


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", _("Waiting for the column mapping")
    RUNNING = "running", _("Running")
    APPLIED = "applied", _("Applied")
    REJECTED = "rejected", _("Rejected: nothing was imported")
    FAILED = "failed", _("Failed: nothing was imported")
    EXPIRED = "expired", _("Expired: the file was destroyed without being imported")


class ImportUpload(models.Model):
    """A customer file uploaded for import, between the upload and the end of the import.

    The file's bytes are personal data, so they are stored only encrypted (AES-GCM under a
    data key of their own) and wiped, with that key destroyed, as soon as the import ends: no
    clear copy on disk, and none left behind. What remains is the outcome: counts, the column
    mapping, and the problems by row and column (messages name fields, never values), which
    the downloadable error report is built from.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization,
        verbose_name=_("organisation"),
        on_delete=models.CASCADE,
        related_name="imports",
    )
    uploaded_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("uploaded by"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    data_key = models.OneToOneField(
        DataKey, verbose_name=_("data key"), on_delete=models.PROTECT, related_name="+"
    )
    content = models.BinaryField(_("encrypted file"), null=True, editable=False)
    file_format = models.CharField(_("format"), max_length=8)
    headers = models.JSONField(_("column headers"), default=list)
    mapping = models.JSONField(_("column mapping"), default=dict)
    #: No column holds the reference: the import gives each row the next ``TD-`` number.
    generate_references = models.BooleanField(_("generate references"), default=False)
    row_count = models.PositiveIntegerField(_("rows"), default=0)
    status = models.CharField(
        _("status"), max_length=16, choices=ImportStatus.choices, default=ImportStatus.UPLOADED
    )
    report = models.JSONField(_("report"), default=dict)
    job = models.ForeignKey(
        "transferdesk.Job",
        verbose_name=_("job"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    #: While running: until when the run holds the upload. Its heartbeat (each chunk) moves
    #: it on; past it, the sweeper fails the run, which a killed worker or web process left.
    lease_expires_at = models.DateTimeField(_("lease expires"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("customer import")
        verbose_name_plural = _("customer imports")

    def __str__(self) -> str:
        return f"import {self.id}"

    @property
    def can_apply(self) -> bool:
        """Whether the mapping can be applied: the file is still held and nothing runs it
        (waiting for the mapping, or failed because its run was lost)."""
        return self.content is not None and self.status in (
            ImportStatus.UPLOADED,
            ImportStatus.FAILED,
        )

    @classmethod
    def restrict_q(cls, user: Any, action: str) -> Q:
        """Imports of books the user may import into, and only their own uploads: a file
        another broker uploaded is theirs to map and apply."""
        if action not in ("view", "import"):
            return Q(pk__in=[])
        return _organizations_q(user, "import", "organization") & Q(uploaded_by=user)
