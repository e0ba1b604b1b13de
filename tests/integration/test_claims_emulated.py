"""The claim path through the DynamoDB limits emulator (dev/limits_emulator.py)
in front of the embedded engine, over HTTP: injected conflicts move a claim
to another inventory shard, throttling that outlasts the attempts is a 503
with Retry-After that changed nothing, a sold-out campaign answers SOLD_OUT
without a transaction, and a storm on the emulated limits (conflicts and
throttles for real) never oversells and never answers 500."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter as Tally
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from chalicelib import clock, config, store
from chalicelib.campaigns import service as campaigns
from chalicelib.campaigns import shards
from chalicelib.config import rules
from chalicelib.errors import DiemError
from chalicelib.partners import service as partners
from chalicelib.points import service as points
from chalicelib.store import Subscriber, Voucher, schema
from chalicelib.subscribers import service as subscribers
from chalicelib.vouchers import service as vouchers
from conftest import _client, _use, auth
from dev import limits_emulator
from dev.limits_emulator import Limits

pytestmark = pytest.mark.engine

PRICE = 100
START = 10_000


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Calls:
    """DynamoDB calls diem's client makes, by operation (botocore events)."""

    def __init__(self) -> None:
        self.seen: Tally[str] = Tally()
        self._uid = f"calls-{uuid.uuid4().hex}"

    def __enter__(self) -> Calls:
        store.binding.client().meta.events.register("before-call.dynamodb.*", self._count, unique_id=self._uid)
        return self

    def __exit__(self, *exc: object) -> None:
        store.binding.client().meta.events.unregister("before-call.dynamodb.*", unique_id=self._uid)

    def _count(self, model: Any, **_: Any) -> None:
        self.seen[model.name] += 1


@pytest.fixture(scope="module")
def emulator(engine_endpoint: str) -> Iterator[limits_emulator.Emulator]:
    """diem's tables behind an emulator in this process, for the module."""
    from urllib.parse import urlsplit

    if urlsplit(engine_endpoint).hostname not in ("127.0.0.1", "localhost"):
        pytest.skip("the emulator fronts a local engine only")
    running = limits_emulator.start(Limits(), upstream=engine_endpoint)
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    _use(running.endpoint, prefix)
    schema.create_tables(store.binding.client(), prefix)
    try:
        yield running
    finally:
        running.model.reset(enforce=False)
        schema.delete_tables(store.binding.client(), prefix)
        running.stop()
        config.reset()


@pytest.fixture
def emulated(emulator: limits_emulator.Emulator, request: pytest.FixtureRequest) -> limits_emulator.Emulator:
    """The emulator on a clock frozen at 0 with DynamoDB's own limits and no hold
    (faults only when injected), or with `request.param` "real": the wall clock and
    the limits scaled by 500. Set-up passes through it unchecked until the test resets it."""
    real = getattr(request, "param", "manual") == "real"
    emulator.model.clock = time.monotonic if real else Clock()
    emulator.model.reset(Limits(scale=500, hold_ms=2.0) if real else Limits(scale=1, hold_ms=0), enforce=False)
    return emulator


def seed(count: int, inventory: int, shard_count: int) -> tuple[list[str], str]:
    msisdns = [f"8497{uuid.uuid4().int % 10**7:07d}" for _ in range(count)]
    for msisdn in msisdns:
        subscribers.put_profile(msisdn, {"activated_on": "2020-01-01", "plan": "prepaid"}, None)
        points.adjust(msisdn, START, "flash sale float", "test", None)
    partner_id = partners.create_partner("Emulated partner", None).body["partner_id"]
    now = clock.now()
    fields = {
        "name": "emulated flash sale",
        "partner_id": partner_id,
        "voucher": {"title": "50% off", "percent_off": 50},
        "points_price": PRICE,
        "inventory": inventory,
        "per_subscriber_limit": 1,
        "starts_at": now - timedelta(hours=1),
        "ends_at": now + timedelta(days=1),
        "voucher_valid_days": 30,
        "expected_peak_claims_per_second": 0 if shard_count == 1 else shard_count * rules().claims_per_shard_per_second,
    }
    campaign_id = campaigns.create_campaign(fields, None).body["campaign_id"]
    assert campaigns.transition(campaign_id, "launch", None).body["shard_count"] == shard_count
    return msisdns, campaign_id


def balance(msisdn: str) -> int:
    return int(Subscriber.get(msisdn, consistent_read=True).balance)


def test_a_conflict_on_the_shard_moves_the_claim_to_another_shard(emulated: limits_emulator.Emulator) -> None:
    (msisdn,), campaign_id = seed(1, inventory=8, shard_count=4)
    emulated.model.reset()
    emulated.model.inject("conflict", "stock#", 2)
    with Calls() as calls:
        reply = vouchers.claim(msisdn, campaign_id, None)
    assert reply.status == 201
    stats = emulated.model.snapshot()["stats"]
    assert stats["injected"] == {"conflict": 2} and stats["conflicts"] == 2 and stats["committed"] == 1
    conflicted, (taken,) = set(stats["conflicts_by_key"]), set(stats["admitted_by_key"])
    assert len(conflicted) == 2 and taken not in conflicted  # three different shards tried
    # moved, not decided again: one read, three commits
    assert calls.seen["BatchGetItem"] == 1 and calls.seen["TransactWriteItems"] == 3
    assert shards.totals(campaign_id, 4) == {"stock": 7, "issued": 1, "reversed": 0}
    assert balance(msisdn) == START - PRICE


@pytest.mark.parametrize("kind", ["throttle", "conflict"])
def test_contention_outlasting_the_attempts_is_a_503_with_retry_after_that_changed_nothing(
    emulated: limits_emulator.Emulator, kind: str
) -> None:
    (msisdn,), campaign_id = seed(1, inventory=8, shard_count=4)
    emulated.model.reset()
    emulated.model.inject(kind, "stock#", 1_000)
    api = _client()
    try:
        r = next(api).post(f"/v1/campaigns/{campaign_id}/claims", {}, headers=auth("subscriber", msisdn))
    finally:
        api.close()
    assert r.status_code == 503 and r.data["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert int(r.headers["Retry-After"]) >= 1
    stats = emulated.model.snapshot()["stats"]
    assert stats["injected"] == {kind: rules().claim_max_attempts}  # bounded: every attempt met the fault
    assert stats["admitted"] == 0
    assert shards.totals(campaign_id, 4) == {"stock": 8, "issued": 0, "reversed": 0}
    assert balance(msisdn) == START
    assert list(Voucher.by_owner.query(Subscriber.get(msisdn).owner_id)) == []


def test_a_sold_out_campaign_answers_sold_out_at_once_without_a_transaction(
    emulated: limits_emulator.Emulator,
) -> None:
    msisdns, campaign_id = seed(4, inventory=2, shard_count=2)
    emulated.model.reset()
    assert [vouchers.claim(m, campaign_id, None).status for m in msisdns[:2]] == [201, 201]
    emulated.model.reset()
    with Calls() as calls:
        for msisdn in msisdns[2:]:
            with pytest.raises(DiemError) as refused:
                vouchers.claim(msisdn, campaign_id, None)
            assert refused.value.code == "SOLD_OUT"
    assert emulated.model.snapshot()["stats"]["transactions"] == 0
    assert calls.seen["TransactWriteItems"] == 0 and calls.seen["BatchGetItem"] <= 3
    assert [balance(m) for m in msisdns[2:]] == [START, START]


@pytest.mark.parametrize("emulated", ["real"], indirect=True)
def test_a_storm_on_the_emulated_limits_never_oversells_and_never_answers_500(
    emulated: limits_emulator.Emulator,
) -> None:
    """8 claimers at once on 2 shards that each take one transactional write a
    second and are held 1 s by each commit: conflicts and throttles for real."""
    inventory = 3
    msisdns, campaign_id = seed(8, inventory=inventory, shard_count=2)
    emulated.model.reset()
    gate = threading.Barrier(len(msisdns), timeout=30)

    def claim(msisdn: str) -> str:
        gate.wait()
        try:
            return str(vouchers.claim(msisdn, campaign_id, None).status)
        except DiemError as exc:
            return exc.code
        except Exception as exc:  # what the API would answer 500
            return f"500 {type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(len(msisdns)) as pool:
        outcomes = Tally(pool.map(claim, msisdns))
    stats = emulated.model.snapshot()["stats"]
    assert set(outcomes) <= {"201", "SOLD_OUT", "SERVICE_UNAVAILABLE"}, outcomes
    assert stats["conflicts"] + stats["throttles"] > 0, stats  # the limits bit
    issued = outcomes["201"]
    assert 1 <= issued <= inventory
    totals = shards.totals(campaign_id, 2)
    assert totals == {"stock": inventory - issued, "issued": issued, "reversed": 0}
    emulated.model.reset(enforce=False)
    owners = {m: Subscriber.get(m, consistent_read=True) for m in msisdns}
    held = {m: len(list(Voucher.by_owner.query(s.owner_id))) for m, s in owners.items()}
    assert sum(held.values()) == issued and max(held.values()) <= 1
    assert all(int(owners[m].balance) == START - PRICE * held[m] for m in msisdns)
