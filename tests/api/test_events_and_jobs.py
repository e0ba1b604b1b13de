"""The SQS spend-events consumer and the scheduled jobs."""

import json
from datetime import UTC, date, datetime

import pytest

from chalicelib import jobs
from chalicelib.points import service as points
from chalicelib.store import LedgerEntry, Subscriber
from chalicelib.subscribers import service as subscribers
from conftest import at

ME = "84961234567"


@pytest.fixture
def member(moto_tables):
    at("2026-11-10T03:00:00Z")
    subscribers.put_profile(ME, {"activated_on": "2023-11-20", "plan": "postpaid"}, None)
    return ME


def sqs_event(*bodies):
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": f"r{i}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:ap-southeast-1:123456789012:spend-events",
                "awsRegion": "ap-southeast-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


def event(event_id, amount=100_000):
    return {
        "event_id": event_id,
        "msisdn": "0961234567",
        "amount_vnd": amount,
        "service": "mobile",
        "occurred_at": "2026-11-09T10:00:00Z",
    }


class Context:
    function_name = "spend_events_consumer"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:ap-southeast-1:123456789012:function:spend_events_consumer"
    aws_request_id = "req-1"


def consume(evt):
    from app import spend_events_consumer

    return spend_events_consumer(evt, Context())


def test_batch_reports_only_the_bad_messages_and_redelivery_applies_nothing_twice(member):
    batch = sqs_event(event("b1"), "{broken", event("b2"), {**event("b3"), "service": "nope"})
    result = consume(batch)
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == ["m1", "m3"]
    assert points.view(ME)["balance"] == 10_000
    consume(batch)  # the whole batch delivered again
    assert points.view(ME)["balance"] == 10_000
    assert len(list(LedgerEntry.query(Subscriber.get(ME).owner_id))) == 2


def test_expiry_job_writes_expire_entries_for_due_subscribers_only(member):
    points.accrue("d1", ME, 100_000, "data", datetime(2026, 11, 9, tzinfo=UTC), None)
    points.accrue("m1", ME, 20_000, "mobile", datetime(2026, 11, 9, tzinfo=UTC), None)
    subscribers.put_profile("84971112233", {"activated_on": "2023-01-01", "plan": "prepaid"}, None)
    at("2027-01-01T01:00:00Z")
    summary = jobs.expire_points()
    assert summary["subscribers"] == 1 and summary["failed"] == 0
    owner = Subscriber.get(ME).owner_id
    expire = LedgerEntry.get(owner, "expire:2026-12-31")
    assert expire.points == -5_000 and expire.balance_after == 1_000
    # the run also caught up the tenure bonus of the 2026-11-20 anniversary
    assert Subscriber.get(ME).balance == 1_000 + 3_000
    assert jobs.expire_points()["subscribers"] == 0  # nothing due any more


def test_tenure_bonus_job_credits_each_anniversary_once(member):
    at("2026-11-20T02:00:00Z")
    assert jobs.tenure_bonuses()["subscribers"] == 1
    jobs.tenure_bonuses()
    owner = Subscriber.get(ME).owner_id
    bonus = LedgerEntry.get(owner, "tenure_bonus:2026-11-20")
    assert bonus.points == 3_000 and bonus.rank_points == 3_000
    assert points.view(ME)["balance"] == 3_000
    assert Subscriber.get(ME).next_anniversary == "2027-11-20"


def test_tier_review_applies_ended_cycles(member):
    points.accrue("big", ME, 1_000_000, "mobile", datetime(2026, 11, 9, tzinfo=UTC), None)
    assert Subscriber.get(ME).tier == "silver"
    at("2027-12-01T01:00:00Z")  # the cycle ended on 2027-11-10; no rank points in the window
    assert points.view(ME)["tier"] == "potential"  # reads apply it before the job runs
    assert jobs.review_tiers()["subscribers"] == 1
    item = Subscriber.get(ME)
    assert item.tier == "potential" and item.review_due is None


def test_jobs_never_scan(member, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a job scanned the table")

    monkeypatch.setattr(Subscriber, "scan", refuse)
    at("2027-12-01T01:00:00Z")
    jobs.expire_points(date(2027, 12, 1))
    jobs.tenure_bonuses(date(2027, 12, 1))
    jobs.review_tiers(date(2027, 12, 1))
