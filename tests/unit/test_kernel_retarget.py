"""The kernel's `Plan.retarget`: a cancellation made only of conflicts or
throttling is sent at once as the plan moved to other items (a claim to
another inventory shard), with a stamp and token of its own; without a
retarget, or when it has nowhere to go, the same attempt is sent again after a
backoff. A retargeted attempt still recognises an earlier commit of the request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from unit.test_kernel import OK, Engine, cancelled, put, use

from chalicelib import idempotency
from chalicelib.errors import Unavailable
from chalicelib.idempotency import Idempotency, Reply
from chalicelib.store import kernel
from chalicelib.store.kernel import Plan

IDEM = Idempotency(record_id="r" * 64, payload_hash="h" * 64)


@pytest.fixture(autouse=True)
def slept(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    waits: list[float] = []
    monkeypatch.setattr(kernel.time, "sleep", waits.append)
    yield waits


def shard_plan(shard: int, asked: list[frozenset[str]], last: int = 3) -> Plan:
    """A plan writing `balance` and the shard `stock` (labelled "stock"), moving to the next shard when asked."""

    def retarget(hot: frozenset[str]) -> Plan | None:
        asked.append(hot)
        return shard_plan(shard + 1, asked, last) if shard < last else None

    return Plan([put("balance"), put(f"stock{shard}")], Reply(201, {"shard": shard}), retarget=retarget)


def stock(ops: list) -> str:
    return next(op.label for op in ops if op.label.startswith("stock"))


def test_a_conflict_on_the_shard_moves_the_attempt_to_another_at_once(
    monkeypatch: pytest.MonkeyPatch, slept: list[float]
) -> None:
    engine = use(monkeypatch, Engine(cancelled(stock0=("TransactionConflict", None)), None))
    asked: list[frozenset[str]] = []
    decisions = []

    def decide(fresh: object) -> Plan:
        decisions.append(fresh)
        return shard_plan(0, asked)

    assert kernel.run(decide) == Reply(201, {"shard": 1})
    assert [stock(ops) for ops, _ in engine.sent] == ["stock0", "stock1"]
    assert asked == [frozenset({"stock0"})] and len(decisions) == 1  # no new read
    assert slept == []  # another item: sent without waiting
    assert engine.stamp(0) != engine.stamp(1) and engine.sent[0][1] != engine.sent[1][1]


def test_throttling_moves_it_too_and_the_idempotency_record_is_never_a_reason_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = use(
        monkeypatch,
        Engine(
            cancelled(stock0=("ThrottlingError", None)),
            cancelled(**{idempotency.LABEL: ("TransactionConflict", None)}),
            None,
        ),
    )
    asked: list[frozenset[str]] = []
    assert kernel.run(lambda fresh: shard_plan(0, asked), IDEM) == Reply(201, {"shard": 1})
    # the record's own conflict (a duplicate in flight) sends the same attempt again
    assert [stock(ops) for ops, _ in engine.sent] == ["stock0", "stock1", "stock1"]
    assert engine.sent[1] == engine.sent[2] and asked == [frozenset({"stock0"})]


def test_with_nowhere_left_the_same_attempt_goes_again_after_a_backoff_then_503(
    monkeypatch: pytest.MonkeyPatch, slept: list[float]
) -> None:
    conflicts = [cancelled(stock0=("TransactionConflict", None))] + [
        cancelled(stock1=("TransactionConflict", None))
    ] * 3
    engine = use(monkeypatch, Engine(*conflicts))
    asked: list[frozenset[str]] = []
    with pytest.raises(Unavailable):
        kernel.run(lambda fresh: shard_plan(0, asked, last=1), attempts=4)
    assert [stock(ops) for ops, _ in engine.sent] == ["stock0", "stock1", "stock1", "stock1"]
    assert len(slept) == 2  # the moved attempt went at once; the resends of the last shard waited


def test_a_retargeted_attempt_recognises_that_the_first_one_committed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first attempt's answer was lost behind a conflict (an SDK retry of a
    commit): the moved attempt fails on the balance the first one wrote, and the
    cancellation shows its stamp, so the request answers once, as the first."""

    def committed(ops: list) -> BaseException:
        return cancelled(balance=("ConditionalCheckFailed", {kernel.STAMP: {"S": engine.stamp(0)}}))

    engine = use(monkeypatch, Engine(cancelled(stock0=("TransactionConflict", None)), committed))
    assert kernel.run(lambda fresh: shard_plan(0, [])) == Reply(201, {"shard": 0})
    assert len(engine.sent) == 2


def test_a_plan_without_retarget_sends_the_same_attempt_again(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = use(monkeypatch, Engine(cancelled(item=("TransactionConflict", None)), None))
    assert kernel.run(lambda fresh: Plan([put()], OK)) == OK
    assert engine.sent[0] == engine.sent[1]
