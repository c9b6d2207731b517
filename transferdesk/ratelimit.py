"""Fixed-window counters in the shared cache, for back-off answers (429 with Retry-After).

A window is a numbered slice of wall-clock time (``now // window``), so every web process
counting the same key agrees on where the window ends without storing its start, and the
``Retry-After`` a refused client is given is exactly the time left in that window.

The limits built on these counters are against abuse, on top of checks that do not depend on
the cache (django-axes' lock-outs in the database, signed links): should the cache's server be
unreachable, a counter reads as zero and a warning is logged, rather than every sign-in and
customer page failing with it.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from django.core.cache import cache

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Count:
    value: int
    #: Whole seconds until the current window ends (at least 1).
    retry_after: int


def _slot(key: str, window: int) -> tuple[str, int]:
    now = time.time()
    index = int(now // window)
    return f"rl:{key}:{index}", max(1, math.ceil((index + 1) * window - now))


def hit(key: str, window: int) -> Count:
    """Count one more event under ``key`` in the current window and return the new count."""
    slot, left = _slot(key, window)
    try:
        cache.add(slot, 0, timeout=left + 1)
        try:
            value = cache.incr(slot)
        except ValueError:  # expired between add and incr
            cache.set(slot, 1, timeout=left + 1)
            value = 1
    except Exception as exc:  # noqa: BLE001 - the cache is down: count nothing, say so
        logger.warning("rate limit %s not counted: cache unavailable (%s)", key.split(":")[0],
                       type(exc).__name__)  # fmt: skip
        value = 0
    return Count(value=int(value), retry_after=left)


def peek(key: str, window: int) -> Count:
    """The count under ``key`` in the current window, without counting."""
    slot, left = _slot(key, window)
    try:
        value = cache.get(slot, 0)
    except Exception as exc:  # noqa: BLE001 - the cache is down: count nothing, say so
        logger.warning("rate limit %s not read: cache unavailable (%s)", key.split(":")[0],
                       type(exc).__name__)  # fmt: skip
        value = 0
    return Count(value=int(value), retry_after=left)
