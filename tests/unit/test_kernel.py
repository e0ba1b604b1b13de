"""The commit kernel's protocol (`chalicelib.store.kernel`), branch by branch:
what it sends, how it reads a cancellation, when it retries, resends or
gives up. DynamoDB's side is a scripted `send` here (what the engine answers is
asserted in tests/engine, and the whole path on the engine in tests/integration
and tests/stateful)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib import idempotency
from chalicelib.errors import Conflict, IdempotencyKeyReused, NotFound, Unavailable
from chalicelib.idempotency import Idempotency, Reply
from chalicelib.store import kernel
from chalicelib.store.kernel import Plan
from chalicelib.store.transact import Ambiguous, Cancelled, Op, Throttled

OK = Reply(201, {"ok": True})
IDEM = Idempotency(record_id="r" * 64, payload_hash="h" * 64)


def put(label: str = "item") -> Op:
    return Op({"Put": {"TableName": "t", "Item": {"pk": {"S": label}}}}, label)


def update(expression: str, label: str = "balance") -> Op:
    return Op(
        {
            "Update": {
                "TableName": "t",
                "Key": {"pk": {"S": label}},
                "UpdateExpression": expression,
                "ExpressionAttributeNames": {"#0": "a"},
                "ExpressionAttributeValues": {":0": {"N": "1"}},
            }
        },
        label,
    )


class Engine:
    """A scripted `send`: each call takes the next answer (an exception to raise, or None for success)."""

    def __init__(self, *answers: BaseException | Callable[[list[Op]], BaseException | None] | None) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[list[Op], str | None]] = []

    def __call__(self, ops: list[Op], token: str | None = None) -> None:
        self.sent.append((list(ops), token))
        answer = self.answers.pop(0) if self.answers else None
        if callable(answer) and not isinstance(answer, BaseException):
            answer = answer(list(ops))
        if answer is not None:
            raise answer

    def stamp(self, n: int = 0) -> str:
        item = next(iter(self.sent[n][0][0].request.values()))
        if "Item" in item:
            return str(item["Item"][kernel.STAMP]["S"])
        return str(item["ExpressionAttributeValues"][":diem_rq"]["S"])


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    slept: list[float] = []
    monkeypatch.setattr(kernel.time, "sleep", slept.append)
    yield slept


def use(monkeypatch: pytest.MonkeyPatch, engine: Engine) -> Engine:
    monkeypatch.setattr(kernel, "send", engine)
    return engine


def cancelled(**reasons: tuple[str, dict[str, Any] | None]) -> Cancelled:
    return Cancelled(dict(reasons))


# -- stamping -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("SET #0 = :0", "SET #diem_rq = :diem_rq, #0 = :0"),
        ("ADD #0 :0", "SET #diem_rq = :diem_rq ADD #0 :0"),
        ("ADD #0 :0 SET #1 = :0", "ADD #0 :0 SET #diem_rq = :diem_rq, #1 = :0"),
        ("REMOVE #0", "SET #diem_rq = :diem_rq REMOVE #0"),
    ],
)
def test_every_update_writes_the_attempts_stamp(expression: str, expected: str) -> None:
    stamped = kernel._stamped(update(expression), "req.3")
    body = stamped.request["Update"]
    assert body["UpdateExpression"] == expected
    assert body["ExpressionAttributeNames"] == {"#0": "a", "#diem_rq": kernel.STAMP}
    assert body["ExpressionAttributeValues"][":diem_rq"] == {"S": "req.3"}
    assert stamped.label == "balance"


def test_a_put_carries_the_stamp_and_a_condition_check_writes_nothing() -> None:
    stamped = kernel._stamped(put(), "req.0")
    assert stamped.request["Put"]["Item"] == {"pk": {"S": "item"}, kernel.STAMP: {"S": "req.0"}}
    check = Op({"ConditionCheck": {"TableName": "t", "Key": {}, "ConditionExpression": "x"}}, "c")
    assert kernel._stamped(check, "req.0").request == check.request


def test_stamping_leaves_the_plans_own_operation_untouched() -> None:
    original = put()
    kernel._stamped(original, "req.0")
    assert kernel.STAMP not in original.request["Put"]["Item"]


def test_an_update_without_names_or_values_gets_them_for_the_stamp() -> None:
    bare = Op({"Update": {"TableName": "t", "Key": {"pk": {"S": "x"}}, "UpdateExpression": "REMOVE a"}}, "x")
    body = kernel._stamped(bare, "req.1").request["Update"]
    assert body["ExpressionAttributeNames"] == {"#diem_rq": kernel.STAMP}
    assert body["ExpressionAttributeValues"] == {":diem_rq": {"S": "req.1"}}


def test_stamp_of_reads_an_items_stamp() -> None:
    assert kernel.stamp_of({kernel.STAMP: {"S": "a.1"}}) == "a.1"
    assert kernel.stamp_of({}) == "" and kernel.stamp_of(None) == ""


# -- success --------------------------------------------------------------------


def test_a_plan_commits_once_with_a_token_per_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = use(monkeypatch, Engine(None))
    assert kernel.run(lambda fresh: Plan([put()], OK)) == OK
    ((ops, token),) = engine.sent
    assert [op.label for op in ops] == ["item"]
    assert token is not None and len(token) == 36


def test_a_plan_without_writes_and_without_a_key_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = use(monkeypatch, Engine())
    assert kernel.run(lambda fresh: Plan((), OK)) == OK
    assert engine.sent == []


def test_a_key_adds_its_record_to_the_same_transaction_and_stores_the_stored_reply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = use(monkeypatch, Engine(None))
    stored = Reply(201, {"ok": True, "secret": None})
    assert kernel.run(lambda fresh: Plan([put()], OK, stored=stored), IDEM) == OK
    ops = engine.sent[0][0]
    assert [op.label for op in ops] == ["item", idempotency.LABEL]
    record = ops[1].request["Put"]["Item"]
    assert record["idempotency_id"] == {"S": IDEM.record_id} and '"secret":null' in record["body"]["S"]


def test_a_keyed_plan_without_writes_still_commits_its_record(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = use(monkeypatch, Engine(None))
    assert kernel.run(lambda fresh: Plan((), OK), IDEM) == OK
    assert [op.label for op in engine.sent[0][0]] == [idempotency.LABEL]


# -- an earlier attempt of this request committed --------------------------------


def test_a_cancellation_showing_this_requests_stamp_answers_that_attempts_reply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    replies = iter([Reply(201, {"attempt": 0}), Reply(201, {"attempt": 1})])

    def second(ops: list[Op]) -> BaseException:
        stamp = engine.stamp(0)  # the first attempt's stamp, as an item it wrote shows it
        return cancelled(item=("ConditionalCheckFailed", {kernel.STAMP: {"S": stamp}}))

    engine = use(monkeypatch, Engine(cancelled(balance=("ConditionalCheckFailed", {})), second))
    reply = kernel.run(lambda fresh: Plan([put()], next(replies)))
    assert reply == Reply(201, {"attempt": 0})
    assert len(engine.sent) == 2 and engine.stamp(0) != engine.stamp(1)


def test_another_requests_stamp_is_not_mistaken_for_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    other = cancelled(item=("ConditionalCheckFailed", {kernel.STAMP: {"S": "someone-else.0"}}))
    engine = use(monkeypatch, Engine(other, None))
    assert kernel.run(lambda fresh: Plan([put()], OK)) == OK
    assert len(engine.sent) == 2


def test_an_unknown_outcome_resends_the_identical_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = use(monkeypatch, Engine(Ambiguous("ReadTimeoutError"), None))
    assert kernel.run(lambda fresh: Plan([put()], OK)) == OK
    assert len(engine.sent) == 2 and engine.sent[0] == engine.sent[1]


def test_an_outcome_that_stays_unknown_is_a_503(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = use(monkeypatch, Engine(*[Ambiguous("x")] * (kernel.MAX_RESENDS + 2)))
    with pytest.raises(Unavailable):
        kernel.run(lambda fresh: Plan([put()], OK))
    assert len(engine.sent) == kernel.MAX_RESENDS + 1


# -- the idempotency record -----------------------------------------------------


def _record(payload_hash: str, body: str = '{"first":true}') -> dict[str, Any]:
    return {
        "idempotency_id": {"S": IDEM.record_id},
        "payload_hash": {"S": payload_hash},
        "status_code": {"N": "201"},
        "body": {"S": body},
        "created_at": {"S": "2026-11-01T00:00:00.000Z"},
        "expires_at": {"N": "4102444800"},
    }


def test_a_live_record_answers_with_the_stored_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    failed = cancelled(idempotency=("ConditionalCheckFailed", _record(IDEM.payload_hash)))
    use(monkeypatch, Engine(failed))
    assert kernel.run(lambda fresh: Plan([put()], OK), IDEM) == Reply(201, {"first": True})


def test_a_record_of_another_payload_is_422(monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, Engine(cancelled(idempotency=("ConditionalCheckFailed", _record("other")))))
    with pytest.raises(IdempotencyKeyReused):
        kernel.run(lambda fresh: Plan([put()], OK), IDEM)


def test_a_record_being_written_by_a_duplicate_is_retried_then_409(monkeypatch: pytest.MonkeyPatch) -> None:
    busy = cancelled(idempotency=("TransactionConflict", None))
    engine = use(monkeypatch, Engine(*[busy] * 3))
    with pytest.raises(Conflict) as refused:
        kernel.run(lambda fresh: Plan([put()], OK), IDEM, attempts=3)
    assert refused.value.code == "IDEMPOTENCY_IN_PROGRESS" and len(engine.sent) == 3


def test_the_duplicate_that_won_meanwhile_is_answered_with_its_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    won = cancelled(idempotency=("ConditionalCheckFailed", _record(IDEM.payload_hash)))
    use(monkeypatch, Engine(cancelled(idempotency=("TransactionConflict", None)), won))
    assert kernel.run(lambda fresh: Plan([put()], OK), IDEM) == Reply(201, {"first": True})


def test_a_refusal_of_a_keyed_request_reads_the_record_once(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[Idempotency | None] = []
    monkeypatch.setattr(kernel.idempotency, "replay", lambda idem: reads.append(idem) or Reply(201, {"first": 1}))
    engine = use(monkeypatch, Engine())

    def refuse(fresh: Any) -> Plan:
        raise Conflict("limit", "LIMIT_REACHED")

    assert kernel.run(refuse, IDEM) == Reply(201, {"first": 1})
    assert reads == [IDEM] and engine.sent == []


def test_a_refusal_without_a_stored_reply_is_the_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel.idempotency, "replay", lambda idem: None)

    def refuse(fresh: Any) -> Plan:
        raise NotFound()

    with pytest.raises(NotFound):
        kernel.run(refuse, IDEM)
    with pytest.raises(NotFound):
        kernel.run(refuse)  # no key: no read at all


def test_a_refusals_record_read_that_times_out_is_decided_again_never_a_500(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ReadTimeoutError
    from pynamodb.exceptions import GetError

    reads: list[str] = []

    def replay(idem: Any) -> Reply | None:
        reads.append("read")
        if len(reads) == 1:
            raise GetError("x", ReadTimeoutError(endpoint_url="http://127.0.0.1"))
        return None

    monkeypatch.setattr(kernel.idempotency, "replay", replay)
    use(monkeypatch, Engine())

    def refuse(fresh: Any) -> Plan:
        raise Conflict("limit", "LIMIT_REACHED")

    with pytest.raises(Conflict):
        kernel.run(refuse, IDEM)
    assert reads == ["read", "read"]

    def always_timing_out(idem: Any) -> Reply | None:
        raise ReadTimeoutError(endpoint_url="http://127.0.0.1")

    monkeypatch.setattr(kernel.idempotency, "replay", always_timing_out)
    with pytest.raises(Unavailable):
        kernel.run(refuse, IDEM, attempts=3)


# -- what a failed label means -----------------------------------------------------


def test_a_label_that_means_a_refusal_raises_it(monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, Engine(cancelled(stock=("ConditionalCheckFailed", {"stock": {"N": "0"}}))))
    seen: list[Any] = []

    def sold_out(old: dict[str, Any] | None) -> Conflict:
        seen.append(old)
        return Conflict("sold out", "SOLD_OUT")

    with pytest.raises(Conflict, match="sold out"):
        kernel.run(lambda fresh: Plan([put("stock")], OK, {"stock": sold_out}))
    assert seen == [{"stock": {"N": "0"}}]


def test_a_label_that_means_a_reply_answers_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, Engine(cancelled(entry=("ConditionalCheckFailed", {"x": {"S": "y"}}))))
    again = Reply(200, {"again": True})
    assert kernel.run(lambda fresh: Plan([put("entry")], OK, {"entry": lambda old: again})) == again


def test_a_stale_read_is_decided_again_from_the_items_the_cancellation_returned(
    monkeypatch: pytest.MonkeyPatch, no_sleep: list[float]
) -> None:
    newest = {"pk": {"S": "balance"}, "seq": {"N": "8"}}
    use(monkeypatch, Engine(cancelled(balance=("ConditionalCheckFailed", newest)), None))
    given: list[dict[str, Any]] = []

    def decide(fresh: Any) -> Plan:
        given.append(dict(fresh))
        return Plan([put("balance")], OK, {"balance": lambda old: None})

    assert kernel.run(decide) == OK
    assert given == [{}, {"balance": newest}]
    assert no_sleep == []  # the first retry from fresh items goes at once


def test_conflicts_and_throttling_are_retried_with_backoff(
    monkeypatch: pytest.MonkeyPatch, no_sleep: list[float]
) -> None:
    conflict = cancelled(balance=("TransactionConflict", None), item=("ThrottlingError", None))
    engine = use(monkeypatch, Engine(conflict, Throttled("ThrottlingException"), None))
    assert kernel.run(lambda fresh: Plan([put()], OK)) == OK
    assert len(engine.sent) == 3 and len(no_sleep) == 2
    assert engine.sent[0] == engine.sent[1] == engine.sent[2]  # the same attempt each time
    assert all(0 <= s <= kernel.BACKOFF_CAP_SECONDS for s in no_sleep)


def test_a_cancellation_that_is_not_retryable_escapes(monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, Engine(cancelled(item=("ValidationError", None))))
    with pytest.raises(Cancelled):
        kernel.run(lambda fresh: Plan([put()], OK))


def test_retries_end_in_a_503_after_the_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = use(monkeypatch, Engine(*[Throttled("x")] * 4))
    with pytest.raises(Unavailable):
        kernel.run(lambda fresh: Plan([put()], OK), attempts=4)
    assert len(engine.sent) == 4


def test_retries_end_in_a_503_when_the_time_budget_is_spent(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, *[kernel.config.settings().commit_budget_seconds + 1] * 10])
    monkeypatch.setattr(kernel.time, "monotonic", lambda: next(clock))
    engine = use(monkeypatch, Engine(*[Throttled("x")] * 10))
    with pytest.raises(Unavailable):
        kernel.run(lambda fresh: Plan([put()], OK))
    assert len(engine.sent) == 1


def test_backoff_grows_with_the_attempt_and_is_capped(monkeypatch: pytest.MonkeyPatch, no_sleep: list[float]) -> None:
    monkeypatch.setattr(kernel.random, "uniform", lambda low, high: high)
    for attempt in (1, 3, 20):
        kernel._backoff(attempt)
    assert no_sleep == [
        kernel.BACKOFF_BASE_SECONDS * 2,
        kernel.BACKOFF_BASE_SECONDS * 8,
        kernel.BACKOFF_CAP_SECONDS,
    ]


def test_a_throttle_or_a_conflict_sends_the_same_attempt_again(monkeypatch: pytest.MonkeyPatch) -> None:
    newest = {"pk": {"S": "balance"}}
    conflict = cancelled(balance=("TransactionConflict", None))
    engine = use(
        monkeypatch, Engine(cancelled(balance=("ConditionalCheckFailed", newest)), Throttled("x"), conflict, None)
    )
    given: list[Any] = []

    def decide(fresh: Any) -> Plan:
        given.append(fresh)
        return Plan([put("balance")], OK)

    assert kernel.run(decide) == OK
    assert given == [{}, {"balance": newest}]
    assert engine.sent[1] == engine.sent[2] == engine.sent[3]


def test_a_commit_whose_answer_was_lost_behind_a_conflict_is_recognised(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's resend of a committed attempt met a conflict: no old items, so the
    kernel sends the same attempt again and reads its stamp from the refusal."""

    def committed(ops: list[Op]) -> BaseException:
        return cancelled(item=("ConditionalCheckFailed", {kernel.STAMP: {"S": engine.stamp(0)}}))

    engine = use(monkeypatch, Engine(cancelled(item=("TransactionConflict", None)), committed))
    decisions: list[Any] = []

    def decide(fresh: Any) -> Plan:
        decisions.append(fresh)
        return Plan([put()], Reply(200, {"first": True}))

    assert kernel.run(decide) == Reply(200, {"first": True})
    assert decisions == [{}] and len(engine.sent) == 2


def test_backoff_may_be_as_short_as_nothing(monkeypatch: pytest.MonkeyPatch, no_sleep: list[float]) -> None:
    monkeypatch.setattr(kernel.random, "uniform", lambda low, high: low)
    kernel._backoff(5)
    assert no_sleep == [0]


def test_on_call_metrics_and_the_give_up_log(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    counted: list[str] = []
    monkeypatch.setattr(kernel.observability, "count", counted.append)
    use(monkeypatch, Engine(Throttled("x"), Throttled("x")))
    with pytest.raises(Unavailable), caplog.at_level("WARNING", logger=kernel.__name__):
        kernel.run(lambda fresh: Plan([put()], OK), attempts=2)
    assert counted == ["DynamoDBRetries"]
    (record,) = [r for r in caplog.records if r.name == kernel.__name__]
    assert record.getMessage() == "commit gave up" and record.__dict__["attempts"] == 2

    counted.clear()
    use(monkeypatch, Engine(cancelled(idempotency=("ConditionalCheckFailed", _record(IDEM.payload_hash)))))
    kernel.run(lambda fresh: Plan([put()], OK), IDEM)
    monkeypatch.setattr(kernel.idempotency, "replay", lambda idem: Reply(201, {}))

    def refuse(fresh: Any) -> Plan:
        raise NotFound()

    kernel.run(refuse, IDEM)
    assert counted == ["IdempotentReplays", "IdempotentReplays"]


def test_a_read_that_times_out_or_is_throttled_is_decided_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError, ReadTimeoutError
    from pynamodb.exceptions import GetError

    throttled = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "GetItem")
    failures: list[BaseException] = [ReadTimeoutError(endpoint_url="http://127.0.0.1"), GetError("x", throttled)]
    engine = use(monkeypatch, Engine(None))

    def decide(fresh: Any) -> Plan:
        if failures:
            raise failures.pop(0)
        return Plan([put()], OK)

    assert kernel.run(decide) == OK
    assert len(engine.sent) == 1


def test_a_read_that_keeps_failing_is_a_503_and_a_real_error_escapes(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ReadTimeoutError

    use(monkeypatch, Engine())

    def timing_out(fresh: Any) -> Plan:
        raise ReadTimeoutError(endpoint_url="http://127.0.0.1")

    with pytest.raises(Unavailable):
        kernel.run(timing_out, attempts=3)

    def broken(fresh: Any) -> Plan:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        kernel.run(broken)
