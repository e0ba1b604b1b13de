"""A world for the channel tests, on the real local engine (`engine_api`): a
subscriber with points, a partner and launched campaigns, a USSD and an SMS
gateway (their keys from `POST /v1/gateways`), an SMS sink on 127.0.0.1, and
helpers to dial the menu and send an SMS as a gateway does."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from chalicelib import clock, config
from conftest import MARKETER, OPERATOR, Api, Response
from dev import sms_sink

ME = "84961234567"
OTHER = "84971112233"
NOW = datetime(2026, 11, 10, 3, tzinfo=UTC)
FORM = "application/x-www-form-urlencoded"
SHORT_CODE = "*098#"


def campaign_body(partner_id: str, name: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "partner_id": partner_id,
        "voucher": {"title": f"Voucher {name}", "value_vnd": 30_000},
        "points_price": 2_000,
        "inventory": 50,
        "per_subscriber_limit": 3,
        "starts_at": "2026-11-01T00:00:00Z",
        "ends_at": "2026-12-01T00:00:00Z",
        "voucher_valid_days": 30,
        **fields,
    }


@dataclass
class World:
    api: Api
    partner_id: str
    ussd_key: str
    sms_key: str
    ussd_gateway: str
    sms_gateway: str
    sink: sms_sink.SmsSink
    campaigns: list[str] = field(default_factory=list)
    sessions: int = 0

    def launch(self, name: str, **fields: Any) -> str:
        """A launched campaign (the newest is listed first)."""
        # each a second after the last, so "newest first" is one order
        created = NOW + timedelta(seconds=len(self.campaigns) + 1)
        clock.set_now(lambda: created)
        body = campaign_body(self.partner_id, name, **fields)
        campaign_id = str(self.api.post("/v1/campaigns", body, headers=MARKETER, expect=201).data["campaign_id"])
        self.api.post(f"/v1/campaigns/{campaign_id}/launch", headers=MARKETER, expect=200)
        self.campaigns.append(campaign_id)
        return campaign_id

    def subscriber(self, msisdn: str, points: int, activated_on: str = "2020-01-01") -> None:
        profile = {"activated_on": activated_on, "plan": "prepaid"}
        r = self.api.put(f"/v1/subscribers/{msisdn}", profile, headers=OPERATOR)
        assert r.status_code in (200, 201), r.data
        if points:
            adjustment = {"points": points, "reason": "opening balance"}
            self.api.post(f"/v1/subscribers/{msisdn}/adjustments", adjustment, headers=OPERATOR, expect=201)

    def new_session(self) -> str:
        self.sessions += 1
        return f"ATUid_{self.sessions:04d}"

    def dial(self, text: str, session: str, phone: str = ME, key: str | None = None, **extra: str) -> Response:
        """One USSD callback, form-encoded as the gateway sends it."""
        form = {"sessionId": session, "serviceCode": SHORT_CODE, "phoneNumber": phone, "text": text, **extra}
        headers = {"Content-Type": FORM, "X-Gateway-Key": key or self.ussd_key}
        return self.api.call("POST", "/v1/channels/ussd", headers=headers, raw=urlencode(form))

    def screen(self, text: str, session: str, phone: str = ME) -> str:
        """The screen a callback answers (asserting the reply's form)."""
        r = self.dial(text, session, phone)
        assert r.status_code == 200, (text, r.status_code, r.data)
        assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert r.text is not None and r.text.startswith(("CON ", "END ")), r.text
        return r.text

    def session_of(self, *texts: str, phone: str = ME) -> list[str]:
        """A whole session: each text in turn, as a person types on."""
        session = self.new_session()
        return [self.screen(text, session, phone) for text in texts]

    def sms(self, message_id: str, text: str, sender: str = ME, key: str | None = None) -> Response:
        body = {"message_id": message_id, "from": sender, "text": text}
        return self.api.post("/v1/channels/sms", body, headers={"X-Gateway-Key": key or self.sms_key})


def _reread_settings() -> None:
    """Read the settings now, outside any request: the Chalice test client runs
    each request under .chalice/config.json's environment (another table prefix)."""
    config.reset()
    config.settings()


@pytest.fixture
def sink(engine_tables: str) -> Iterator[sms_sink.SmsSink]:
    """An SMS centre on 127.0.0.1 that DIEM_SMS_URL points at for the test."""
    running = sms_sink.start()
    before = os.environ.get("DIEM_SMS_URL")
    os.environ["DIEM_SMS_URL"] = running.url
    _reread_settings()
    try:
        yield running
    finally:
        if before is None:
            os.environ.pop("DIEM_SMS_URL", None)
        else:
            os.environ["DIEM_SMS_URL"] = before
        _reread_settings()
        running.stop()


@pytest.fixture
def world(engine_api: Api, sink: sms_sink.SmsSink) -> World:
    clock.set_now(lambda: NOW)
    api = engine_api
    partner = api.post("/v1/partners", {"name": "Highlands"}, headers=MARKETER, expect=201).data
    ussd = api.post("/v1/gateways", {"name": "USSD centre", "channel": "ussd"}, headers=OPERATOR, expect=201).data
    sms = api.post("/v1/gateways", {"name": "SMS centre", "channel": "sms"}, headers=OPERATOR, expect=201).data
    made = World(
        api, partner["partner_id"], ussd["api_key"], sms["api_key"], ussd["gateway_id"], sms["gateway_id"], sink
    )
    made.subscriber(ME, 50_000)
    return made


def run_together(count: int, call: Callable[[int], Any]) -> list[Any]:
    """`call(0..count-1)` on `count` threads released at once by a barrier."""
    start = threading.Barrier(count, timeout=30)
    results: list[Any] = [None] * count

    def one(n: int) -> None:
        start.wait()
        results[n] = call(n)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results
