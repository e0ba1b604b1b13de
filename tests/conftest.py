"""Shared fixtures: environment, tables on moto (in-process) or on the one local
engine (the atomic embedded moto server, over HTTP), the Chalice test client
with tokens for each role. Any unexpected 500 fails the test.

`DIEM_TEST_DYNAMODB_ENDPOINT=http://host:port` runs every engine test against
that endpoint instead (an AWS sandbox, another engine); nothing is installed
for it."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

os.environ.setdefault("AWS_DEFAULT_REGION", "ap-southeast-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ["DIEM_JWT_SECRET"] = "test-secret-0123456789abcdef0123456789"
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.pop("DIEM_JWT_JWKS_URL", None)

from hypothesis import HealthCheck, settings

from chalicelib import clock, config, store
from chalicelib.auth import mint_token
from chalicelib.auth.api_keys import forget_cached_keys
from chalicelib.store import schema

# stateful machines on the engine: "ci" runs in `make test`, "soak" in `make soak`
settings.register_profile(
    "ci", max_examples=200, stateful_step_count=20, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.register_profile(
    "soak", max_examples=2000, stateful_step_count=50, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.register_profile("dev", max_examples=20, stateful_step_count=15, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


# the contract test's seed: chosen once per run (at the controller's import, so
# xdist workers inherit it through the environment), printed at the start,
# replayed with DIEM_SCHEMATHESIS_SEED=<seed>
os.environ.setdefault("DIEM_SCHEMATHESIS_SEED", str(int.from_bytes(os.urandom(4), "big")))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Print the seed first thing, `-q` or not (xdist workers print nothing)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and not hasattr(session.config, "workerinput"):
        seed = os.environ["DIEM_SCHEMATHESIS_SEED"]
        reporter.write_line(f"schemathesis seed: {seed} (replay with DIEM_SCHEMATHESIS_SEED={seed})")


_SUMMARIES: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Lines a test recorded as `summary` (the machines' fault counts), from every xdist worker."""
    if report.when == "call":
        _SUMMARIES.extend(str(value) for name, value in report.user_properties if name == "summary")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in _SUMMARIES:
        terminalreporter.write_line(line)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Make `--dist loadgroup` group by `xdist_group` on pytest 9.2: xdist 3.8 tags
    a grouped item by assigning `item._nodeid = "<id>@<group>"` (after which its
    scheduler groups on the suffix), but pytest 9.2 keeps the id in `item._id`,
    so the tag lands in an attribute nobody reads. Carry it over (runs after
    xdist's hook; without xdist nothing is tagged). Then the machines go first."""
    from _pytest.nodeid import NodeId

    for item in items:
        tagged = item.__dict__.get("_nodeid")
        if isinstance(tagged, str) and tagged != item.nodeid and tagged.startswith(item.nodeid + "@"):
            item._id = NodeId.parse(tagged)
    # the longest single tests (the machines at 200 examples, minutes each) are handed out
    # first, so the other worker works through the rest meanwhile instead of waiting at the end
    items.sort(key=lambda item: not getattr(item, "originalname", item.name).endswith("_invariants"))


def _use(endpoint: str | None, prefix: str) -> None:
    if endpoint:
        os.environ["DIEM_DYNAMODB_ENDPOINT"] = endpoint
    else:
        os.environ.pop("DIEM_DYNAMODB_ENDPOINT", None)
    os.environ["DIEM_TABLE_PREFIX"] = prefix
    config.reset()
    forget_cached_keys()
    # a new client every time: one made outside `mock_aws` (by a unit test) is not intercepted by it
    store.binding._bound = None
    store.bind()


@pytest.fixture(autouse=True)
def _real_clock() -> Iterator[None]:
    yield
    clock.set_now(None)


@pytest.fixture
def moto_tables() -> Iterator[str]:
    """Fresh tables in moto's in-process mock (unit and API tests)."""
    from moto import mock_aws

    with mock_aws():
        prefix = f"t{uuid.uuid4().hex[:8]}-"
        _use(None, prefix)
        schema.create_tables(store.binding.client(), prefix)
        yield prefix
    os.environ.pop("DIEM_TABLE_PREFIX", None)
    config.reset()


@pytest.fixture(scope="session")
def engine_endpoint() -> Iterator[str]:
    """The DynamoDB endpoint engine tests use: `DIEM_TEST_DYNAMODB_ENDPOINT`, or
    the atomic embedded server started once per session (per xdist worker) in a
    process of its own, so it never shares moto's state with `mock_aws`."""
    given = os.environ.get("DIEM_TEST_DYNAMODB_ENDPOINT")
    if given:
        yield given
        return
    from dev.embedded_dynamodb import spawn

    with spawn() as server:
        yield server.endpoint


@pytest.fixture
def engine_tables(engine_endpoint: str) -> Iterator[str]:
    """Fresh tables on the engine (atomicity, transactions, concurrency)."""
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    _use(engine_endpoint, prefix)
    client = store.binding.client()
    schema.create_tables(client, prefix)
    yield prefix
    schema.delete_tables(client, prefix)
    os.environ.pop("DIEM_DYNAMODB_ENDPOINT", None)
    os.environ.pop("DIEM_TABLE_PREFIX", None)
    config.reset()


def at(text: str) -> Any:
    """Freeze the clock at an ISO 8601 instant (restored after each test)."""
    from datetime import datetime

    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    clock.set_now(lambda: value)
    return value


# a token outlives any suite run (a 600 s one minted at import did not), and stays
# inside the product's default ceiling (DIEM_JWT_MAX_LIFETIME_SECONDS, 12 h)
TOKEN_TTL_SECONDS = 2 * 3600


def token(role: str, sub: str, ttl: int = TOKEN_TTL_SECONDS) -> str:
    """A token minted now (real time, as the product checks it)."""
    return mint_token(role, sub, ttl_seconds=ttl, secret=os.environ["DIEM_JWT_SECRET"])


def auth(role: str, sub: str = "staff-1") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, sub)}"}


class Bearer(Mapping[str, str]):
    """Headers for `role`/`sub` whose token is minted each time they are read
    (`headers=OPERATOR`, `{**OPERATOR, ...}`), never once at import."""

    def __init__(self, role: str, sub: str) -> None:
        self.role, self.sub = role, sub

    def __getitem__(self, name: str) -> str:
        if name != "Authorization":
            raise KeyError(name)
        return f"Bearer {token(self.role, self.sub)}"

    def __iter__(self) -> Iterator[str]:
        return iter(("Authorization",))

    def __len__(self) -> int:
        return 1

    def __repr__(self) -> str:
        return f"Bearer({self.role!r}, {self.sub!r})"


def _conforms(method: str, path: str, body: Any) -> None:
    """A 2xx body fits its route's response model exactly (the models refuse unknown fields)."""
    import app as app_module
    from chalicelib.api.openapi import spec_for

    spec = spec_for(app_module.api.specs, method, path)
    if spec is not None and spec.response is not None:
        spec.response.model_validate(body)


class Response:
    """One answer of the test client. Not usable as a truth value: `assert
    api.put(...)` would pass whatever the status, so assert `.status_code`."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.status_code: int = raw.status_code
        self.headers: dict[str, str] = raw.headers
        self.body: bytes = raw.body
        # a text reply (the USSD screens) is `text`; every other answer, errors included, is JSON
        plain = raw.headers.get("Content-Type", "").startswith("text/plain")
        self.text: str | None = raw.body.decode() if plain else None
        self.data: Any = json.loads(raw.body) if raw.body and not plain else None

    def __bool__(self) -> bool:
        raise TypeError(
            f"a Response ({self.status_code}) has no truth value: assert r.status_code == <expected> instead"
        )

    def __repr__(self) -> str:
        return f"<Response {self.status_code} {self.data!r}>"


class Api:
    """The Chalice test client with JSON helpers: an unexpected 500 fails the test,
    and so does a 2xx body that does not fit its route's response model."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        raw: str | None = None,
        expect: int | None = None,
    ) -> Response:
        """`expect`: the status a setup call must get (`api.post(..., expect=201).data`)."""
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
        answer = getattr(self.client.http, method.lower())(path, headers=hdrs, body=payload)
        assert answer.status_code != 500, f"unexpected 500 from {method} {path}: {answer.body!r}"
        response = Response(answer)
        if expect is not None:
            assert response.status_code == expect, (
                f"{method} {path}: {response.status_code}, not {expect}: {response.data!r}"
            )
        if 200 <= response.status_code < 300 and response.data is not None:
            _conforms(method, path, response.data)
        return response

    def get(self, path: str, **kw: Any) -> Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Response:
        return self.call("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Response:
        return self.call("PUT", path, body, **kw)


def launched_campaign(api: Any, campaign: dict[str, Any], partner: str = "Shop") -> str:
    """A new partner's campaign made from `campaign` (every field but `partner_id`) and
    launched through the API, as a marketer does; its id."""
    partner_id = api.post("/v1/partners", {"name": partner}, headers=MARKETER, expect=201).data["partner_id"]
    body = {**campaign, "partner_id": partner_id}
    campaign_id = api.post("/v1/campaigns", body, headers=MARKETER, expect=201).data["campaign_id"]
    api.post(f"/v1/campaigns/{campaign_id}/launch", headers=MARKETER, expect=200)
    return str(campaign_id)


def _client() -> Iterator[Api]:
    from chalice.test import Client

    import app as app_module

    with Client(app_module.app) as client:
        yield Api(client)


@pytest.fixture
def api(moto_tables: str) -> Iterator[Api]:
    yield from _client()


@pytest.fixture
def engine_api(engine_tables: str) -> Iterator[Api]:
    yield from _client()


OPERATOR = Bearer("operator", "crm-1")
MARKETER = Bearer("marketer", "mkt-1")


def _loopback(endpoint: str) -> bool:
    from urllib.parse import urlsplit

    return urlsplit(endpoint).hostname in ("127.0.0.1", "localhost", "::1")


def engine_client(endpoint: str, config: Any = None) -> Any:
    """A boto3 DynamoDB client for `endpoint`: dummy credentials on a loopback
    engine, the environment's credentials (and region) on any other endpoint."""
    import boto3

    if not _loopback(endpoint):
        return boto3.client("dynamodb", endpoint_url=endpoint, config=config)
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="ap-southeast-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=config,
    )


@pytest.fixture(scope="session")
def engine_client_factory(engine_endpoint: str) -> Any:
    """`factory(config=None)` making raw clients for the session's engine."""

    def factory(config: Any = None) -> Any:
        return engine_client(engine_endpoint, config)

    return factory


@pytest.fixture(scope="session")
def engine(engine_client_factory: Any) -> Any:
    """A raw boto3 DynamoDB client bound to the session's engine."""
    return engine_client_factory()


# -- the engine contract suite (tests/engine): raw tables, partitions per test --


@pytest.fixture(scope="session")
def engine_is_moto(engine: Any) -> bool:
    """Whether the endpoint is moto: the embedded engine (no endpoint given), or
    a moto server someone pointed `DIEM_TEST_DYNAMODB_ENDPOINT` at (moto answers
    through werkzeug; AWS and DynamoDB Local do not)."""
    if not os.environ.get("DIEM_TEST_DYNAMODB_ENDPOINT"):
        return True
    headers = engine.list_tables(Limit=1)["ResponseMetadata"].get("HTTPHeaders", {})
    return "werkzeug" in headers.get("server", "").lower()


@pytest.fixture(scope="session")
def raw(engine_client_factory: Callable[..., Any]) -> Any:
    """A client that never retries, for asserting the engine's exact answers."""
    from engine.engine_contract import NO_RETRIES

    return engine_client_factory(NO_RETRIES)


@pytest.fixture(scope="module")
def tables(engine: Any) -> Iterator[dict[str, str]]:
    """`main`: pk+sk with the sparse KEYS_ONLY index `by-due` (due, sk);
    `other`: pk only, for reads across tables."""
    from engine.engine_contract import create_table

    run = uuid.uuid4().hex[:8]
    made = {
        "main": create_table(engine, f"diem-contract-{run}-main"),
        "other": create_table(engine, f"diem-contract-{run}-other", range_key=False, gsi=False),
    }
    yield made
    for name in made.values():
        with contextlib.suppress(engine.exceptions.ClientError):
            engine.delete_table(TableName=name)


@pytest.fixture
def main(tables: dict[str, str]) -> str:
    return tables["main"]


@pytest.fixture
def other(tables: dict[str, str]) -> str:
    return tables["other"]


@pytest.fixture
def uid() -> str:
    """A partition prefix no other test (nor an earlier run on a sandbox) uses."""
    return uuid.uuid4().hex[:12]


# -- network products: the charging simulator (dev/charging_sim.py) on 127.0.0.1 --

# the product's wait for the charging system in the tests, and the simulator's
# "time-out" faults' hold: longer, so each is a real time-out of the caller
CHARGING_TIMEOUT_SECONDS = 0.25
CHARGING_HOLD_SECONDS = 0.35


@pytest.fixture
def charging(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A charging simulator without faults (switch them with `charging.configure`),
    with DIEM_CHARGING_URL pointing at it; stopped after the test."""
    from dev import charging_sim

    sim = charging_sim.start(faults=charging_sim.Faults(timeout_seconds=CHARGING_HOLD_SECONDS))
    monkeypatch.setenv("DIEM_CHARGING_URL", sim.url)
    monkeypatch.setenv("DIEM_CHARGING_TIMEOUT_SECONDS", str(CHARGING_TIMEOUT_SECONDS))
    config.reset()
    # read now: the Chalice test client sets the stage's variables (another table prefix) while a request runs
    config.settings()
    yield sim
    sim.stop()
    monkeypatch.delenv("DIEM_CHARGING_URL")
    config.reset()


@pytest.fixture(scope="module")
def engine_module_tables(engine_endpoint: str) -> Iterator[str]:
    """Tables on the engine kept for all the tests of a module (each test brings
    its own subscribers): making and dropping them costs about a second a test."""
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    _use(engine_endpoint, prefix)
    client = store.binding.client()
    schema.create_tables(client, prefix)
    yield prefix
    _use(engine_endpoint, prefix)
    schema.delete_tables(client, prefix)
    os.environ.pop("DIEM_DYNAMODB_ENDPOINT", None)
    os.environ.pop("DIEM_TABLE_PREFIX", None)
    config.reset()


@pytest.fixture
def engine_module_api(engine_endpoint: str, engine_module_tables: str) -> Iterator[Api]:
    """The test client on the module's tables."""
    _use(engine_endpoint, engine_module_tables)
    yield from _client()


# the channel tests' world (a subscriber, campaigns, gateway keys, an SMS sink): its
# fixtures live beside those tests; a second conftest.py there would shadow this one
# -- the events pipeline's tests (tests/events): a moving clock, the local pipeline, receivers


T0 = datetime(2026, 11, 10, 3, 0, tzinfo=UTC)  # 10:00 in Ha Noi: outside the quiet hours


class MovingClock:
    """`chalicelib.clock` frozen at `start`, moved only by the test."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        clock.set_now(lambda: self.now)

    def advance(self, seconds: float = 0, **kw: float) -> datetime:
        self.now += timedelta(seconds=seconds, **kw)
        return self.now

    def to(self, instant: datetime) -> datetime:
        self.now = max(self.now, instant)
        return self.now


@pytest.fixture
def moving() -> MovingClock:
    """`chalicelib.clock` at T0, moved only by the test."""
    return MovingClock(T0)


@pytest.fixture
def pump(engine_tables: str, sink: Any) -> Iterator[Any]:
    """The local pipeline (dev.events.Pump: the product's handlers) on the engine's fresh tables;
    notification SMS go to `sink` (an SMS centre on 127.0.0.1)."""
    from dev.events import Pump

    made = Pump()
    yield made
    made.stop()


@pytest.fixture
def fast_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A receiver that answers after 0.3 s has timed out (the contract's 10 s, scaled down)."""
    import dataclasses

    monkeypatch.setattr(config, "_rules", dataclasses.replace(config.rules(), webhook_timeout_seconds=0.3))


@pytest.fixture
def receivers() -> Iterator[list[Any]]:
    """Started receivers, stopped after the test: `receivers.append(Receiver(...).start())`."""
    made: list[Any] = []
    yield made
    for receiver in made:
        receiver.stop()


@pytest.fixture
def no_dns() -> Iterator[None]:
    """No name is resolved: a test that would send DNS traffic fails instead."""
    from chalicelib.webhooks import urls

    def refuse(host: str, port: int) -> list[str]:
        raise AssertionError(f"a test tried to resolve {host}")

    urls.use_resolver(refuse)
    yield
    urls.use_resolver(None)


pytest_plugins = ["channels.world", "web.browser"]  # web.browser: the browser tests' server and Chromium
