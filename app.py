"""diem's Lambda functions: HTTP routes, the authorizer, the spend-events
consumer and the scheduled jobs. Each route parses, calls one service
function and shapes the reply; the rules live in chalicelib."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from chalice.app import AuthResponse, Chalice, Cron

from chalicelib import wiring
from chalicelib.api.http import LIST_QUERY, Api, Call, QueryParam, not_in_future, page_params

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

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


@api.route("/v1/health", "GET", roles=ANYONE, summary="Liveness", response="Health")
def health(call: Call) -> dict[str, str]:
    return {"status": "ok"}


@api.route("/v1/openapi.json", "GET", roles=ANYONE, summary="This API as an OpenAPI 3.1 document")
def openapi(call: Call) -> dict[str, Any]:
    return wiring.openapi_document(api.specs)


# -- subscribers and points -------------------------------------------------


@api.route(
    "/v1/subscribers/{msisdn}",
    "PUT",
    owner="msisdn",
    roles=OPERATOR,
    summary="Create or update a subscriber profile",
    body="SubscriberIn",
    response="SubscriberOut",
    status=201,
    extra_statuses=(200,),
    errors=(409,),
)
def put_subscriber(call: Call) -> Any:
    return wiring.subscribers().put_profile(call.subscriber, call.body.model_dump(mode="json"), call.idempotency)


@api.route(
    "/v1/subscribers/{msisdn}",
    "GET",
    owner="msisdn",
    roles=SELF_OR_OPERATOR,
    summary="A subscriber's profile and tenure",
    response="SubscriberOut",
    errors=(404,),
)
def get_subscriber(call: Call) -> Any:
    return wiring.subscribers().shown_to(call.who.role, wiring.subscribers().get_profile(call.subscriber))


@api.route(
    "/v1/spend-events",
    "POST",
    roles=OPERATOR,
    summary="Apply a paid spend event (exactly once per event_id)",
    metric="SpendEvents",
    body="SpendEventIn",
    response="SpendEventOut",
    status=201,
    extra_statuses=(200,),
    errors=(404, 409),
)
def post_spend_event(call: Call) -> Any:
    # the model cannot know "now": a charge dated ahead of the clock is refused here
    not_in_future(call.body.occurred_at, "occurred_at")
    return wiring.accrue_event(call.body, call.idempotency)


@api.route(
    "/v1/subscribers/{msisdn}/points",
    "GET",
    owner="msisdn",
    roles=SELF_OR_OPERATOR,
    summary="Balance, tier and expiring points",
    response="PointsOut",
    errors=(404,),
)
def get_points(call: Call) -> Any:
    return wiring.points().view(call.subscriber)


@api.route(
    "/v1/subscribers/{msisdn}/ledger",
    "GET",
    owner="msisdn",
    roles=SELF_OR_OPERATOR,
    summary="Points history, newest first",
    response="LedgerPage",
    query=LIST_QUERY,
    errors=(404,),
)
def get_ledger(call: Call) -> Any:
    return wiring.points().ledger_shown_to(call.who.role, wiring.points().ledger(call.subscriber, *page_params(call)))


@api.route(
    "/v1/subscribers/{msisdn}/adjustments",
    "POST",
    owner="msisdn",
    roles=OPERATOR,
    summary="Credit or debit spendable points",
    body="AdjustmentIn",
    response="LedgerEntryOut",
    status=201,
    errors=(404, 409),
)
def post_adjustment(call: Call) -> Any:
    b = call.body
    return wiring.points().adjust(call.subscriber, b.points, b.reason, call.who.subject, call.idempotency)


# -- events and schedules ---------------------------------------------------


@app.lambda_function(name="spend_events_consumer")
def spend_events_consumer(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """SQS batch from billing: each message applied exactly once; failures reported per message."""
    return wiring.consume_spend_events(event, context)


@app.schedule(Cron(5, 17, "*", "*", "?", "*"), name="expire_points")
def expire_points(event: Any) -> dict[str, int]:
    """00:05 in Asia/Ho_Chi_Minh: expire points whose date has passed."""
    done: dict[str, int] = wiring.jobs().expire_points()
    return done


@app.schedule(Cron(20, 17, "*", "*", "?", "*"), name="tenure_bonuses")
def tenure_bonuses(event: Any) -> dict[str, int]:
    """00:20 in Asia/Ho_Chi_Minh: credit tenure bonuses of today's anniversaries."""
    done: dict[str, int] = wiring.jobs().tenure_bonuses()
    return done


@app.schedule(Cron(40, 17, "L", "*", "?", "*"), name="review_tiers")
def review_tiers(event: Any) -> dict[str, int]:
    """00:40 on the 1st in Asia/Ho_Chi_Minh (17:40 UTC on the last day): apply ended tier cycles."""
    done: dict[str, int] = wiring.jobs().review_tiers()
    return done


# -- partners, campaigns, vouchers ------------------------------------------

MARKETER = ("marketer",)
SUBSCRIBER = ("subscriber",)
PARTNER = ("partner",)
CAMPAIGN_STATUS = QueryParam("status", {"type": "string", "enum": ["draft", "active", "paused", "ended"]})
PERIOD = (
    QueryParam("from", {"type": "string", "maxLength": 40}, "YYYY-MM-DD (local day) or ISO 8601 timestamp, inclusive"),
    QueryParam("to", {"type": "string", "maxLength": 40}, "YYYY-MM-DD (through that local day) or timestamp"),
)


@api.route(
    "/v1/partners",
    "POST",
    roles=MARKETER,
    summary="Create a partner shop; its API key is shown only here",
    body="PartnerIn",
    response="PartnerOut",
    status=201,
)
def post_partner(call: Call) -> Any:
    return wiring.partners().create_partner(call.body.name, call.idempotency)


@api.route(
    "/v1/partners/{partner_id}/keys",
    "POST",
    roles=MARKETER,
    summary="Rotate a partner's API key; the old keys keep working for 24 h",
    response="ApiKeyOut",
    status=201,
    errors=(404,),
)
def post_partner_key(call: Call) -> Any:
    return wiring.partners().rotate_key(call.params["partner_id"], call.idempotency)


@api.route(
    "/v1/campaigns",
    "POST",
    roles=MARKETER,
    summary="Create a draft campaign",
    body="CampaignIn",
    response="CampaignOut",
    status=201,
)
def post_campaign(call: Call) -> Any:
    return wiring.campaigns().create_campaign(call.body.model_dump(), call.idempotency)


@api.route(
    "/v1/campaigns",
    "GET",
    roles=MARKETER,
    summary="Campaigns, newest first",
    response="CampaignPage",
    query=(CAMPAIGN_STATUS, *LIST_QUERY),
)
def get_campaigns(call: Call) -> Any:
    return wiring.campaigns().list_campaigns(call.query.get("status"), *page_params(call))


@api.route(
    "/v1/campaigns/{campaign_id}",
    "GET",
    roles=MARKETER,
    summary="A campaign with its issued / redeemed / reversed / remaining counts",
    response="CampaignOut",
    errors=(404,),
)
def get_campaign(call: Call) -> Any:
    return wiring.campaigns().get(call.params["campaign_id"])


@api.route(
    "/v1/campaigns/{campaign_id}",
    "PATCH",
    roles=MARKETER,
    summary="Grow inventory or move ends_at (after launch: only more, only later)",
    body="CampaignPatch",
    response="CampaignOut",
    errors=(404, 409, 422),
)
def patch_campaign(call: Call) -> Any:
    b = call.body
    return wiring.campaigns().patch(call.params["campaign_id"], b.inventory, b.ends_at, call.idempotency)


@api.route(
    "/v1/campaigns/{campaign_id}/launch",
    "POST",
    roles=MARKETER,
    summary="Launch a draft (or resume a paused) campaign",
    response="CampaignOut",
    errors=(404,),
)
def launch_campaign(call: Call) -> Any:
    return wiring.campaigns().transition(call.params["campaign_id"], "launch", call.idempotency)


@api.route(
    "/v1/campaigns/{campaign_id}/pause",
    "POST",
    roles=MARKETER,
    summary="Pause an active campaign",
    response="CampaignOut",
    errors=(404,),
)
def pause_campaign(call: Call) -> Any:
    return wiring.campaigns().transition(call.params["campaign_id"], "pause", call.idempotency)


@api.route(
    "/v1/campaigns/{campaign_id}/end",
    "POST",
    roles=MARKETER,
    summary="End an active or paused campaign",
    response="CampaignOut",
    errors=(404,),
)
def end_campaign(call: Call) -> Any:
    return wiring.campaigns().transition(call.params["campaign_id"], "end", call.idempotency)


@api.route(
    "/v1/campaigns/{campaign_id}/claims",
    "POST",
    roles=SUBSCRIBER,
    summary="Exchange points for a voucher",
    metric="Claims",
    body="ClaimIn",
    body_optional=True,
    response="ClaimOut",
    status=201,
    errors=(404,),
)
def post_claim(call: Call) -> Any:
    return wiring.vouchers().claim(call.subscriber, call.params["campaign_id"], call.idempotency)


@api.route(
    "/v1/campaigns/{campaign_id}/grants",
    "POST",
    roles=MARKETER,
    summary="Issue free vouchers to up to 1,000 subscribers, each reported",
    body="GrantIn",
    response="GrantOut",
    errors=(404,),
)
def post_grants(call: Call) -> Any:
    return wiring.vouchers().grant(call.params["campaign_id"], call.body.msisdns, call.idempotency)


@api.route(
    "/v1/subscribers/{msisdn}/vouchers",
    "GET",
    owner="msisdn",
    roles=SELF_OR_OPERATOR,
    summary="A subscriber's wallet, newest first",
    response="WalletPage",
    query=LIST_QUERY,
    errors=(404,),
)
def get_wallet(call: Call) -> Any:
    return wiring.vouchers().wallet(call.subscriber, *page_params(call))


@api.route(
    "/v1/subscribers/{msisdn}/offers",
    "GET",
    owner="msisdn",
    roles=SELF_OR_OPERATOR,
    summary="Active campaigns this subscriber is eligible for now",
    response="OffersOut",
    query=LIST_QUERY,
    errors=(404,),
)
def get_offers(call: Call) -> Any:
    return wiring.campaigns().offers(call.subscriber, *page_params(call))


@api.route(
    "/v1/vouchers/{code}",
    "GET",
    roles=PARTNER,
    summary="Look up one of this partner's vouchers",
    response="PartnerVoucherOut",
    errors=(404,),
)
def get_voucher(call: Call) -> Any:
    return wiring.redemptions().lookup(call.who.subject, unquote(call.params["code"]))


@api.route(
    "/v1/redemptions",
    "POST",
    roles=PARTNER,
    summary="Redeem a voucher",
    metric="Redemptions",
    body="RedemptionIn",
    response="RedemptionOut",
    status=201,
    errors=(404,),
)
def post_redemption(call: Call) -> Any:
    b = call.body
    return wiring.redemptions().redeem(call.who.subject, b.code, b.order_ref, b.store_id, call.idempotency)


@api.route(
    "/v1/redemptions/{redemption_id}/reversal",
    "POST",
    roles=PARTNER,
    summary="Reverse this partner's redemption within 30 days",
    response="ReversalOut",
    errors=(404,),
)
def post_reversal(call: Call) -> Any:
    return wiring.redemptions().reverse(call.who.subject, call.params["redemption_id"], call.idempotency)


@api.route(
    "/v1/redemptions",
    "GET",
    roles=PARTNER,
    summary="This partner's redemptions over a period, for settlement",
    response="RedemptionPage",
    query=(*PERIOD, *LIST_QUERY),
)
def get_redemptions(call: Call) -> Any:
    q = call.query
    return wiring.redemptions().list_redemptions(call.who.subject, q.get("from"), q.get("to"), *page_params(call))


@app.schedule(Cron(10, 17, "*", "*", "?", "*"), name="expire_vouchers")
def expire_vouchers(event: Any) -> dict[str, int]:
    """00:10 in Asia/Ho_Chi_Minh: mark vouchers past expires_at as expired."""
    done: dict[str, int] = wiring.vouchers().expire_vouchers()
    return done


# -- channels for basic phones: USSD and SMS gateways -------------------------------

GATEWAY = ("gateway",)


@api.route(
    "/v1/gateways",
    "POST",
    roles=OPERATOR,
    summary="Register a USSD or SMS gateway; its key is shown only here",
    body="GatewayIn",
    response="GatewayOut",
    status=201,
)
def post_gateway(call: Call) -> Any:
    return wiring.gateways().create_gateway(call.body.name, call.body.channel, call.idempotency)


@api.route(
    "/v1/channels/ussd",
    "POST",
    roles=GATEWAY,
    channel="ussd",
    summary="The USSD menu: one screen per callback (CON continues the session, END ends it)",
    body="UssdIn",
    body_format="form",
    reply="text",
    metric="UssdScreens",
)
def post_ussd(call: Call) -> str:
    b = call.body
    dial = wiring.ussd().Dial(call.who.subject, b.session_id, b.service_code, b.phone_number, b.text)
    screen: str = wiring.ussd().answer(dial)
    return screen


@api.route(
    "/v1/channels/sms",
    "POST",
    roles=GATEWAY,
    channel="sms",
    summary="One inbound SMS keyword; the reply is answered and sent to the sender",
    body="SmsIn",
    response="SmsOut",
    errors=(409, 422),
    metric="SmsMessages",
)
def post_sms(call: Call) -> Any:
    b = call.body
    return wiring.sms().receive(call.who.subject, b.message_id, b.sender, b.text)


# -- jobs fan-out: the worker of the jobs queue (chalicelib/jobs/fanout.py) -----------
# The schedules above put one task per due partition on the queue; each worker
# invocation takes one. The queue's name is the stage's (infra/build.py sets it).


@app.on_sqs_message(queue="diem-jobs", batch_size=1, name="job_worker")
def job_worker(event: Any) -> PartialItemFailureResponse:
    """One job task a message, worked from its checkpoint; failures reported per message."""
    return wiring.work_job_tasks(event.to_dict(), event.context)


# -- people's surfaces: the web console (web/, docs/console.md) -------------------------

STAFF = ("marketer", "operator")
DAY_RANGE = (
    QueryParam("from", {"type": "string", "format": "date"}, "first local day (YYYY-MM-DD), inclusive"),
    QueryParam("to", {"type": "string", "format": "date"}, "last local day (YYYY-MM-DD), inclusive"),
)


@api.route(
    "/v1/campaigns/{campaign_id}/daily",
    "GET",
    roles=STAFF,
    summary="Issued, redeemed and reversed per local day (at most 366 days)",
    response="CampaignDailyOut",
    query=DAY_RANGE,
    errors=(404,),
)
def get_campaign_daily(call: Call) -> Any:
    q = call.query
    return wiring.campaigns().daily(call.params["campaign_id"], q.get("from"), q.get("to"))


@api.route(
    "/v1/console/config",
    "GET",
    roles=ANYONE,
    summary="How the web console signs people in on this stage",
    response="ConsoleConfigOut",
)
def get_console_config(call: Call) -> Any:
    return wiring.console().sign_in_options()


@api.route(
    "/v1/dev/sign-in",
    "POST",
    roles=ANYONE,
    summary="Development only (local dev stage): a token for a role and subject; not found elsewhere",
    body="DevSignInIn",
    response="DevSignInOut",
    status=201,
    errors=(404,),
)
def post_dev_sign_in(call: Call) -> Any:
    return wiring.console().dev_sign_in(str(call.body.role), call.body.subject)
