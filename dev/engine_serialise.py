"""The embedded engine's answers to data-plane calls, without moto's generic serialiser.

moto 5.2.5 turns every DynamoDB result into its wire JSON with a serialiser
driven by the botocore service model: for each attribute of each item it
walks the output shape and tries several spellings of every member name
(`XFormedAttributePicker`). On the engine that is over a third of the time a
request holds the lock. The results of the data-plane operations are already
in wire shape (`{"S": ...}` attribute values, PascalCase members), except for
binary values (raw bytes, base64 on the wire), timestamps (epoch seconds) and
absent members (None, left out on the wire), so this module writes them with
`json.dumps` and those three rules. Everything else (control plane, errors)
still goes through moto's serialiser.

Also here, for the same reason: moto's dispatcher matches every request's
host against the URL patterns of all its services (hundreds of regular
expressions), and werkzeug logs every request line. The engine serves one
service on loopback, so the host's backend is remembered and the request log
is off.

`install()` patches moto's classes (private API, checked against moto 5.2.5);
`tests/engine/test_serialise.py` compares this writer with moto's on every
kind of attribute value and fails if a moto upgrade changes the shapes.
"""

from __future__ import annotations

import base64
import functools
import json
from datetime import datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.dynamodb.responses import DynamoHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler

DATA_PLANE = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "TransactGetItems",
    }
)
_JSON_1_0 = "application/x-amz-json-1.0"
_installed = False
# the fast writer in use (tests switch it off to get moto's own answer to compare with)
enabled = True


def _wire(value: Any) -> Any:
    """`value` as the wire JSON has it: no None members, base64 binaries, epoch timestamps."""
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return value.timestamp()
    return value


def body_of(result: dict[str, Any], members: frozenset[str]) -> str:
    """The response body of a data-plane result: the output shape's members only."""
    return json.dumps({k: _wire(v) for k, v in result.items() if k in members and v is not None})


@functools.cache
def _output_members(handler_cls: type, action: str) -> frozenset[str]:
    from moto.core.responses import get_service_model

    shape = get_service_model("dynamodb").operation_model(action).output_shape
    return frozenset(shape.members) if shape is not None else frozenset()


def _serialized(original: Any) -> Any:
    def serialized(self: DynamoHandler, action_result: ActionResult) -> Any:
        result = action_result.result
        action = self._get_action()
        plain = type(action_result).execute_result is ActionResult.execute_result
        if not enabled or action not in DATA_PLANE or not isinstance(result, dict) or not plain:
            return original(self, action_result)
        headers: dict[str, Any] = {"Content-Type": _JSON_1_0}
        headers.update(self.response_headers)
        return 200, headers, body_of(result, _output_members(type(self), action))

    return serialized


def install() -> None:
    """Patch moto's DynamoDB handler, dispatcher and request log (once per process)."""
    global _installed
    if _installed:
        return
    DynamoHandler.serialized = _serialized(DynamoHandler.serialized)  # type: ignore[method-assign]
    DomainDispatcherApplication.get_backend_for_host = functools.lru_cache(maxsize=64)(  # type: ignore[method-assign]
        DomainDispatcherApplication.get_backend_for_host
    )
    MotoRequestHandler.log_request = lambda self, code="-", size="-": None  # type: ignore[method-assign]
    _installed = True
