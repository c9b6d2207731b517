"""Settings come from the environment, strictly; production refuses to start without secrets."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from transferdesk.envconfig import SecretSource, env_bool

ROOT = Path(__file__).resolve().parents[2]


def _key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    from transferdesk.envconfig import _random_ed25519

    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "PYTHONPATH"}}
    env = {
        **keep,
        "TRANSFERDESK_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "TRANSFERDESK_MASTER_KEYS": f"k1:{_key()}",
        "TRANSFERDESK_BLIND_INDEX_KEY": _key(),
        "TRANSFERDESK_AUDIT_KEY": _key(),
        "TRANSFERDESK_SIGNING_KEY": _random_ed25519(),
        "TRANSFERDESK_BACKUP_KEY": f"b1:{_key()}",
        "ALLOWED_HOSTS": "transferdesk.example.com",
        "PUBLIC_BASE_URL": "https://transferdesk.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_profile_passes_check_deploy_without_warnings(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.parametrize(
    "missing", ["SECRET_KEY", "TRANSFERDESK_MASTER_KEYS", "TRANSFERDESK_AUDIT_KEY"]
)
def test_production_refuses_to_start_and_names_the_missing_secret(tmp_path, missing):
    env = production_env(tmp_path)
    del env[missing]
    result = manage(env, "check")
    assert result.returncode != 0
    assert f"The required secret {missing} is not set" in result.stderr


def test_production_reads_a_secret_from_its_file_variant(tmp_path):
    secret_file = tmp_path / "secret_key"
    secret_file.write_text(secrets.token_urlsafe(64) + "\n")
    env = production_env(tmp_path, SECRET_KEY_FILE=str(secret_file))
    del env["SECRET_KEY"]
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr


def test_production_without_allowed_hosts_refuses_to_start(tmp_path):
    env = production_env(tmp_path)
    del env["ALLOWED_HOSTS"]
    result = manage(env, "check")
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must be set in production" in result.stderr


def test_production_without_a_public_address_refuses_to_start(tmp_path):
    """E-mail links must never be built from a request's Host header in production."""
    env = production_env(tmp_path)
    del env["PUBLIC_BASE_URL"]
    result = manage(env, "check")
    assert result.returncode != 0
    assert "PUBLIC_BASE_URL must be set in production" in result.stderr


def test_a_misspelt_boolean_is_an_error_not_false(tmp_path):
    result = manage(production_env(tmp_path, DEBUG="ture"), "check")
    assert result.returncode != 0
    assert "DEBUG='ture' is not a boolean" in result.stderr


def test_env_bool_accepts_the_usual_words(monkeypatch):
    for word, expected in [("true", True), ("ON", True), ("0", False), ("no", False)]:
        monkeypatch.setenv("TD_FLAG", word)
        assert env_bool("TD_FLAG", default=not expected) is expected
    monkeypatch.setenv("TD_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured):
        env_bool("TD_FLAG", default=False)


def test_development_secrets_are_generated_once_into_a_private_file(tmp_path, monkeypatch):
    monkeypatch.delenv("TRANSFERDESK_AUDIT_KEY", raising=False)
    monkeypatch.delenv("TRANSFERDESK_AUDIT_KEY_FILE", raising=False)
    path = tmp_path / "dev" / "secrets.env"
    first = SecretSource(production=False, dev_file=path).get("TRANSFERDESK_AUDIT_KEY")
    second = SecretSource(production=False, dev_file=path).get("TRANSFERDESK_AUDIT_KEY")
    assert first == second
    assert len(base64.urlsafe_b64decode(first)) == 32
    assert path.stat().st_mode & 0o777 == 0o600


def test_the_development_secrets_file_is_ignored_by_git():
    result = subprocess.run(
        ["git", "check-ignore", ".local/secrets.env"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0
