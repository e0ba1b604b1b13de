"""Subscribers, spend events, points, ledger and adjustments through the routes."""

import base64
import json

import pytest

from conftest import OPERATOR, at, auth

ME = "84961234567"
SELF = auth("subscriber", ME)


@pytest.fixture
def member(api):
    at("2026-11-10T03:00:00Z")
    r = api.put(
        f"/v1/subscribers/{ME}",
        {"activated_on": "2020-03-15", "plan": "prepaid", "segments": ["high_value"]},
        headers=OPERATOR,
    )
    assert r.status_code == 201
    return api


def spend(api, event_id, amount=100_000, service="mobile", occurred="2026-11-09T10:00:00Z", msisdn="0961234567", **kw):
    body = {"event_id": event_id, "msisdn": msisdn, "amount_vnd": amount, "service": service, "occurred_at": occurred}
    return api.post("/v1/spend-events", body, headers={**OPERATOR, **kw.get("headers", {})})


def test_profile_round_trip_with_tenure(member):
    r = member.get(f"/v1/subscribers/{ME}", headers=SELF)
    assert r.status_code == 200
    assert r.data["tenure_months"] == 79 and r.data["plan"] == "prepaid" and "segments" not in r.data
    assert member.get(f"/v1/subscribers/{ME}", headers=OPERATOR).data["segments"] == ["high_value"]
    r = member.put(f"/v1/subscribers/{ME}", {"activated_on": "2020-03-15", "plan": "postpaid"}, headers=OPERATOR)
    assert r.status_code == 200 and r.data["plan"] == "postpaid"


def test_spend_event_applied_exactly_once(member):
    first = spend(member, "bill-1")
    assert first.status_code == 201
    assert first.data == {
        "event_id": "bill-1",
        "msisdn": ME,
        "earned": {"rank_points": 5000, "spendable_points": 5000},
        "tier": "potential",
    }
    again = spend(member, "bill-1")
    assert again.status_code == 200 and again.data == first.data
    points = member.get(f"/v1/subscribers/{ME}/points", headers=SELF).data
    assert points["balance"] == 5000 and points["rank_points"] == 5000
    assert points["expiring"] == [{"on": "2027-11-30", "points": 5000}]
    assert points["next_tier"] == "loyal" and points["rank_points_to_next_tier"] == 5000


def test_tier_upgrade_and_multiplier(member):
    spend(member, "big", amount=1_000_000)  # 50,000 rank -> silver
    points = member.get(f"/v1/subscribers/{ME}/points", headers=SELF).data
    assert points["tier"] == "silver" and points["tier_cycle_ends_on"] == "2027-11-10"
    r = spend(member, "next", amount=100_000)
    assert r.data["earned"] == {"rank_points": 5000, "spendable_points": 5500}


def test_data_points_expire_end_of_next_month_and_reads_hide_them(member):
    spend(member, "d1", service="data", occurred="2026-11-09T10:00:00Z")
    spend(member, "m1", service="mobile", amount=20_000)
    assert member.get(f"/v1/subscribers/{ME}/points", headers=SELF).data["balance"] == 6000
    at("2027-01-01T00:00:00Z")  # 07:00 on 1 Jan locally: the data bucket (31 Dec) has expired
    points = member.get(f"/v1/subscribers/{ME}/points", headers=SELF).data
    assert points["balance"] == 1000 and points["expiring"] == [{"on": "2027-11-30", "points": 1000}]


def test_adjustments_credit_and_never_below_zero(member):
    spend(member, "e1", amount=20_000)  # 1000 points
    r = member.post(
        f"/v1/subscribers/{ME}/adjustments", {"points": -400, "reason": "goodwill correction"}, headers=OPERATOR
    )
    assert (
        r.status_code == 201
        and r.data["points"] == -400
        and r.data["balance_after"] == 600
        and r.data["kind"] == "adjust"
    )
    r = member.post(f"/v1/subscribers/{ME}/adjustments", {"points": -601, "reason": "too much"}, headers=OPERATOR)
    assert r.status_code == 409 and r.data["error"]["code"] == "INSUFFICIENT_POINTS"
    assert member.get(f"/v1/subscribers/{ME}/points", headers=SELF).data["balance"] == 600


def test_ledger_newest_first_with_cursor(member):
    for i in range(5):
        spend(member, f"e{i}", amount=20_000 * (i + 1))
    page = member.get(f"/v1/subscribers/{ME}/ledger?limit=2", headers=SELF).data
    assert [e["ref"] for e in page["items"]] == ["e4", "e3"]
    assert page["items"][0]["balance_after"] == 15_000
    rest = member.get(f"/v1/subscribers/{ME}/ledger?limit=10&cursor={page['next_cursor']}", headers=SELF).data
    assert [e["ref"] for e in rest["items"]] == ["e2", "e1", "e0"] and rest["next_cursor"] is None
    assert {e["kind"] for e in rest["items"]} == {"earn"}


def test_ledger_pages_across_blocks_show_each_entry_once_while_entries_arrive(member):
    for i in range(17):
        assert spend(member, f"p{i}", amount=10_000).status_code == 201
    seen: list[str] = []
    cursor, arriving = None, iter(range(17, 40))
    while True:
        query = "limit=4" + (f"&cursor={cursor}" if cursor else "")
        r = member.get(f"/v1/subscribers/{ME}/ledger?{query}", headers=SELF)
        assert r.status_code == 200, r.body
        seen += [e["ref"] for e in r.data["items"]]
        cursor = r.data["next_cursor"]
        if cursor is None:
            break
        assert spend(member, f"p{next(arriving)}", amount=10_000).status_code == 201  # above the cursor
    assert seen == [f"p{i}" for i in reversed(range(17))]
    newest = member.get(f"/v1/subscribers/{ME}/ledger?limit=200", headers=SELF).data
    assert [e["ref"] for e in newest["items"]] == [f"p{i}" for i in reversed(range(17 + len(seen) // 4))]
    balances = [e["balance_after"] for e in newest["items"]]
    assert balances == sorted(balances, reverse=True) and newest["next_cursor"] is None


def test_a_ledger_cursor_naming_an_entry_that_is_not_a_block_seal_is_400(member):
    assert spend(member, "only", amount=10_000).status_code == 201
    for target in (["earn:only", 1], ["earn:nobody", 1]):
        raw = json.dumps([1, *target], separators=(",", ":")).encode()
        cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        r = member.get(f"/v1/subscribers/{ME}/ledger?cursor={cursor}", headers=SELF)
        assert r.status_code == 400 and r.data["error"]["code"] == "VALIDATION_ERROR", target


def test_idempotency_key_replays_and_rejects_a_different_payload(member):
    spend(member, "e1", amount=20_000)
    key = {"Idempotency-Key": "adj-42"}
    body = {"points": 100, "reason": "birthday gift"}
    first = member.post(f"/v1/subscribers/{ME}/adjustments", body, headers={**OPERATOR, **key})
    again = member.post(f"/v1/subscribers/{ME}/adjustments", body, headers={**OPERATOR, **key})
    assert first.status_code == again.status_code == 201 and first.data == again.data
    other = member.post(
        f"/v1/subscribers/{ME}/adjustments", {"points": 999, "reason": "birthday gift"}, headers={**OPERATOR, **key}
    )
    assert other.status_code == 422 and other.data["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert member.get(f"/v1/subscribers/{ME}/points", headers=SELF).data["balance"] == 1100


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("{not json", "malformed"),
        (
            '{"event_id": "x", "msisdn": "0961234567", "amount_vnd": -1, "service": "mobile", "occurred_at": "2026-11-09T10:00:00Z"}',
            "range",
        ),
        (
            '{"event_id": "x", "msisdn": "0961234567", "amount_vnd": 1, "service": "gold", "occurred_at": "2026-11-09T10:00:00Z"}',
            "enum",
        ),
        (
            '{"event_id": "x", "msisdn": "12345", "amount_vnd": 1, "service": "mobile", "occurred_at": "2026-11-09T10:00:00Z"}',
            "msisdn",
        ),
        (
            '{"event_id": "x", "msisdn": "0961234567", "amount_vnd": 1, "service": "mobile", "occurred_at": "2026-11-09T10:00:00"}',
            "naive",
        ),
        (
            '{"event_id": "x", "msisdn": "0961234567", "amount_vnd": 1, "service": "mobile", "occurred_at": "2026-11-09T10:00:00Z", "x": 1}',
            "unknown",
        ),
        (
            '{"event_id": "x", "msisdn": "0961234567", "amount_vnd": "1e3", "service": "mobile", "occurred_at": "2026-11-09T10:00:00Z"}',
            "type",
        ),
        ("[]", "not an object"),
        ("", "empty"),
    ],
)
def test_bad_spend_events_are_400_and_change_nothing(member, raw, why):
    r = member.post("/v1/spend-events", raw=raw, headers=OPERATOR)
    assert r.status_code == 400, why
    assert r.data["error"]["code"] == "VALIDATION_ERROR"
    assert member.get(f"/v1/subscribers/{ME}/ledger", headers=SELF).data["items"] == []


def test_bad_msisdn_in_path_is_400(member):
    # 84 + a full-width 9 (UTF-8 EF BC 99) + 8 ASCII digits: only ASCII digits are digits
    for msisdn in ("12345", "84%EF%BC%9961234567"):
        r = member.get(f"/v1/subscribers/{msisdn}/points", headers=OPERATOR)
        assert r.status_code == 400 and r.data["error"]["code"] == "VALIDATION_ERROR", msisdn


def test_bad_list_parameters_are_400(member):
    for query in ("limit=0", "limit=201", "limit=abc", "cursor=@@@", "unknown=1"):
        r = member.get(f"/v1/subscribers/{ME}/ledger?{query}", headers=SELF)
        assert r.status_code == 400, query


def test_unknown_subscriber_is_404(member):
    assert spend(member, "e1", msisdn="0971234567").status_code == 404
    assert member.get("/v1/subscribers/84971234567/points", headers=OPERATOR).status_code == 404


def test_event_before_the_owners_activation_is_refused(member):
    r = spend(member, "old", occurred="2019-01-01T00:00:00Z")
    assert r.status_code == 409 and r.data["error"]["code"] == "INVALID_STATE"


def test_number_recycling_forfeits_points_and_resets_tier(member):
    spend(member, "big", amount=1_000_000)
    r = member.put(f"/v1/subscribers/{ME}", {"activated_on": "2026-11-01", "plan": "prepaid"}, headers=OPERATOR)
    assert r.status_code == 200 and r.data["tier"] == "potential" and r.data["tenure_months"] == 0
    points = member.get(f"/v1/subscribers/{ME}/points", headers=SELF).data
    assert points["balance"] == 0 and points["rank_points"] == 0
    assert member.get(f"/v1/subscribers/{ME}/ledger", headers=SELF).data["items"] == []
    from chalicelib.store import LedgerEntry

    forfeit = LedgerEntry.get(f"{ME}@2020-03-15", "forfeit:2026-11-01")
    assert forfeit.points == -50_000 and forfeit.balance_after == 0
    # going back to an earlier activation is refused
    r = member.put(f"/v1/subscribers/{ME}", {"activated_on": "2020-03-15", "plan": "prepaid"}, headers=OPERATOR)
    assert r.status_code == 409
