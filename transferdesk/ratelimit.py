"""Fixed-window counters in the shared cache, for back-off answers (429 with Retry-After).

A window is a numbered slice of wall-clock time (``now // window``), so every web process
counting the same key agrees on where the window ends without storing its start, and the
``Retry-After`` a refused client is given is exactly the time left in that window.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.core.cache import cache


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
    cache.add(slot, 0, timeout=left + 1)
    try:
        value = cache.incr(slot)
    except ValueError:  # expired between add and incr
        cache.set(slot, 1, timeout=left + 1)
        value = 1
    return Count(value=int(value), retry_after=left)


def peek(key: str, window: int) -> Count:
    """The count under ``key`` in the current window, without counting."""
    slot, left = _slot(key, window)
    return Count(value=int(cache.get(slot, 0)), retry_after=left)
