"""Test helpers for the events pipeline: a clock the tests move, and real
webhook receivers (HTTP servers on 127.0.0.1) that record every request and
answer as a test tells them (a status, or too late)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chalicelib import clock
from conftest import T0, MovingClock

__all__ = ["T0", "MovingClock", "Received", "Receiver", "drive"]


@dataclass
class Received:
    """One request a receiver got: when (on diem's clock), its headers and body."""

    at: datetime
    headers: dict[str, str]
    body: bytes
    answered: int | None  # None: it answered too late

    @property
    def event_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def json(self) -> Any:
        return json.loads(self.body)


# what to answer a request: a status code, or ("late", seconds) to answer too late
Behaviour = Callable[[int], "int | tuple[str, float]"]


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1; `behaviour(n)` answers its n-th request."""

    behaviour: Behaviour = lambda n: 204
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    path: str = "/hook"

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"

    def start(self) -> Receiver:
        owner = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with lock:
                    n = len(owner.received)
                    answer = owner.behaviour(n)
                    record = Received(clock.now(), {k.lower(): v for k, v in self.headers.items()}, body, None)
                    owner.received.append(record)
                if isinstance(answer, tuple):
                    time.sleep(answer[1])  # the receiver is slow: diem has given up by then
                    answer = 200
                else:
                    record.answered = answer
                try:
                    self.send_response(answer)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:
                    pass  # diem closed the connection: it timed out

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def delivered(self) -> list[Received]:
        return [r for r in self.received if r.answered is not None and 200 <= r.answered < 300]


def drive(pump: Any, moving: MovingClock, *, until: datetime | None = None, max_steps: int = 2000) -> int:
    """Run the pipeline, then move the clock to each next due message and
    drain the queue, until it is empty (or the next message is due after
    `until`); the streams are read again at the end. The steps taken."""
    pump.run_until_idle()
    for step in range(max_steps):
        due = pump.queue.next_due()
        if due is None or (until is not None and due > until):
            pump.run_until_idle()
            return step
        moving.to(due)
        pump.queue.drain(pump.consumer)
    raise AssertionError(f"the deliveries queue still had messages after {max_steps} steps")
