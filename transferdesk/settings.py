"""TransferDesk settings: one module, driven by the environment.

Defaults make ``make run`` work on a fresh clone (SQLite, in-process tasks, generated dev
secrets). ``TRANSFERDESK_ENV=production`` turns every default that would be unsafe in production
into a hard requirement, and ``manage.py check --deploy`` passes under it.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from kombu import Exchange, Queue

from .envconfig import SecretSource, env_bool, env_int, env_list

BASE_DIR = Path(__file__).resolve().parent.parent

TRANSFERDESK_ENV = os.environ.get("TRANSFERDESK_ENV", "development").strip().lower()
if TRANSFERDESK_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(
        f"TRANSFERDESK_ENV={TRANSFERDESK_ENV!r} is not known; use development or production."
    )
PRODUCTION = TRANSFERDESK_ENV == "production"

_secrets = SecretSource(
    production=PRODUCTION,
    dev_file=Path(os.environ.get("TRANSFERDESK_DEV_SECRETS", BASE_DIR / ".local" / "secrets.env")),
)

SECRET_KEY = _secrets.get("SECRET_KEY")
DEBUG = env_bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set in production (comma-separated).")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])

# --- Crypto material (used by transferdesk.crypto and audits) --------------------------------
TRANSFERDESK_MASTER_KEYS = _secrets.get("TRANSFERDESK_MASTER_KEYS")
TRANSFERDESK_BLIND_INDEX_KEY = _secrets.get("TRANSFERDESK_BLIND_INDEX_KEY")
TRANSFERDESK_AUDIT_KEY = _secrets.get("TRANSFERDESK_AUDIT_KEY")
TRANSFERDESK_SIGNING_KEY = _secrets.get("TRANSFERDESK_SIGNING_KEY")
TRANSFERDESK_BACKUP_KEY = _secrets.get("TRANSFERDESK_BACKUP_KEY")

# --- Applications ----------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",  # allauth.mfa's passkey list
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "guardian",
    "simple_history",
    "axes",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    # Single sign-on: allauth's OpenID Connect client, one SocialApp per organisation that has
    # an identity provider (customers.IdentityProvider links them; customers/sso.py maps).
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "transferdesk",
    "customers",
    "accounts",
    "notifications",
    "transfers",
    "audits",
    "api",
]

MIDDLEWARE = [
    "transferdesk.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    # Inside django-csp's: lets the sign-in page's form lead to an organisation's identity
    # provider (its origin added to form-action on that page only).
    "customers.sso.ProviderFormActionMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "transferdesk.sessions.SessionMiddleware",  # Django's, with passive fragments
    "django.middleware.locale.LocaleMiddleware",
    "accounts.middleware.SignInLanguageMiddleware",
    "accounts.middleware.SignInBackoffMiddleware",
    # Writes the device cookie a sign-in chose (accounts/devices.py: new-device e-mails).
    "accounts.devices.DeviceCookieMiddleware",
    "django.middleware.common.CommonMiddleware",
    "transferdesk.public_url.PublicBaseUrlMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # The signed-in person's sessions (device, address, last seen) for the sessions page.
    "accounts.usersessions.UserSessionsMiddleware",  # allauth's, polls left out
    # A session ends SESSION_ABSOLUTE_LIFETIME after its sign-in, however active.
    "accounts.usersessions.SessionLifetimeMiddleware",
    # After allauth's: a person who must use a second factor and has none is led to enrolment.
    "accounts.mfa.SecondFactorPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # AxesMiddleware must be last: it turns a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "transferdesk.urls"
WSGI_APPLICATION = "transferdesk.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "transferdesk.context_processors.navigation",
            ],
        },
    }
]

# --- Database --------------------------------------------------------------------------------
DATABASES = {
    "default": environ.Env.db_url_config(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    )
}
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
if not IS_POSTGRES:
    # SQLite: take the write lock when a transaction begins (so read-then-write sequences such
    # as appending to the audit chain are serialised), and wait for it instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts and authentication ---------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # Axes first so that a locked-out user is refused before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    # allauth's, for its sign-ins that do not check a password here (a passkey).
    "allauth.account.auth_backends.AuthenticationBackend",
    "guardian.backends.ObjectPermissionBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # The product's, its roles' and the person's organisation's names (ASVS 5.0 6.1.2, 6.2.11).
    {"NAME": "accounts.passwords.ContextWordsValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

# django-allauth: the sign-in pages (username and password, then the second factor) and the
# second factors of allauth.mfa: TOTP authenticator apps, recovery codes, WebAuthn passkeys
# (also as a passwordless sign-in). Accounts come from invitations only: no sign-up.
ACCOUNT_ADAPTER = "accounts.mfa.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGOUT_REDIRECT_URL = LOGOUT_REDIRECT_URL
# Re-entering a factor (step-up) is valid for ten minutes.
ACCOUNT_REAUTHENTICATION_TIMEOUT = 10 * 60
# Failed sign-ins (a wrong password or a wrong code) are counted by django-axes per account and
# address, and per address by accounts/throttle.py: allauth's own counter of them is off (it
# would answer "too many attempts" before the lock-out page, and counts the proxy's address,
# not the client's). Its other limits stay.
ACCOUNT_RATE_LIMITS = {
    "login": None,
    "login_failed": None,
    # Password reset by e-mail: per address of the client, and per e-mail address typed (so
    # nobody's mailbox is flooded); the link's page per client address.
    "reset_password": "10/m/ip,3/15m/key",
    "reset_password_from_key": "20/m/ip",
}
# Password reset (accounts/password_reset.py): a link by e-mail, valid for an hour and once
# (allauth's tokens change with the password). It never signs the person in: the sign-in that
# follows asks for the second factor as every sign-in does. The same answer for an address
# with no account, and no e-mail to that address (accounts come from invitations only).
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = ""
ACCOUNT_FORMS = {
    "reset_password": "accounts.password_reset.ResetPasswordForm",
    "reset_password_from_key": "accounts.password_reset.ResetPasswordKeyForm",
}
PASSWORD_RESET_TIMEOUT = 60 * 60
# The sessions page (allauth.usersessions): a signed-in person's own requests update the
# session's address (transferdesk.clientip, through the account adapter) and last-seen time,
# at most once a minute and never from a background poll (accounts.usersessions);
# ending a session writes an audit event (accounts.usersessions.UserSessionsAdapter).
USERSESSIONS_TRACK_ACTIVITY = True
USERSESSIONS_ADAPTER = "accounts.usersessions.UserSessionsAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_TOTP_ISSUER = "TransferDesk"
MFA_FORMS = {"authenticate": "accounts.mfa.AuthenticateForm"}
# TOTP secrets and recovery-code seeds sealed under the active master key (accounts/mfa_secrets.py).
MFA_ADAPTER = "accounts.mfa_secrets.MFAAdapter"
# WebAuthn needs a secure origin; http://localhost is accepted only when this is on (tests and
# ``make run``). Never in production.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = env_bool("MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN", not PRODUCTION)
# Single sign-on (customers/sso.py): an organisation's identity provider signs in only the
# accounts that already exist in that organisation, matched by a verified e-mail address; it
# never creates one, and it stores no tokens.
SOCIALACCOUNT_ADAPTER = "customers.sso.SocialAccountAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = env_int("SSO_REQUESTS_TIMEOUT", 10)
#: The ``amr`` values (RFC 8176) of an ID token that count as a second factor given at the
#: identity provider; an organisation may also name ``acr`` values that do.
SSO_SECOND_FACTOR_AMR = frozenset({"mfa", "mca", "otp", "hwk", "swk", "sc"})
#: How long a second factor counts as fresh for the dangerous actions (accounts.mfa.step_up).
STEP_UP_MAX_AGE = timedelta(minutes=10)

# Idle timeout: the session expires after this many seconds without a request.
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_TIMEOUT", 30 * 60)
SESSION_SAVE_EVERY_REQUEST = True
#: However active, a session ends this long after its sign-in (accounts.usersessions).
SESSION_ABSOLUTE_LIFETIME = timedelta(hours=env_int("SESSION_ABSOLUTE_HOURS", 12))
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# The proxies in front of the app (addresses or CIDR networks). Only a request whose peer is one
# of them has its X-Forwarded-For read (transferdesk/clientip.py); everything that needs the
# client's address (lock-outs, rate limits, the audit trail, the request id) goes through it.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", default=[])
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"TRUSTED_PROXIES: {_proxy!r} is not an address or a network (CIDR)."
        ) from None

# django-axes: the sixth attempt on a user from one client is refused, even with the right
# password. Failures are counted per username and client address together, so guessing at one
# account from one place locks that pair only: neither the same person elsewhere nor other
# users behind the same network are locked out by someone else's typing.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "transferdesk.clientip.client_ip"
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# Spraying many accounts from one address: past this many failed sign-ins in the window, that
# address gets a back-off answer (429 with Retry-After) for the rest of the window, no CAPTCHA.
# Set high enough that only abuse reaches it (accounts/throttle.py).
SIGN_IN_ADDRESS_LIMIT = env_int("SIGN_IN_ADDRESS_LIMIT", 100)
SIGN_IN_ADDRESS_WINDOW = timedelta(minutes=env_int("SIGN_IN_ADDRESS_WINDOW_MINUTES", 60))

# django-guardian: no anonymous user object; scoping never widens for global permissions.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False
GUARDIAN_MONKEY_PATCH_USER = False

# --- Internationalisation ----------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["transferdesk.formats"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")

# --- Static files ----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Development serves from the finders; production from collectstatic output.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))

# --- Security headers ------------------------------------------------------------------------
# Everything the pages load is served from this origin (vendored assets, no CDN, no inline JS).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=PRODUCTION)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=PRODUCTION)
if env_bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Health probes come over plain HTTP from the load balancer, inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# /readyz pings the workers (up to 2 s) only for the load balancer: a client address in
# READYZ_ALLOWED_ADDRESSES (addresses or CIDRs) or the READYZ_TOKEN in an X-Readyz-Token header;
# the result is shared for READYZ_CACHE_SECONDS. Everyone else gets a bare, cheap status.
READYZ_ALLOWED_ADDRESSES = env_list("READYZ_ALLOWED_ADDRESSES", default=[])
for _entry in READYZ_ALLOWED_ADDRESSES:
    try:
        ipaddress.ip_network(_entry, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"READYZ_ALLOWED_ADDRESSES: {_entry!r} is not an address or a network (CIDR)."
        ) from None
READYZ_TOKEN = os.environ.get("READYZ_TOKEN", "").strip()
if os.environ.get("READYZ_TOKEN_FILE"):
    READYZ_TOKEN = _secrets.get("READYZ_TOKEN")
READYZ_CACHE_SECONDS = env_int("READYZ_CACHE_SECONDS", 10)

# --- E-mail ----------------------------------------------------------------------------------
_email = environ.Env.email_url_config(os.environ.get("EMAIL_URL") or "consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD") or _email.get("EMAIL_HOST_PASSWORD", "")
if os.environ.get("EMAIL_HOST_PASSWORD_FILE"):
    EMAIL_HOST_PASSWORD = _secrets.get("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "TransferDesk <no-reply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Celery ----------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
#: Longest a task may run; the Redis visibility timeout is set well above it so that a task
#: still running is never handed to a second worker.
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 60 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_VISIBILITY_TIMEOUT = CELERY_TASK_TIME_LIMIT * 2
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    # Embedded default: no broker, tasks run in-process and their errors propagate.
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
#: Longest (seconds) an enqueue waits for the broker before it gives up and leaves the work to
#: the row's sweeper (``transferdesk.jobs.enqueue``). A Redis stopped by SIGSTOP still accepts
#: connections and never answers: without a socket timeout a publish waits for ever, so an
#: approval would hang the page. Every connect and every socket read is bounded, and a lost
#: connection is not retried (``max_retries``: the web side has the sweeper; the worker and beat
#: pass their own retry policies, which take precedence).
ENQUEUE_TIMEOUT = env_int("ENQUEUE_TIMEOUT", 2)
CELERY_BROKER_CONNECTION_TIMEOUT = ENQUEUE_TIMEOUT
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "socket_timeout": ENQUEUE_TIMEOUT,
    "socket_connect_timeout": ENQUEUE_TIMEOUT,
    "max_retries": 0,
}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "maintenance"
# Each queue its own direct exchange and routing key, so a message lands in exactly one queue.
CELERY_TASK_QUEUES = [
    Queue(name, Exchange(name, type="direct"), routing_key=name)
    for name in ("handover", "reports", "maintenance")
]
CELERY_TASK_DEFAULT_EXCHANGE = "maintenance"
CELERY_TASK_DEFAULT_ROUTING_KEY = "maintenance"
CELERY_TASK_ROUTES = {
    "transfers.tasks.handover_*": {"queue": "handover", "routing_key": "handover"},
    "audits.tasks.report_*": {"queue": "reports", "routing_key": "reports"},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
#: Seconds without progress after which a running handover stage counts as abandoned.
HANDOVER_STALE_AFTER = env_int("HANDOVER_STALE_AFTER", 120)
#: Customers per handover transaction (one commit, one progress update each).
HANDOVER_CHUNK_SIZE = env_int("HANDOVER_CHUNK_SIZE", 1000)
#: Customer-id ranges per handover stage, each its own task: how many workers share a stage.
HANDOVER_PARTITIONS = env_int("HANDOVER_PARTITIONS", 4)
#: Customer imports (customers/importing.py): what one file may hold, checked while it streams,
#: so that a hostile file is refused at once with a message naming the limit.
IMPORT_MAX_COLUMNS = env_int("IMPORT_MAX_COLUMNS", 200)
IMPORT_MAX_ROWS = env_int("IMPORT_MAX_ROWS", 500_000)
IMPORT_MAX_CELLS = env_int("IMPORT_MAX_CELLS", 20_000_000)
IMPORT_MAX_LINE_CHARS = env_int("IMPORT_MAX_LINE_CHARS", 1_000_000)
IMPORT_XLSX_MAX_SHARED_STRINGS = env_int("IMPORT_XLSX_MAX_SHARED_STRINGS", 2_000_000)
IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES = env_int("IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES", 500 * 2**20)
IMPORT_XLSX_MAX_COMPRESSION_RATIO = env_int("IMPORT_XLSX_MAX_COMPRESSION_RATIO", 100)
#: Hours an upload may wait at the mapping step (or after a lost run) before it is wiped and
#: its key destroyed.
IMPORT_UPLOAD_EXPIRE_HOURS = env_int("IMPORT_UPLOAD_EXPIRE_HOURS", 24)
#: Seconds a running import holds its lease without a heartbeat before the sweeper fails it.
IMPORT_LEASE_SECONDS = env_int("IMPORT_LEASE_SECONDS", 300)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "transferdesk-heartbeat": {
        "task": "transferdesk.tasks.heartbeat",
        "schedule": timedelta(seconds=env_int("HEARTBEAT_INTERVAL", 300)),
        "options": {"queue": "maintenance"},
    },
    "audits-verify-chain": {
        "task": "audits.tasks.verify_audit_chain",
        "schedule": timedelta(seconds=env_int("VERIFY_CHAIN_INTERVAL", 24 * 3600)),
        "options": {"queue": "maintenance"},
    },
    # The stage row is the truth: re-enqueue handovers whose worker vanished (DESIGN.md 7).
    "transfers-sweep-stalled-stages": {
        "task": "transfers.tasks.sweep_stalled_stages",
        "schedule": timedelta(seconds=env_int("HANDOVER_SWEEP_INTERVAL", 60)),
        "options": {"queue": "maintenance"},
    },
    # The upload row is the truth: fail imports whose worker vanished (their lease expired),
    # and wipe uploads nobody applied in time (their file and key destroyed).
    "customers-sweep-stalled-imports": {
        "task": "customers.tasks.sweep_stalled_imports",
        "schedule": timedelta(seconds=env_int("IMPORT_SWEEP_INTERVAL", 60)),
        "options": {"queue": "maintenance"},
    },
    "customers-expire-import-uploads": {
        "task": "customers.tasks.expire_import_uploads",
        "schedule": timedelta(minutes=15),
        "options": {"queue": "maintenance"},
    },
    # Webhook deliveries whose message was lost, or whose next attempt is due (api/webhooks.py).
    "api-webhooks-sweep": {
        "task": "api.webhook_tasks.webhook_sweep",
        "schedule": timedelta(seconds=env_int("WEBHOOK_SWEEP_INTERVAL", 60)),
        "options": {"queue": "maintenance"},
    },
    # Data-subject requests close to their legal deadline: remind the assignee once.
    "transfers-requests-remind": {
        "task": "transfers.notice_tasks.requests_remind",
        "schedule": timedelta(hours=1),
        "options": {"queue": "maintenance"},
    },
    # Follow-up tasks near their deadline: their buyers are told once (notifications).
    "transfers-followups-remind": {
        "task": "transfers.notice_tasks.followups_remind",
        "schedule": timedelta(hours=1),
        "options": {"queue": "maintenance"},
    },
    "transfers-sweep-notice-campaigns": {
        "task": "transfers.notice_tasks.sweep_campaigns",
        "schedule": timedelta(minutes=5),
        "options": {"queue": "maintenance"},
    },
    # Access reviews: grants nobody kept by the deadline expire; reviewers are reminded daily.
    "audits-access-review-expire": {
        "task": "audits.tasks.access_review_expire",
        "schedule": timedelta(seconds=env_int("ACCESS_REVIEW_EXPIRE_INTERVAL", 15 * 60)),
        "options": {"queue": "maintenance"},
    },
    # Incidents: officers are told when a notification duty's time is half and 90 % gone.
    "audits-incident-clock": {
        "task": "audits.tasks.incident_clock",
        "schedule": timedelta(minutes=15),
        "options": {"queue": "maintenance"},
    },
    "audits-access-review-remind": {
        "task": "audits.tasks.access_review_remind",
        "schedule": timedelta(days=1),
        "options": {"queue": "maintenance"},
    },
    # Retention and backups (DESIGN.md guarantee 2): nightly backup, daily purge, weekly drill.
    "audits-backup": {
        "task": "audits.tasks_lifecycle.backup",
        "schedule": timedelta(seconds=env_int("BACKUP_INTERVAL", 24 * 3600)),
        "options": {"queue": "maintenance"},
    },
    "audits-purge-expired": {
        "task": "audits.tasks_lifecycle.purge_expired",
        "schedule": timedelta(seconds=env_int("PURGE_INTERVAL", 24 * 3600)),
        "options": {"queue": "maintenance"},
    },
    "audits-restore-drill": {
        "task": "audits.tasks_lifecycle.restore_drill",
        "schedule": timedelta(days=7),
        "options": {"queue": "maintenance"},
    },
    # Notifications: one digest e-mail a day for the kinds each user chose for it.
    "notifications-digest": {
        "task": "notifications.tasks.digest_send",
        "schedule": timedelta(seconds=env_int("NOTIFICATION_DIGEST_INTERVAL", 24 * 3600)),
        "options": {"queue": "maintenance"},
    },
}

# Shared cache (rate limits, heartbeat) in Redis when configured; never holds personal data.
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "td",
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Logging ---------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "transferdesk.middleware.RequestIdLogFilter"},
        # Customer-link tokens are bearer credentials: never in a log line (logmask.py).
        "mask_customer_links": {"()": "transferdesk.logmask.CustomerLinkMaskFilter"},
    },
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s",
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id", "mask_customer_links"],
            "formatter": "plain",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "axes": {"level": "WARNING"},
        # The two loggers that write request paths ("Not Found: /n/…", runserver's request
        # lines): masked at the logger, so every handler (and a test's capture) sees the mask.
        "django.request": {"filters": ["mask_customer_links"]},
        "django.server": {
            "handlers": ["console"],
            "filters": ["mask_customer_links"],
            "level": "INFO",
            "propagate": False,
        },
    },
}

# --- API (the api app: /api/v1/, docs/api.md) -------------------------------------------------
# Keys only: no session or basic authentication (a person's session never calls the API, and
# a key never opens a page), JSON only (DRF's browsable pages need a session and inline script).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.KeyRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Cursor",
    "DEFAULT_SCHEMA_CLASS": "api.openapi.KeyAutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # No OPTIONS metadata (405): the OpenAPI document describes every operation, and DRF's
    # metadata builds each view's serializer, which the hand-read views (the push) do not have.
    "DEFAULT_METADATA_CLASS": None,
}
#: Calls one key may make (DRF's rate syntax: N/second, minute, hour or day).
API_KEY_RATE = os.environ.get("API_KEY_RATE", "600/minute")
#: Webhooks (api/webhooks.py): seconds to wait after each failed attempt before the next one
#: (one attempt, then one per delay: six in all over about nine hours); then the delivery fails
#: and waits for a replay. Seconds one attempt may take (connect and read).
WEBHOOK_RETRY_DELAYS = [60, 300, 1800, 7200, 21600]
WEBHOOK_TIMEOUT = env_int("WEBHOOK_TIMEOUT", 10)
#: Whether an endpoint may be on a loopback, private, link-local or reserved address. Never in
#: production (a webhook must not become a way to reach the inside of the network).
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = (
    not PRODUCTION and os.environ.get("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", "1") == "1"
)
SPECTACULAR_SETTINGS = {
    "TITLE": "TransferDesk API",
    "DESCRIPTION": "Deals and their stages for the seller's and the buyer's systems (docs/api.md).",
    "VERSION": "1",
    "OAS_VERSION": "3.1.0",
    # The document and its page describe the API, they hold no data: open to everyone, and
    # served without the key authentication (a browser cannot send the key to open them).
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # The choices' own names in the document (not StageStatusStatusEnum).
    "ENUM_NAME_OVERRIDES": {
        "DealStatusEnum": "transfers.choices.DealStatus",
        "StageStatusEnum": "transfers.choices.StageStatus",
        "StageKindEnum": "transfers.choices.StageKind",
        "RequestKindEnum": "transfers.notice_models.RequestKind",
        "RequestSourceEnum": "transfers.notice_models.RequestSource",
        "RequestStatusEnum": "transfers.notice_models.RequestStatus",
        "IdentityCheckEnum": "transfers.notice_models.IdentityCheck",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No badge fetched from the validator's site (no request leaves this origin).
    "SWAGGER_UI_SETTINGS": {"validatorUrl": None, "deepLinking": True},
}

# --- TransferDesk ----------------------------------------------------------------------------
TRANSFERDESK_PAGE_SIZE = 25
#: Absolute address of the site, on which links in e-mails and letters are built. Mandatory in
#: production; in development, unset means "the address of the latest request"
#: (transferdesk/public_url.py).
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "").strip()
if PRODUCTION and not PUBLIC_BASE_URL:
    raise ImproperlyConfigured(
        "PUBLIC_BASE_URL must be set in production: the address people open (e-mail links)."
    )
#: Answer deadlines of data-subject requests per jurisdiction: days and/or calendar months
#: (15 days is PIPL practice; GDPR art. 12(3) allows one month).
NOTICE_REQUEST_POLICIES = {
    "PIPL": {"days": env_int("REQUEST_DUE_DAYS_PIPL", 15)},
    "GDPR": {"months": 1},
}
#: Where encrypted backups are written (the backup issue's jobs use it).
TRANSFERDESK_BACKUP_DIR = Path(
    os.environ.get("TRANSFERDESK_BACKUP_DIR", BASE_DIR / "var" / "backups")
)
#: Days a backup is kept. It bounds how long a destroyed key survives in a backup, so
#: destruction certificates state destruction time + this + one day of pruning cadence.
TRANSFERDESK_BACKUP_RETENTION_DAYS = env_int("TRANSFERDESK_BACKUP_RETENTION_DAYS", 30)
#: Incident notification deadlines in hours from detection (GDPR art. 33: 72 hours to the
#: authority; PIPL art. 57: "immediately", which is read here as the working day).
TRANSFERDESK_INCIDENT_DEADLINES = {
    "gdpr_authority": env_int("INCIDENT_GDPR_HOURS", 72),
    "pipl_authority": env_int("INCIDENT_PIPL_HOURS", 24),
}
