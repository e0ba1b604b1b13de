"""The API over HTTP (standard library only): JSON in and out, the error shape
`{"error": {"code", "message"}}` turned into `ApiError`, credentials as headers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from email.message import Message
from typing import Any
from urllib.parse import quote, urlencode

from diem_cli import __version__
from diem_cli.config import Settings

USER_AGENT = f"diem-cli/{__version__}"


class ApiError(Exception):
    """The API refused: its status, error code and message."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after

    def shape(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


class Unreachable(Exception):
    """No answer: the address is wrong, the server is down, or it did not answer in time."""


def segment(value: str) -> str:
    """One path segment, escaped (an id never reaches another route)."""
    return quote(value, safe="")


def _retry_after(headers: Message | Mapping[str, str] | None) -> float | None:
    raw = headers.get("Retry-After") if headers is not None else None
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def _refusal(status: int, raw: bytes, headers: Message | Mapping[str, str] | None) -> ApiError:
    try:
        error = json.loads(raw)["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        code, message = f"HTTP_{status}", raw.decode("utf-8", "replace").strip()[:300] or "no error body"
    return ApiError(status, code, message, _retry_after(headers))


class Client:
    """Calls on `settings.url` with the given credential headers."""

    def __init__(self, settings: Settings, credentials: Mapping[str, str]) -> None:
        self.settings = settings
        self._credentials = dict(credentials)

    def __repr__(self) -> str:  # the credentials stay out of tracebacks
        return f"Client({self.settings.url!r})"

    def call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str | int | None] | None = None,
        body: Any = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """The decoded JSON answer of a 2xx (None for an empty body); else ApiError or Unreachable."""
        params = {k: str(v) for k, v in (query or {}).items() if v is not None}
        url = self.settings.url + path + (f"?{urlencode(params)}" if params else "")
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **self._credentials}
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 (http(s) only: config)
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.settings.timeout) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                raise _refusal(exc.code, exc.read(), exc.headers) from None
        except OSError as exc:
            reason = getattr(exc, "reason", exc)
            raise Unreachable(f"no answer from {self.settings.url}: {reason}") from None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise Unreachable(f"{self.settings.url} answered something that is not JSON") from None
