"""`python -m bench.events_latency`: how long a committed change takes to reach
a webhook receiver locally, as `make run` runs (the events pipeline polling the
embedded engine's streams in-process): p50 / p95 from the 201 of a spend event
to the signed POST arriving at a receiver on 127.0.0.1 (TARGETS.md: within 5 s,
p95). Each event is sent after the previous one arrived, so the figure is one
change's latency, not a queue's."""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EVENTS = 30
DEADLINE_SECONDS = 20.0


def _receiver() -> tuple[ThreadingHTTPServer, dict[str, tuple[float, dict[str, str], bytes]]]:
    arrived: dict[str, tuple[float, dict[str, str], bytes]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            entry = json.loads(body)["data"].get("entry_id", "")
            arrived.setdefault(entry, (time.monotonic(), {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, arrived


def run(events: int = EVENTS) -> dict[str, Any]:
    from standardwebhooks import Webhook

    from tests.local_api import start, stop

    api = start()
    receiver, arrived = _receiver()
    try:
        operator = {"Authorization": f"Bearer {api.token('operator', 'bench-crm')}"}
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        status, made = api.call("POST", "/v1/webhooks", operator, {"url": url, "events": ["points.earned"]})
        assert status == 201, made
        msisdn = api.ids["subscribers"][0]
        latencies = []
        for n in range(events):
            body = {"event_id": f"latency-{n}", "msisdn": msisdn, "amount_vnd": 10_000, "service": "mobile",
                    "occurred_at": datetime.now(UTC).isoformat()}  # fmt: skip
            status, answer = api.call("POST", "/v1/spend-events", operator, body)
            committed = time.monotonic()
            assert status == 201, answer
            deadline = committed + DEADLINE_SECONDS
            while f"earn:latency-{n}" not in arrived:
                if time.monotonic() > deadline:
                    raise AssertionError(f"event {n} did not arrive within {DEADLINE_SECONDS} s")
                time.sleep(0.005)
            at, headers, raw = arrived[f"earn:latency-{n}"]
            Webhook(made["secret"]).verify(raw, headers)
            latencies.append(at - committed)
        ordered = sorted(latencies)
        result = {
            "events": events,
            "p50_s": round(statistics.median(ordered), 3),
            "p95_s": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 3),
            "max_s": round(ordered[-1], 3),
        }
        print(
            f"commit -> webhook receipt, locally (make run's pipeline), {events} events: "
            f"p50 {result['p50_s']:.2f} s, p95 {result['p95_s']:.2f} s, max {result['max_s']:.2f} s"
        )
        return result
    finally:
        receiver.shutdown()
        receiver.server_close()
        stop(api)


def main() -> dict[str, Any]:
    return run()


if __name__ == "__main__":
    main()
    sys.exit(0)
