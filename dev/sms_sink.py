"""A stand-in SMS centre on 127.0.0.1: takes what `chalicelib.notify.sms.HttpSender`
POSTs (`{"to", "text", "ref"}`), keeps it, and prints it when asked to.

`make run` starts one and points DIEM_SMS_URL at it, so SMS replies show in
its console; the tests start their own to see what was sent (and how often).

    python -m dev.sms_sink --port 8025     # on its own, printing each message
"""

from __future__ import annotations

import argparse
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY = 64 * 1024


@dataclass
class SmsSink:
    """The running sink and what it received, in order."""

    server: ThreadingHTTPServer
    echo: bool = False
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/sms"

    def messages(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.received)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(sink: SmsSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != "/sms":
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            length = int(self.headers.get("content-length") or 0)
            try:
                message = json.loads(self.rfile.read(min(length, MAX_BODY)))
                valid = isinstance(message, dict) and {"to", "text", "ref"} <= set(message)
            except ValueError:
                valid = False
            if not valid:
                self.send_response(400)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            with sink.lock:
                sink.received.append(message)
            if sink.echo:
                print(f"  SMS to {message['to']} [{message['ref']}]:\n    {message['text']}", flush=True)
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def start(port: int = 0, echo: bool = False) -> SmsSink:
    """Serve on 127.0.0.1:`port` (0: a free one) in a daemon thread."""
    server = ThreadingHTTPServer(("127.0.0.1", port), BaseHTTPRequestHandler)
    sink = SmsSink(server, echo)
    server.RequestHandlerClass = _handler(sink)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="sms-sink", daemon=True).start()
    return sink


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.sms_sink", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8025)
    args = parser.parse_args(argv)
    sink = start(args.port, echo=True)
    print(f"SMS sink on {sink.url} (Ctrl-C stops it)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sink.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
