"""Who is calling: JWT bearer tokens (subscribers, marketers, operators) and
partner API keys. Framework-free; `app.py` wires it into Chalice."""

from chalicelib.auth.api_keys import hash_key, new_api_key, partner_for_key
from chalicelib.auth.principal import ROLES, Principal
from chalicelib.auth.tokens import authenticate_bearer, mint_token

__all__ = [
    "ROLES",
    "Principal",
    "authenticate_bearer",
    "hash_key",
    "mint_token",
    "new_api_key",
    "partner_for_key",
]
