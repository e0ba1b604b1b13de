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
