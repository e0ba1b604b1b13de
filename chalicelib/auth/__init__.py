"""Who is calling: JWT bearer tokens (subscribers, marketers, operators),
partner API keys and channel gateway keys. Framework-free; `app.py` wires it into Chalice."""

from chalicelib.auth.api_keys import gateway_for_key, hash_key, new_api_key, new_gateway_key, partner_for_key
from chalicelib.auth.principal import ROLES, Principal, acting, refuse_stale_token
from chalicelib.auth.tokens import authenticate_bearer, mint_token

__all__ = [
    "ROLES",
    "Principal",
    "acting",
    "authenticate_bearer",
    "gateway_for_key",
    "hash_key",
    "mint_token",
    "new_api_key",
    "new_gateway_key",
    "partner_for_key",
    "refuse_stale_token",
]
