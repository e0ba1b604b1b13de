"""Point the models at the configured table prefix and DynamoDB endpoint, all
through one shared botocore client (creating one per table would cost a cold
start some hundreds of milliseconds)."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

from chalicelib import config, endpoints
from chalicelib.store import pynamo
from chalicelib.store.models import MODELS

_lock = threading.Lock()
_bound: tuple[str, str | None, str] | None = None
_client: Any = None

# what PynamoDB would configure, plus a pool big enough for a flash sale's threads
_CLIENT_CONFIG: dict[str, Any] = {
    "parameter_validation": False,
    "connect_timeout": 2,
    "read_timeout": 5,
    "retries": {"total_max_attempts": 4, "mode": "standard"},
    "max_pool_connections": 64,
    "tcp_keepalive": True,
}


def _new_client(settings: config.Settings) -> Any:
    import botocore.config
    import botocore.session

    session = botocore.session.get_session()
    if settings.dynamodb_endpoint and endpoints.is_loopback(urlsplit(settings.dynamodb_endpoint).hostname or ""):
        # a local engine takes any credentials: a fixed pair, so nothing is looked
        # up; elsewhere (AWS, a sandbox endpoint) the environment's or the role's
        session.set_credentials("local", "local")
    return session.create_client(
        "dynamodb",
        region_name=settings.region,
        endpoint_url=settings.dynamodb_endpoint,
        config=botocore.config.Config(**_CLIENT_CONFIG),
    )


def bind() -> None:
    """Bind every model to the current settings; cheap when nothing changed."""
    global _bound, _client
    s = config.settings()
    wanted = (s.table_prefix, s.dynamodb_endpoint, s.region)
    if _bound == wanted:
        return
    with _lock:
        if _bound == wanted:
            return
        if _bound is None or _bound[1:] != wanted[1:] or _client is None:
            _client = _new_client(s)
        for model in MODELS:
            meta = model.Meta
            meta.table_name = s.table_prefix + meta.base_name
            meta.host = s.dynamodb_endpoint
            meta.region = s.region
            pynamo.share_client(model, _client)
        _bound = wanted


pynamo.set_binder(bind)


def client() -> Any:
    """The botocore DynamoDB client every model and transaction uses."""
    bind()
    return _client


def clients() -> list[Any]:
    """The clients in use, for event hooks (one, shared)."""
    return [client()]
