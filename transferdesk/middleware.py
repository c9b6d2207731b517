"""Request context: one id per request, in the response header, the logs, tasks and audit events.

The id, the client address and the user agent are kept in a context variable so that services
and the audit writer can record "from where" without every caller passing the request along.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse

from .clientip import client_ip, request_from_trusted_proxy

HEADER = "X-Request-ID"
#: An incoming id is kept only if it is short and plain, so it cannot inject into logs.
_VALID_INCOMING = re.compile(r"^[A-Za-z0-9._-]{8,64}\Z")


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    ip: str | None = None
    user_agent: str = ""


_context: ContextVar[RequestContext | None] = ContextVar("transferdesk_request", default=None)


def get_request_context() -> RequestContext | None:
    """Who is being served right now (a web request or a task), or None outside of one."""
    return _context.get()


def get_request_id() -> str | None:
    ctx = _context.get()
    return ctx.request_id if ctx else None


def set_request_id(value: str | None) -> None:
    """Used by tasks and commands, which have an id but no client."""
    _context.set(RequestContext(request_id=value) if value else None)


class RequestIdMiddleware:
    """Takes a well-formed ``X-Request-ID`` from a trusted proxy or makes one, and echoes it
    back. The id is stored with every audit event, so a client must not choose it: one sent by
    anyone but a proxy of ``TRUSTED_PROXIES`` is replaced, and even the proxy's must be plain."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(HEADER, "") if request_from_trusted_proxy(request) else ""
        request_id = incoming if _VALID_INCOMING.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = _context.set(
            RequestContext(
                request_id=request_id,
                ip=client_ip(request),
                user_agent=request.headers.get("User-Agent", "")[:512],
            )
        )
        try:
            response = self.get_response(request)
        finally:
            _context.reset(token)
        response[HEADER] = request_id
        return response


class RequestIdLogFilter(logging.Filter):
    """Adds ``request_id`` to every log record ("-" outside a request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = get_request_id() or "-"
        return True
