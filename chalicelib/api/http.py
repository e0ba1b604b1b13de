"""HTTP plumbing shared by every route: authentication, roles, ownership,
request parsing, idempotency replay, error mapping and the route registry that
the OpenAPI document is generated from.

A route in `app.py` is declared with `Api.route(...)` and receives a `Call`;
it calls one service function and returns a body (or a `Reply`).

Before any handler runs, in this order:
1. authentication (401): the bearer token, the partner's API key or a channel
   gateway's key (`X-Gateway-Key`, role `gateway`);
2. the role (403): the caller's role is one of the route's `roles`, and a
   gateway's key is for the route's `channel`;
3. ownership (404): a route whose path names a subscriber (`{msisdn}`) must
   declare `owner="msisdn"`; a subscriber calling it with another MSISDN gets
   404 NOT_FOUND (whether that number exists is not revealed), an operator
   passes. A route with `{msisdn}` and no `owner` fails at import;
4. the body (400): strict UTF-8 JSON (`parse_json`), or for a route declared
   `body_format="form"` a strict `application/x-www-form-urlencoded` form
   (`parse_form`), validated by the same strict models either way.

A route declared `reply="text"` returns a `str`, answered as
`text/plain; charset=utf-8`; its errors keep the JSON error shape.

Errors: a `DiemError` is answered with its catalogue status (chalicelib.errors)
in the error shape, 429 and 503 with `Retry-After`; DynamoDB throttling that
escapes a service (botocore's or PynamoDB's wrapper of it) is a 503 too, never
a 500.
"""

from __future__ import annotations

import functools
import json
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalice.app import Chalice, Response

from chalicelib import clock, config, idempotency, observability
from chalicelib.auth import ROLES, Principal, acting, authenticate_bearer, gateway_for_key, partner_for_key
from chalicelib.errors import RETRYABLE_STATUSES, DiemError, Forbidden, NotFound, Unauthenticated, ValidationError
from chalicelib.idempotency import Idempotency, Reply

if TYPE_CHECKING:
    from pydantic import BaseModel

JSON = {"Content-Type": "application/json"}
FORM = "application/x-www-form-urlencoded"
TEXT = {"Content-Type": "text/plain; charset=utf-8"}
BODY_FORMATS = ("json", "form")
REPLY_FORMATS = ("json", "text")
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
    # the path parameter naming the subscriber whose data this is ("msisdn")
    owner: str | None = None
    # "json" or "form" (application/x-www-form-urlencoded)
    body_format: str = "json"
    # "json" or "text" (the handler returns a str, answered as text/plain)
    reply: str = "json"
    # a gateway route: the channel its key must be for ("ussd" or "sms")
    channel: str | None = None

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(_PATH_PARAM.findall(self.path))

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
        if self.roles == ("gateway",):
            return "gateway_key"
        if "partner" in self.roles and len(self.roles) > 1:
            # a partner's API key or a bearer token (API.md's webhooks and events: operator, partner)
            return "either"
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
    # the subscriber this call is about: the owned path MSISDN, normalised and
    # checked against the caller; else a subscriber caller's own MSISDN
    msisdn: str | None = None

    @property
    def who(self) -> Principal:
        assert self.principal is not None
        return self.principal

    @property
    def subscriber(self) -> str:
        """`msisdn`, for routes that always have one."""
        assert self.msisdn is not None
        return self.msisdn


LIST_QUERY = (
    QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
    QueryParam("cursor", {"type": "string", "maxLength": 2048}),
)


_PATH_PARAM = re.compile(r"{(\w+)}")
# path parameters that name a subscriber: a route with one must declare its owner
OWNED_PARAMS = ("msisdn",)


class RouteDeclarationError(Exception):
    """A route declared so that the framework could not protect it."""


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    all_headers: dict[str, str | list[str]] = {**JSON, **(headers or {})}
    return Response(
        body=json.dumps({"error": {"code": code, "message": message}}),
        status_code=status,
        headers=all_headers,
    )


def diem_error_response(exc: DiemError) -> Response:
    """A `DiemError` in the error shape; 429 and 503 say when to retry."""
    headers = {}
    if exc.status in RETRYABLE_STATUSES:
        headers["Retry-After"] = str(max(1, int(exc.retry_after_seconds or 1)))
    return error_response(exc.status, exc.code, exc.message, headers)


def _json_response(status: int, body: Any) -> Response:
    headers: dict[str, str | list[str]] = {**JSON}
    return Response(body=json.dumps(body, separators=(",", ":")), status_code=status, headers=headers)


# -- DynamoDB throttling that escaped a service -------------------------------

# cancellation reasons of a TransactWriteItems that a retry may well get past
_RETRYABLE_CANCELLATIONS = frozenset(
    {"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded", "TransactionConflict"}
)
THROTTLED_RETRY_AFTER_SECONDS = 1


def _aws_error(exc: BaseException) -> tuple[str | None, list[Any]]:
    """The error code and cancellation reasons of a botocore ClientError."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None, []
    error = response.get("Error")
    code = error.get("Code") if isinstance(error, dict) else None
    reasons = response.get("CancellationReasons")
    return (code if isinstance(code, str) else None), (reasons if isinstance(reasons, list) else [])


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps: PynamoDB's `cause`, then the exception chain."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 16:
        current = todo.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        for inner in (getattr(current, "cause", None), current.__cause__, current.__context__):
            if isinstance(inner, BaseException):
                todo.append(inner)
    return seen


def is_throttling(exc: BaseException) -> bool:
    """DynamoDB said "too much, try again", or did not answer: throttled, over its
    request limit, a timeout or dropped connection (`store.transact.transient`), a
    transaction still in progress, or one cancelled only by contention."""
    from chalicelib.store.transact import transient

    for current in _causes(exc):
        if transient(current):
            return True
        code, reasons = _aws_error(current)
        if code == "TransactionCanceledException":
            codes = {r.get("Code") for r in reasons if isinstance(r, dict)} - {None, "None"}
            if codes and codes <= _RETRYABLE_CANCELLATIONS:
                return True
    return False


def unexpected_error_response(exc: BaseException, request: Any, where: dict[str, Any]) -> Response:
    """A 503 with Retry-After for throttling, else a logged 500 with a reference."""
    log = observability.logger()
    if is_throttling(exc):
        log.warning("DynamoDB throttling outlasted the retries", extra={**where, "error": type(exc).__name__})
        observability.count("Throttled")
        return error_response(
            503,
            "SERVICE_UNAVAILABLE",
            "The service is busy; retry shortly.",
            {"Retry-After": str(THROTTLED_RETRY_AFTER_SECONDS)},
        )
    cid = correlation_id(request)
    log.exception("unhandled error", extra=where)
    return error_response(500, "INTERNAL", f"Internal error (reference {cid}).")


# -- request bodies -----------------------------------------------------------

# deeper than any request model nests; the C parser itself stops near 1,000
MAX_JSON_DEPTH = 32
# 19 digits hold any 64-bit integer; the models bound every number far lower
_MAX_INTEGER_DIGITS = 19
_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_duplicate_keys(pairs: list[tuple[str, Any]], what: str = "key") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValidationError(f"Request body repeats the {what} {key[:40]!r}.")
        out[key] = value
    return out


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INTEGER_DIGITS:
        raise ValidationError("Request body has a number too large.")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValidationError("Request body has a number too large.")
    return value


def _no_constant(text: str) -> Any:
    raise ValidationError(f"Request body has {text}, which is not JSON.")


def _check_strings_and_depth(value: Any) -> None:
    """No lone surrogate (it cannot be stored as UTF-8) in any key or string,
    and no nesting deeper than MAX_JSON_DEPTH; iterative, so any depth is safe."""
    todo: list[tuple[Any, int]] = [(value, 1)]
    while todo:
        current, depth = todo.pop()
        if isinstance(current, str):
            if _SURROGATE.search(current):
                raise ValidationError("Request body has a lone UTF-16 surrogate (\\ud800-\\udfff).")
        elif isinstance(current, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ValidationError(f"Request body nests deeper than {MAX_JSON_DEPTH} levels.")
            if isinstance(current, dict):
                todo.extend((k, depth) for k in current)
                todo.extend((v, depth + 1) for v in current.values())
            else:
                todo.extend((v, depth + 1) for v in current)


def parse_json(raw: bytes | str) -> Any:
    """A request body as JSON, strictly: UTF-8 only (RFC 8259; no UTF-16/32
    guessing, no BOM), no NaN or Infinity, no number beyond 19 digits or a
    float's range, no lone surrogate, at most MAX_JSON_DEPTH levels, and no
    repeated key in an object (parsers disagree on which value wins, so an
    ambiguous body is refused rather than read one way here and another way
    elsewhere). Anything else is a 400 VALIDATION_ERROR, never a 500."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError("Request body is not valid UTF-8.") from None
    else:
        text = raw
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicate_keys,
            parse_int=_bounded_int,
            parse_float=_finite_float,
            parse_constant=_no_constant,
        )
    except RecursionError:
        raise ValidationError(f"Request body nests deeper than {MAX_JSON_DEPTH} levels.") from None
    except ValueError:
        raise ValidationError("Request body is not valid JSON.") from None
    _check_strings_and_depth(value)
    return value


MAX_FORM_FIELDS = 16


def parse_form(raw: bytes | str, content_type: str | None) -> dict[str, str]:
    """A request body as an `application/x-www-form-urlencoded` form, strictly:
    that content type (a charset, if given, UTF-8), UTF-8 after percent-decoding,
    every field `name=value` (`a&&b` or `a` alone is malformed), at most
    MAX_FORM_FIELDS fields, and no repeated name (which one would win?). Empty
    values are kept (USSD's first `text` is empty). Anything else is a 400."""
    from urllib.parse import parse_qsl

    media, _, parameters = (content_type or "").partition(";")
    if media.strip().lower() != FORM:
        raise ValidationError(f"Request body must be {FORM}.")
    charset = parameters.strip().lower().removeprefix("charset=").strip('"')
    if parameters.strip() and charset not in ("utf-8", "utf8"):
        raise ValidationError("A form body must be UTF-8.")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise ValidationError("Request body is not a valid UTF-8 form.") from None
    return _no_duplicate_keys(pairs, "field")


def not_in_future(instant: datetime, name: str) -> datetime:
    """400 if a caller's timestamp is later than now plus the allowed clock skew
    (DIEM_MAX_CLOCK_SKEW_SECONDS, 5 minutes by default)."""
    skew = timedelta(seconds=config.settings().max_clock_skew_seconds)
    if instant > clock.now() + skew:
        raise ValidationError(f"{name} is in the future (more than {int(skew.total_seconds())} s ahead of now).")
    return instant


def model(name: str | None) -> type[BaseModel] | None:
    """A request/response model by name; pydantic is imported on first use, not at cold start."""
    if name is None:
        return None
    from chalicelib.api import models

    found: type[BaseModel] = getattr(models, name)
    return found


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
        owner: str | None = None,
        body: str | None = None,
        body_optional: bool = False,
        response: str | None = None,
        status: int = 200,
        query: tuple[QueryParam, ...] = (),
        errors: tuple[int, ...] = (),
        extra_statuses: tuple[int, ...] = (),
        metric: str | None = None,
        body_format: str = "json",
        reply: str = "json",
        channel: str | None = None,
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
                owner=owner,
                body_format=body_format,
                reply=reply,
                channel=channel,
            )
            self._check_declaration(spec)
            self.specs.append(spec)

            @functools.wraps(handler)
            def view(**params: str) -> Response:
                return self._handle(spec, handler, params)

            authorizer = self.bearer_authorizer if spec.auth == "bearer" else None
            self.app.route(path, methods=[method], authorizer=authorizer, content_types=_ACCEPTED_CONTENT_TYPES)(view)
            return view

        return decorator

    def _check_declaration(self, spec: RouteSpec) -> None:
        """Refuse, at import, a route the framework could not protect."""
        where = f"{spec.method} {spec.path}"
        params = spec.path_params
        for name in OWNED_PARAMS:
            if name in params and spec.owner != name:
                raise RouteDeclarationError(
                    f"{where} names a subscriber ({{{name}}}) and must declare owner={name!r}, "
                    "so that another subscriber's number is refused before the handler runs."
                )
        if spec.owner is not None:
            if spec.owner not in params:
                raise RouteDeclarationError(f"{where}: owner={spec.owner!r} is not a parameter of its path.")
            if spec.auth != "bearer":
                raise RouteDeclarationError(
                    f"{where}: an owned route must take a bearer token (not anonymous, not partner)."
                )
        unknown_roles = set(spec.roles) - set(ROLES)
        if unknown_roles:
            raise RouteDeclarationError(f"{where}: unknown role(s) {sorted(unknown_roles)}.")
        if spec.auth == "either" and spec.owner is not None:
            raise RouteDeclarationError(f"{where}: an owned route must take a bearer token only.")
        if "gateway" in spec.roles and (len(spec.roles) > 1 or spec.channel is None):
            raise RouteDeclarationError(f"{where}: a gateway route takes gateway keys only, for one declared channel.")
        if spec.channel is not None and spec.roles != ("gateway",):
            raise RouteDeclarationError(f"{where}: only a gateway route declares a channel.")
        if spec.body_format not in BODY_FORMATS or spec.reply not in REPLY_FORMATS:
            raise RouteDeclarationError(f"{where}: body_format is one of {BODY_FORMATS}, reply one of {REPLY_FORMATS}.")
        if spec.body_format == "form" and spec.body_name is None:
            raise RouteDeclarationError(f"{where}: a form route declares the model of its form.")
        if any(s.method == spec.method and s.path == spec.path for s in self.specs):
            raise RouteDeclarationError(f"{where} is declared twice.")

    # -- request handling --------------------------------------------------

    def _handle(self, spec: RouteSpec, handler: Callable[[Call], Any], params: dict[str, str]) -> Response:
        request = self.app.current_request
        try:
            principal = self._authenticate(spec, request)
            msisdn = _owned_msisdn(spec, principal, params)
            call = self._parse(spec, request, principal, params, msisdn)
            # an Idempotency-Key costs no read here: the kernel puts its record in
            # the business transaction and reads it only when refused because of it
            with acting(principal):
                result = handler(call)
            if spec.metric:
                observability.count(spec.metric)
            if isinstance(result, Response):
                return result
            if spec.reply == "text":
                if not isinstance(result, str):
                    raise TypeError(f"{spec.operation_id} is declared reply='text', returned {type(result).__name__}")
                return Response(body=result, status_code=spec.status, headers={**TEXT})
            if isinstance(result, Reply) and result.status == 204:
                return Response(body="", status_code=204, headers={})
            if isinstance(result, Reply):
                return _json_response(result.status, result.body)
            return _json_response(spec.status, result)
        except DiemError as exc:
            if exc.code in ("UNAUTHENTICATED", "FORBIDDEN"):
                observability.count("AuthorizationFailures")
            elif exc.code in _COUNTED_REFUSALS:
                observability.count(_COUNTED_REFUSALS[exc.code])
            return diem_error_response(exc)
        except Exception as exc:
            return unexpected_error_response(exc, request, {"operation": spec.operation_id})

    def _authenticate(self, spec: RouteSpec, request: Any) -> Principal | None:
        if spec.auth is None:
            return None
        headers = request.headers
        if spec.auth == "either" and not headers.get("authorization") and headers.get("x-api-key"):
            principal = partner_for_key(headers.get("x-api-key"))
        elif spec.auth == "either":
            # no gateway authorizer on these routes (it would refuse a partner's key): verified here
            principal = authenticate_bearer(headers.get("authorization"))
        elif spec.auth == "api_key":
            principal = partner_for_key(headers.get("x-api-key"))
        elif spec.auth == "gateway_key":
            principal = gateway_for_key(headers.get("x-gateway-key"))
        else:
            context = (request.context or {}).get("authorizer") or {}
            if context.get("auth_error"):
                raise Unauthenticated(context["auth_error"])
            principal = Principal.from_context(context) or authenticate_bearer(headers.get("authorization"))
        if principal.role not in spec.roles:
            raise Forbidden("This role may not call this operation.")
        if spec.channel is not None and principal.channel != spec.channel:
            raise Forbidden(f"This gateway key is for {principal.channel}, not {spec.channel}.")
        return principal

    def _parse(
        self, spec: RouteSpec, request: Any, principal: Principal | None, params: dict[str, str], msisdn: str | None
    ) -> Call:
        body: Any = None
        raw = request.raw_body or b""
        body_model = spec.body
        if body_model is not None:
            from pydantic import ValidationError as PydanticError

            payload: Any
            if not raw.strip() and not spec.body_optional:
                raise ValidationError(f"A {'form' if spec.body_format == 'form' else 'JSON'} request body is required.")
            if spec.body_format == "form":
                payload = parse_form(raw, request.headers.get("content-type"))
            elif raw.strip():
                payload = parse_json(raw)
            else:
                payload = {}
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
        # a gateway's requests are deduplicated by their own ids (USSD session and
        # input, an SMS's message_id), not by an Idempotency-Key
        if spec.method in MUTATING and principal is not None and spec.auth != "gateway_key":
            scope = f"{principal.role}:{principal.subject}:{spec.method} {spec.path}"
            payload_for_hash = {
                "params": params,
                "body": body.model_dump(mode="json") if body is not None else None,
            }
            idem = idempotency.key_for(request.headers.get("idempotency-key"), scope, payload_for_hash)
        return Call(principal, params, body, query, idem, dict(request.headers), msisdn)


def _owned_msisdn(spec: RouteSpec, principal: Principal | None, params: dict[str, str]) -> str | None:
    """The subscriber this call is about, refused (404) if the caller is another
    subscriber: the owned path parameter, normalised, or a subscriber's own MSISDN."""
    if spec.owner is None:
        if principal is not None and principal.role == "subscriber":
            return principal.subject
        return None
    from chalicelib.subscribers import msisdn_from_path

    assert principal is not None  # owned routes take a bearer token (checked at declaration)
    msisdn = msisdn_from_path(params[spec.owner])
    if principal.role == "subscriber" and principal.subject != msisdn:
        # another subscriber's number: do not reveal whether it exists
        raise NotFound()
    return msisdn


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


def correlation_id(request: Any) -> str:
    """The caller's X-Correlation-Id, else API Gateway's request id, else a new one."""
    headers = getattr(request, "headers", None) or {}
    given = headers.get("x-correlation-id", "")
    if isinstance(given, str) and given and len(given) <= 128 and given.isprintable():
        return given
    context = getattr(request, "context", None) or {}
    request_id = context.get("requestId")
    return request_id if isinstance(request_id, str) and request_id else str(uuid.uuid4())


__all__ = [
    "LIST_QUERY",
    "MAX_JSON_DEPTH",
    "OWNED_PARAMS",
    "Api",
    "Call",
    "QueryParam",
    "RouteDeclarationError",
    "RouteSpec",
    "Unauthenticated",
    "correlation_id",
    "diem_error_response",
    "error_response",
    "is_throttling",
    "not_in_future",
    "page_params",
    "parse_form",
    "parse_json",
    "unexpected_error_response",
]
