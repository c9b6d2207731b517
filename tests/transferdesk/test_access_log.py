"""Customer-link tokens (bearer credentials valid for months) never reach a log: a real gunicorn
with the project's config writes the access log, and Django's own request logging is masked."""

from __future__ import annotations

import logging
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core import signing

from tests.notices.conftest import customers_of
from tests.support.processes import Process
from tests.support.redis_server import free_port
from tests.support.worker import database_url
from tests.transfers.conftest import make_deal
from transferdesk.logmask import mask_customer_links
from transfers import notices


def _token() -> str:
    """A token exactly as a customer link carries it: signed with the site's key."""
    return signing.dumps(str(uuid.uuid4()), salt=notices.LINK_SALT, compress=False)


def _get(url: str, **headers: str) -> int:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback only
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@contextmanager
def project_gunicorn(tmp_path: Path, **env: str) -> Iterator[tuple[str, Path, Process]]:
    """gunicorn as the image runs it (``--config gunicorn.conf.py``), on a free loopback port,
    its access log in a file: yields the base URL, the access log and the process."""
    port = free_port()
    access_log = tmp_path / "access.log"
    gunicorn = Process(
        "gunicorn",
        [sys.executable, "-m", "gunicorn", "transferdesk.wsgi", "--config", "gunicorn.conf.py",
         "--bind", f"127.0.0.1:{port}", "--workers", "1", "--access-logfile", str(access_log)],
        {**os.environ, "REDIS_URL": "", "DEBUG": "false", **env},
        tmp_path,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while _get_or_none(f"{base}/healthz") is None:
            if gunicorn.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start:\n{gunicorn.log()[-2000:]}")
            time.sleep(0.2)
        yield base, access_log, gunicorn
    finally:
        gunicorn.stop()


def test_gunicorn_with_the_projects_config_masks_customer_link_tokens(tmp_path):
    # A token that names no link: refused at the lookup (an empty database), and the access
    # log is written for it as for any other request.
    token = _token()
    with project_gunicorn(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}") as (
        base,
        access_log,
        gunicorn,
    ):
        assert _get(f"{base}/n/{token}/") >= 400
        assert _get(f"{base}/n/{token}/done/objection/?x=1") >= 400
        # The page's own requests carry it in the Referer.
        _get(f"{base}/static/css/app.css", Referer=f"{base}/n/{token}/")

    log = access_log.read_text()
    assert token not in log
    assert token not in gunicorn.log()  # gunicorn's error log and Django's request logging
    assert '"GET /n/***/ HTTP/1.1"' in log
    assert '"GET /n/***/done/objection/?x=1 HTTP/1.1"' in log
    assert f'"{base}/n/***/"' in log


@pytest.mark.postgres
def test_a_customer_opening_their_link_leaves_no_token_in_the_access_log(
    tmp_path, transactional_db, cast
):
    deal = make_deal(cast)
    customer = customers_of(cast.seller, languages=("en",))[0]
    token = notices.link_token(notices.link_issue(actor=None, deal=deal, customer=customer))
    with project_gunicorn(tmp_path, DATABASE_URL=database_url(), DATABASE_CONN_MAX_AGE="0") as (
        base,
        access_log,
        gunicorn,
    ):
        assert _get(f"{base}/n/{token}/") == 200
        _get(f"{base}/static/css/app.css", Referer=f"{base}/n/{token}/")

    log = access_log.read_text()
    assert token not in log and token not in gunicorn.log()
    assert '"GET /n/***/ HTTP/1.1" 200' in log
    assert f'"{base}/n/***/"' in log


def _get_or_none(url: str) -> int | None:
    try:
        return _get(url)
    except (urllib.error.URLError, ConnectionError):
        return None


@pytest.mark.django_db
def test_django_request_logging_masks_customer_link_tokens(client, caplog):
    token = _token()
    with caplog.at_level(logging.INFO):
        assert client.get(f"/n/{token}/").status_code == 403
        assert client.get(f"/n/{token}/nothing-here/").status_code == 404
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert token not in logged
    assert "Forbidden: /n/***/" in logged
    assert "Not Found: /n/***/nothing-here/" in logged


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("/n/abc:def:ghi/", "/n/***/"),
        ("GET /n/abc:def/act/ HTTP/1.1", "GET /n/***/act/ HTTP/1.1"),
        ("https://desk.example/n/abc/done/x/", "https://desk.example/n/***/done/x/"),
        ("/deals/n/5/", "/deals/n/5/"),
        ("/notices/3/", "/notices/3/"),
    ],
)
def test_only_the_token_of_a_customer_link_path_is_masked(line, masked):
    assert mask_customer_links(line) == masked
