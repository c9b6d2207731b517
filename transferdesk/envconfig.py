"""Strict reading of configuration from the environment.

django-environ does the parsing of URLs (``DATABASE_URL``, e-mail URLs); this module adds the two
things it does not do strictly enough for a product that holds other people's personal data:

* booleans: django-environ reads any unknown word as ``False``, so ``DEBUG=ture`` would silently
  switch debugging off (or a security flag on). Here an unknown word raises.
* secrets: each secret may come from ``NAME`` or from a file named by ``NAME_FILE`` (Docker and
  Kubernetes secrets). In development a missing secret is generated once into an ignored local
  file so that ``make run`` works on a fresh clone; in production it refuses to start and names
  the variable.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean; anything but a known true/false word is a configuration error."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a boolean; use one of: true, false, 1, 0, yes, no, on, off."
    )


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def _random_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _random_keyring() -> str:
    return f"k1:{_random_key()}"


def _random_ed25519() -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    raw = Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )
    return base64.urlsafe_b64encode(raw).decode()


#: Every secret the application needs, with the generator used for development defaults.
SECRET_GENERATORS: dict[str, Callable[[], str]] = {
    "SECRET_KEY": lambda: secrets.token_urlsafe(50),
    # Master keyring: "id:base64key,id2:base64key"; the first key wraps new data keys.
    "TRANSFERDESK_MASTER_KEYS": _random_keyring,
    "TRANSFERDESK_BLIND_INDEX_KEY": _random_key,
    "TRANSFERDESK_AUDIT_KEY": _random_key,
    "TRANSFERDESK_SIGNING_KEY": _random_ed25519,
    "TRANSFERDESK_BACKUP_KEY": _random_keyring,
}


class SecretSource:
    """Resolves secrets from the environment, ``*_FILE`` paths, or (development) a local file."""

    def __init__(self, *, production: bool, dev_file: Path) -> None:
        self.production = production
        self.dev_file = dev_file
        self._dev_values: dict[str, str] | None = None

    def get(self, name: str) -> str:
        value = os.environ.get(name)
        if value:
            return value.strip()
        file_name = os.environ.get(f"{name}_FILE")
        if file_name:
            try:
                return Path(file_name).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ImproperlyConfigured(
                    f"{name}_FILE={file_name!r} cannot be read: {exc.strerror}."
                ) from None
        if self.production:
            raise ImproperlyConfigured(
                f"The required secret {name} is not set. Set {name} or {name}_FILE "
                "(TRANSFERDESK_ENV=production never generates secrets)."
            )
        return self._dev_secret(name)

    def _dev_secret(self, name: str) -> str:
        values = self._load_dev_file()
        if name not in values:
            values[name] = SECRET_GENERATORS[name]()
            self.dev_file.parent.mkdir(parents=True, exist_ok=True)
            lines = [f"{key}={val}\n" for key, val in sorted(values.items())]
            tmp = self.dev_file.with_suffix(".tmp")
            tmp.write_text(
                "# Development secrets, generated once. Never use them in production.\n"
                + "".join(lines),
                encoding="utf-8",
            )
            tmp.chmod(0o600)
            tmp.replace(self.dev_file)
        return values[name]

    def _load_dev_file(self) -> dict[str, str]:
        if self._dev_values is None:
            self._dev_values = {}
            if self.dev_file.exists():
                for line in self.dev_file.read_text(encoding="utf-8").splitlines():
                    if line and not line.startswith("#") and "=" in line:
                        key, _, val = line.partition("=")
                        self._dev_values[key.strip()] = val.strip()
        return self._dev_values
