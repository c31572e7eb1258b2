"""Failure counters kept in Flask-Limiter's storage (Redis), outside its decorators.

The sign-in lock and the API's limit on tokens that are not valid count failures themselves:
Flask-Limiter's decorators count every request or none. Both count per client network and are
best effort, as every limit here: when the storage does not answer, nothing is refused.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time

from flask import current_app
from flask_limiter.util import get_remote_address
from limits import RateLimitItem

from app.extensions import limiter

log = logging.getLogger(__name__)


def client_network() -> str:
    """Who a client counts as: its IPv4 address, or its IPv6 /64 (one subscriber's network:
    a guesser has billions of addresses in it)."""
    address = get_remote_address()
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return address


def counter(*names: str) -> tuple[str, ...]:
    """The storage key of a counter, under the app's rate-limit prefix."""
    return (current_app.config.get("RATELIMIT_KEY_PREFIX", ""), *names)


def full_for(item: RateLimitItem, key: tuple[str, ...]) -> int | None:
    """Seconds until the counter is under its limit again, or None when it is under it now."""
    try:
        if limiter.limiter.test(item, *key):
            return None
        reset_at = limiter.limiter.get_window_stats(item, *key).reset_time
    except Exception:  # the storage is down: refuse nothing
        log.warning("Failure counters unavailable: %s not checked", key[1:], exc_info=True)
        return None
    return max(1, math.ceil(reset_at - time.time()))


def count(item: RateLimitItem, key: tuple[str, ...]) -> None:
    """Add one failure to a counter (skipped, with a warning, when the storage is down)."""
    try:
        limiter.limiter.hit(item, *key)
    except Exception:
        log.warning("Failure counters unavailable: %s not counted", key[1:], exc_info=True)
