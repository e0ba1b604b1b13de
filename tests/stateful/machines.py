"""What both state machines share: their settings, the database fixture (one
set of tables per test, a fresh key space per example), the HTTP layer's way
of sending a keyed request, and the product call under faults."""

from __future__ import annotations

import dataclasses
import inspect
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import Phase, settings

from chalicelib import config, idempotency, store
from chalicelib.api import http
from chalicelib.api.http import is_throttling
from chalicelib.errors import DiemError
from chalicelib.idempotency import Idempotency, Reply
from chalicelib.store import schema
from faults import ARMS, KINDS, Faults, Observed


def machine_settings() -> settings:
    """The loaded Hypothesis profile, overridable with DIEM_STATEFUL_EXAMPLES / DIEM_STATEFUL_STEPS;
    DIEM_STATEFUL_SHRINK=0 reports the first failure as found (shrinking one takes minutes)."""
    phases = settings.default.phases
    if os.environ.get("DIEM_STATEFUL_SHRINK") == "0":
        phases = tuple(p for p in phases if p not in (Phase.shrink, Phase.explain))
    return settings(
        max_examples=int(os.environ.get("DIEM_STATEFUL_EXAMPLES", "0")) or settings.default.max_examples,
        stateful_step_count=int(os.environ.get("DIEM_STATEFUL_STEPS", "0")) or settings.default.stateful_step_count,
        deadline=None,
        phases=phases,
    )


# `make test` runs each machine's examples as two halves, one per xdist worker at once:
# 200 examples in all, in half the time. Each half draws its own random examples:
# Hypothesis derandomises on CI (CI=true), which would make both halves the same run
# (and every CI run the same examples); a failure prints the blob that replays it.
HALVES = (1, 2)


def run_half(machine: type, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run half of `machine`'s examples (the profile's count, rounded up), randomly drawn."""
    whole = machine_settings()
    half = settings(whole, max_examples=-(-whole.max_examples // 2), derandomize=False, print_blob=True)
    monkeypatch.setattr(machine.TestCase, "settings", half)
    machine.TestCase().runTest()


@pytest.fixture
def stateful_db(engine_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The engine's tables for one machine test: made once, shared by its examples,
    each of which works in key space of its own (fresh MSISDNs, campaign and
    partner ids) and deletes what the jobs' indexes would find when it ends."""
    prefix = f"m{uuid.uuid4().hex[:8]}-"
    os.environ["DIEM_DYNAMODB_ENDPOINT"] = engine_endpoint
    os.environ["DIEM_TABLE_PREFIX"] = prefix
    config.reset()
    # one due-index shard instead of 16: the jobs read the same way, without empty partitions
    monkeypatch.setattr(config, "_rules", dataclasses.replace(config.rules(), due_index_shards=1))
    store.bind()
    client = store.binding.client()
    schema.create_tables(client, prefix)
    # the machines run their own clock: no sweeper may delete by the wall clock
    # (it would drop idempotency records that are live at the machine's time)
    for model in store.MODELS:
        if attribute := schema.ttl_attribute(model):
            spec = {"Enabled": False, "AttributeName": attribute}
            client.update_time_to_live(TableName=prefix + model.Meta.base_name, TimeToLiveSpecification=spec)
    yield prefix
    schema.delete_tables(client, prefix)
    os.environ.pop("DIEM_DYNAMODB_ENDPOINT", None)
    os.environ.pop("DIEM_TABLE_PREFIX", None)
    config.reset()


def fresh_msisdn() -> str:
    return f"849{uuid.uuid4().int % 10**8:08d}"


# the HTTP layer answers a stored reply before calling the operation, if it does so at all
HTTP_REPLAYS_FIRST = "idempotency.replay(" in inspect.getsource(http.Api._handle)


def send_as_http(idem: Idempotency | None, send: Callable[[Idempotency | None], Reply]) -> Reply:
    """A request as the HTTP layer makes it: the stored reply for its key first
    (while the HTTP layer does that), else the operation."""
    if idem is not None and HTTP_REPLAYS_FIRST:
        stored = idempotency.replay(idem)
        if stored is not None:
            return stored
    return send(idem)


def key(scope: str, params: dict[str, Any], body: Any, raw: str | None = None) -> Idempotency:
    """An Idempotency-Key (a fresh one unless `raw` is given) bound as the HTTP layer binds it."""
    raw = raw or f"k-{uuid.uuid4().hex}"
    bound = idempotency.key_for(raw, scope, {"params": params, "body": body})
    assert bound is not None
    KEYS[bound.record_id] = raw
    return bound


def reused(idem: Idempotency, scope: str, params: dict[str, Any], body: Any) -> Idempotency:
    """The key of `idem` (made by `key`) sent with another payload."""
    raw = KEYS[idem.record_id]
    return key(scope, params, body, raw)


KEYS: dict[str, str] = {}  # record id -> the raw key it was made from


@dataclasses.dataclass
class Outcome:
    reply: Reply | None
    code: str | None
    seen: Observed


# the kinds armed: all of them; DIEM_STATEFUL_FAULTS=throttle,lost,... narrows them while developing
# (the run then requires only those to fire)
ARMED = tuple(k for k in os.environ.get("DIEM_STATEFUL_FAULTS", ",".join(ARMS)).split(",") if k)
assert set(ARMED) <= set(ARMS), ARMED
FIRING = tuple(k for k in KINDS if k in ARMED or (k == "lost_after_commit" and "lost" in ARMED))
# the faults one operation under test meets: none, one or two (kind, pick)
FAULTS = st.one_of(
    st.just(()),
    st.lists(st.tuples(st.sampled_from(ARMED), st.integers(0, 63)), min_size=1, max_size=2).map(tuple),
)


def under_faults(faults: Faults, operation: Callable[[], Reply], armed: Sequence[tuple[str, int]]) -> Outcome:
    """Run the operation under test with its faults; a domain refusal is an outcome."""
    with faults.during(armed) as seen:
        try:
            return Outcome(operation(), None, seen)
        except DiemError as exc:
            return Outcome(None, exc.code, seen)
        except Exception as exc:
            # what a caller gets: the HTTP layer answers an escaped throttle or timeout 503
            if is_throttling(exc):
                return Outcome(None, "SERVICE_UNAVAILABLE", seen)
            raise


def assert_success(outcome: Outcome, status: int) -> bool:
    """True if it succeeded with `status`; False if it gave up on a fault that allows it
    (503, nothing changed); anything else fails."""
    if outcome.code == "SERVICE_UNAVAILABLE" and outcome.seen.may_give_up:
        return False
    assert outcome.code is None and outcome.reply is not None, (outcome.code, dict(outcome.seen.fired))
    assert outcome.reply.status == status, (outcome.reply, dict(outcome.seen.fired))
    return True


def without_faults_deterministically(monkeypatch: pytest.MonkeyPatch, machine: type, examples: int) -> None:
    """For a teeth test: `machine` runs with no fault injected, the same examples every run,
    and stops at the first failure."""
    monkeypatch.setattr(Faults, "_take", lambda self, operation, body: None)
    monkeypatch.setattr(
        machine.TestCase,
        "settings",
        settings(
            max_examples=examples,
            stateful_step_count=20,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.generate],
            report_multiple_bugs=False,
        ),
    )
