"""Health, the generated OpenAPI document, correlation ids and the 500 contract."""

from openapi_spec_validator import validate

import app as app_module
from conftest import OPERATOR


def test_openapi_document_is_valid_and_covers_every_route(api):
    r = api.get("/v1/openapi.json")
    assert r.status_code == 200
    document = r.data
    validate(document)
    assert document["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in document["paths"].items() for method in ops}
    routed = {(path, method) for path, methods in app_module.app.routes.items() for method in methods}
    assert documented == routed
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            assert op["responses"], (path, method)
            if op.get("security"):
                assert {"401", "403"} <= set(op["responses"])


def test_correlation_id_is_echoed(api):
    r = api.get("/v1/health", headers={"X-Correlation-Id": "till-42-abc"})
    assert r.headers["X-Correlation-Id"] == "till-42-abc"
    assert api.get("/v1/health").headers["X-Correlation-Id"]


def test_uncaught_error_is_500_internal_without_internals(api, monkeypatch, caplog):
    from chalicelib.points import service

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals: table diem-dev-subscribers")

    monkeypatch.setattr(service, "view", boom)
    r = api.client.http.get("/v1/subscribers/84961234567/points", headers={**OPERATOR, "X-Correlation-Id": "cid-500"})
    assert r.status_code == 500
    body = r.json_body
    assert body["error"]["code"] == "INTERNAL" and "cid-500" in body["error"]["message"]
    assert "secret" not in r.body.decode()
    from chalicelib import observability

    logged = [r for r in caplog.records if r.exc_info]
    assert logged and logged[0].exc_info[0] is RuntimeError
    assert observability.logger().get_correlation_id() == "cid-500"


def test_on_call_metrics_are_counted(api, monkeypatch):
    from chalicelib import observability

    counted = []
    monkeypatch.setattr(observability, "count", lambda name, value=1: counted.append(name))
    r = api.put("/v1/subscribers/0961234567", {"activated_on": "2020-01-01", "plan": "prepaid"}, headers=OPERATOR)
    assert r.status_code == 201, r.data
    event = {
        "event_id": "m1",
        "msisdn": "0961234567",
        "amount_vnd": 1000,
        "service": "mobile",
        "occurred_at": "2026-11-01T00:00:00Z",
    }
    assert api.post("/v1/spend-events", event, headers=OPERATOR).status_code == 201
    assert api.post("/v1/spend-events", event, headers=OPERATOR).status_code == 200
    assert api.get("/v1/subscribers/0961234567/points", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert counted.count("SpendEvents") == 2 and "DuplicateSpendEvents" in counted
    assert "AuthorizationFailures" in counted


def test_metrics_disabled_do_not_pile_up_or_print(api, capsys):
    """With metrics disabled (as in `make run` and here) each request still forgets
    its metrics: Powertools would keep them and print 100 values of one at a time."""
    from chalicelib import observability

    r = api.put("/v1/subscribers/0961234568", {"activated_on": "2020-01-01", "plan": "prepaid"}, headers=OPERATOR)
    assert r.status_code == 201, r.data
    for n in range(101):
        event = {"event_id": f"pile-{n}", "msisdn": "0961234568", "amount_vnd": 1000, "service": "mobile"}
        event["occurred_at"] = "2026-01-01T00:00:00Z"
        reply = api.post("/v1/spend-events", event, headers=OPERATOR)
        assert reply.status_code == 201, reply.data
    assert not observability.metrics().metric_set
    assert "CloudWatchMetrics" not in capsys.readouterr().out
