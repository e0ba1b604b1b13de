"""The one place the `diem` command line reads its configuration (the environment).

- `DIEM_URL`: the API's base address (default `http://127.0.0.1:8000`, what `make run` serves).
- `DIEM_TOKEN`: a bearer token (a marketer's for campaigns, grants and stats; an operator's for events).
- `DIEM_API_KEY`: a partner shop's API key (settlement; events as that partner).
- `DIEM_TIMEOUT`: seconds to wait for one answer (default 120: a grant of 1,000 takes a while).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_SECONDS = 120.0


class ConfigError(ValueError):
    """The configuration cannot work (bad usage: exit code 2)."""


@dataclass(frozen=True)
class Settings:
    url: str
    token: str | None
    api_key: str | None
    timeout: float

    def __repr__(self) -> str:  # never show the secrets (tracebacks, logs)
        token, key = ("set" if self.token else None), ("set" if self.api_key else None)
        return f"Settings(url={self.url!r}, token={token}, api_key={key})"


def load(env: Mapping[str, str] | None = None) -> Settings:
    """The settings from the environment; a ConfigError says what is wrong."""
    env = os.environ if env is None else env
    url = (env.get("DIEM_URL") or DEFAULT_URL).strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"DIEM_URL must be an http:// or https:// address, not {url!r}.")
    raw_timeout = env.get("DIEM_TIMEOUT") or str(DEFAULT_TIMEOUT_SECONDS)
    try:
        timeout = float(raw_timeout)
    except ValueError:
        raise ConfigError(f"DIEM_TIMEOUT must be a number of seconds, not {raw_timeout!r}.") from None
    if not 0 < timeout <= 3600:
        raise ConfigError("DIEM_TIMEOUT must be between 0 and 3600 seconds.")
    token = (env.get("DIEM_TOKEN") or "").strip() or None
    api_key = (env.get("DIEM_API_KEY") or "").strip() or None
    return Settings(url=url, token=token, api_key=api_key, timeout=timeout)
