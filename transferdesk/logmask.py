"""Customer-link tokens kept out of the logs.

A customer link (``/n/<token>/``, the ``notice:`` namespace) is a bearer credential valid for
months: whoever reads it in a log can open that customer's page. The web server's access log and
Django's own request logging ("Not Found: /n/…", runserver's request lines) would record it in
the path, in the request line and in the ``Referer`` of the page's own requests. Everything that
writes those lines passes through :func:`mask_customer_links`, which keeps the shape of the path
(so the log still shows that a customer link was opened, and which of its pages) and replaces
the token with ``***``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from gunicorn.glogging import Logger as _GunicornLogger

MASK = "***"
#: ``/n/<token>`` at the start of a path, after a space (a request line, "Not Found: /n/…"),
#: a quote, or a scheme and host (a Referer).
_LINK = re.compile(r"""((?:^|[\s"'=]|://[^/\s"']*)/n/)[^/?#\s"']+""")


def mask_customer_links(text: str) -> str:
    """``text`` with the token of every customer-link path replaced by ``***``."""
    if "/n/" not in text:
        return text
    return _LINK.sub(lambda m: m.group(1) + MASK, text)


def _mask(value: Any) -> Any:
    return mask_customer_links(value) if isinstance(value, str) else value


class CustomerLinkMaskFilter(logging.Filter):
    """Masks customer-link tokens in a record's message and arguments (Django's request
    loggers pass the path as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _mask(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {key: _mask(value) for key, value in record.args.items()}
        elif record.args:
            record.args = tuple(_mask(value) for value in record.args)
        return True


class GunicornLogger(_GunicornLogger):
    """Gunicorn's logger with customer-link tokens masked in every access-log atom (path,
    request line, raw URI, Referer, headers) and in its error log."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if not any(isinstance(f, CustomerLinkMaskFilter) for f in self.error_log.filters):
            self.error_log.addFilter(CustomerLinkMaskFilter())

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: _mask(value) for key, value in atoms.items()}
