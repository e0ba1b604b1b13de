"""The OpenAPI 3.1 document, generated from the route registry and the
pydantic models (never written by hand).

Everything a client generator needs comes from the source: request and
response schemas (with their enums and nested objects as named components) from
chalicelib.api.models, operations from the routes' `RouteSpec`s, tagged by
caller, each with its one security scheme, its headers and its error answers.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib import errors, idempotency
from chalicelib.api.http import RouteSpec
from chalicelib.api.models import ErrorResponse

_REF = "#/components/schemas/{model}"
MUTATING = ("POST", "PUT", "PATCH", "DELETE")

# the callers, as tags (a role's operations are listed under its tag)
TAGS = {
    "subscriber": "The subscriber's app: its own points, ledger, wallet, offers and claims (bearer token).",
    "partner": "A partner shop's till: look-up, redemption, reversal, settlement (X-Api-Key).",
    "marketer": "Campaigns, partners and grants (bearer token).",
    "operator": "Back-office systems: CRM, billing, support staff (bearer token).",
    "channels": "USSD and SMS gateways for basic phones (X-Gateway-Key).",
    "platform": "Health and this document; no credentials.",
}
_ROLE_TAG = {"subscriber": "subscriber", "partner": "partner", "marketer": "marketer", "operator": "operator"}
_ROLE_TAG["gateway"] = "channels"

# the statuses whose codes the catalogue does not hold
_ERROR_TEXT = {500: "INTERNAL: an unexpected error, logged with the correlation id"}

_PATH_TEXT = {
    "msisdn": "The subscriber's phone number, in any accepted form (0961234567, +84 96 123 4567, 84961234567).",
    "campaign_id": "The campaign's id, as returned when it was created (c_...).",
    "partner_id": "The partner's id, as returned when it was created (p_...).",
    "code": "The voucher code, case-insensitive, with or without hyphens and spaces.",
    "redemption_id": "The redemption's id, as returned by the redemption (rd_...).",
}
_QUERY_TEXT = {
    "limit": "The most items in one page (1 to 200, default 50).",
    "cursor": "The next_cursor of the previous page; absent for the first page.",
    "status": "Only campaigns with this status.",
}

_HEADERS = {
    "X-Correlation-Id": {
        "description": "The caller's X-Correlation-Id if it sent one, else the request's own id; "
        "quote it when reporting a problem.",
        "required": True,
        "schema": {"type": "string", "maxLength": 128},
    },
    "Retry-After": {
        "description": "Seconds to wait before sending the request again.",
        "schema": {"type": "integer", "minimum": 0},
    },
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


_MEDIA = {"json": "application/json", "form": "application/x-www-form-urlencoded"}
# what a route declared reply="text" answers (the USSD callback: a screen)
_TEXT_REPLY = {
    "text/plain": {
        "schema": {
            "type": "string",
            "pattern": "^(CON|END) ",
            "description": "A screen: `CON ` (the session continues) or `END ` (it ends), then at most 182 "
            "characters of the GSM 03.38 default alphabet.",
        }
    }
}


def _headers(status: int) -> dict[str, Any]:
    names = ["X-Correlation-Id", *(["Retry-After"] if status in errors.RETRYABLE_STATUSES else [])]
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def error_text(status: int) -> str:
    """What an error status means, from the one catalogue of codes (`errors.CATALOGUE`)."""
    codes = [f"{code}: {meaning}" for code, (code_status, meaning) in errors.CATALOGUE.items() if code_status == status]
    return "; ".join(codes) if codes else _ERROR_TEXT[status]


def tags(spec: RouteSpec) -> list[str]:
    return [_ROLE_TAG[role] for role in spec.roles] if spec.roles else ["platform"]


def _security(spec: RouteSpec) -> list[dict[str, list[str]]]:
    if not spec.roles:
        return []
    if spec.roles == ("gateway",):
        return [{"gatewayKey": []}]
    if spec.auth == "either":
        return [{"bearer": []}, {"apiKey": []}]
    return [{"apiKey": []}] if spec.auth == "api_key" else [{"bearer": []}]


def _parameters(spec: RouteSpec, enums: dict[frozenset[str], str]) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": _PATH_TEXT.get(name, f"The {name.replace('_', ' ')}."),
            "schema": {"type": "string", "minLength": 1, "maxLength": 64},
        }
        for name in re.findall(r"{(\w+)}", spec.path)
    ]
    for q in spec.query:
        schema = q.schema
        named = enums.get(frozenset(schema.get("enum") or ()))
        if named:
            # the one named enum, not an inline copy
            schema = {"$ref": _REF.format(model=named)}
        text = q.description or _QUERY_TEXT.get(q.name) or f"The {q.name.replace('_', ' ')}."
        parameters.append({"name": q.name, "in": "query", "required": False, "schema": schema, "description": text})
    if spec.method in MUTATING and spec.auth != "gateway_key":
        # a gateway's requests are deduplicated by their own ids (sessionId and text, message_id)
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Retry safety: a repeat with the same key and payload returns the original response "
                "(kept at least 24 h); the same key with another payload is 422, a repeat while the first is "
                "still running 409.",
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": idempotency.MAX_KEY_LENGTH,
                    "pattern": idempotency.KEY_PATTERN,
                },
            }
        )
    return parameters


def _operation(spec: RouteSpec, enums: dict[frozenset[str], str]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": spec.operation_id,
        "summary": spec.summary,
        "tags": tags(spec),
        "security": _security(spec),
        "responses": {},
    }
    if spec.roles:
        op["description"] = f"Callers: {', '.join(spec.roles)}."
    parameters = _parameters(spec, enums)
    if parameters:
        op["parameters"] = parameters
    if spec.body is not None:
        media = _MEDIA[spec.body_format]
        op["requestBody"] = {"required": not spec.body_optional, "content": {media: {"schema": _ref(spec.body)}}}
    # the one reply without a model is this document itself
    free = {"type": "object", "additionalProperties": True, "description": "An OpenAPI 3.1 document."}
    success = _TEXT_REPLY if spec.reply == "text" else _json(_ref(spec.response) if spec.response else free)
    for status in (spec.status, *spec.extra_statuses):
        if status == 204:
            op["responses"]["204"] = {"description": "Done; no content.", "headers": _headers(status)}
            continue
        op["responses"][str(status)] = {"description": "Success", "headers": _headers(status), "content": success}
    statuses = set(spec.errors) | {500}
    if spec.body is not None or spec.query or "{" in spec.path or spec.method in MUTATING:
        statuses.add(400)
    if spec.roles:
        statuses |= {401, 403, 503}
    if spec.method in MUTATING and spec.roles:
        statuses |= {409, 422}
    if spec.auth in ("api_key", "either"):
        statuses.add(429)
    if spec.auth == "gateway_key":
        statuses -= {409, 422} if spec.reply == "text" else set()
    for status in sorted(statuses):
        op["responses"][str(status)] = {
            "description": error_text(status),
            "headers": _headers(status),
            "content": _json(_ref(ErrorResponse)),
        }
    return op


def build(specs: list[RouteSpec]) -> dict[str, Any]:
    models: set[type[BaseModel]] = {ErrorResponse}
    for spec in specs:
        models.update(m for m in (spec.body, spec.response) if m is not None)
    _, schema = models_json_schema(
        [
            (model, "validation" if model is not None and model.__name__.endswith(("In", "Patch")) else "serialization")
            for model in sorted(models, key=lambda m: m.__name__)
        ],
        ref_template=_REF,
    )
    components = schema.get("$defs", {})
    enums = {frozenset(c["enum"]): name for name, c in components.items() if "enum" in c}
    paths: dict[str, dict[str, Any]] = {}
    for spec in specs:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec, enums)
    used = {tag for spec in specs for tag in tags(spec)}
    security_schemes: dict[str, Any] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A JWT with sub, role (subscriber, marketer, operator) and exp.",
        },
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key", "description": "A partner shop's key."},
    }
    if "channels" in used:
        security_schemes["gatewayKey"] = {
            "type": "apiKey",
            "in": "header",
            "name": "X-Gateway-Key",
            "description": "A USSD or SMS gateway's key.",
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "diem",
            "version": "1.0.0",
            "description": "Loyalty points and shopping vouchers for a mobile operator's subscribers and shops.",
            "license": {"name": "Proprietary"},
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": name, "description": text} for name, text in TAGS.items() if name in used],
        "paths": paths,
        "components": {
            "schemas": components,
            "headers": _HEADERS,
            "securitySchemes": security_schemes,
        },
    }


def spec_for(specs: list[RouteSpec], method: str, path: str) -> RouteSpec | None:
    """The route a concrete request path is for (a literal segment wins over a parameter)."""
    bare = path.split("?", 1)[0]
    found = [
        spec
        for spec in specs
        if spec.method == method.upper() and re.fullmatch(re.sub(r"{\w+}", "[^/]+", spec.path), bare)
    ]
    return min(found, key=lambda spec: spec.path.count("{"), default=None)
