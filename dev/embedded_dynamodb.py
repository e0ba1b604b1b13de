"""Atomic embedded DynamoDB for local development (moto server, in-process).

``start()`` runs moto's ``ThreadedMotoServer`` on a loopback port and returns
a handle whose ``endpoint`` can be given to boto3 as ``endpoint_url``.

Why a lock: moto's DynamoDB backend takes no lock around a request.
``UpdateItem`` evaluates its ``ConditionExpression`` and writes in separate
steps, and ``TransactWriteItems`` snapshots and restores whole tables, so
concurrent requests oversell and corrupt data.  Here every DynamoDB request
(``X-Amz-Target: DynamoDB*``, which includes DynamoDB Streams) and every
``/moto-api/*`` request (e.g. ``/moto-api/reset``) runs behind one
``threading.Lock``.  The lock covers the whole WSGI call *and* the
production of the full response body (the iterable is drained and closed
inside the lock).  The request body is read from the socket before taking
the lock and the buffered response is written to the socket after releasing
it, so a slow client cannot hold the lock.

How it is hooked in: ``_AtomicMotoServer`` subclasses moto's
``ThreadedMotoServer`` and overrides ``_server_entry`` (the method that builds
the WSGI app and the werkzeug server) to wrap moto's
``DomainDispatcherApplication`` in ``SerialisedDynamoDBMiddleware``.
``_server_entry`` is private moto API (checked against moto 5.2.5); the tests
in ``tests/dev`` fail loudly if a moto upgrade changes it.

State is process-global (checked against moto 5.2.5):

* moto keeps all backend state in module-level ``BackendDict`` objects.  The
  embedded server and ``moto.mock_aws`` in the same process therefore share
  one set of tables (same default account ``123456789012``, same region).
* ``mock_aws`` resets *all* backends when it starts and when it stops
  (``BackendDict.reset()``), so entering or leaving a ``mock_aws`` context
  wipes the embedded server's tables.  Conversely, tables left behind by the
  embedded server are wiped by the next ``mock_aws`` start, so they do not
  leak into ``mock_aws`` unit tests.
* Calls made through ``mock_aws`` do not go through the lock.  Do not use
  ``mock_aws`` and the embedded server at the same time in one process; run
  ``make run`` (``python -m dev.embedded_dynamodb``) in its own process.
* A boto3 client pointed at the embedded endpoint still reaches the server
  while ``mock_aws`` is active (moto only intercepts ``*.amazonaws.com``
  URLs), but it then sees the same shared, reset-on-start state.
* Because the state is process-global, the lock is module-global too: two
  embedded servers in one process serve the same tables and are serialised
  against each other.
"""

from __future__ import annotations

import argparse
import io
import ipaddress
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

__all__ = [
    "EmbeddedDynamoDB",
    "EngineProcess",
    "SerialisedDynamoDBMiddleware",
    "main",
    "spawn",
    "spawn_module",
    "start",
]

WSGIEnviron = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[WSGIEnviron, StartResponse], Iterable[bytes]]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_CLI_PORT = 8001

# One lock for the whole process: moto's backend state is process-global.
_REQUEST_LOCK = threading.Lock()


def _needs_lock(environ: WSGIEnviron) -> bool:
    """Whether the request touches DynamoDB (or moto's state-changing API)."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    path = str(environ.get("PATH_INFO", ""))
    return target.startswith("DynamoDB") or path.startswith("/moto-api")


def _buffer_request_body(environ: WSGIEnviron) -> None:
    """Read the request body off the socket so it is not read under the lock."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return
    if environ.get("wsgi.input_terminated"):
        data = stream.read()
    else:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        data = stream.read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(data)


class SerialisedDynamoDBMiddleware:
    """WSGI middleware running each DynamoDB request, body included, under a lock."""

    def __init__(self, app: WSGIApp, lock: threading.Lock | None = None) -> None:
        self.app = app
        self.lock = lock if lock is not None else _REQUEST_LOCK

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request; DynamoDB requests are fully produced under the lock."""
        if not _needs_lock(environ):
            return self.app(environ, start_response)
        _buffer_request_body(environ)
        with self.lock:
            result = self.app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return [body]


class _AtomicMotoServer(ThreadedMotoServer):
    """``ThreadedMotoServer`` serving moto through ``SerialisedDynamoDBMiddleware``."""

    def __init__(self, ip_address: str, port: int) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self._startup_error: BaseException | None = None

    def _server_entry(self) -> None:
        app = SerialisedDynamoDBMiddleware(DomainDispatcherApplication(create_backend_app))
        try:
            self._server = make_server(
                self._ip_address,
                self._port,
                app,
                threaded=True,
                request_handler=MotoRequestHandler,
            )
        except (OSError, SystemExit) as exc:  # werkzeug sys.exit()s on bind errors
            self._startup_error = exc
            return
        finally:
            # Always release start(), even if the server could not be built.
            self._server_ready_event.set()
        self._server.serve_forever()

    def start(self) -> None:
        super().start()
        if self._server is None:
            if self._thread is not None:
                self._thread.join()
            raise OSError(
                f"embedded DynamoDB could not listen on {self._ip_address}:{self._port}"
            ) from self._startup_error

    def stop(self) -> None:
        super().stop()
        if self._server is not None:
            self._server.server_close()


class _Stoppable:
    """A handle used as a context manager: leaving it stops what it holds."""

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class EmbeddedDynamoDB(_Stoppable):
    """Handle to a running embedded DynamoDB; use as a context manager or ``stop()``."""

    def __init__(self, server: _AtomicMotoServer) -> None:
        self._server = server
        self.host, self.port = server.get_host_and_port()
        self._stopped = False
        self._stop_lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        """Endpoint URL for boto3's ``endpoint_url``, e.g. ``http://127.0.0.1:8001``."""
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop the server and release the port (idempotent)."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        self._server.stop()

    def __repr__(self) -> str:
        return f"EmbeddedDynamoDB(endpoint={self.endpoint!r})"


def _loopback_host(host: str) -> str:
    """Return ``host`` as an IPv4 loopback address, refusing anything else."""
    if host == "localhost":
        return DEFAULT_HOST
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"host must be an IPv4 loopback address, got {host!r}") from None
    if address.version != 4 or not address.is_loopback:
        raise ValueError(f"host must be an IPv4 loopback address, got {host!r}")
    return host


def start(port: int = 0, host: str = DEFAULT_HOST) -> EmbeddedDynamoDB:
    """Start the atomic embedded DynamoDB on loopback (``port=0`` picks a free port)."""
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range: {port}")
    from dev import engine_serialise, engine_transactions

    engine_transactions.install()
    engine_serialise.install()
    server = _AtomicMotoServer(_loopback_host(host), port)
    server.start()
    return EmbeddedDynamoDB(server)


class EngineProcess(_Stoppable):
    """The embedded DynamoDB in a process of its own (tests, bench): it shares no
    moto state with the caller and uses a core of its own."""

    def __init__(self, process: subprocess.Popen[str], endpoint: str) -> None:
        self._process = process
        self.endpoint = endpoint

    def stop(self) -> None:
        """Stop the engine and wait for it (idempotent)."""
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


def spawn(port: int = 0, start_timeout_s: float = 60.0) -> EngineProcess:
    """Start the engine as `python -m dev.embedded_dynamodb` and wait for its endpoint."""
    process, endpoint = spawn_module(
        "dev.embedded_dynamodb", ["--port", str(port)], "embedded DynamoDB", start_timeout_s
    )
    return EngineProcess(process, endpoint)


def spawn_module(
    module: str, options: list[str], what: str, start_timeout_s: float
) -> tuple[subprocess.Popen[str], str]:
    """`python -m <module> <options>` whose first line of output is its endpoint; waits for it."""
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [sys.executable, "-m", module, *options],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    ready: list[str] = []
    reader = threading.Thread(target=lambda: ready.append(process.stdout.readline().strip()), daemon=True)
    reader.start()
    reader.join(start_timeout_s)
    if not ready or not ready[0].startswith("http://"):
        process.kill()
        process.wait()
        raise OSError(f"{what} did not start within {start_timeout_s} s")
    return process, ready[0]


def main(argv: list[str] | None = None) -> int:
    """CLI: start the embedded DynamoDB, print its endpoint, block until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m dev.embedded_dynamodb",
        description="Atomic embedded DynamoDB (moto) for local development.",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_CLI_PORT,
        help=f"port to listen on (0 = any free port; default {DEFAULT_CLI_PORT})",
    )
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="loopback address to bind (default 127.0.0.1)",
    )
    args = parser.parse_args(argv)

    stop_requested = threading.Event()

    def _request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    try:
        handle = start(port=args.port, host=args.host)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    # Handle SIGINT explicitly too: a process started in the background by a
    # non-interactive shell inherits SIGINT as ignored.
    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)
    print(handle.endpoint, flush=True)
    print("embedded DynamoDB running; press Ctrl-C to stop", file=sys.stderr, flush=True)
    try:
        stop_requested.wait()
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
