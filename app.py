"""diem's Lambda functions: HTTP routes, the authorizer, the spend-events
consumer and the scheduled jobs. Each route parses, calls one service
function and shapes the reply; the rules live in chalicelib."""

from __future__ import annotations

from typing import Any

from chalice import AuthResponse, Chalice, Cron

from chalicelib import wiring
from chalicelib.api import models as m
from chalicelib.api.http import LIST_QUERY, Api, Call, page_params, require_self_or

app = Chalice(app_name="diem")


@app.authorizer(ttl_seconds=300)
def bearer(auth_request: Any) -> AuthResponse:
    """Verifies the JWT once per token (cached by API Gateway) and passes the
    principal on; a bad token passes on its error so the route answers 401 in
    the API's error shape."""
    return AuthResponse(routes=["*"], **wiring.authorizer_verdict(auth_request.token))


api = Api(app, bearer_authorizer=bearer)
app.register_middleware(wiring.http_middleware, "http")
app.register_middleware(wiring.all_middleware, "all")

ANYONE: tuple[str, ...] = ()
OPERATOR = ("operator",)
SELF_OR_OPERATOR = ("subscriber", "operator")


@api.route("/v1/health", "GET", roles=ANYONE, summary="Liveness", response=m.Health)
def health(call: Call) -> dict[str, str]:
    return {"status": "ok"}


@api.route("/v1/openapi.json", "GET", roles=ANYONE, summary="This API as an OpenAPI 3.1 document")
def openapi(call: Call) -> dict[str, Any]:
    return wiring.openapi_document(api.specs)


# -- subscribers and points -------------------------------------------------


@api.route(
    "/v1/subscribers/{msisdn}",
    "PUT",
    roles=OPERATOR,
    summary="Create or update a subscriber profile",
    body=m.SubscriberIn,
    response=m.SubscriberOut,
    status=201,
    extra_statuses=(200,),
    errors=(409,),
)
def put_subscriber(call: Call) -> Any:
    msisdn = wiring.msisdn(call.params["msisdn"])
    return wiring.subscribers().put_profile(msisdn, call.body.model_dump(mode="json"), call.idempotency)


@api.route(
    "/v1/subscribers/{msisdn}",
    "GET",
    roles=SELF_OR_OPERATOR,
    summary="A subscriber's profile and tenure",
    response=m.SubscriberOut,
    errors=(404,),
)
def get_subscriber(call: Call) -> Any:
    msisdn = wiring.msisdn(call.params["msisdn"])
    require_self_or(call, msisdn, "operator")
    return wiring.subscribers().get_profile(msisdn)


@api.route(
    "/v1/spend-events",
    "POST",
    roles=OPERATOR,
    summary="Apply a paid spend event (exactly once per event_id)",
    body=m.SpendEventIn,
    response=m.SpendEventOut,
    status=201,
    extra_statuses=(200,),
    errors=(404, 409),
)
def post_spend_event(call: Call) -> Any:
    return wiring.accrue_event(call.body, call.idempotency)


@api.route(
    "/v1/subscribers/{msisdn}/points",
    "GET",
    roles=SELF_OR_OPERATOR,
    summary="Balance, tier and expiring points",
    response=m.PointsOut,
    errors=(404,),
)
def get_points(call: Call) -> Any:
    msisdn = wiring.msisdn(call.params["msisdn"])
    require_self_or(call, msisdn, "operator")
    return wiring.points().view(msisdn)


@api.route(
    "/v1/subscribers/{msisdn}/ledger",
    "GET",
    roles=SELF_OR_OPERATOR,
    summary="Points history, newest first",
    response=m.LedgerPage,
    query=LIST_QUERY,
    errors=(404,),
)
def get_ledger(call: Call) -> Any:
    msisdn = wiring.msisdn(call.params["msisdn"])
    require_self_or(call, msisdn, "operator")
    return wiring.points().ledger(msisdn, *page_params(call))


@api.route(
    "/v1/subscribers/{msisdn}/adjustments",
    "POST",
    roles=OPERATOR,
    summary="Credit or debit spendable points",
    body=m.AdjustmentIn,
    response=m.LedgerEntryOut,
    status=201,
    errors=(404, 409),
)
def post_adjustment(call: Call) -> Any:
    msisdn = wiring.msisdn(call.params["msisdn"])
    return wiring.points().adjust(msisdn, call.body.points, call.body.reason, call.who.subject, call.idempotency)


# -- events and schedules ---------------------------------------------------


@app.lambda_function(name="spend_events_consumer")
def spend_events_consumer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS batch from billing: each message applied exactly once; failures reported per message."""
    return wiring.consume_spend_events(event, context)


@app.schedule(Cron(5, 17, "*", "*", "?", "*"), name="expire_points")
def expire_points(event: Any) -> dict[str, int]:
    """00:05 in Asia/Ho_Chi_Minh: expire points whose date has passed."""
    return wiring.jobs().expire_points()


@app.schedule(Cron(20, 17, "*", "*", "?", "*"), name="tenure_bonuses")
def tenure_bonuses(event: Any) -> dict[str, int]:
    """00:20 in Asia/Ho_Chi_Minh: credit tenure bonuses of today's anniversaries."""
    return wiring.jobs().tenure_bonuses()


@app.schedule(Cron(40, 17, "L", "*", "?", "*"), name="review_tiers")
def review_tiers(event: Any) -> dict[str, int]:
    """00:40 on the 1st in Asia/Ho_Chi_Minh (17:40 UTC on the last day): apply ended tier cycles."""
    return wiring.jobs().review_tiers()
