"""Schemathesis against the running API.

`python -m dev.serve` (embedded DynamoDB, demo data, `chalice local`) runs in a
subprocess; the schema is read from its own `/v1/openapi.json`; every
operation gets random examples (positive and negative) from a recorded seed
(printed at the start of the run; `DIEM_SCHEMATHESIS_SEED=<seed>` replays it;
`DIEM_SCHEMATHESIS_EXAMPLES` sets how many per operation, more in `make
soak`), called as each role its `description` admits. No 5xx, every response
conforms to the document (status code, content type, headers, body schema),
every operation answered 2xx at least once (one that never did fails the run,
named), and afterwards `ops.reconcile` finds no drift in the tables.

Negative authorization: every valid case is also sent as each wrong principal
(no credentials; each role its description does not admit; another
subscriber on a route about a subscriber's own data; a partner key on a bearer
route, a token on a partner-key route; a gateway key on either; on a gateway
route every token, a partner key and the other channel's gateway key), and must
be refused with 401, 403 or 404, never a 2xx nor anything else.

Why a subprocess: moto's embedded server shares process-global state with
`moto.mock_aws`, which other tests enter and leave (each time wiping every
table), so it must not live in the pytest process.

Credentials of the generated cases are always ours (`with-security-parameters`
off): a request with no Authorization header may be answered by the local
server itself, before any of our code runs, so only its status is checked (in
the negative-authorization runs); the shapes of those refusals are tested in
tests/api/test_auth.py.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import local_api
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from local_api import LocalApi
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chalicelib.auth import mint_token

ROOT = Path(__file__).resolve().parents[2]
SECRET = "contract-secret-0123456789abcdef0123456789"
# seeded by dev.seed: SUBSCRIBER's own token reads its data; OTHER takes the
# spend events, adjustments and grants
SUBSCRIBER, OTHER = "84961234567", "84971112233"
# `make test` keeps the default (a couple of minutes); `make soak` raises it
MAX_EXAMPLES = int(os.environ.get("DIEM_SCHEMATHESIS_EXAMPLES") or 25)
# chosen per run by tests/conftest.py (which prints it), or given to replay one
SEED = int(os.environ.get("DIEM_SCHEMATHESIS_SEED") or 20261123)
REFUSED = {401, 403, 404}
# a subscriber the seed never created, and who owns nothing
STRANGER = "84979999999"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# chalice local's http.server answers TRACE and QUERY itself, with a 501 HTML
# page, before any route runs (API Gateway refuses them itself in production);
# every other undeclared method is still sent by the coverage phase
UNEXPECTED_METHODS = ["GET", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"]


def _bearer(role: str, sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(role, sub, 3600, SECRET)}"}


# one worker runs the whole module against one server (tests/conftest.py makes
# `--dist loadgroup` honour the group on pytest 9.2)
pytestmark = pytest.mark.xdist_group("contract")

ROLE_HEADERS = {
    "operator": _bearer("operator", "contract-crm"),
    "marketer": _bearer("marketer", "contract-marketer"),
    "subscriber": _bearer("subscriber", SUBSCRIBER),
}


# -- the server ----------------------------------------------------------------


def _call(base: str, method: str, path: str, headers: dict[str, str], body: Any = None) -> dict[str, Any]:
    response = requests.request(method, base + path, headers=headers, json=body, timeout=30)
    assert response.status_code in (200, 201), f"{method} {path}: {response.status_code} {response.text}"
    return dict(response.json())


def _seed(server: LocalApi) -> None:
    """Through the API: one campaign per lifecycle operation (a draft to PATCH,
    a paused one to launch, active ones to pause and to end); a claimed voucher
    of the demo partner to look up; and a second partner, the "shop", with a
    voucher to redeem and a redemption to reverse. Look-ups of random codes soon
    lock a partner out for the hour (429, the enumeration defence), so the
    look-ups and the redemptions are made by different partners."""
    base, ids = server.base, server.ids
    marketer, subscriber = ROLE_HEADERS["marketer"], ROLE_HEADERS["subscriber"]
    demo = _call(base, "GET", f"/v1/campaigns/{ids['campaign_id']}", marketer)
    fields = {k: demo[k] for k in ("voucher", "points_price", "starts_at", "ends_at")}
    fields.update(inventory=50, per_subscriber_limit=2, voucher_valid_days=7)

    def campaign(name: str, partner_id: str, *actions: str) -> str:
        body = {**fields, "name": f"{name} (contract test)", "partner_id": partner_id}
        campaign_id = str(_call(base, "POST", "/v1/campaigns", marketer, body)["campaign_id"])
        for action in actions:
            _call(base, "POST", f"/v1/campaigns/{campaign_id}/{action}", marketer)
        return campaign_id

    def claim(campaign_id: str) -> str:
        return str(_call(base, "POST", f"/v1/campaigns/{campaign_id}/claims", subscriber)["voucher"]["code"])

    for name, actions in (("patch", ()), ("launch", ("launch", "pause")), ("pause", ("launch",)), ("end", ("launch",))):
        ids[f"{name}_campaign_id"] = campaign(name, ids["partner_id"], *actions)
    ids["code"] = claim(ids["campaign_id"])
    shop = _call(base, "POST", "/v1/partners", marketer, {"name": "Contract shop"})
    ids["shop_api_key"] = shop["api_key"]
    shop_campaign = campaign("shop", shop["partner_id"], "launch")
    redeemed, ids["shop_code"] = claim(shop_campaign), claim(shop_campaign)
    body = {"code": redeemed, "order_ref": "contract-1"}
    ids["redemption_id"] = _call(base, "POST", "/v1/redemptions", {"X-Api-Key": shop["api_key"]}, body)["redemption_id"]
    ids["webhook_id"] = _webhook(server)
    # network products: a cheap data pack and an order of it (the simulator make run starts provisions it)
    pack = {"name": "Contract pack", "kind": "data", "sku": "CONTRACT_1", "points_price": 10, "validity_days": 1}
    ids["product_id"] = _call(base, "POST", "/v1/products", marketer, pack)["product_id"]
    order = _call(
        base, "POST", f"/v1/subscribers/{SUBSCRIBER}/product-orders", subscriber, {"product_id": ids["product_id"]}
    )
    ids["order_id"] = order["order_id"]
    _seed_households(server)


# -- households: the demo household (SUBSCRIBER owns it, OTHER is in it) ----------------

HOUSEHOLD_CREATE = "POST /v1/households"
HOUSEHOLD_INVITE = "POST /v1/households/{household_id}/invitations"
HOUSEHOLD_ACCEPT = "POST /v1/households/{household_id}/invitations/{msisdn}/accept"
_fresh_numbers = itertools.count(1)


def _fresh_subscriber(server: LocalApi) -> str:
    """A new subscriber (an 8488... number, apart from the fuzzer's PUTs) who is in no household."""
    msisdn = f"8488{next(_fresh_numbers):07d}"
    profile = {"activated_on": "2020-01-01", "plan": "prepaid"}
    _call(server.base, "PUT", f"/v1/subscribers/{msisdn}", ROLE_HEADERS["operator"], profile)
    return msisdn


def _seed_households(server: LocalApi) -> None:
    """The demo household, and a member of it for DELETE to remove (PATCH acts on OTHER)."""
    ids = server.ids
    match = re.search(r"household:\s+(\S+)", server.log())
    assert match, f"dev.serve did not print the demo household:\n{server.log()}"
    ids["household_id"] = match.group(1)
    owner, member = ROLE_HEADERS["subscriber"], _fresh_subscriber(server)
    _call(server.base, "POST", f"/v1/households/{ids['household_id']}/invitations", owner, {"msisdn": member})
    path = f"/v1/households/{ids['household_id']}/invitations/{member}/accept"
    _call(server.base, "POST", path, _bearer("subscriber", member))
    ids["delete_member"] = member


def _household_case(case: Any, server: LocalApi) -> dict[str, str]:
    """Household routes whose success needs a caller in no household (create), an open
    invitation (accept) or a subscriber not yet invited (invite): made fresh each aimed turn."""
    label = case.operation.label
    if label == HOUSEHOLD_CREATE:
        return {"caller": _fresh_subscriber(server)}
    if label == HOUSEHOLD_ACCEPT:
        owner, invitee = _fresh_subscriber(server), _fresh_subscriber(server)
        household_id = str(_call(server.base, "POST", "/v1/households", _bearer("subscriber", owner))["household_id"])
        invite = f"/v1/households/{household_id}/invitations"
        _call(server.base, "POST", invite, _bearer("subscriber", owner), {"msisdn": invitee})
        return {"caller": invitee, "household_id": household_id, "msisdn": invitee}
    if label == HOUSEHOLD_INVITE:
        return {"invitee": _fresh_subscriber(server)}
    return {}


_HOUSEHOLD_CALLERS: dict[int, str] = {}  # id(case) -> the subscriber who makes it


# a webhook endpoint nobody listens on: deliveries to it are refused on 127.0.0.1, never sent elsewhere
LOCAL_HOOK = "http://127.0.0.1:9/contract-hook"


def _webhook(server: LocalApi) -> str:
    """One of the shop's webhook endpoints: a DELETE is aimed at a spare one (made when none is
    left), so the others keep theirs and refused DELETEs never pile up past the 20 allowed."""
    shop = {"X-Api-Key": server.ids["shop_api_key"]}
    kept = server.ids.get("webhook_id")
    listed = _call(server.base, "GET", "/v1/webhooks?limit=50", shop)["items"]
    spare = next((w["webhook_id"] for w in listed if w["webhook_id"] != kept), None)
    if spare is not None:
        return str(spare)
    body = {"url": LOCAL_HOOK, "events": ["voucher.redeemed"]}
    return str(_call(server.base, "POST", "/v1/webhooks", shop, body)["webhook_id"])


@pytest.fixture(scope="module")
def server() -> Iterator[LocalApi]:
    """`python -m dev.serve` (what `make run` runs) on a free port, ready and seeded; stopped at the end."""
    running = local_api.start(SECRET)
    try:
        _seed(running)
        yield running
    finally:
        left = local_api.stop(running)
        assert not left, f"dev.serve left processes behind: {left}"


@pytest.fixture(scope="module")
def api_schema(server: LocalApi) -> Any:
    """The document the running server publishes."""
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": MAX_EXAMPLES, "with-security-parameters": False},
            "phases": {"coverage": {"unexpected-methods": UNEXPECTED_METHODS}},
        }
    )
    return schemathesis.openapi.from_url(f"{server.base}/v1/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32's lazy schema reads and rewrites `node._nodeid`, which
    pytest 9.2's nodes no longer have (they keep a structured `_id`)."""
    request.node._nodeid = request.node.nodeid


# -- each case -----------------------------------------------------------------


def _callers(case: Any) -> tuple[str, list[str]]:
    """The operation's security ('none', 'apiKey', 'gatewayKey' or 'bearer') and,
    for a bearer one, the roles its description admits ("Callers: subscriber, operator.")."""
    definition = case.operation.definition.raw
    security = definition.get("security") or []
    if not security:
        return "none", []
    if "apiKey" in security[0]:
        return "apiKey", []
    if "gatewayKey" in security[0]:
        return "gatewayKey", []
    match = re.fullmatch(r"Callers: (.+)\.", definition.get("description", ""))
    assert match, f"{case.operation.label}: no 'Callers: ...' in its description"
    return "bearer", [role.strip() for role in match.group(1).split(",")]


def _credentials(case: Any, server: LocalApi) -> list[dict[str, str]]:
    """Headers for each caller the operation admits: its API key for a partner
    operation, a token per admitted role for a bearer one (and the shop's key
    where partners are admitted too: events and webhooks)."""
    security, roles = _callers(case)
    if security == "none":
        return [{}]
    if security == "apiKey":
        looks_up = case.operation.path.startswith("/v1/vouchers/")
        return [{"X-Api-Key": server.ids["api_key" if looks_up else "shop_api_key"]}]
    if security == "gatewayKey":
        return [{"X-Gateway-Key": server.ids[f"{_channel(case)}_key"]}]
    caller = _HOUSEHOLD_CALLERS.pop(id(case), None)
    if caller is not None:  # households: a subscriber made for this case
        return [_bearer(role, caller) if role == "subscriber" else ROLE_HEADERS[role] for role in roles]
    shop = {"X-Api-Key": server.ids["shop_api_key"]}
    return [shop if role == "partner" else ROLE_HEADERS[role] for role in roles]


def _channel(case: Any) -> str:
    """The channel of a gateway operation (its path's last part: ussd or sms)."""
    return str(case.operation.path.rsplit("/", 1)[-1])


def _wrong_principals(case: Any, server: LocalApi) -> dict[str, dict[str, str]]:
    """Each caller the operation must refuse, by name: no credentials; every
    role it does not admit; another subscriber where the route is about one
    subscriber's data (`{msisdn}`) and subscribers are admitted; a partner key
    on a bearer route; every role's token on a partner-key route."""
    security, roles = _callers(case)
    if security == "none":
        return {}
    wrong: dict[str, dict[str, str]] = {"no credentials": {}}
    if security == "gatewayKey":
        other = "sms" if _channel(case) == "ussd" else "ussd"
        wrong.update({f"{role} token": headers for role, headers in ROLE_HEADERS.items()})
        wrong["partner key"] = {"X-Api-Key": server.ids["api_key"]}
        wrong[f"{other} gateway key"] = {"X-Gateway-Key": server.ids[f"{other}_key"]}
        return wrong
    wrong["gateway key"] = {"X-Gateway-Key": server.ids["ussd_key"]}
    if security == "apiKey":
        wrong.update({f"{role} token": headers for role, headers in ROLE_HEADERS.items()})
        return wrong
    wrong.update({f"{role} token": headers for role, headers in ROLE_HEADERS.items() if role not in roles})
    if "subscriber" in roles and "msisdn" in (case.path_parameters or {}):
        wrong["another subscriber"] = _bearer("subscriber", STRANGER)
    if "webhook_id" in (case.path_parameters or {}):
        wrong["another partner"] = {"X-Api-Key": server.ids["api_key"]}  # the endpoint is the shop's
    elif "partner" not in roles:
        wrong["partner key"] = {"X-Api-Key": server.ids["api_key"]}
    return wrong


_turns: dict[str, Iterator[int]] = {}


def _known_ids(case: Any, server: LocalApi, turn: int) -> dict[str, str]:
    ids, path, method = server.ids, case.operation.path, case.operation.method.upper()
    action = "patch" if method == "PATCH" else path.rsplit("/", 1)[-1]
    # PUT: a fresh profile each time (created, then updated or recycled)
    msisdn = f"849{turn:08d}" if method == "PUT" else OTHER if path.endswith("/adjustments") else SUBSCRIBER
    return {
        "msisdn": msisdn,
        "campaign_id": ids.get(f"{action}_campaign_id", ids["campaign_id"]),
        "partner_id": ids["partner_id"],
        "code": ids["code"],
        "redemption_id": ids["redemption_id"],
        "household_id": ids["household_id"],
        "member": ids["delete_member"] if method == "DELETE" else OTHER,
        # a DELETE takes a fresh endpoint, so the others keep theirs
        "webhook_id": _webhook(server) if method == "DELETE" else ids["webhook_id"],
        "order_id": ids["order_id"],
    }


def _aim(case: Any, server: LocalApi) -> bool:
    """Every other valid case names objects that exist (random ids only ever get
    400 or 404), so the success answers are checked too; True for those."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return False
    turn = next(_turns.setdefault(case.operation.label, itertools.count()))
    if turn % 2:
        return False
    known = _known_ids(case, server, turn)
    fresh = _household_case(case, server)
    known.update({k: v for k, v in fresh.items() if k in ("household_id", "msisdn")})
    if "caller" in fresh:
        _HOUSEHOLD_CALLERS[id(case)] = fresh["caller"]
    for name in case.path_parameters or {}:
        case.path_parameters[name] = known[name]
    if isinstance(case.body, dict) and "events" in case.body and case.operation.path == "/v1/webhooks":
        case.body["events"] = ["voucher.redeemed"]  # one every caller may take (a partner: only its types)
    body = case.body if isinstance(case.body, dict) else {}
    known_values = (
        ("msisdn", fresh.get("invitee", OTHER)),
        ("partner_id", server.ids["partner_id"]),
        ("code", server.ids["shop_code"]),
        ("phoneNumber", SUBSCRIBER),
        ("from", SUBSCRIBER),
        ("product_id", server.ids["product_id"]),
    )
    for name, value in known_values:
        if name in body:
            body[name] = value
    if body.get("msisdns"):
        body["msisdns"][0] = OTHER
    now = datetime.now(UTC)
    if "occurred_at" in body and turn % 4 == 0:
        body["occurred_at"] = now.isoformat()
    if isinstance(body.get("voucher"), dict):
        # what the document cannot say: exactly one of value_vnd and percent_off, ends_at after starts_at
        voucher = body["voucher"]
        if voucher.get("value_vnd") is None and voucher.get("percent_off") is None:
            voucher["percent_off"] = 10
        if voucher.get("value_vnd") is not None:
            voucher.pop("percent_off", None)
        body["starts_at"], body["ends_at"] = now.isoformat(), (now + timedelta(days=30)).isoformat()
    return True


def _reconcile(server: LocalApi) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
    command = [sys.executable, "-m", "ops.reconcile", "--endpoint", server.ids["dynamodb"], "--prefix", "diem-dev-"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def _labels(api_schema: Any, secured: bool = False) -> set[str]:
    """The document's operations (only those that need credentials, if `secured`)."""
    labels = set()
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if not secured or operation.definition.raw.get("security"):
            labels.add(operation.label)
    return labels


# statuses of the wrong-principal calls, by operation, then by principal
REFUSALS: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))


@pytest.fixture(scope="module")
def answers(request: pytest.FixtureRequest, server: LocalApi, api_schema: Any) -> Iterator[dict[str, set[int]]]:
    """The statuses each operation's valid cases got (an operation that had only
    invalid cases is recorded too, with none). After the last example: every
    operation of the document was called and answered 2xx at least once (so
    success bodies were checked, not only errors), and the tables still
    reconcile (`ops.reconcile`).

    Checked here rather than in a test of its own, which `-k` or a worker
    could separate from the examples."""
    seen: dict[str, set[int]] = defaultdict(set)
    yield seen
    if not seen:
        return  # test_api_conforms was not selected
    if request.session.testsfailed:
        return  # stopped early or failed already: the operations left uncalled prove nothing
    replay = f"seed {SEED}: replay with DIEM_SCHEMATHESIS_SEED={SEED}"
    uncalled = sorted(_labels(api_schema) - set(seen))
    assert not uncalled, f"operations never called: {uncalled} ({replay})"
    never = sorted(label for label, statuses in seen.items() if not any(200 <= s < 300 for s in statuses))
    assert not never, f"no 2xx answer to: {never} ({replay}; {dict(seen)})"
    untried = sorted(_labels(api_schema, secured=True) - set(REFUSALS))
    assert not untried, f"no wrong principal was tried on: {untried} ({replay})"
    print(f"wrong principals refused: { ({label: dict(by) for label, by in REFUSALS.items()}) }")
    done = _reconcile(server)
    assert done.returncode == 0, f"ops.reconcile after the run exited {done.returncode}:\n{done.stdout}{done.stderr}"


def _local_urls_only(case: Any) -> None:
    """A generated webhook URL naming a host would have the server resolve it
    (DNS traffic): every http(s) URL in a body points at 127.0.0.1 instead."""
    body = case.body if isinstance(case.body, dict) else {}
    url = body.get("url")
    if isinstance(url, str) and re.match(r"(?i)^\s*https?:", url):
        body["url"] = LOCAL_HOOK


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(case: Any, server: LocalApi, answers: dict[str, set[int]]) -> None:
    _local_urls_only(case)
    aimed = _aim(case, server)
    statuses = answers[case.operation.label]
    valid = case.meta is not None and case.meta.generation.mode.is_positive
    for headers in _credentials(case, server):
        response = case.call_and_validate(base_url=server.base, headers=headers, checks=CHECKS)
        if valid:
            statuses.add(response.status_code)
    if not aimed:
        return
    # the same valid request about objects that exist, from each wrong principal:
    # refused, never served (a random id is a 400 or 404 for anyone)
    for who, headers in _wrong_principals(case, server).items():
        response = case.call(base_url=server.base, headers=headers)
        REFUSALS[case.operation.label][who].add(response.status_code)
        assert response.status_code in REFUSED, (
            f"{case.operation.label} as {who}: {response.status_code} {response.text[:300]} "
            f"(seed {SEED}: replay with DIEM_SCHEMATHESIS_SEED={SEED})"
        )


# Requests answered with a 500 when this test was written (found by the fuzzer,
# or by probing around what it found), replayed on every run: which examples
# the fuzzer draws also depends on the modules loaded in the process (Hypothesis
# mixes in constants it mines from them), so it may not draw these again.
_EVENT = {"event_id": "replay", "msisdn": OTHER, "amount_vnd": 100_000, "service": "mobile"}
REPLAYS: dict[str, tuple[str, dict[str, Any]]] = {
    "event-year-1-east-of-utc": (
        "POST /v1/spend-events",
        {"body": {**_EVENT, "event_id": "replay-1", "occurred_at": "0001-01-01T00:00:01+03:00"}},
    ),
    "event-last-second-of-9999": (
        "POST /v1/spend-events",
        {"body": {**_EVENT, "event_id": "replay-2", "occurred_at": "9999-12-31T23:59:59Z"}},
    ),
    "event-expiring-after-9999": (
        "POST /v1/spend-events",
        {"body": {**_EVENT, "event_id": "replay-3", "occurred_at": "9999-12-30T00:00:00Z"}},
    ),
    "profile-activated-in-9999": (
        "PUT /v1/subscribers/{msisdn}",
        {"path_parameters": {"msisdn": "84900000999"}, "body": {"activated_on": "9999-06-01", "plan": "prepaid"}},
    ),
    "ledger-cursor-superscript-digit": (
        "GET /v1/subscribers/{msisdn}/ledger",
        {"path_parameters": {"msisdn": SUBSCRIBER}, "query": {"cursor": "\u00b2"}},
    ),
    "redemptions-from-year-1": ("GET /v1/redemptions", {"query": {"from": "0001-01-01"}}),
    "redemptions-to-9999-12-31": ("GET /v1/redemptions", {"query": {"to": "9999-12-31"}}),
}


@pytest.mark.parametrize(("label", "request_"), REPLAYS.values(), ids=list(REPLAYS))
def test_replayed_requests_conform(api_schema: Any, server: LocalApi, label: str, request_: dict[str, Any]) -> None:
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, label
    case = operation.Case(**request_)
    for headers in _credentials(case, server):
        case.call_and_validate(base_url=server.base, headers=headers, checks=CHECKS)
