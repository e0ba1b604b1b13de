"""The operator's charging system as the orders see it (docs/charging.md):
`provision` (idempotent by order id) and `status`, each `provisioned`,
`refused` or `unknown`. Only 200 provisioned and 409 refused (or a status
naming them) are believed; anything else is unknown, and the order stays
pending. `DIEM_CHARGING_ADAPTER=package.module:factory` replaces `HttpCharging`."""

from __future__ import annotations

import importlib
import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from enum import StrEnum
from http.client import HTTPException
from typing import Any, Protocol
from urllib.parse import quote

from chalicelib import config, endpoints, observability

MAX_ANSWER_BYTES = 16 * 1024


class Outcome(StrEnum):
    provisioned = "provisioned"
    refused = "refused"
    unknown = "unknown"


@dataclass(frozen=True)
class Answer:
    """What the charging system said: the outcome, a refusal's reason (or why
    the outcome is unknown), and its own reference of the provisioning."""

    outcome: Outcome
    reason: str | None = None
    reference: str | None = None

    @property
    def definite(self) -> bool:
        return self.outcome is not Outcome.unknown


def unknown(reason: str) -> Answer:
    return Answer(Outcome.unknown, reason)


class Charging(Protocol):
    def provision(self, order_id: str, msisdn: str, sku: str) -> Answer:
        """Provision `sku` to `msisdn` once for `order_id`, however often asked."""

    def status(self, order_id: str) -> Answer:
        """What became of `order_id`: provisioned, refused or unknown (never heard of, or not yet known)."""


class Unconfigured:
    """No charging system configured (DIEM_CHARGING_URL unset): nothing is ever
    provisioned, and nothing is known, so every order stays pending."""

    def provision(self, order_id: str, msisdn: str, sku: str) -> Answer:
        return unknown("no charging system is configured")

    def status(self, order_id: str) -> Answer:
        return unknown("no charging system is configured")


class HttpCharging:
    """docs/charging.md over HTTP, one request per call (no retry here: the
    order's request and the settlement job decide when to ask again)."""

    def __init__(self, url: str, timeout: float) -> None:
        if not endpoints.allowed(url):
            raise ValueError("DIEM_CHARGING_URL must be https://, or http:// to a loopback address (the simulator)")
        self.url, self.timeout = url.rstrip("/"), timeout

    def provision(self, order_id: str, msisdn: str, sku: str) -> Answer:
        body = json.dumps({"order_id": order_id, "msisdn": msisdn, "sku": sku}).encode()
        status, answer = self._call("POST", "/provision", body, order_id)
        if answer.get("order_id") != order_id:  # an answer about another order says nothing of this one
            return unknown(f"provision answered {status or 'nothing'} for another order")
        if status == 200 and answer.get("status") == Outcome.provisioned:
            return Answer(Outcome.provisioned, reference=_text(answer.get("reference")))
        if status == 409 and answer.get("status") == Outcome.refused:
            return Answer(Outcome.refused, _text(answer.get("reason")) or "refused")
        return unknown(f"provision answered {status or 'nothing'}")

    def status(self, order_id: str) -> Answer:
        status, answer = self._call("GET", f"/orders/{quote(order_id, safe='')}", None, None)
        said = answer.get("status") if status == 200 and answer.get("order_id") == order_id else None
        if said == Outcome.provisioned:
            return Answer(Outcome.provisioned, reference=_text(answer.get("reference")))
        if said == Outcome.refused:
            return Answer(Outcome.refused, _text(answer.get("reason")) or "refused")
        return unknown(f"status answered {status or 'nothing'} {said or ''}".strip())

    def _call(self, method: str, path: str, body: bytes | None, key: str | None) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON object answered); (0, {}) when nothing came back in time."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)  # noqa: S310
        try:
            with endpoints.urlopen(request, self.timeout) as response:
                return response.status, _json(response.read(MAX_ANSWER_BYTES))
        except urllib.error.HTTPError as refused:  # a non-2xx answer: read what it says
            with refused:
                try:
                    return refused.code, _json(refused.read(MAX_ANSWER_BYTES))
                except (HTTPException, OSError):
                    return refused.code, {}
        except (urllib.error.URLError, HTTPException, OSError, ValueError) as exc:  # time-out, reset, garbage
            observability.count("ChargingNoAnswer")
            observability.logger().warning("the charging system did not answer", extra={"error": type(exc).__name__})
            return 0, {}


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value[:200] if isinstance(value, str) and value else None


_adapters: dict[tuple[str | None, str | None, float], Charging] = {}
_lock = threading.Lock()


def charging() -> Charging:
    """The configured charging system (one adapter per configuration, made on first use)."""
    s = config.settings()
    key = (s.charging_url, s.charging_adapter, s.charging_timeout_seconds)
    with _lock:
        if key not in _adapters:
            _adapters[key] = _make(*key)
        return _adapters[key]


def _make(url: str | None, adapter: str | None, timeout: float) -> Charging:
    if adapter:
        module, _, name = adapter.partition(":")
        factory = getattr(importlib.import_module(module), name or "adapter")
        made: Charging = factory(url, timeout)
        return made
    if url:
        return HttpCharging(url, timeout)
    return Unconfigured()
