"""Every form, every role: the forms are found by crawling the pages each demo user reaches
(links followed from the landing page, not a hand-kept list), then each is submitted with
plausible values and with hostile ones — long text, markup, impossible dates, unknown
choices, random bytes as a file. No answer may be a 5xx or show a traceback.

A new page with a form is covered without a list to update, as the permission matrix covers a
new URL. Pages are crawled per URL pattern (two of each at most: a customer book of 300 records
has one record page worth visiting), and forms are de-duplicated by action and field names.
"""

from __future__ import annotations

import os
import random
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import Resolver404, resolve

USERS = ("broker", "compliance", "buyer")
#: Pages per URL pattern, and pages per user: enough to reach every form, bounded in time.
PER_PATTERN = 2
MAX_PAGES = 220
#: Never followed: signing out ends the crawl's session; the admin has its own tests.
SKIP_PREFIXES = ("/accounts/logout", "/admin/", "/static/", "/i18n/")
HOSTILE_TEXT = ("x" * 20_000, "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>")
HOSTILE_DATES = ("2026-02-30", "0000-00-00", "9999-99-99T99:99", "yesterday")


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, dict] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def key(self) -> tuple:
        return (self.method, _pattern(self.action), tuple(sorted(self.fields)), tuple(self.files))


class _Page(HTMLParser):
    """Links and forms of one page (the standard library's parser: the pages are ours)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.links: list[str] = []
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href"):
            self.links.append(urljoin(self.url, a["href"]))
        elif tag == "form":
            self._form = Form(
                action=urljoin(self.url, a.get("action") or self.url),
                method=(a.get("method") or "get").lower(),
            )
        elif self._form is None:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind == "file":
                self._form.files.append(a["name"])
            elif kind in ("checkbox", "radio"):
                entry = self._form.fields.setdefault(a["name"], {"type": kind, "options": []})
                entry["options"].append(a.get("value", "on"))
            elif kind not in ("submit", "button", "image", "reset"):
                self._form.fields[a["name"]] = {"type": kind, "value": a.get("value", "")}
            elif a.get("name") and kind == "submit":
                self._form.fields.setdefault(
                    a["name"], {"type": "submit", "value": a.get("value", "")}
                )
        elif tag == "button" and a.get("name"):
            self._form.fields.setdefault(a["name"], {"type": "submit", "value": a.get("value", "")})
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
            self._form.fields[a["name"]] = {
                "type": "select",
                "options": [],
                "multiple": "multiple" in a,
            }
        elif tag == "option" and self._select:
            self._form.fields[self._select]["options"].append(a.get("value", ""))
        elif tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self._form.fields[a["name"]] = {"type": "textarea", "value": ""}

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._form is not None:
            self.forms.append(self._form)
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def _pattern(url: str) -> str:
    path = urlsplit(url).path
    try:
        match = resolve(path)
    except Resolver404:
        return path
    return match.route or path


def _internal(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("", "http") or parts.netloc not in ("", "testserver"):
        return None
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if not parts.path.startswith("/") or parts.path.startswith(SKIP_PREFIXES):
        return None
    return path


def _crawl(client: Client) -> list[Form]:
    seen_patterns: dict[str, int] = {}
    seen: set[str] = set()
    forms: dict[tuple, Form] = {}
    queue = deque(["/"])
    pages = 0
    while queue and pages < MAX_PAGES:
        path = queue.popleft()
        if path in seen:
            continue
        seen.add(path)
        pattern = _pattern(path)
        if seen_patterns.get(pattern, 0) >= PER_PATTERN:
            continue
        seen_patterns[pattern] = seen_patterns.get(pattern, 0) + 1
        response = client.get(path, follow=True)
        pages += 1
        _assert_sound(response, f"GET {path}")
        if "text/html" not in response.get("Content-Type", ""):
            continue
        parser = _Page(path)
        parser.feed(response.content.decode())
        for form in parser.forms:
            forms.setdefault(form.key(), form)
        for link in parser.links:
            internal = _internal(link)
            if internal and internal not in seen:
                queue.append(internal)
    return list(forms.values())


def _plausible(form: Form) -> dict[str, object]:
    data: dict[str, object] = {}
    for name, spec in form.fields.items():
        kind = spec["type"]
        if kind in ("checkbox", "radio", "select"):
            options = [o for o in spec["options"] if o] or spec["options"]
            if options:
                data[name] = options[:1] if spec.get("multiple") else options[0]
        elif kind == "date":
            data[name] = "2027-01-15"
        elif kind == "datetime-local":
            data[name] = "2027-01-15T10:00"
        elif kind == "email":
            data[name] = "someone@example.com"
        elif kind == "number":
            data[name] = spec.get("value") or "3"
        elif spec.get("value"):
            data[name] = spec["value"]
        elif kind != "submit":
            data[name] = "Plausible text"
    return data


def _hostile_variants(form: Form, rng: random.Random) -> list[dict[str, object]]:
    base = _plausible(form)
    variants = []
    for text in HOSTILE_TEXT:
        variants.append(
            {
                n: (
                    text if spec["type"] in ("text", "textarea", "search", "email") else base.get(n)
                )
                for n, spec in form.fields.items()
            }
        )
    variants.append(
        {
            n: (rng.choice(HOSTILE_DATES) if spec["type"].startswith("date") else base.get(n))
            for n, spec in form.fields.items()
        }
    )
    variants.append(
        {
            n: ("__unknown__" if spec["type"] in ("select", "radio", "checkbox") else base.get(n))
            for n, spec in form.fields.items()
        }
    )
    variants.append(
        {
            n: "-1e309" if spec["type"] == "number" else base.get(n)
            for n, spec in form.fields.items()
        }
    )
    return [{k: v for k, v in variant.items() if v is not None} for variant in variants]


def _files(form: Form, rng: random.Random, hostile: bool) -> dict[str, object]:
    content = os.urandom(4096) if hostile else b"reference,full_name\nT-1,Test Person\n"
    return {
        name: SimpleUploadedFile(
            "random.bin" if hostile else "plausible.csv",
            content,
            content_type="application/octet-stream" if hostile else "text/csv",
        )
        for name in form.files
    }


def _assert_sound(response, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code}"
    if "text/html" in response.get("Content-Type", ""):
        body = response.content.decode(errors="replace")
        assert "Traceback (most recent call last)" not in body, what


@pytest.mark.parametrize("username", USERS)
def test_every_form_a_demo_user_reaches_survives_plausible_and_hostile_input(demo_users, username):
    from accounts.models import User

    user = User.objects.get(username=username)
    client = Client(raise_request_exception=True)
    client.force_login(user)
    forms = [f for f in _crawl(client) if f.method == "post" or f.fields]
    assert len(forms) >= 3, f"{username} reached only {len(forms)} forms"
    rng = random.Random(username)
    for form in forms:
        path = _internal(form.action)
        if path is None:
            continue
        send = client.post if form.method == "post" else client.get
        for hostile, data in [(False, _plausible(form))] + [
            (True, v) for v in _hostile_variants(form, rng)
        ]:
            payload = {**data, **(_files(form, rng, hostile) if form.method == "post" else {})}
            response = send(path, payload)
            _assert_sound(response, f"{form.method.upper()} {path} {sorted(payload)}")
            if not client.session.get("_auth_user_id"):  # a form that signs out: sign in again
                client.force_login(user)
