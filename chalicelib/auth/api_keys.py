"""Partner API keys and channel gateway keys: random, shown once, stored and
looked up only by SHA-256.

Look-ups are cached briefly in the warm function so a till's (or a gateway's)
requests do not each pay a DynamoDB round trip; a rotated-out partner key
stops working once its `expires_at` passes, checked on every use.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable

from chalicelib import clock, config
from chalicelib.auth.principal import Principal
from chalicelib.errors import Unauthenticated

_PREFIX = "dk_"
_GATEWAY_PREFIX = "gk_"
MAX_KEY_LENGTH = 200
# (kind, hash) -> (cached until, principal, the key's expiry or None)
_cache: dict[tuple[str, str], tuple[float, Principal, float | None]] = {}
_cache_lock = threading.Lock()


def new_api_key() -> tuple[str, str]:
    """A new partner key and its hash."""
    key = _PREFIX + secrets.token_urlsafe(32)
    return key, hash_key(key)


def new_gateway_key() -> tuple[str, str]:
    """A new gateway key and its hash (`gk_`: a glance tells it from a partner's `dk_`)."""
    key = _GATEWAY_PREFIX + secrets.token_urlsafe(32)
    return key, hash_key(key)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def forget_cached_keys() -> None:
    with _cache_lock:
        _cache.clear()


def _digest(key: str | None, what: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Unauthenticated(f"Missing or invalid {what}.")
    return hash_key(key.strip())


def _cached(
    kind: str, digest: str, load: Callable[[], tuple[str, Principal, float | None] | None], seconds: float, what: str
) -> Principal:
    """The principal of a key hash: from the cache, else `load()` (the stored
    hash, the principal, the expiry; None if there is no such key)."""
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get((kind, digest))
    if cached and cached[0] > now:
        _, principal, expires_at = cached
    else:
        found = load()
        # the lookup was by hash; compare in constant time all the same
        if found is None or not hmac.compare_digest(found[0], digest):
            raise Unauthenticated(f"Missing or invalid {what}.")
        _, principal, expires_at = found
        with _cache_lock:
            _cache[(kind, digest)] = (now + seconds, principal, expires_at)
    if expires_at is not None and expires_at <= clock.now().timestamp():
        raise Unauthenticated(f"{what[0].upper()}{what[1:]} has been rotated out.")
    return principal


def partner_for_key(key: str | None) -> Principal:
    """The partner owning `key`, or Unauthenticated."""
    from chalicelib.store import ApiKey

    what = "API key"
    digest = _digest(key, what)

    def load() -> tuple[str, Principal, float | None] | None:
        try:
            item = ApiKey.get(digest)
        except ApiKey.DoesNotExist:
            return None
        expires_at = item.expires_at.timestamp() if item.expires_at else None
        return item.key_hash, Principal("partner", item.partner_id), expires_at

    return _cached("partner", digest, load, config.settings().api_key_cache_seconds, what)


def gateway_for_key(key: str | None) -> Principal:
    """The channel gateway owning `key` (role `gateway`, its id, its channel), or Unauthenticated."""
    from chalicelib.store import Gateway

    what = "gateway key"
    digest = _digest(key, what)

    def load() -> tuple[str, Principal, float | None] | None:
        try:
            item = Gateway.get(digest)
        except Gateway.DoesNotExist:
            return None
        return item.key_hash, Principal("gateway", item.gateway_id, channel=item.channel), None

    return _cached("gateway", digest, load, config.settings().gateway_key_cache_seconds, what)
