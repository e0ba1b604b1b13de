"""One POST to a checked target, connecting to the address that was checked
(the name is sent as Host and, for https, as SNI and for the certificate
check), no redirects followed, at most `webhook_timeout_seconds` in all."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from chalicelib.config import rules
from chalicelib.webhooks.urls import Target

# a receiver's answer is read this far, then dropped
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Outcome:
    """The receiver's status code, or None with why there was none."""

    status: int | None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


_context: ssl.SSLContext | None = None


def _tls() -> ssl.SSLContext:
    global _context
    if _context is None:
        _context = ssl.create_default_context()
    return _context


def post(target: Target, body: bytes, headers: dict[str, str]) -> Outcome:
    import urllib3

    timeout = urllib3.Timeout(total=rules().webhook_timeout_seconds)
    sent = {**headers, "host": target.host_header, "content-length": str(len(body))}
    pool: urllib3.HTTPConnectionPool
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            server_hostname=target.host,
            assert_hostname=target.host,
            ssl_context=_tls(),
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, timeout=timeout, retries=False, maxsize=1)
    try:
        response = pool.urlopen(
            "POST", target.path, body=body, headers=sent, redirect=False, preload_content=False, assert_same_host=False
        )
        try:
            response.read(MAX_ANSWER_BYTES)
        finally:
            response.release_conn()
        return Outcome(int(response.status))
    except urllib3.exceptions.TimeoutError:
        return Outcome(None, "timed out")
    except urllib3.exceptions.HTTPError as exc:
        return Outcome(None, f"no answer ({type(exc).__name__})")
    finally:
        pool.close()
