"""A stand-in for the operator's charging system on 127.0.0.1, speaking the
API of docs/charging.md, with switchable faults.

    POST /provision      {"order_id", "msisdn", "sku"} -> 200 {"status": "provisioned", ...}
                         or 409 {"status": "refused", "reason"}; idempotent by order_id
    GET  /orders/{id}    -> 200 {"order_id", "status": "provisioned" | "refused" | "unknown"}
    POST /admin/faults   {"mode"?, "probabilities"?, "seed"?, "timeout_seconds"?, "slow_seconds"?,
                          "lag_reads"?, "refused_skus"?} -> 200 the fault settings
    GET  /admin/stats    -> 200 what it did: orders provisioned and refused, faults drawn, calls
    POST /admin/reset    -> 200, every order forgotten

Faults (each drawn once, for an order id the simulator has not decided yet):
- `refuse`: refused (409), for good;
- `timeout_before`: the caller waits `timeout_seconds` (set it above the
  caller's time-out) and nothing is provisioned: the order stays unknown, and a
  later provisioning request for it is decided afresh (it may then succeed or fail);
- `timeout_after`: provisioned, but the answer comes only after `timeout_seconds`;
- `slow`: provisioned, answered after `slow_seconds` (below the caller's time-out);
- `status_lag`: provisioned, the connection dropped without an answer, and
  `GET /orders/{id}` says `unknown` for its next `lag_reads` reads.
`mode` gives every new order that fault; otherwise each is drawn with its
`probabilities` (seeded by `seed`). A sku in `refused_skus` is always refused.

`make run` starts one (dev/serve.py) and points DIEM_CHARGING_URL at it; the
tests start their own (the `charging` fixture) and read its state directly.

    python -m dev.charging_sim --port 8030 --probability refuse=0.1 --probability timeout_after=0.1
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

FAULTS = ("refuse", "timeout_before", "timeout_after", "slow", "status_lag")
MAX_BODY = 16 * 1024
PROVISIONED, REFUSED, UNKNOWN = "provisioned", "refused", "unknown"


@dataclass
class Faults:
    """What goes wrong, for orders not decided yet."""

    mode: str | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    seed: int | None = None
    timeout_seconds: float = 1.0
    slow_seconds: float = 0.1
    lag_reads: int = 2
    refused_skus: frozenset[str] = frozenset()

    def check(self) -> None:
        named = set(self.probabilities) | ({self.mode} if self.mode is not None else set())
        if named - set(FAULTS):
            raise ValueError(f"unknown fault(s) {sorted(named - set(FAULTS))}; known: {', '.join(FAULTS)}")
        if any(p < 0 for p in self.probabilities.values()) or sum(self.probabilities.values()) > 1:
            raise ValueError("fault probabilities are each >= 0 and sum to at most 1")

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "probabilities": self.probabilities,
            "seed": self.seed,
            "timeout_seconds": self.timeout_seconds,
            "slow_seconds": self.slow_seconds,
            "lag_reads": self.lag_reads,
            "refused_skus": sorted(self.refused_skus),
        }


@dataclass
class Order:
    """What the simulator decided for one order id."""

    status: str  # provisioned | refused
    msisdn: str
    sku: str
    reference: str
    reason: str | None = None
    fault: str | None = None
    unknown_reads: int = 0  # status reads still answered unknown (status_lag)
    provisions: int = 1  # provisioning requests for it


class ChargingSim:
    """The running simulator: its settings, the orders it decided, what it was asked."""

    def __init__(self, server: ThreadingHTTPServer, faults: Faults) -> None:
        self.server = server
        self.lock = threading.Lock()
        self.orders: dict[str, Order] = {}
        self.drawn: Counter[str] = Counter()  # faults drawn, by kind ("none" too)
        self.calls: Counter[str] = Counter()  # requests, by endpoint
        self.configure(faults)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def configure(self, faults: Faults) -> None:
        faults.check()
        with self.lock:
            self.faults = faults
            self.random = random.Random(faults.seed)

    def reset(self) -> None:
        with self.lock:
            self.orders.clear()
            self.drawn.clear()
            self.calls.clear()

    def status_of(self, order_id: str) -> str:
        """The truth (no lag): provisioned, refused or unknown."""
        with self.lock:
            found = self.orders.get(order_id)
            return found.status if found else UNKNOWN

    def stats(self) -> dict[str, Any]:
        with self.lock:
            statuses = Counter(o.status for o in self.orders.values())
            return {
                "orders": len(self.orders),
                PROVISIONED: statuses[PROVISIONED],
                REFUSED: statuses[REFUSED],
                "faults": dict(self.drawn),
                "calls": dict(self.calls),
            }

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- the decisions (under the lock) --------------------------------------

    def _draw(self, sku: str) -> str | None:
        f = self.faults
        if sku in f.refused_skus:
            return "refuse"
        if f.mode is not None:
            return f.mode
        roll, edge = self.random.random(), 0.0
        for fault in FAULTS:
            edge += f.probabilities.get(fault, 0.0)
            if roll < edge:
                return fault
        return None

    def provision(self, order_id: str, msisdn: str, sku: str) -> tuple[str | None, Order | None, float]:
        """(fault drawn or None, the order as decided or None if not, seconds to hold the answer)."""
        with self.lock:
            self.calls["provision"] += 1
            known = self.orders.get(order_id)
            if known is not None:
                known.provisions += 1
                return None, known, 0.0
            fault = self._draw(sku)
            self.drawn[fault or "none"] += 1
            f = self.faults
            if fault == "timeout_before":
                return fault, None, f.timeout_seconds
            reference = "chg_" + secrets.token_hex(6)
            if fault == "refuse":
                made = Order(REFUSED, msisdn, sku, reference, "refused by the charging simulator", fault)
            else:
                made = Order(PROVISIONED, msisdn, sku, reference, fault=fault)
                if fault == "status_lag":
                    made.unknown_reads = f.lag_reads
            self.orders[order_id] = made
            hold = {"timeout_after": f.timeout_seconds, "slow": f.slow_seconds}.get(fault or "", 0.0)
            return fault, made, hold

    def read(self, order_id: str) -> dict[str, Any]:
        """What `GET /orders/{id}` answers (a lagging order: unknown, for a few reads)."""
        with self.lock:
            self.calls["status"] += 1
            found = self.orders.get(order_id)
            if found is None or found.unknown_reads > 0:
                if found is not None:
                    found.unknown_reads -= 1
                return {"order_id": order_id, "status": UNKNOWN}
            said = {"order_id": order_id, "status": found.status, "reference": found.reference}
            return {**said, "reason": found.reason} if found.reason else said


def _faults_from(body: dict[str, Any], current: Faults) -> Faults:
    known = set(Faults.__dataclass_fields__)
    if not set(body) <= known:
        raise ValueError(f"unknown setting(s): {sorted(set(body) - known)}")
    settings = {**current.__dict__, **body}
    settings["refused_skus"] = frozenset(settings.get("refused_skus") or ())
    settings["probabilities"] = {str(k): float(v) for k, v in (settings.get("probabilities") or {}).items()}
    return Faults(**settings)


def _handler(sim: ChargingSim) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except OSError:  # the caller gave up waiting (a time-out fault): nobody to answer
                self.close_connection = True

        def _body(self) -> dict[str, Any] | None:
            length = int(self.headers.get("content-length") or 0)
            try:
                value = json.loads(self.rfile.read(min(length, MAX_BODY)) or b"{}")
            except ValueError:
                return None
            return value if isinstance(value, dict) else None

        def do_POST(self) -> None:
            body = self._body()
            if body is None:
                self._answer(400, {"error": "the body must be a JSON object"})
            elif self.path == "/provision":
                self._provision(body)
            elif self.path == "/admin/faults":
                try:
                    sim.configure(_faults_from(body, sim.faults))
                except (TypeError, ValueError) as exc:
                    self._answer(400, {"error": str(exc)})
                    return
                self._answer(200, sim.faults.as_json())
            elif self.path == "/admin/reset":
                sim.reset()
                self._answer(200, {"orders": 0})
            else:
                self._answer(404, {"error": "no such endpoint"})

        def _provision(self, body: dict[str, Any]) -> None:
            order_id, msisdn, sku = (body.get(k) for k in ("order_id", "msisdn", "sku"))
            key = self.headers.get("idempotency-key")
            if not all(isinstance(v, str) and v for v in (order_id, msisdn, sku)) or key not in (None, order_id):
                self._answer(400, {"error": "order_id, msisdn and sku are strings; Idempotency-Key is the order_id"})
                return
            fault, made, hold = sim.provision(str(order_id), str(msisdn), str(sku))
            if hold:
                time.sleep(hold)
            if fault == "status_lag":
                self.close_connection = True  # provisioned, but the answer is lost
            elif made is None:
                self._answer(504, {"error": "timed out before provisioning"})
            elif made.status == REFUSED:
                self._answer(409, {"order_id": order_id, "status": REFUSED, "reason": made.reason})
            else:
                self._answer(200, {"order_id": order_id, "status": PROVISIONED, "reference": made.reference})

        def do_GET(self) -> None:
            if self.path.startswith("/orders/"):
                order_id = unquote(self.path.removeprefix("/orders/"))
                self._answer(200, sim.read(order_id))
            elif self.path == "/admin/stats":
                self._answer(200, sim.stats())
            else:
                self._answer(404, {"error": "no such endpoint"})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the settlement's many threads connect at once (the default, 5, refuses them)


def start(port: int = 0, faults: Faults | None = None) -> ChargingSim:
    """Serve on 127.0.0.1:`port` (0: a free one) in a daemon thread."""
    server = _Server(("127.0.0.1", port), BaseHTTPRequestHandler)
    sim = ChargingSim(server, faults or Faults())
    server.RequestHandlerClass = _handler(sim)
    # a short poll: `stop` (shutdown) waits for the loop to look
    threading.Thread(target=server.serve_forever, args=(0.05,), name="charging-sim", daemon=True).start()
    return sim


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.charging_sim", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8030)
    parser.add_argument("--mode", choices=FAULTS, help="every new order gets this fault")
    parser.add_argument("--probability", action="append", default=[], metavar="FAULT=P", help="e.g. refuse=0.1")
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(argv)
    probabilities = {name: float(p) for name, _, p in (item.partition("=") for item in args.probability)}
    sim = start(args.port, Faults(args.mode, probabilities, args.seed))
    print(f"charging simulator on {sim.url} (Ctrl-C stops it)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
