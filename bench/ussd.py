"""A whole USSD session as a gateway sends it: `''` (dial), `2` (offers),
`2*1` (confirm), `2*1*1` (claim), each a form-encoded `POST /v1/channels/ussd`
through the Chalice test client, on the atomic embedded engine.

Per screen: the DynamoDB calls and round trips on diem's client (botocore
events, `bench.CallRecorder`), read and write units computed from item sizes
(`bench.units`), against TARGETS.md (at most 2 round trips a screen, 3 for the
claim), and the median and p90 latency over `SESSIONS` sessions (a new
sessionId each, so every session pins its offers and claims once). The other
screens (`1`, `2*1*2`, `3`, `4`) are counted once. The gateway key is looked
up once and then cached, as in a warm function: the first request of a
function pays one GetItem more.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from bench import CallRecorder, Http, Timing, bearer, new_prefix, peek, use_tables

SESSIONS = 30
SESSION = ("", "2", "2*1", "2*1*1")
OTHERS = ("1", "2*1*2", "3", "4")
# TARGETS.md, "Channels": round trips a screen may take
TARGET = {"2*1*1": 3}
DEFAULT_TARGET = 2
MSISDN = "84940000001"
FORM = "application/x-www-form-urlencoded"


def _screen(http: Http, key: str, session: str, text: str) -> str:
    form = {"sessionId": session, "serviceCode": "*098#", "phoneNumber": MSISDN, "text": text}
    headers = {"Content-Type": FORM, "X-Gateway-Key": key}
    response = http.http.request("POST", "/v1/channels/ussd", headers=headers, body=urlencode(form).encode())
    body = response.body.decode() if isinstance(response.body, bytes) else str(response.body)
    if response.status_code != 200 or not body.startswith(("CON ", "END ")):
        raise RuntimeError(f"USSD {text!r}: HTTP {response.status_code} {body!r}")
    return body


def run(endpoint: str, sessions: int = SESSIONS) -> dict[str, Any]:
    from bench.ops import create_campaign, create_partner, expect, seed_subscriber
    from chalicelib import store

    started = time.perf_counter()
    use_tables(endpoint, new_prefix("ussd"))
    http, bench_peek = Http(), peek(endpoint)
    operator, marketer = bearer("operator", "bench-crm"), bearer("marketer", "bench-mkt")
    seed_subscriber(http, operator, MSISDN, points=1_000_000)
    partner_id, _ = create_partner(http, marketer, "Bench USSD shop")
    create_campaign(http, marketer, partner_id, inventory=10_000, per_subscriber_limit=sessions + 10, points_price=100)
    gateway = http.call("POST", "/v1/gateways", {"name": "bench USSD centre", "channel": "ussd"}, operator)
    key = expect(gateway, 201, "register the gateway")["api_key"]
    for text in SESSION:  # a warm function: the gateway key and the campaign cached
        _screen(http, key, "bench-warm", text)

    measured: list[dict[str, Any]] = []
    with CallRecorder(store.clients(), peek=bench_peek) as recorder:
        for text in SESSION:
            shown = _screen(http, key, "bench-counted", text)
            measured.append({"text": text, "screen": shown, "calls": recorder.take()})
        others = []
        for text in OTHERS:
            _screen(http, key, "bench-others", "")
            recorder.take()
            if text == "2*1*2":
                for step in ("2", "2*1"):
                    _screen(http, key, "bench-others", step)
                recorder.take()
            shown = _screen(http, key, "bench-others", text)
            others.append({"text": text, "screen": shown, "calls": recorder.take()})

    timings = {text: Timing() for text in SESSION}
    for n in range(sessions):
        for text in SESSION:
            t0 = time.perf_counter()
            _screen(http, key, f"bench-timed-{n}", text)
            timings[text].samples_ms.append((time.perf_counter() - t0) * 1000)

    def row(entry: dict[str, Any], timing: Timing | None) -> dict[str, Any]:
        calls = entry["calls"]
        round_trips = sum(c.round_trips for c in calls)
        target = TARGET.get(entry["text"], DEFAULT_TARGET)
        return {
            "text": entry["text"],
            "screen": entry["screen"],
            "calls": [c.label() for c in calls],
            "round_trips": round_trips,
            "target_round_trips": target,
            "met": round_trips <= target,
            "read_units": round(sum(c.read_units for c in calls), 1),
            "write_units": round(sum(c.write_units for c in calls), 1),
            **({"client": timing.as_dict()} if timing else {}),
        }

    return {
        "status": "ok",
        "sessions": sessions,
        "screens": [row(entry, timings[entry["text"]]) for entry in measured],
        "other_screens": [row(entry, None) for entry in others],
        "seconds": round(time.perf_counter() - started, 1),
    }
