"""Event ids derived from the change itself: the same change read again (a
stream batch retried, bisected or replayed) gives the same id, so its event
is written once and a consumer deduplicates on `webhook-id`."""

from __future__ import annotations

import base64
import hashlib

PREFIX = "evt_"


def event_id(*parts: str) -> str:
    """`evt_` + 32 base32 characters of SHA-256 over the parts (160 bits)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()[:20]
    return PREFIX + base64.b32encode(digest).decode().lower()


def ledger_event_id(owner_id: str, entry_id: str) -> str:
    """A ledger entry's event: the entry is written once, keyed by its cause."""
    return event_id("ledger", owner_id, entry_id)


def voucher_event_id(kind: str, code: str, redemption_id: str = "") -> str:
    """issued, expired and cancelled happen once per voucher; redeemed and
    reversed once per redemption."""
    return event_id(kind, code, redemption_id)


def expiring_event_id(owner_id: str, on: str) -> str:
    """One notice per subscriber (owner) and expiry date."""
    return event_id("points.expiring", owner_id, on)
