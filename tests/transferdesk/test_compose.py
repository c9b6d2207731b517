"""docker-compose.yml read against the settings (there is no Docker engine in CI): the same
variables, every secret provided, every queue consumed, every long-running service checked."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from django.conf import settings

from transferdesk.envconfig import SECRET_GENERATORS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SETTINGS_SOURCE = (ROOT / "transferdesk" / "settings.py").read_text()


def app_environment() -> dict[str, str]:
    return COMPOSE["services"]["web"]["environment"]


def test_the_stack_has_every_service_of_the_design():
    assert set(COMPOSE["services"]) == {"db", "redis", "migrate", "web", "worker", "beat"}


def test_every_long_running_service_has_a_health_check():
    for name in ("db", "redis", "web", "worker", "beat"):
        assert "healthcheck" in COMPOSE["services"][name], name


def test_web_worker_and_beat_share_one_environment():
    env = app_environment()
    for name in ("worker", "beat"):
        assert COMPOSE["services"][name]["environment"] == env
    # The migrate step differs only in the role it connects as, and names the app's role.
    migrate = dict(COMPOSE["services"]["migrate"]["environment"])
    assert migrate.pop("DATABASE_URL") != env["DATABASE_URL"]
    assert migrate.pop("TRANSFERDESK_APP_DB_USER")
    assert migrate == {k: v for k, v in env.items() if k != "DATABASE_URL"}


def _parts(url: str) -> tuple[str, str, str]:
    """(role, password, database) of a compose DATABASE_URL; the password is a ``${...}``
    substitution, which a URL parser would cut at its ``?``."""
    found = re.fullmatch(r"postgres://([^:]+):(.*)@db:5432/(\w+)", url)
    assert found, url
    return found.group(1), found.group(2), found.group(3)


def _role(url: str) -> str:
    return _parts(url)[0]


def test_the_app_connects_as_a_role_that_owns_nothing_and_only_the_owner_migrates():
    services = COMPOSE["services"]
    db = services["db"]["environment"]
    app_url, migrate = app_environment()["DATABASE_URL"], services["migrate"]["environment"]
    owner, app = db["POSTGRES_USER"], db["TRANSFERDESK_APP_DB_USER"]
    assert app != owner
    for name in ("web", "worker", "beat"):
        assert _role(services[name]["environment"]["DATABASE_URL"]) == app, name
    assert _role(migrate["DATABASE_URL"]) == owner
    assert migrate["TRANSFERDESK_APP_DB_USER"] == app
    # Same database, and the app's password is the one the init script gives its role.
    assert _parts(app_url)[2] == _parts(migrate["DATABASE_URL"])[2] == db["POSTGRES_DB"]
    assert _parts(app_url)[1] == db["TRANSFERDESK_APP_DB_PASSWORD"]
    assert _parts(migrate["DATABASE_URL"])[1] == db["POSTGRES_PASSWORD"]
    # The image's init scripts create the role; the migrate step grants it app_role.sql.
    assert "./docker/initdb:/docker-entrypoint-initdb.d:ro" in services["db"]["volumes"]
    init = (ROOT / "docker" / "initdb" / "10-app-role.sh").read_text()
    assert "$TRANSFERDESK_APP_DB_USER" in init and "$TRANSFERDESK_APP_DB_PASSWORD" in init
    assert services["migrate"]["command"] == ["sh", "docker/migrate.sh"]
    script = (ROOT / "docker" / "migrate.sh").read_text()
    assert "manage.py migrate" in script
    assert 'app_role="$TRANSFERDESK_APP_DB_USER"' in script and "audits/sql/app_role.sql" in script


def test_every_variable_the_stack_sets_is_one_the_settings_read():
    unknown = [name for name in app_environment() if f'"{name}' not in SETTINGS_SOURCE]
    unknown = [name for name in unknown if name not in SECRET_GENERATORS]
    assert not unknown, f"docker-compose sets variables the settings never read: {unknown}"


def test_every_secret_is_provided_and_required():
    env = app_environment()
    for name in SECRET_GENERATORS:
        assert name in env, name
        assert ":?" in env[name], f"{name} must fail loudly when missing"


def test_the_stack_runs_the_production_profile_on_postgres_and_redis():
    env = app_environment()
    assert env["TRANSFERDESK_ENV"] == "production"
    assert env["DATABASE_URL"].startswith("postgres://")
    assert env["REDIS_URL"].startswith("redis://redis:6379")


def test_the_worker_consumes_every_queue():
    command = COMPOSE["services"]["worker"]["command"]
    queues = command[command.index("-Q") + 1].split(",")
    assert set(queues) == {q.name for q in settings.CELERY_TASK_QUEUES}


def test_env_example_lists_every_required_variable():
    example = (ROOT / ".env.example").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", (ROOT / "docker-compose.yml").read_text()))
    missing = [name for name in required if not re.search(rf"^{name}=", example, re.M)]
    assert not missing, missing


def test_the_image_runs_as_a_non_root_user_and_serves_with_gunicorn():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER transferdesk$", dockerfile, re.M)
    assert '"gunicorn", "transferdesk.wsgi"' in dockerfile


def test_the_web_service_runs_gunicorn_with_the_projects_config():
    """gunicorn.conf.py brings the access-log logger that masks customer-link tokens."""
    command = COMPOSE["services"]["web"]["command"]
    assert command[:2] == ["gunicorn", "transferdesk.wsgi"]
    assert command[command.index("--config") + 1] == "gunicorn.conf.py"
    assert "--access-logfile" not in command  # the config's, with the masking logger
    assert '"--config", "gunicorn.conf.py"' in (ROOT / "Dockerfile").read_text()
    assert "logger_class" in (ROOT / "gunicorn.conf.py").read_text()


def test_the_stack_names_its_trusted_proxies_explicitly():
    """Clients reach gunicorn directly here, so no proxy is trusted unless the operator says
    which; the variable is passed through for the TLS proxy the header comment describes."""
    env = app_environment()
    assert env["TRUSTED_PROXIES"] == "${TRUSTED_PROXIES:-}"
    assert "TRUSTED_PROXIES" in COMPOSE_TEXT.split("x-app-environment")[0]
    example = (ROOT / ".env.example").read_text()
    assert re.search(r"^TRUSTED_PROXIES=", example, re.M)
