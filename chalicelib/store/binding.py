"""Point the models at the configured table prefix and DynamoDB endpoint."""

from __future__ import annotations

import threading
from typing import Any

from chalicelib import config
from chalicelib.store.models import MODELS

_lock = threading.Lock()
_bound: tuple[str, str | None, str] | None = None


def bind() -> None:
    """Bind every model to the current settings; cheap when nothing changed."""
    global _bound
    s = config.settings()
    wanted = (s.table_prefix, s.dynamodb_endpoint, s.region)
    if _bound == wanted:
        return
    with _lock:
        if _bound == wanted:
            return
        for model in MODELS:
            meta = model.Meta
            meta.table_name = s.table_prefix + meta.base_name
            meta.host = s.dynamodb_endpoint
            meta.region = s.region
            # DynamoDB Local keeps one database per access key: always the same
            # fixed key locally; on AWS the function's role
            local_key = "local" if s.dynamodb_endpoint else None
            meta.aws_access_key_id = local_key
            meta.aws_secret_access_key = local_key
            meta.max_pool_connections = 64
            model._connection = None
        _bound = wanted


def clients() -> list[Any]:
    """The botocore DynamoDB clients in use (one per model), for event hooks."""
    bind()
    seen: dict[int, Any] = {}
    for model in MODELS:
        client = model._get_connection().connection.client
        seen[id(client)] = client
    return list(seen.values())


def client() -> Any:
    """The botocore client used for multi-table calls (transactions, batch reads)."""
    bind()
    return MODELS[0]._get_connection().connection.client
