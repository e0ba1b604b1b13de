"""The operator's own systems diem calls (the SMS centre, the charging system):
which configured URLs are acceptable, and an opener that never follows a
redirect (a redirected request would reach a host nobody configured, and a
POST redirected with 303 would turn into a GET)."""

from __future__ import annotations

import ipaddress
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import urllib.request


def allowed(url: str) -> bool:
    """https anywhere; plain http only to this machine (a local sink or simulator)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    if parts.scheme != "http" or not parts.hostname:
        return False
    return is_loopback(parts.hostname)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@cache
def _opener() -> urllib.request.OpenerDirector:
    import urllib.request  # on first use: the API's cold start never needs it

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None  # the 3xx answer is raised as an HTTPError, never followed

    return urllib.request.build_opener(NoRedirect)


def urlopen(request: urllib.request.Request, timeout: float) -> Any:
    """`urllib.request.urlopen` without following redirects (a 3xx is an HTTPError)."""
    return _opener().open(request, timeout=timeout)
