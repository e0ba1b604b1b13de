"""What the web console (web/) asks of the server besides the API itself: how
a person signs in on this stage, and the development sign-in.

A deployed stage signs people in with OpenID Connect (authorization code with
PKCE, in the browser) against the configured identity provider; the API then
verifies those tokens by its JWKS like any other bearer token. Locally
(`make run`) there is no identity provider: the development sign-in mints an
HS256 token for a role and subject, as `make token` does. It exists only where
`Settings.dev_sign_in` holds (the dev stage, outside Lambda, HS256 configured);
anywhere else it is not found, like any route that does not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from chalicelib import clock, config
from chalicelib.auth import mint_token
from chalicelib.errors import NotFound
from chalicelib.subscribers import normalise_msisdn

# a working day: well inside the API's ceiling on a token's life (12 h by default)
DEV_TOKEN_SECONDS = 8 * 3600
OIDC_TOKENS = ("id_token", "access_token")


def sign_in_options() -> dict[str, Any]:
    """`{stage, dev_sign_in, oidc}`: the ways the console offers to sign in."""
    s = config.settings()
    oidc = None
    if s.console_oidc:
        oidc = {
            "authorization_url": s.console_oidc_authorization_url,
            "token_url": s.console_oidc_token_url,
            "client_id": s.console_oidc_client_id,
            "scope": s.console_oidc_scope,
            "bearer": s.console_oidc_bearer if s.console_oidc_bearer in OIDC_TOKENS else "id_token",
        }
    return {"stage": s.stage, "dev_sign_in": s.dev_sign_in, "oidc": oidc}


def dev_sign_in(role: str, subject: str) -> dict[str, Any]:
    """A development token for `role` and `subject` (a subscriber's MSISDN is
    normalised, as `dev/token.py` does); 404 wherever the stage is not local dev."""
    s = config.settings()
    if not s.dev_sign_in:
        raise NotFound("No such route.")
    if role == "subscriber":
        subject = normalise_msisdn(subject)
    token = mint_token(role, subject, DEV_TOKEN_SECONDS, s.jwt_secret)
    expires = datetime.now(UTC) + timedelta(seconds=DEV_TOKEN_SECONDS)
    return {"token": token, "role": role, "subject": subject, "expires_at": clock.iso(expires)}


def content_security_policy(token_url: str | None = None) -> str:
    """The console's Content-Security-Policy, the same locally (dev/console.py) and
    from CloudFront (infra/build.py): its own scripts and styles only (nothing
    inline, no eval), requests to its own origin (the API is on it) and to the
    identity provider's token endpoint, no frames, no plugins."""
    connect = ["'self'"]
    if token_url:
        parts = urlsplit(token_url)
        if parts.scheme in ("https", "http") and parts.netloc:
            connect.append(f"{parts.scheme}://{parts.netloc}")
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            "font-src 'self'",
            f"connect-src {' '.join(connect)}",
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )
