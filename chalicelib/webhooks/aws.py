"""The botocore clients the events pipeline needs besides DynamoDB's (SQS, KMS),
made on first use, one per service and region."""

from __future__ import annotations

import threading
from typing import Any

from chalicelib import config

_clients: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def client(service: str) -> Any:
    region = config.settings().region
    with _lock:
        found = _clients.get((service, region))
        if found is None:
            import botocore.session

            found = botocore.session.get_session().create_client(service, region_name=region)
            _clients[(service, region)] = found
        return found
