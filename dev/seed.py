"""Demo data for `make run`: subscribers of different tenure and tier with
points, a partner with an API key, an active campaign; created through the
same service functions the API uses."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, timedelta

from chalicelib import clock, config, store
from chalicelib.auth import mint_token
from chalicelib.points import service as points
from chalicelib.store import schema
from chalicelib.subscribers import service as subscribers

SUBSCRIBERS = (
    # msisdn, activated years ago, plan, monthly paid VND
    ("84961234567", 6, "postpaid", 1_200_000),
    ("84971112233", 2, "prepaid", 350_000),
    ("84981239876", 1, "prepaid", 120_000),
)


@dataclass
class Demo:
    subscribers: list[str] = field(default_factory=list)
    partner_id: str | None = None
    api_key: str | None = None
    campaign_id: str | None = None
    household_id: str | None = None
    # channel gateways: channel -> key
    gateway_keys: dict[str, str] = field(default_factory=dict)
    # network products: sku -> product_id
    products: dict[str, str] = field(default_factory=dict)


def create_tables() -> list[str]:
    config.reset()
    store.bind()
    return schema.create_tables(store.binding.client(), config.settings().table_prefix)


def _profiles_and_points(demo: Demo) -> None:
    today = clock.today()
    for msisdn, years, plan, monthly in SUBSCRIBERS:
        activated = date(today.year - years, today.month, 1) - timedelta(days=20)
        subscribers.put_profile(
            msisdn,
            {"activated_on": activated.isoformat(), "plan": plan, "province": "Ha Noi", "segments": ["demo"]},
            None,
        )
        for months_ago in range(6, 0, -1):
            occurred = clock.now() - timedelta(days=30 * months_ago)
            points.accrue(f"demo-{msisdn}-{months_ago}", msisdn, monthly, "mobile", occurred, None)
        demo.subscribers.append(msisdn)


def seed() -> Demo:
    demo = Demo()
    _profiles_and_points(demo)
    _partner_and_campaign(demo)
    _household(demo)
    _gateways(demo)
    _products(demo)
    return demo


def _household(demo: Demo) -> None:
    """A household of the first two subscribers (the second may spend from the pool), with a
    month of each member's earnings in the pool."""
    from chalicelib.households import service as households

    owner, member = demo.subscribers[0], demo.subscribers[1]
    demo.household_id = households.create(owner, None).body["household_id"]
    households.invite(owner, demo.household_id, member, None)
    households.accept(member, demo.household_id, None)
    households.set_can_spend(owner, demo.household_id, member, True, None)
    for msisdn, _, _, monthly in SUBSCRIBERS[:2]:
        points.accrue(f"demo-{msisdn}-pooled", msisdn, monthly, "mobile", clock.now() - timedelta(hours=1), None)


def _gateways(demo: Demo) -> None:
    """A USSD and an SMS gateway, as the operator registers them."""
    from chalicelib.channels import gateways

    for channel in ("ussd", "sms"):
        made = gateways.create_gateway(f"Demo {channel.upper()} centre", channel, None).body
        demo.gateway_keys[channel] = made["api_key"]


def _partner_and_campaign(demo: Demo) -> None:
    """Filled in by the vouchers package once it exists."""
    try:
        from chalicelib.campaigns import service as campaigns
        from chalicelib.partners import service as partners
    except ImportError:
        return
    created = partners.create_partner("Highlands Coffee (demo)", None).body
    demo.partner_id, demo.api_key = created["partner_id"], created["api_key"]
    now = clock.now()
    campaign = campaigns.create_campaign(
        {
            "name": "Free coffee for loyal subscribers",
            "partner_id": demo.partner_id,
            "voucher": {"title": "One free iced coffee", "value_vnd": 45_000},
            "points_price": 2_000,
            "inventory": 500,
            "per_subscriber_limit": 2,
            "starts_at": clock.iso(now - timedelta(hours=1)),
            "ends_at": clock.iso(now + timedelta(days=30)),
            "voucher_valid_days": 14,
            "eligibility": {},
        },
        None,
    ).body
    demo.campaign_id = campaign["campaign_id"]
    campaigns.transition(demo.campaign_id, "launch", None)


def print_demo(demo: Demo, base: str) -> None:
    secret = config.settings().jwt_secret
    operator = mint_token("operator", "demo-crm", 12 * 3600, secret)
    marketer = mint_token("marketer", "demo-marketer", 12 * 3600, secret)
    subscriber = demo.subscribers[0]
    sub_token = mint_token("subscriber", subscriber, 12 * 3600, secret)
    print("\nDemo data")
    print(f"  subscribers: {', '.join(demo.subscribers)}")
    if demo.partner_id:
        print(f"  partner:     {demo.partner_id}  API key: {demo.api_key}")
        print(f"  campaign:    {demo.campaign_id} (active)")
    if demo.household_id:
        print(f"  household:   {demo.household_id} (owner {demo.subscribers[0]}, member {demo.subscribers[1]})")
    print("\nTokens (12 h)")
    print(f"  OPERATOR={operator}")
    print(f"  MARKETER={marketer}")
    print(f"  SUBSCRIBER={sub_token}   # {subscriber}")
    print("\nTry")
    print(f'  curl -s {base}/v1/subscribers/{subscriber}/points -H "Authorization: Bearer $SUBSCRIBER"')
    print(
        f'  curl -s -X POST {base}/v1/spend-events -H "Authorization: Bearer $OPERATOR"'
        f' -H \'Content-Type: application/json\' -d \'{{"event_id": "ev-1", "msisdn": "0961234567",'
        f' "amount_vnd": 200000, "service": "data", "occurred_at": "{clock.iso(clock.now())}"}}\''
    )
    if demo.campaign_id:
        print(
            f"  curl -s -X POST {base}/v1/campaigns/{demo.campaign_id}/claims"
            f' -H "Authorization: Bearer $SUBSCRIBER" -H "Idempotency-Key: claim-1"'
        )
        print(f'  curl -s {base}/v1/vouchers/<code> -H "X-Api-Key: {demo.api_key}"')
    print(f'  curl -s {base}/v1/subscribers/{subscriber}/ledger -H "Authorization: Bearer $SUBSCRIBER"')
    if demo.household_id:
        print(f'  curl -s {base}/v1/households/{demo.household_id} -H "Authorization: Bearer $SUBSCRIBER"')
    if demo.gateway_keys:
        print_channels(demo, base)
    if demo.products:
        print_products(demo, base)


def print_channels(demo: Demo, base: str) -> None:
    ussd, sms = demo.gateway_keys["ussd"], demo.gateway_keys["sms"]
    subscriber = demo.subscribers[0]
    print("\nBasic phones")
    print(f"  USSD gateway key: {ussd}")
    print(f"  SMS gateway key:  {sms}")
    print(
        f"  curl -s {base}/v1/channels/ussd -H 'X-Gateway-Key: {ussd}'"
        f" -d sessionId=demo-1 -d serviceCode='*098%23' -d phoneNumber={subscriber} -d text=2"
    )
    print(
        f"  curl -s {base}/v1/channels/sms -H 'X-Gateway-Key: {sms}' -H 'Content-Type: application/json'"
        f' -d \'{{"message_id": "demo-1", "from": "{subscriber}", "text": "DIEM"}}\''
    )
    print(f"  make ussd MSISDN={subscriber}   # dial the menu in this terminal")


# -- network products: a small catalogue, and how to order --------------------------

PRODUCTS = (
    {"name": "Data 1 GB / 7 days", "kind": "data", "sku": "DATA_1GB_7D", "points_price": 2_000, "validity_days": 7},
    {"name": "Data 5 GB / 30 days", "kind": "data", "sku": "DATA_5GB_30D", "points_price": 8_000, "validity_days": 30},
    {"name": "50 minutes on-net", "kind": "voice", "sku": "VOICE_50M_30D", "points_price": 3_000, "validity_days": 30},
    {"name": "Airtime 10,000 VND", "kind": "airtime", "sku": "AIRTIME_10K", "points_price": 10_000, "validity_days": 0},
)


def _products(demo: Demo) -> None:
    from chalicelib.products import catalogue

    for fields in PRODUCTS:
        demo.products[fields["sku"]] = catalogue.create_product(dict(fields), None).body["product_id"]


def print_products(demo: Demo, base: str) -> None:
    subscriber = demo.subscribers[0]
    data = demo.products["DATA_1GB_7D"]
    print("\nNetwork products (points for data, minutes, airtime)")
    print(f'  curl -s {base}/v1/products -H "Authorization: Bearer $SUBSCRIBER"')
    print(
        f"  curl -s -X POST {base}/v1/subscribers/{subscriber}/product-orders"
        f' -H "Authorization: Bearer $SUBSCRIBER" -H "Idempotency-Key: order-1"'
        f" -H 'Content-Type: application/json' -d '{{\"product_id\": \"{data}\"}}'"
    )
    print(
        f'  curl -s {base}/v1/subscribers/{subscriber}/product-orders/<order_id> -H "Authorization: Bearer $SUBSCRIBER"'
    )
    charging = os.environ.get("DIEM_CHARGING_URL", "<charging>")
    refuse = '{"mode": "refuse"}'
    print(
        f"  make the charging system refuse (docs/charging.md): curl -s -X POST {charging}/admin/faults -d '{refuse}'"
    )
