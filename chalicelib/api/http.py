"""HTTP plumbing shared by every route: authentication, roles, request
parsing, idempotency replay, error mapping and the route registry that the
OpenAPI document is generated from.

A route in `app.py` is declared with `Api.route(...)` and receives a `Call`;
it calls one service function and returns a body (or a `Reply`).
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalice import Chalice, Response

from chalicelib import idempotency, observability
from chalicelib.auth import Principal, authenticate_bearer, partner_for_key
from chalicelib.errors import DiemError, Forbidden, NotFound, Unauthenticated, ValidationError
from chalicelib.idempotency import Idempotency, Reply

if TYPE_CHECKING:
    from pydantic import BaseModel

JSON = {"Content-Type": "application/json"}
_ACCEPTED_CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded", "*/*"]
MUTATING = ("POST", "PUT", "PATCH", "DELETE")
# refusals an on-call engineer watches, as metric names
_COUNTED_REFUSALS = {
    "SOLD_OUT": "SoldOut",
    "TOO_MANY_ATTEMPTS": "EnumerationBlocks",
    "ALREADY_REDEEMED": "DoubleRedemptions",
}


@dataclass(frozen=True)
class QueryParam:
    name: str
    schema: dict[str, Any]
    description: str = ""


@dataclass
class RouteSpec:
    """What the OpenAPI document says about one operation."""

    path: str
    method: str
    operation_id: str
    roles: tuple[str, ...]
    summary: str
    body_name: str | None
    body_optional: bool
    response_name: str | None
    status: int
    query: tuple[QueryParam, ...]
    errors: tuple[int, ...]
    extra_statuses: tuple[int, ...] = ()
    metric: str | None = None

    @property
    def body(self) -> type[BaseModel] | None:
        return model(self.body_name)

    @property
    def response(self) -> type[BaseModel] | None:
        return model(self.response_name)

    @property
    def auth(self) -> str | None:
        if not self.roles:
            return None
        return "api_key" if self.roles == ("partner",) else "bearer"


@dataclass
class Call:
    """One request, parsed and authenticated."""

    principal: Principal | None
    params: dict[str, str]
    body: Any
    query: dict[str, str]
    idempotency: Idempotency | None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def who(self) -> Principal:
        assert self.principal is not None
        return self.principal


LIST_QUERY = (
    QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
    QueryParam("cursor", {"type": "string", "maxLength": 2048}),
)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps({"error": {"code": code, "message": message}}),
        status_code=status,
        headers={**JSON, **(headers or {})},
    )


def _json_response(status: int, body: Any) -> Response:
    return Response(body=json.dumps(body, separators=(",", ":")), status_code=status, headers=JSON)


def model(name: str | None) -> type[BaseModel] | None:
    """A request/response model by name; pydantic is imported on first use, not at cold start."""
    if name is None:
        return None
    from chalicelib.api import models

    return getattr(models, name)


def _pydantic_message(exc: Any) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


class Api:
    """Declares routes on a Chalice app and records them for OpenAPI."""

    def __init__(self, app: Chalice, bearer_authorizer: Any | None = None) -> None:
        self.app = app
        self.bearer_authorizer = bearer_authorizer
        self.specs: list[RouteSpec] = []

    def route(
        self,
        path: str,
        method: str,
        *,
        roles: tuple[str, ...],
        summary: str,
        body: str | None = None,
        body_optional: bool = False,
        response: str | None = None,
        status: int = 200,
        query: tuple[QueryParam, ...] = (),
        errors: tuple[int, ...] = (),
        extra_statuses: tuple[int, ...] = (),
        metric: str | None = None,
    ) -> Callable[[Callable[[Call], Any]], Callable[..., Response]]:
        def decorator(handler: Callable[[Call], Any]) -> Callable[..., Response]:
            spec = RouteSpec(
                path=path,
                method=method,
                operation_id=handler.__name__,
                roles=roles,
                summary=summary,
                body_name=body,
                body_optional=body_optional,
                response_name=response,
                status=status,
                query=query,
                errors=errors,
                extra_statuses=extra_statuses,
                metric=metric,
            )
            self.specs.append(spec)

            @functools.wraps(handler)
            def view(**params: str) -> Response:
                return self._handle(spec, handler, params)

            authorizer = self.bearer_authorizer if spec.auth == "bearer" else None
            self.app.route(path, methods=[method], authorizer=authorizer, content_types=_ACCEPTED_CONTENT_TYPES)(view)
            return view

        return decorator

    # -- request handling --------------------------------------------------

    def _handle(self, spec: RouteSpec, handler: Callable[[Call], Any], params: dict[str, str]) -> Response:
        request = self.app.current_request
        try:
            principal = self._authenticate(spec, request)
            call = self._parse(spec, request, principal, params)
            # an Idempotency-Key costs no read here: the kernel puts its record in
            # the business transaction and reads it only when refused because of it
            result = handler(call)
            if spec.metric:
                observability.count(spec.metric)
            if isinstance(result, Response):
                return result
            if isinstance(result, Reply):
                return _json_response(result.status, result.body)
            return _json_response(spec.status, result)
        except DiemError as exc:
            if exc.status in (401, 403) and exc.code in ("UNAUTHENTICATED", "FORBIDDEN"):
                observability.count("AuthorizationFailures")
            elif exc.code in _COUNTED_REFUSALS:
                observability.count(_COUNTED_REFUSALS[exc.code])
            return error_response(exc.status, exc.code, exc.message)
        except Exception:
            cid = correlation_id(request)
            observability.logger().exception("unhandled error", extra={"operation": spec.operation_id})
            return error_response(500, "INTERNAL", f"Internal error (reference {cid}).")

    def _authenticate(self, spec: RouteSpec, request: Any) -> Principal | None:
        if spec.auth is None:
            return None
        headers = request.headers
        if spec.auth == "api_key":
            principal = partner_for_key(headers.get("x-api-key"))
        else:
            context = (request.context or {}).get("authorizer") or {}
            if context.get("auth_error"):
                raise Unauthenticated(context["auth_error"])
            principal = Principal.from_context(context) or authenticate_bearer(headers.get("authorization"))
        if principal.role not in spec.roles:
            raise Forbidden("This role may not call this operation.")
        return principal

    def _parse(self, spec: RouteSpec, request: Any, principal: Principal | None, params: dict[str, str]) -> Call:
        body: Any = None
        raw = request.raw_body or b""
        body_model = spec.body
        if body_model is not None:
            from pydantic import ValidationError as PydanticError

            payload: Any
            if raw.strip():
                try:
                    payload = json.loads(raw)
                except (ValueError, UnicodeDecodeError):
                    raise ValidationError("Request body is not valid JSON.") from None
            elif spec.body_optional:
                payload = {}
            else:
                raise ValidationError("A JSON request body is required.")
            if not isinstance(payload, dict):
                raise ValidationError("Request body must be a JSON object.")
            try:
                body = body_model.model_validate(payload)
            except PydanticError as exc:
                raise ValidationError(_pydantic_message(exc)) from None
        elif raw.strip() and spec.method in MUTATING:
            raise ValidationError("This operation takes no request body.")
        query = dict(request.query_params or {})
        allowed = {q.name for q in spec.query}
        unknown = set(query) - allowed
        if unknown:
            raise ValidationError(f"Unknown query parameter(s): {', '.join(sorted(unknown))}.")
        idem = None
        if spec.method in MUTATING and principal is not None:
            scope = f"{principal.role}:{principal.subject}:{spec.method} {spec.path}"
            payload_for_hash = {
                "params": params,
                "body": body.model_dump(mode="json") if body is not None else None,
            }
            idem = idempotency.key_for(request.headers.get("idempotency-key"), scope, payload_for_hash)
        return Call(principal, params, body, query, idem, dict(request.headers))


def page_params(call: Call) -> tuple[int, str | None]:
    """`limit` (1..200, default 50) and `cursor` of a list request."""
    raw = call.query.get("limit", "50")
    try:
        limit = int(raw)
    except ValueError:
        raise ValidationError("limit must be an integer from 1 to 200.") from None
    if not 1 <= limit <= 200:
        raise ValidationError("limit must be an integer from 1 to 200.")
    return limit, call.query.get("cursor") or None


def subscriber_in_path(call: Call) -> str:
    """The `{msisdn}` of the path, normalised, which the caller must own (or be an operator)."""
    from chalicelib.subscribers import msisdn_from_path

    msisdn = msisdn_from_path(call.params["msisdn"])
    require_self_or(call, msisdn, "operator")
    return msisdn


def require_self_or(call: Call, msisdn: str, *roles: str) -> None:
    """A subscriber may only touch its own MSISDN; `roles` may touch any."""
    who = call.who
    if who.role in roles:
        return
    if who.role == "subscriber" and who.subject == msisdn:
        return
    if who.role == "subscriber":
        # another subscriber's number: do not reveal whether it exists
        raise NotFound()
    raise Forbidden("This role may not call this operation.")


def correlation_id(request: Any) -> str:
    """The caller's X-Correlation-Id, else API Gateway's request id, else a new one."""
    headers = getattr(request, "headers", None) or {}
    given = headers.get("x-correlation-id", "")
    if given and len(given) <= 128 and given.isprintable():
        return given
    context = getattr(request, "context", None) or {}
    return context.get("requestId") or str(uuid.uuid4())


__all__ = [
    "LIST_QUERY",
    "Api",
    "Call",
    "QueryParam",
    "RouteSpec",
    "Unauthenticated",
    "correlation_id",
    "error_response",
    "page_params",
    "require_self_or",
]
