"""Enumeration defence: more than `unknown_code_limit_per_hour` look-ups or
redemptions of unknown codes by one partner in a clock hour, and that partner
gets 429 until the hour ends.

The count lives in `unknown#<partner>#<yyyy-mm-ddThh>` (TTL) and is only
written after a miss, so the happy path costs nothing extra. A warm function
that saw the limit crossed refuses that partner at once, without a read;
another warm function learns it at the partner's next miss there.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import NoReturn

from chalicelib import clock
from chalicelib.config import rules
from chalicelib.errors import NotFound, TooManyAttempts
from chalicelib.store import Counter

_blocked: dict[str, float] = {}  # partner_id -> when the block lifts (epoch seconds)
_lock = threading.Lock()


def _hour(now: datetime) -> tuple[str, datetime]:
    start = now.replace(minute=0, second=0, microsecond=0)
    return start.strftime("%Y-%m-%dT%H"), start + timedelta(hours=1)


def _refuse() -> NoReturn:
    raise TooManyAttempts("Too many unknown voucher codes; try again after the hour.")


def check(partner_id: str) -> None:
    """429 if this warm function knows the partner is blocked."""
    until = _blocked.get(partner_id)
    if until is not None and until > clock.now().timestamp():
        _refuse()


def unknown(partner_id: str) -> NoReturn:
    """Count a miss: 404, or 429 once the partner is over the hour's limit."""
    now = clock.now()
    hour, ends = _hour(now)
    counter = Counter(f"unknown#{partner_id}#{hour}")
    counter.update(actions=[Counter.count.add(1), Counter.expires_at.set(ends + timedelta(hours=1))])
    if int(counter.count or 0) > rules().unknown_code_limit_per_hour:
        with _lock:
            _blocked[partner_id] = ends.timestamp()
        _refuse()
    raise NotFound("No such voucher.")
