"""The local API server of `make run`: Chalice's own local gateway on a server that takes load.

`python -m dev.local_server --port 8000` serves `app.py`'s `app` on 127.0.0.1.
`dev.serve` starts it as a subprocess (its own interpreter, so the API and the
embedded DynamoDB engine each have a core and a GIL; the engine stays
serialised behind its own lock in the `dev.serve` process).

What is Chalice's and reused as it is (chalice 1.34, `chalice.local`):
``LocalGateway`` builds the API Gateway event, runs the route's authorizer and
calls the app; ``LocalDevServer`` wires a handler class and a server class to
the app; ``ChaliceRequestHandler`` maps HTTP to and from the gateway; the app's
class is swapped for ``CustomLocalChalice`` (a thread-local ``current_request``)
as ``chalice local`` does.

What is changed, and why:

* The server: ``ThreadingHTTPServer`` with daemon threads and a listen backlog
  of ``REQUEST_QUEUE_SIZE`` (the stdlib's is 5: a burst of 32 clients against
  ``chalice local`` got ``Connection reset by peer``). One thread per
  connection; HTTP/1.1 keep-alive, with no idle time-out (so the server never
  closes a connection a client is about to reuse); Nagle off, so a response's
  headers and body are not held back by delayed ACKs.
* The gateway's own refusals (a bearer route called with no Authorization
  header, an unknown route, an authorizer's deny) are answered in the API's
  error shape, with the status and code `infra/build.py`'s
  ``GATEWAY_RESPONSES`` give them in AWS (401 ``UNAUTHENTICATED``, 404
  ``NOT_FOUND``, 403 ``FORBIDDEN``), ``Content-Type: application/json`` and an
  ``X-Correlation-Id`` like every other response (the caller's, else the
  gateway's request id). Chalice answers ``{"message": "Unauthorized"}``.
* HEAD gets the headers (``Content-Length`` of the body it would have) and no
  body: Chalice writes the body, which the client then reads as the start of
  the next response on the same connection.
* A request body is always read off the socket before the answer (chunked
  bodies too), and anything unexpected in this module is a 500 in the error
  shape that closes the connection, never a dropped connection.
* The web console (`web/dist`, built by `make console`) is served on the same
  port, so it calls the API on its own origin as it does behind CloudFront:
  GET and HEAD of any path outside `/v1/` (`dev/console.py`).

Started with ``--wait-for-go``, the server binds the port at once (a port in
use fails fast and connections queue in the backlog) but answers only after a
line on stdin, so ``dev.serve`` can import the app here while it seeds the
demo data there: the first 200 comes with the demo data in place. End of stdin
(the parent has gone) stops the server.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import traceback
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import FrameType, SimpleNamespace
from typing import Any

from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    ForbiddenError,
    InvalidAuthorizerError,
    LocalChalice,
    LocalDevServer,
    LocalGatewayException,
    NotAuthorizedError,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOST = "127.0.0.1"
DEFAULT_STAGE = "dev"
# the kernel caps it at net.core.somaxconn (4096 on current Linux)
REQUEST_QUEUE_SIZE = 1024

# x-amzn-ErrorType of each of API Gateway's own refusals
ERROR_TYPES = {
    "UNAUTHORIZED": "UnauthorizedException",
    "ACCESS_DENIED": "AccessDeniedException",
    "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
    "DEFAULT_5XX": "AuthorizerConfigurationException",
}

__all__ = ["ERROR_TYPES", "GatewayRequestHandler", "LocalHTTPServer", "create_server", "gateway_refusal", "main"]


class LocalHTTPServer(ThreadingHTTPServer):
    """One daemon thread per connection, a deep listen backlog."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = REQUEST_QUEUE_SIZE
    allow_reuse_address = True


def gateway_refusal(error: LocalGatewayException) -> tuple[str, int, str, str]:
    """API Gateway's kind of response, status, error code and message of a
    refusal by the gateway itself, as in AWS."""
    from infra.build import GATEWAY_RESPONSES

    if isinstance(error, NotAuthorizedError):
        kind, message = "UNAUTHORIZED", "Missing bearer token."
    elif isinstance(error, ForbiddenError) and error.headers.get("x-amzn-ErrorType") == "AccessDeniedException":
        kind, message = "ACCESS_DENIED", "The authorizer denied this request."
    elif isinstance(error, ForbiddenError):
        kind, message = "MISSING_AUTHENTICATION_TOKEN", "No such route."
    elif isinstance(error, InvalidAuthorizerError):
        kind, message = "DEFAULT_5XX", "The authorizer gave no answer."
    else:
        kind, message = "DEFAULT_5XX", "The gateway could not serve this request."
    status, code = GATEWAY_RESPONSES[kind]
    return kind, status if status is not None else error.CODE, code, message


class GatewayRequestHandler(ChaliceRequestHandler):
    """``ChaliceRequestHandler`` with the fixes above; routing, events and auth are Chalice's."""

    server_version = "diem-local"
    disable_nagle_algorithm = True
    timeout = None  # keep-alive connections stay open until the client closes them

    def _parse_payload(self) -> tuple[dict[str, Any], bytes | None]:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            body: bytes | None = self._read_chunked()
        else:
            length = int(self.headers.get("content-length") or 0)  # a bad one: 500 below, connection closed
            body = self.rfile.read(length) if length > 0 else None
        headers = {name: value for name, value in self.headers.items() if name.lower() != "transfer-encoding"}
        return headers, body

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int(self.rfile.readline(65537).split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline(65537)

    def _generic_handle(self) -> None:
        try:
            if self._console():
                return
            super()._generic_handle()
        except ConnectionError:  # the client has gone (closed, timed out): nobody to answer
            self.close_connection = True
        except Exception:  # our bug or Chalice's: answer it, never drop the connection silently
            traceback.print_exc()
            self.close_connection = True
            self._send_error_shape(500, "INTERNAL", "The local server failed on this request.", {})

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    # -- the web console on the same port (dev/console.py): every path but /v1/... --

    def _console(self) -> bool:
        """Serve the console's files for a GET or HEAD outside /v1/; True if answered."""
        from dev import console

        if self.command not in ("GET", "HEAD") or not console.is_console_path(self.path):
            return False
        self._parse_payload()  # read any body off the socket first, as for the API
        status, headers, body = console.response(self.path)
        self._send_http_response_with_body(status, headers, body)
        return True

    def _send_error_response(self, error: LocalGatewayException) -> None:
        kind, status, code, message = gateway_refusal(error)
        headers = {**error.headers, "x-amzn-ErrorType": ERROR_TYPES[kind]}
        self._send_error_shape(status, code, message, headers)

    def _send_error_shape(self, status: int, code: str, message: str, headers: dict[str, Any]) -> None:
        from chalicelib.api.http import correlation_id

        request = SimpleNamespace(
            headers={name.lower(): value for name, value in self.headers.items()},
            context={"requestId": headers.get("x-amzn-RequestId")},
        )
        headers["X-Correlation-Id"] = correlation_id(request)
        headers["Content-Type"] = "application/json"
        body = json.dumps({"error": {"code": code, "message": message}})
        self._send_http_response_with_body(status, headers, body)

    def _send_http_response_with_body(self, code: int, headers: dict[str, Any], body: str | bytes) -> None:
        data = body if isinstance(body, bytes) else body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        if self.close_connection:
            self.send_header("Connection", "close")
        self._send_headers(headers)
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:  # type: ignore[attr-defined]
            super().log_message(format, *args)


def _config(stage: str) -> Config:
    """The stage's settings from .chalice/config.json, as `chalice local` reads them."""
    config_from_disk = json.loads((ROOT / ".chalice" / "config.json").read_text())
    defaults = {"project_dir": str(ROOT), "api_gateway_stage": "api", "autogen_policy": False}
    return Config(chalice_stage=stage, config_from_disk=config_from_disk, default_params=defaults)


def create_server(
    port: int, host: str = DEFAULT_HOST, stage: str = DEFAULT_STAGE, quiet: bool = False
) -> LocalDevServer:
    """Import the app and bind `host:port` (0 = any free port); `serve_forever()` answers."""
    config = _config(stage)
    for name, value in config.environment_variables.items():
        os.environ.setdefault(name, value)  # what dev.serve set (and seeded with) wins
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from app import app

    # what chalice.local.create_local_server does: a thread-local current_request
    if not isinstance(app, LocalChalice):
        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice
    server = LocalDevServer(app, config, host, port, handler_cls=GatewayRequestHandler, server_cls=LocalHTTPServer)
    server.server.quiet = quiet  # type: ignore[attr-defined]
    server.port = server.server.server_address[1]
    return server


def _stop_on_eof(server: LocalDevServer) -> None:
    """Stop when stdin closes (the parent has gone)."""
    while sys.stdin.readline():
        pass
    server.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.local_server", description="diem's local API server.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--stage", default=DEFAULT_STAGE)
    parser.add_argument("--quiet", action="store_true", help="no line per request")
    parser.add_argument("--wait-for-go", action="store_true", help="bind now, answer after a line on stdin")
    parser.add_argument("--events", action="store_true", help="run the events pipeline in-process (dev.events)")
    args = parser.parse_args(argv)

    def _exit(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    try:
        server = create_server(args.port, args.host, args.stage, args.quiet)
    except OSError as exc:
        print(f"error: the API cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        if args.wait_for_go and not sys.stdin.readline():
            return 0
        if args.wait_for_go:
            threading.Thread(target=_stop_on_eof, args=(server,), daemon=True).start()
        pump = _events_pipeline() if args.events else None
        try:
            server.serve_forever()
        finally:
            if pump is not None:
                pump.stop()
    finally:
        server.server.server_close()
    return 0


# -- the events pipeline (issue 8) ----------------------------------------------


def _events_pipeline() -> Any:
    """Streams -> events -> webhooks and SMS, polled in this process (`make run`);
    the SMS go to DIEM_SMS_URL (`make run`'s sink prints them)."""
    from dev.events import Pump

    pump = Pump()
    pump.start()
    return pump


if __name__ == "__main__":
    raise SystemExit(main())
