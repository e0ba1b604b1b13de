"""A partner can generate a client from the published document and use it.

The document comes from the app in-process (`GET /v1/openapi.json` through the
Chalice test client); `openapi-python-client generate --fail-on-warning` turns
it into a package in a temporary directory, imported from there. The flows run
through that package against `python -m dev.serve` on 127.0.0.1 (a subprocess,
like tests/contract/test_schemathesis.py, for the same reason: the embedded
engine must not share moto's process-global state): a subscriber reads its
points and offers, claims a voucher and finds it in its wallet; the partner
looks it up, redeems it, replays the redemption with the same Idempotency-Key,
gets a 409 parsed into the error model for a second redemption, and reverses it.
Every reply must parse into its typed model, keeping every field the server sent.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import local_api
import pytest
from local_api import LocalApi

ROOT = Path(__file__).resolve().parents[2]
SUBSCRIBER = "84961234567"  # seeded by dev.seed with points; the demo campaign admits everyone
PACKAGE = "diem_client"


# -- the generated package -----------------------------------------------------------


@pytest.fixture(scope="module")
def client_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from chalice.test import Client

    import app as app_module

    with Client(app_module.app) as local:
        response = local.http.get("/v1/openapi.json")
    assert response.status_code == 200
    where = tmp_path_factory.mktemp("generated")
    (where / "openapi.json").write_bytes(response.body)
    (where / "config.yaml").write_text("post_hooks: []\n")  # no formatter needed to import it
    generator = Path(sys.executable).parent / "openapi-python-client"
    command = [str(generator), "generate", "--path", "openapi.json", "--config", "config.yaml"]
    command += ["--output-path", "out", "--fail-on-warning"]
    done = subprocess.run(command, cwd=where, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"openapi-python-client failed:\n{done.stdout}{done.stderr}"
    sys.path.insert(0, str(where / "out"))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where / "out"))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _api(operation: str) -> Any:
    """A generated operation module by `tag.operation_id`."""
    return importlib.import_module(f"{PACKAGE}.api.{operation}")


def _model(name: str) -> Any:
    return getattr(importlib.import_module(f"{PACKAGE}.models"), name)


# -- the server ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[LocalApi]:
    """`make run`'s server (`python -m dev.serve`) on a free port, with its demo data."""
    running = local_api.start()
    try:
        yield running
    finally:
        local_api.stop(running)


# -- checking a reply ---------------------------------------------------------------


def _keys(value: Any) -> Any:
    """The shape of a JSON value: its keys, recursively."""
    if isinstance(value, dict):
        return {k: _keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_keys(v) for v in value]
    return None


def _no_extras(value: Any) -> None:
    """No generated model holds fields its schema did not name."""
    assert not getattr(value, "additional_properties", None), value
    if hasattr(value, "__attrs_attrs__"):
        for attribute in value.__attrs_attrs__:
            _no_extras(getattr(value, attribute.name))
    elif isinstance(value, list):
        for item in value:
            _no_extras(item)


def typed(response: Any, status: int, model: str) -> Any:
    """The reply parsed into `model`, with every field the server sent."""
    assert response.status_code == status, (response.status_code, response.content)
    parsed = response.parsed
    assert type(parsed).__name__ == model, (model, parsed)
    _no_extras(parsed)
    assert _keys(parsed.to_dict()) == _keys(json.loads(response.content)), "a field was dropped in parsing"
    assert response.headers.get("X-Correlation-Id")
    return parsed


# -- the flows ----------------------------------------------------------------------


def test_subscriber_and_partner_flows_through_the_generated_client(client_package, server):
    client = client_package
    token = server.token("subscriber", SUBSCRIBER)
    me = client.AuthenticatedClient(base_url=server.base, token=token, raise_on_unexpected_status=True)
    partner_key = server.ids["api_key"]
    till = client.AuthenticatedClient(
        base_url=server.base,
        token=partner_key,
        prefix="",
        auth_header_name="X-Api-Key",
        raise_on_unexpected_status=True,
    )
    campaign_id = server.ids["campaign_id"]

    # the subscriber: points, offers, claim, wallet, ledger
    points = typed(_api("subscriber.get_points").sync_detailed(SUBSCRIBER, client=me), 200, "PointsOut")
    assert points.msisdn == SUBSCRIBER and points.balance > 2_000
    assert isinstance(points.tier, _model("Tier"))
    offers = typed(_api("subscriber.get_offers").sync_detailed(SUBSCRIBER, client=me), 200, "OffersOut")
    offer = next(o for o in offers.items if o.campaign_id == campaign_id)
    assert offer.partner.name == "Highlands Coffee (demo)" and offer.few_left is False
    assert offer.voucher.value_vnd == 45_000 and offer.starts_at.tzinfo is not None
    claim_in = _model("ClaimIn")()
    claimed = typed(
        _api("subscriber.post_claim").sync_detailed(campaign_id, client=me, body=claim_in, idempotency_key="claim-1"),
        201,
        "ClaimOut",
    )
    code = claimed.voucher.code
    assert claimed.balance == points.balance - offer.points_price
    assert claimed.voucher.status == _model("VoucherStatus").ISSUED
    wallet = typed(_api("subscriber.get_wallet").sync_detailed(SUBSCRIBER, client=me), 200, "WalletPage")
    assert code in [v.code for v in wallet.items]
    ledger = typed(_api("subscriber.get_ledger").sync_detailed(SUBSCRIBER, client=me), 200, "LedgerPage")
    assert ledger.items[0].kind == _model("LedgerKind").SPEND and ledger.items[0].points == -offer.points_price

    # the partner: look-up, redeem, replay, a second redemption refused, reverse
    found = typed(_api("partner.get_voucher").sync_detailed(code, client=till), 200, "PartnerVoucherOut")
    assert found.code == code and found.status == _model("VoucherStatus").ISSUED
    redeem = _api("partner.post_redemption")
    body = _model("RedemptionIn")(code=code, order_ref="till-42")
    first = typed(redeem.sync_detailed(client=till, body=body, idempotency_key="redeem-1"), 201, "RedemptionOut")
    again = typed(redeem.sync_detailed(client=till, body=body, idempotency_key="redeem-1"), 201, "RedemptionOut")
    assert again.to_dict() == first.to_dict()
    refused = typed(redeem.sync_detailed(client=till, body=body, idempotency_key="redeem-2"), 409, "ErrorResponse")
    assert refused.error.code == _model("ErrorCode").ALREADY_REDEEMED and refused.error.message
    reversal = _api("partner.post_reversal").sync_detailed(first.redemption_id, client=till, idempotency_key="rev-1")
    reversed_ = typed(reversal, 200, "ReversalOut")
    assert reversed_.redemption_id == first.redemption_id
    assert reversed_.voucher_status == _model("VoucherStatus").ISSUED
    after = typed(_api("partner.get_voucher").sync_detailed(code, client=till), 200, "PartnerVoucherOut")
    assert after.status == _model("VoucherStatus").ISSUED


def test_a_gateway_flow_through_the_generated_client(client_package, server):
    """The operator registers a USSD and an SMS gateway; each dials with its
    key: the USSD form is answered with a screen as text, the SMS as SmsOut."""
    client = client_package
    operator = client.AuthenticatedClient(
        base_url=server.base, token=server.token("operator", "crm-1"), raise_on_unexpected_status=True
    )
    register = _api("operator.post_gateway")
    channel = _model("Channel")
    keys = {}
    for kind in (channel.USSD, channel.SMS):
        body = _model("GatewayIn")(name=f"{kind.value} centre", channel=kind)
        made = typed(register.sync_detailed(client=operator, body=body), 201, "GatewayOut")
        assert made.channel == kind and made.api_key.startswith("gk_")
        keys[kind.value] = made.api_key

    def gateway(kind: str) -> Any:
        return client.AuthenticatedClient(
            base_url=server.base, token=keys[kind], prefix="", auth_header_name="X-Gateway-Key"
        )

    form = _model("UssdIn")(session_id="gen-1", service_code="*098#", phone_number="0961234567", text="")
    screen = _api("channels.post_ussd").sync_detailed(client=gateway("ussd"), body=form)
    assert screen.status_code == 200 and screen.headers["Content-Type"].startswith("text/plain")
    assert isinstance(screen.parsed, str) and screen.parsed.startswith("CON Diem: ")
    sms = _model("SmsIn")(message_id="gen-1", from_="0961234567", text="diem")
    reply = typed(_api("channels.post_sms").sync_detailed(client=gateway("sms"), body=sms), 200, "SmsOut")
    assert reply.message_id == "gen-1" and reply.reply.startswith("Diem cua ban: ")
    # the other channel's key is refused, parsed into the error model
    refused = _api("channels.post_sms").sync_detailed(client=gateway("ussd"), body=sms)
    assert refused.status_code == 403 and refused.parsed.error.code == _model("ErrorCode").FORBIDDEN
