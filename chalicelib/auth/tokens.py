"""JWT bearer tokens: HS256 with a shared secret locally, RS256 against the
identity provider's JWKS in production (whichever the configuration gives)."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from chalicelib import config
from chalicelib.auth.principal import Principal
from chalicelib.errors import Unauthenticated

if TYPE_CHECKING:
    import jwt

_JWT_ROLES = ("subscriber", "marketer", "operator")


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    import jwt

    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300)


def _decode(token: str) -> dict[str, Any]:
    import jwt  # imported on first use: the SQS consumer and the jobs never need it

    s = config.settings()
    options = {"require": ["exp", "sub", "role"]}
    kwargs: dict = {"options": options, "leeway": 5}
    if s.jwt_audience:
        kwargs["audience"] = s.jwt_audience
    else:
        options["verify_aud"] = False
    if s.jwt_issuer:
        kwargs["issuer"] = s.jwt_issuer
    if s.jwt_jwks_url:
        key = _jwks_client(s.jwt_jwks_url).get_signing_key_from_jwt(token).key
        return jwt.decode(token, key, algorithms=["RS256"], **kwargs)
    if not s.jwt_secret:
        raise Unauthenticated("Token verification is not configured.")
    return jwt.decode(token, s.jwt_secret, algorithms=["HS256"], **kwargs)


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
    if role not in _JWT_ROLES or not isinstance(subject, str) or not subject:
        raise Unauthenticated("Token has no valid role or subject.")
    return Principal(role, subject)


def mint_token(role: str, subject: str, ttl_seconds: int = 3600, secret: str | None = None) -> str:
    """An HS256 token for development and tests."""
    import jwt

    key = secret or config.settings().jwt_secret or config.DEV_JWT_SECRET
    now = int(time.time())
    return jwt.encode({"sub": subject, "role": role, "iat": now, "exp": now + ttl_seconds}, key, algorithm="HS256")
