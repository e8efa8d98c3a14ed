"""A per-user fixed-window rate limit on Django's cache (the eligibility look-up: no ID-number oracle by volume).

A rate is written ``N/unit`` with unit s, m, h or d (``30/m``: thirty per minute). The counter lives in the
configured cache: shared by all server processes with Redis, per process with the embedded default.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*([smhd])\s*$")


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int  # seconds until the window ends (0 when allowed)


def parse_rate(text: str) -> Rate:
    match = _RATE.match(text or "")
    if not match or int(match.group(1)) < 1:
        raise ImproperlyConfigured(f"A rate limit is written like 30/m (count/s, m, h or d), not {text!r}.")
    return Rate(int(match.group(1)), _UNITS[match.group(2)])


def hit(scope: str, key: object, rate: Rate, *, now: float | None = None) -> Verdict:
    """Count one request of `key` in `scope`; allowed while the window's count stays within the rate."""
    now = time.time() if now is None else now
    window = int(now // rate.seconds)
    cache_key = f"ratelimit:{scope}:{key}:{window}"
    if cache.add(cache_key, 1, rate.seconds + 1):
        count = 1
    else:
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add and incr: a new window
            cache.add(cache_key, 1, rate.seconds + 1)
            count = 1
    if count <= rate.count:
        return Verdict(True, 0)
    return Verdict(False, max(1, int((window + 1) * rate.seconds - now + 0.999)))
