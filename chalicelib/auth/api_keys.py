"""Partner API keys: random, shown once, stored and looked up only by SHA-256.

Look-ups are cached briefly in the warm function so a till's requests do not
each pay a DynamoDB round trip; a rotated-out key stops working once its
`expires_at` passes, checked on every use.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from chalicelib import clock, config
from chalicelib.auth.principal import Principal
from chalicelib.errors import Unauthenticated

_PREFIX = "dk_"
_cache: dict[str, tuple[float, str, float | None]] = {}
_cache_lock = threading.Lock()


def new_api_key() -> tuple[str, str]:
    """A new key and its hash."""
    key = _PREFIX + secrets.token_urlsafe(32)
    return key, hash_key(key)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def forget_cached_keys() -> None:
    with _cache_lock:
        _cache.clear()


def partner_for_key(key: str | None) -> Principal:
    """The partner owning `key`, or Unauthenticated."""
    from chalicelib.store import ApiKey

    if not key or len(key) > 200:
        raise Unauthenticated("Missing or invalid API key.")
    digest = hash_key(key.strip())
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(digest)
    if cached and cached[0] > now:
        _, partner_id, expires_at = cached
    else:
        try:
            item = ApiKey.get(digest)
        except ApiKey.DoesNotExist:
            raise Unauthenticated("Missing or invalid API key.") from None
        # the lookup was by hash; compare in constant time all the same
        if not hmac.compare_digest(item.key_hash, digest):
            raise Unauthenticated("Missing or invalid API key.")
        partner_id = item.partner_id
        expires_at = item.expires_at.timestamp() if item.expires_at else None
        with _cache_lock:
            _cache[digest] = (now + config.settings().api_key_cache_seconds, partner_id, expires_at)
    if expires_at is not None and expires_at <= clock.now().timestamp():
        raise Unauthenticated("API key has been rotated out.")
    return Principal("partner", partner_id)
