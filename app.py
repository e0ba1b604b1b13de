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


# -- households (pooled points) ---------------------------------------------
# the member's path parameter is `{member}`, not `{msisdn}`: the caller is the
# household's owner (or the member leaving), checked by the service, while the
# edge would let only the subscriber named by an `{msisdn}` through


@api.route(
    "/v1/households",
    "POST",
    roles=SUBSCRIBER,
    summary="Create a household; the caller becomes its owner",
    response="HouseholdOut",
    status=201,
    errors=(404, 409),
)
def post_household(call: Call) -> Any:
    return wiring.households().create(call.subscriber, call.idempotency)


@api.route(
    "/v1/households/{household_id}",
    "GET",
    roles=SELF_OR_OPERATOR,
    summary="A household, its members and pool (its members and the operator; others 404)",
    response="HouseholdOut",
    errors=(404,),
)
def get_household(call: Call) -> Any:
    caller = None if call.who.role == "operator" else call.subscriber
    return wiring.households().view(call.params["household_id"], caller)


@api.route(
    "/v1/households/{household_id}/invitations",
    "POST",
    roles=SUBSCRIBER,
    summary="The owner invites a subscriber (valid 7 days)",
    body="InvitationIn",
    response="InvitationOut",
    status=201,
    errors=(403, 404, 409),
)
def post_invitation(call: Call) -> Any:
    invitee = wiring.normalise(call.body.msisdn)
    return wiring.households().invite(call.subscriber, call.params["household_id"], invitee, call.idempotency)


@api.route(
    "/v1/households/{household_id}/invitations/{msisdn}/accept",
    "POST",
    owner="msisdn",
    roles=SUBSCRIBER,
    summary="The invited subscriber joins the household",
    response="HouseholdOut",
    errors=(404, 409),
)
def post_accept(call: Call) -> Any:
    return wiring.households().accept(call.subscriber, call.params["household_id"], call.idempotency)


@api.route(
    "/v1/households/{household_id}/members/{member}",
    "PATCH",
    roles=SUBSCRIBER,
    summary="The owner allows or forbids a member to spend from the pool",
    body="MemberPatch",
    response="HouseholdMemberOut",
    errors=(403, 404, 409),
)
def patch_member(call: Call) -> Any:
    member = wiring.member_from_path(call.params["member"])
    b = call.body
    return wiring.households().set_can_spend(
        call.subscriber, call.params["household_id"], member, b.can_spend, call.idempotency
    )


@api.route(
    "/v1/households/{household_id}/members/{member}",
    "DELETE",
    roles=SUBSCRIBER,
    summary="The owner removes a member, or a member leaves (the owner leaving dissolves it)",
    response="MemberRemovedOut",
    errors=(403, 404),
)
def delete_member(call: Call) -> Any:
    member = wiring.member_from_path(call.params["member"])
    return wiring.households().remove(call.subscriber, call.params["household_id"], member, call.idempotency)


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


# -- events and webhooks (API.md "Events and webhooks") ------------------------------

OPERATOR_OR_PARTNER = ("operator", "partner")
EVENTS_QUERY = (
    QueryParam("after", {"type": "string", "maxLength": 512}, "The next_cursor of the last page read."),
    QueryParam("types", {"type": "string", "maxLength": 1024}, "Only these event types, comma-separated."),
    QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
)
# Chalice needs a stream for the decorator; infra/ gives the function every
# streamed table's stream (schema.streamed_models()) in the packaged template
EVENTS_STREAM = "arn:aws:dynamodb:ap-southeast-1:000000000000:table/diem-subscribers/stream/set-by-infra"


@app.on_dynamodb_record(stream_arn=EVENTS_STREAM, name="events", batch_size=100, starting_position="TRIM_HORIZON")
def events(event: Any) -> PartialItemFailureResponse:
    """Change streams -> the events table; the events table's stream -> deliveries and notifications."""
    return wiring.consume_stream(event)


@app.lambda_function(name="deliveries_consumer")
def deliveries_consumer(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """The deliveries queue: webhook attempts (Standard Webhooks, retried on schedule) and notification SMS."""
    return wiring.consume_deliveries(event, context)


@app.schedule(Cron(0, 2, "*", "*", "?", "*"), name="expiry_notices")
def expiry_notices(event: Any) -> dict[str, int]:
    """09:00 in Asia/Ho_Chi_Minh: points.expiring notices for points expiring within 7 days."""
    return wiring.notify_expiring()


@api.route(
    "/v1/events",
    "GET",
    roles=OPERATOR_OR_PARTNER,
    summary="The caller's events in commit order (kept 30 days; the ids the webhooks carry)",
    response="EventPage",
    query=EVENTS_QUERY,
)
def get_events(call: Call) -> Any:
    feed = wiring.events_feed()
    limit, _ = page_params(call)
    wanted = feed.parse_types(call.query.get("types"), call.who.role)
    return feed.read(call.who.role, call.who.subject, call.query.get("after") or None, wanted, limit)


@api.route(
    "/v1/webhooks",
    "POST",
    roles=OPERATOR_OR_PARTNER,
    summary="Register a webhook endpoint; its signing secret is shown only here",
    body="WebhookIn",
    response="WebhookCreated",
    status=201,
)
def post_webhook(call: Call) -> Any:
    return wiring.webhooks().create(call.who, call.body.url, list(call.body.events), call.idempotency)


@api.route(
    "/v1/webhooks",
    "GET",
    roles=OPERATOR_OR_PARTNER,
    summary="The caller's own webhook endpoints (never a secret)",
    response="WebhookPage",
    query=LIST_QUERY,
)
def get_webhooks(call: Call) -> Any:
    return wiring.webhooks().list_own(call.who, *page_params(call))


@api.route(
    "/v1/webhooks/{webhook_id}",
    "DELETE",
    roles=OPERATOR_OR_PARTNER,
    summary="Delete one of the caller's webhook endpoints",
    status=204,
    errors=(404,),
)
def delete_webhook(call: Call) -> Any:
    return wiring.webhooks().delete(call.who, call.params["webhook_id"], call.idempotency)


@api.route(
    "/v1/webhooks/{webhook_id}/secret",
    "POST",
    roles=OPERATOR_OR_PARTNER,
    summary="Rotate an endpoint's secret; for 24 h deliveries carry both signatures",
    response="WebhookSecretOut",
    status=201,
    errors=(404,),
)
def post_webhook_secret(call: Call) -> Any:
    return wiring.webhooks().rotate(call.who, call.params["webhook_id"], call.idempotency)


@api.route(
    "/v1/webhooks/{webhook_id}/deliveries",
    "GET",
    roles=OPERATOR_OR_PARTNER,
    summary="An endpoint's recent deliveries, newest first",
    response="DeliveryPage",
    query=LIST_QUERY,
    errors=(404,),
)
def get_webhook_deliveries(call: Call) -> Any:
    return wiring.webhooks().deliveries(call.who, call.params["webhook_id"], *page_params(call))


# -- network products: the catalogue, orders for points, their settlement (chalicelib/products) --

CATALOGUE_READERS = ("subscriber", "operator", "marketer")


@api.route(
    "/v1/products",
    "POST",
    roles=MARKETER,
    summary="Add a network product (data, voice minutes, airtime) priced in points",
    body="ProductIn",
    response="ProductOut",
    status=201,
)
def post_product(call: Call) -> Any:
    return wiring.products().create_product(call.body.model_dump(mode="json"), call.idempotency)


@api.route(
    "/v1/products",
    "GET",
    roles=CATALOGUE_READERS,
    summary="The active catalogue of network products, newest first",
    response="ProductPage",
    query=LIST_QUERY,
)
def get_products(call: Call) -> Any:
    return wiring.products().list_products(*page_params(call))


@api.route(
    "/v1/subscribers/{msisdn}/product-orders",
    "POST",
    owner="msisdn",
    roles=SELF_OR_OPERATOR,
    summary="Spend points on a network product; provisioned by the charging system (fulfilled), "
    "refused (refunded) or not yet answered (pending)",
    metric="ProductOrders",
    body="ProductOrderIn",
    response="ProductOrderOut",
    status=201,
    errors=(404, 409),
)
def post_product_order(call: Call) -> Any:
    return wiring.product_orders().order(call.subscriber, call.body.product_id, call.idempotency)


@api.route(
    "/v1/subscribers/{msisdn}/product-orders/{order_id}",
    "GET",
    owner="msisdn",
    roles=SELF_OR_OPERATOR,
    summary="A product order and its current status",
    response="ProductOrderOut",
    errors=(404,),
)
def get_product_order(call: Call) -> Any:
    return wiring.product_orders().get_order(call.subscriber, unquote(call.params["order_id"]))


@app.schedule(Cron("0/5", "*", "*", "*", "?", "*"), name="settle_product_orders")
def settle_product_orders(event: Any) -> dict[str, int]:
    """Every 5 minutes: settle the product orders the charging system left pending."""
    done: dict[str, int] = wiring.product_settlement().settle_product_orders()
    return done


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
