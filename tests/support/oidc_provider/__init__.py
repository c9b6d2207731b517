"""A real OpenID Connect provider for the single sign-on tests: a second Django process running
allauth's own provider app (``allauth.idp.oidc``, shipped with the allauth the product already
uses: no new dependency, no Node), on loopback, with its own settings (``settings.py``), its own
SQLite file and its own users.

Why this and not the npm ``oidc-provider`` or django-oauth-toolkit: it is the same library at the
same version as the client side, it signs real RS256 ID tokens, serves discovery, JWKS, the
token and userinfo endpoints and its own sign-in page, and it needs nothing installed.

``IdentityProvider.start`` migrates the file, creates the users (``ProviderUser``: verified or
unverified e-mail, the ``amr``/``acr`` its ID tokens assert) and one confidential client for a
redirect address, then serves on ``http://127.0.0.1:PORT`` until ``stop``. The product's test
server answers on ``localhost``: a different host, so the two sites' cookies never mix.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[3]
SETTINGS = "tests.support.oidc_provider.settings"
PASSWORD = "Provider-Passphrase-42"


@dataclass
class ProviderUser:
    username: str
    email: str
    verified: bool = True
    amr: list[str] = field(default_factory=lambda: ["pwd"])
    acr: str = ""


@dataclass
class IdentityProvider:
    workdir: Path
    users: list[ProviderUser]
    redirect_uris: list[str]
    client_id: str = "transferdesk"
    client_secret: str = "provider-client-secret-for-tests"
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "IDP_WORKDIR": str(self.workdir),
            "PYTHONPATH": str(ROOT),
        }

    def start(self) -> IdentityProvider:
        self.workdir.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (self.workdir / "key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        setup = {
            "users": [asdict(u) for u in self.users],
            "client": {
                "id": self.client_id,
                "secret": self.client_secret,
                "redirect_uris": self.redirect_uris,
            },
            "password": PASSWORD,
        }
        (self.workdir / "setup.json").write_text(json.dumps(setup))
        run = [sys.executable, "-m", "tests.support.oidc_provider.setup"]
        subprocess.run(run, cwd=ROOT, env=self._env(), check=True, capture_output=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        log = open(self.workdir / "server.log", "wb")  # noqa: SIM115 (the server writes to it)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "django",
                "runserver",
                f"127.0.0.1:{self.port}",
                "--noreload",
                "--skip-checks",
            ],
            cwd=ROOT,
            env=self._env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        """Poll the discovery document until the server answers (or it exits)."""
        assert self.process is not None
        while True:
            if self.process.poll() is not None:
                log = (self.workdir / "server.log").read_text(errors="replace")
                raise RuntimeError(f"the test identity provider did not start:\n{log}")
            try:
                with urllib.request.urlopen(self.discovery_url, timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except OSError:
                pass
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=0.1)

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def sign_in(self, authorize_url: str, username: str) -> str:
        """Do what a browser does at the provider for a sign-in that started at
        ``authorize_url``: its sign-in form, then its redirects, until one leads away from it.
        Returns that address (the client's callback, with the code and the state)."""
        session = requests.Session()
        page = session.get(authorize_url, timeout=10)  # ends on the provider's sign-in form
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token, f"no sign-in form at {page.url}"
        answer = session.post(
            page.url,
            data={"csrfmiddlewaretoken": token[1], "login": username, "password": PASSWORD},
            headers={"Referer": page.url},
            allow_redirects=False,
            timeout=10,
        )
        while True:
            assert answer.status_code in {301, 302, 303}, answer.text[:2000]
            location = urljoin(answer.url, answer.headers["Location"])
            if not location.startswith(self.url + "/"):
                return location
            answer = session.get(location, allow_redirects=False, timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def __enter__(self) -> IdentityProvider:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
