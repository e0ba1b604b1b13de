"""The OpenAPI 3.1 document, generated from the route registry and the
pydantic models (never written by hand)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api.http import RouteSpec
from chalicelib.api.models import ErrorResponse

_REF = "#/components/schemas/{model}"
_ERROR_TEXT = {
    400: "VALIDATION_ERROR: malformed JSON, wrong types, out-of-range values, unknown fields, bad MSISDN",
    401: "UNAUTHENTICATED: missing, expired or forged token or key",
    403: "FORBIDDEN (authenticated but not allowed) or NOT_ELIGIBLE",
    404: "NOT_FOUND (also for objects that belong to someone else)",
    409: "A business conflict: SOLD_OUT, INSUFFICIENT_POINTS, LIMIT_REACHED, CAMPAIGN_NOT_ACTIVE, "
    "ALREADY_REDEEMED, VOUCHER_EXPIRED, VOUCHER_NOT_REDEEMABLE, INVALID_STATE, IDEMPOTENCY_IN_PROGRESS",
    422: "IDEMPOTENCY_KEY_REUSED: the same Idempotency-Key with a different payload",
    429: "TOO_MANY_ATTEMPTS",
    500: "INTERNAL: an unexpected error, logged with the correlation id",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(spec: RouteSpec) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": spec.operation_id, "summary": spec.summary, "responses": {}}
    if spec.roles:
        op["description"] = f"Callers: {', '.join(spec.roles)}."
        op["security"] = [{"apiKey": []}] if spec.auth == "api_key" else [{"bearer": []}]
    else:
        op["security"] = []
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1, "maxLength": 64}}
        for name in re.findall(r"{(\w+)}", spec.path)
    ]
    parameters += [
        {"name": q.name, "in": "query", "required": False, "schema": q.schema, "description": q.description}
        for q in spec.query
    ]
    if spec.method in ("POST", "PUT", "PATCH"):
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Retry safety: a repeat with the same key and payload returns the original response.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    if parameters:
        op["parameters"] = parameters
    if spec.body is not None:
        op["requestBody"] = {"required": not spec.body_optional, "content": _json(_ref(spec.body))}
    success = _json(_ref(spec.response)) if spec.response else _json({"type": "object"})
    for status in (spec.status, *spec.extra_statuses):
        op["responses"][str(status)] = {"description": "Success", "content": success}
    errors = set(spec.errors) | {500}
    if spec.body is not None or spec.query or "{" in spec.path or spec.method in ("POST", "PUT", "PATCH"):
        errors.add(400)
    if spec.roles:
        errors |= {401, 403}
    if spec.method in ("POST", "PUT", "PATCH") and spec.roles:
        errors |= {409, 422}
    if spec.auth == "api_key":
        errors.add(429)
    for status in sorted(errors):
        op["responses"][str(status)] = {"description": _ERROR_TEXT[status], "content": _json(_ref(ErrorResponse))}
    return op


def build(specs: list[RouteSpec]) -> dict[str, Any]:
    models = {ErrorResponse}
    for spec in specs:
        models.update(m for m in (spec.body, spec.response) if m is not None)
    _, schema = models_json_schema(
        [
            (model, "validation" if model is not None and model.__name__.endswith("In") else "serialization")
            for model in sorted(models, key=lambda m: m.__name__)
        ],
        ref_template=_REF,
    )
    paths: dict[str, dict[str, Any]] = {}
    for spec in specs:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "diem",
            "version": "1.0.0",
            "description": "Loyalty points and shopping vouchers for a mobile operator's subscribers and shops.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schema.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            },
        },
    }
