"""The charging adapter against the simulator (and against a stand-in answering
what the documented API does not: a 500, garbage, a 409 that is not a refusal),
the simulator's admin API over HTTP, the adapter chosen by configuration, an
order whose settlement fails after the debit answered pending, and the infra
the charging system needs. No DynamoDB except where an order is placed."""

from __future__ import annotations

import dataclasses
import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from products.shop import CATALOGUE, subscriber

from chalicelib import config
from chalicelib.idempotency import Idempotency
from chalicelib.points import service as points
from chalicelib.products import catalogue, orders
from chalicelib.products import charging as adapter
from chalicelib.products.charging import Answer, HttpCharging, Outcome
from chalicelib.store import ProductOrder
from conftest import CHARGING_TIMEOUT_SECONDS, at


def _admin(sim: Any, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    method = "POST" if data is not None else "GET"
    request = urllib.request.Request(sim.url + path, data=data, method=method)  # noqa: S310 (the simulator, 127.0.0.1)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_the_adapter_reads_each_fault_as_the_documented_api_says(charging):
    system = HttpCharging(charging.url, CHARGING_TIMEOUT_SECONDS)
    expected = {
        None: (Outcome.provisioned, "provisioned"),
        "refuse": (Outcome.refused, "refused"),
        "timeout_before": (Outcome.unknown, "unknown"),
        "timeout_after": (Outcome.unknown, "provisioned"),
        "slow": (Outcome.provisioned, "provisioned"),
        "status_lag": (Outcome.unknown, "provisioned"),
    }
    for mode, (answered, truth) in expected.items():
        charging.configure(dataclasses.replace(charging.faults, mode=mode))
        order_id = f"ord_{mode}"
        said = system.provision(order_id, "84961234567", "DATA_1GB")
        assert said.outcome is answered, (mode, said)
        assert charging.status_of(order_id) == truth, mode
        if mode == "status_lag":  # unknown for its first reads, then the truth
            assert [system.status(order_id).outcome for _ in range(3)] == [Outcome.unknown] * 2 + [Outcome.provisioned]
        charging.configure(dataclasses.replace(charging.faults, mode=None))
        again = system.provision(order_id, "84961234567", "DATA_1GB")  # idempotent: the same decision
        assert again.outcome is (Outcome.provisioned if truth != "refused" else Outcome.refused), mode
    assert system.status("ord_never_seen") == Answer(Outcome.unknown, "status answered 200 unknown")
    assert charging.stats()["faults"] == {"none": 2, **{m: 1 for m in expected if m}}


def test_the_simulators_admin_api(charging):
    status, settings = _admin(charging, "/admin/faults", {"probabilities": {"refuse": 0.5}, "seed": 3})
    assert status == 200 and settings["probabilities"] == {"refuse": 0.5} and settings["seed"] == 3
    assert _admin(charging, "/admin/faults", {"mode": "explode"})[0] == 400
    assert _admin(charging, "/admin/faults", {"probabilities": {"refuse": 0.9, "slow": 0.2}})[0] == 400
    assert _admin(charging, "/admin/faults", {"colour": "red"})[0] == 400
    _admin(charging, "/admin/faults", {"probabilities": {}, "refused_skus": ["GONE"]})
    system = HttpCharging(charging.url, CHARGING_TIMEOUT_SECONDS)
    assert system.provision("ord_1", "84961234567", "GONE").outcome is Outcome.refused
    assert system.provision("ord_2", "84961234567", "DATA").outcome is Outcome.provisioned
    status, stats = _admin(charging, "/admin/stats")
    assert status == 200 and (stats["orders"], stats["provisioned"], stats["refused"]) == (2, 1, 1)
    assert _admin(charging, "/provision", {"order_id": 7})[0] == 400
    assert _admin(charging, "/admin/reset", {}) == (200, {"orders": 0})
    assert charging.status_of("ord_1") == "unknown"


@pytest.fixture
def odd_system() -> Iterator[dict[str, tuple[int, bytes]]]:
    """A server answering whatever the test puts in `answers` (path -> status, body)."""
    answers: dict[str, tuple[int, bytes]] = {}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            path = self.path.split("?")[0]
            answers.setdefault("hits", (0, b""))
            answers["hits"] = (answers["hits"][0] + 1, answers["hits"][1] + f"{self.command} {path}\n".encode())
            status, body, *extra = answers.get(path, (404, b"{}"))
            self.send_response(status)
            for name, value in (extra[0] if extra else {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    answers["url"] = (0, f"http://127.0.0.1:{server.server_address[1]}".encode())
    yield answers
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, b'{"status": "refused"}'),  # a server error is no refusal
        (409, b'{"status": "busy"}'),  # a conflict that does not say refused
        (200, b'{"status": "queued"}'),
        (200, b"not json"),
        (200, b"[1, 2]"),
        (404, b""),
    ],
)
def test_only_a_definite_answer_is_believed(odd_system, status, body):
    system = HttpCharging(odd_system["url"][1].decode(), CHARGING_TIMEOUT_SECONDS)
    odd_system["/provision"] = (status, body)
    odd_system["/orders/ord_1"] = (status, body)
    assert system.provision("ord_1", "84961234567", "DATA").outcome is Outcome.unknown
    assert system.status("ord_1").outcome is Outcome.unknown


def test_a_redirect_is_never_followed(odd_system):
    """The configured URL is checked once; a 3xx would reach a host nobody configured
    (and turn the POST into a GET): it is no answer, and the target is never asked."""
    base = odd_system["url"][1].decode()
    system = HttpCharging(base, CHARGING_TIMEOUT_SECONDS)
    provisioned = b'{"order_id": "ord_1", "status": "provisioned"}'
    odd_system["/elsewhere"] = (200, provisioned)
    odd_system["/provision"] = (302, b"{}", {"Location": base + "/elsewhere"})
    odd_system["/orders/ord_1"] = (301, b"{}", {"Location": base + "/elsewhere"})
    assert system.provision("ord_1", "84961234567", "DATA").outcome is Outcome.unknown
    assert system.status("ord_1").outcome is Outcome.unknown
    asked = odd_system["hits"][1].decode().splitlines()
    assert asked == ["POST /provision", "GET /orders/ord_1"], asked


def test_an_answer_about_another_order_is_no_answer(odd_system):
    system = HttpCharging(odd_system["url"][1].decode(), CHARGING_TIMEOUT_SECONDS)
    odd_system["/provision"] = (200, b'{"order_id": "ord_2", "status": "provisioned"}')
    odd_system["/orders/ord_1"] = (200, b'{"order_id": "ord_2", "status": "refused", "reason": "x"}')
    assert system.provision("ord_1", "84961234567", "DATA").outcome is Outcome.unknown
    assert system.status("ord_1").outcome is Outcome.unknown
    odd_system["/provision"] = (200, b'{"order_id": "ord_1", "status": "provisioned"}')
    assert system.provision("ord_1", "84961234567", "DATA").outcome is Outcome.provisioned


def test_nothing_listening_is_no_answer():
    assert HttpCharging("http://127.0.0.1:9", 0.2).provision("ord_1", "849", "S").outcome is Outcome.unknown


def test_the_adapter_is_chosen_by_configuration(monkeypatch):
    with pytest.raises(ValueError, match="https"):
        HttpCharging("http://charging.example.com", 1)
    assert HttpCharging("https://charging.example.com/v2/", 1).url == "https://charging.example.com/v2"
    monkeypatch.delenv("DIEM_CHARGING_URL", raising=False)
    monkeypatch.delenv("DIEM_CHARGING_ADAPTER", raising=False)
    config.reset()
    assert isinstance(adapter.charging(), adapter.Unconfigured)
    assert adapter.charging().provision("ord_1", "849", "S").outcome is Outcome.unknown
    monkeypatch.setenv("DIEM_CHARGING_URL", "https://charging.example.com")
    monkeypatch.setenv("DIEM_CHARGING_ADAPTER", f"{__name__}:OperatorAdapter")
    config.reset()
    made = adapter.charging()
    assert isinstance(made, OperatorAdapter) and made.url == "https://charging.example.com"
    assert made.provision("ord_1", "849", "S") == Answer(Outcome.provisioned, reference="op-ord_1")
    assert adapter.charging() is made  # one per configuration
    config.reset()


class OperatorAdapter:
    """What an operator's own adapter looks like: a factory taking (url, timeout)."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url, self.timeout = url, timeout

    def provision(self, order_id: str, msisdn: str, sku: str) -> Answer:
        return Answer(Outcome.provisioned, reference=f"op-{order_id}")

    def status(self, order_id: str) -> Answer:
        return Answer(Outcome.unknown, "not asked")


def test_an_order_whose_settlement_fails_after_the_debit_is_answered_pending(engine_api, charging, monkeypatch):
    at("2026-11-10T03:00:00Z")
    subscriber("84961234567")
    assert points.adjust("84961234567", 5_000, "float", "t", None).status == 201
    product_id = catalogue.create_product(dict(CATALOGUE[0][1]), None).body["product_id"]
    broken: list[str] = []

    class Broken:
        def provision(self, order_id: str, msisdn: str, sku: str) -> Answer:
            broken.append(order_id)
            raise RuntimeError("the adapter broke")

    monkeypatch.setattr(orders, "charging", lambda: Broken())
    key = Idempotency(record_id="k" * 64, payload_hash="h" * 64)
    reply = orders.order("84961234567", product_id, key)
    assert broken == [reply.body["order_id"]], "the adapter was not called"
    assert reply.status == 201 and reply.body["status"] == "pending" and reply.body["balance"] == 3_000
    item = ProductOrder.get(reply.body["order_id"])
    assert item.status == "pending" and item.settle_due is not None  # the settlement will ask
    # the same Idempotency-Key again: the adapter is asked again, still broken: pending, not a 500
    again = orders.order("84961234567", product_id, key)
    assert broken == [reply.body["order_id"]] * 2, "the replay did not ask the charging system again"
    assert again.status == 201 and again.body["order_id"] == reply.body["order_id"]
    assert again.body["status"] == "pending" and again.body["balance"] == 3_000


def test_the_infra_passes_the_charging_url_and_alarms_on_unsettled_orders():
    from infra import build

    for stage in ("dev", "prod"):
        template = build.template(stage)
        url = template["Parameters"]["ChargingUrl"]
        assert ("AllowedPattern" in url) == (stage == "prod") and ("Default" in url) == (stage == "dev")
        resources = template["Resources"]
        for function in ("APIHandler", "SettleProductOrders", "JobWorker"):
            env = resources[function]["Properties"]["Environment"]["Variables"]
            assert env["DIEM_CHARGING_URL"] == {"Ref": "ChargingUrl"}, function
        assert "DIEM_CHARGING_URL" not in resources["ExpirePoints"]["Properties"]["Environment"]["Variables"]
        overdue = resources["ProductOrdersOverdueAlarm"]["Properties"]
        assert (overdue["Namespace"], overdue["MetricName"], overdue["Threshold"]) == (
            "Diem",
            "ProductOrdersOverdue",
            0,
        )
        assert {"Name": "stage", "Value": stage} in overdue["Dimensions"]
        assert overdue["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert resources["ChargingContradictionsAlarm"]["Properties"]["MetricName"] == "ChargingContradictions"
        tables = {r["Properties"]["TableName"] for r in resources.values() if r.get("Type") == "AWS::DynamoDB::Table"}
        assert {f"diem-{stage}-products", f"diem-{stage}-product-orders"} <= tables
