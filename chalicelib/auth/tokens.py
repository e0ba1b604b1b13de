"""JWT bearer tokens: HS256 with a shared secret locally, RS256 against the
identity provider's JWKS in production (whichever the configuration gives).

A token must carry `sub`, `role`, `iat` and `exp`, and live no longer than
`DIEM_JWT_MAX_LIFETIME_SECONDS` (`exp - iat`, 12 h by default): a stolen token
is worth little for long, and `iat` lets a service refuse a subscriber token
issued before the number's current owner activated it. A subscriber's `sub`
is normalised here, once, so every route compares the same spelling.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from chalicelib import config
from chalicelib.auth.principal import Principal
from chalicelib.errors import Unauthenticated, ValidationError

if TYPE_CHECKING:
    import jwt

_JWT_ROLES = ("subscriber", "marketer", "operator")
_LEEWAY_SECONDS = 5


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    import jwt

    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300)


def _decode(token: str) -> dict[str, Any]:
    import jwt  # imported on first use: the SQS consumer and the jobs never need it

    s = config.settings()
    options: dict[str, Any] = {"require": ["exp", "iat", "sub", "role"]}
    kwargs: dict[str, Any] = {"options": options, "leeway": _LEEWAY_SECONDS}
    if s.jwt_audience:
        kwargs["audience"] = s.jwt_audience
    else:
        options["verify_aud"] = False
    if s.jwt_issuer:
        kwargs["issuer"] = s.jwt_issuer
    claims: dict[str, Any]
    if s.jwt_jwks_url:
        key = _jwks_client(s.jwt_jwks_url).get_signing_key_from_jwt(token).key
        claims = jwt.decode(token, key, algorithms=["RS256"], **kwargs)
        return claims
    if not s.jwt_secret:
        raise Unauthenticated("Token verification is not configured.")
    claims = jwt.decode(token, s.jwt_secret, algorithms=["HS256"], **kwargs)
    return claims


def _seconds(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    # PyJWT has checked that both are numbers; a boolean is not a time
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unauthenticated(f"Token claim '{name}' must be a number of seconds.")
    return int(value)


def authenticate_bearer(header: str | None) -> Principal:
    """The principal of an `Authorization: Bearer <JWT>` header, or Unauthenticated."""
    if not header:
        raise Unauthenticated("Missing bearer token.")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Expected 'Authorization: Bearer <token>'.")
    import jwt

    try:
        claims = _decode(token.strip())
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("Token has expired.") from exc
    except (jwt.PyJWTError, ValueError) as exc:
        raise Unauthenticated("Invalid token.") from exc
    role, subject = claims.get("role"), claims.get("sub")
    if role not in _JWT_ROLES or not isinstance(role, str) or not isinstance(subject, str) or not subject:
        raise Unauthenticated("Token has no valid role or subject.")
    issued_at, expires_at = _seconds(claims, "iat"), _seconds(claims, "exp")
    if expires_at - issued_at > config.settings().jwt_max_lifetime_seconds:
        raise Unauthenticated("Token lives longer than this API accepts; ask for a shorter-lived one.")
    if role == "subscriber":
        from chalicelib.subscribers import normalise_msisdn

        try:
            subject = normalise_msisdn(subject)
        except ValidationError:
            raise Unauthenticated("A subscriber token's subject must be its MSISDN.") from None
    return Principal(role, subject, datetime.fromtimestamp(issued_at, UTC), datetime.fromtimestamp(expires_at, UTC))


def mint_token(role: str, subject: str, ttl_seconds: int = 3600, secret: str | None = None) -> str:
    """An HS256 token for development and tests."""
    import jwt

    key = secret or config.settings().jwt_secret or config.DEV_JWT_SECRET
    now = int(time.time())
    return jwt.encode({"sub": subject, "role": role, "iat": now, "exp": now + ttl_seconds}, key, algorithm="HS256")
