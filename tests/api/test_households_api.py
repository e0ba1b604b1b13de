"""Households through the routes (moto): creating, inviting, joining, the pool
fed by members' earnings after joining, spending own points first and then the
pool, who may spend, leaving with one's own batches, dissolving, the 30-day
wait, recycling, and the refusals (API.md "Households", DOMAIN.md)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from chalicelib import clock
from conftest import OPERATOR, Api, at, auth, launched_campaign

OWNER = "84961234567"
NUMBERS = ["84971112233", "84971112234", "84971112235", "84971112236", "84971112237"]
A, B, C, D, E = NUMBERS


def me(msisdn):
    return auth("subscriber", msisdn)


def later(**delta):
    moved = clock.now() + timedelta(**delta)
    clock.set_now(lambda: moved)


def error(r, status, code):
    assert r.status_code == status, r.data
    assert r.data["error"]["code"] == code, r.data


@pytest.fixture
def api_world(api: Api) -> Api:
    at("2026-11-10T03:00:00Z")
    for msisdn in [OWNER, *NUMBERS]:
        api.put(
            f"/v1/subscribers/{msisdn}", {"activated_on": "2025-06-01", "plan": "prepaid"}, headers=OPERATOR, expect=201
        )
    return api


def earn(api: Api, msisdn: str, amount_vnd: int = 100_000, service: str = "mobile") -> int:
    event = {
        "event_id": f"bill-{uuid.uuid4().hex[:12]}",
        "msisdn": msisdn,
        "amount_vnd": amount_vnd,
        "service": service,
        "occurred_at": clock.iso(clock.now() - timedelta(minutes=1)),
    }
    r = api.post("/v1/spend-events", event, headers=OPERATOR, expect=201)
    return int(r.data["earned"]["spendable_points"])


def create(api: Api, owner: str = OWNER) -> str:
    r = api.post("/v1/households", headers=me(owner), expect=201)
    assert r.data["owner"] == owner and r.data["pool_balance"] == 0
    assert [m["msisdn"] for m in r.data["members"]] == [owner]
    return str(r.data["household_id"])


def join(api: Api, hid: str, msisdn: str, owner: str = OWNER) -> dict:
    api.post(f"/v1/households/{hid}/invitations", {"msisdn": msisdn}, headers=me(owner), expect=201)
    return api.post(f"/v1/households/{hid}/invitations/{msisdn}/accept", headers=me(msisdn), expect=200).data


def household(api: Api, hid: str, who: dict | None = None) -> dict:
    return api.get(f"/v1/households/{hid}", headers=who or OPERATOR, expect=200).data


def points(api: Api, msisdn: str) -> dict:
    return api.get(f"/v1/subscribers/{msisdn}/points", headers=OPERATOR, expect=200).data


def contributed(api: Api, hid: str) -> dict[str, int]:
    return {m["msisdn"]: m["contributed_points"] for m in household(api, hid)["members"]}


def campaign(api: Api, price: int) -> str:
    body = {
        "name": "Data week",
        "voucher": {"title": "Coffee", "value_vnd": 50_000},
        "points_price": price,
        "inventory": 100,
        "per_subscriber_limit": 50,
        "starts_at": "2026-11-01T00:00:00Z",
        "ends_at": "2027-06-01T00:00:00Z",
        "voucher_valid_days": 30,
    }
    return launched_campaign(api, body)


def test_create_invite_accept_and_who_sees_it(api_world):
    api = api_world
    hid = create(api)
    joined = join(api, hid, A)
    assert [(m["msisdn"], m["role"], m["can_spend"]) for m in joined["members"]] == [
        (OWNER, "owner", True),
        (A, "member", False),
    ]
    assert household(api, hid, me(A))["household_id"] == hid
    assert household(api, hid)["owner"] == OWNER  # the operator
    error(api.get(f"/v1/households/{hid}", headers=me(B)), 404, "NOT_FOUND")  # not a member
    error(api.get("/v1/households/hh_nope", headers=me(OWNER)), 404, "NOT_FOUND")
    assert points(api, A)["household"] == {"household_id": hid, "pool_balance": 0, "can_spend": False}
    assert points(api, B)["household"] is None
    # one household per subscriber
    error(api.post("/v1/households", headers=me(A)), 409, "ALREADY_IN_HOUSEHOLD")
    other = create(api, B)
    r = api.post(f"/v1/households/{other}/invitations", {"msisdn": A}, headers=me(B), expect=201)
    error(api.post(f"/v1/households/{other}/invitations/{A}/accept", headers=me(A)), 409, "ALREADY_IN_HOUSEHOLD")
    assert r.data["expires_at"] > clock.iso(clock.now())


def test_a_sixth_member_is_refused_and_only_the_owner_invites(api_world):
    api = api_world
    hid = create(api)
    for msisdn in (A, B, C):
        join(api, hid, msisdn)
    error(api.post(f"/v1/households/{hid}/invitations", {"msisdn": D}, headers=me(A)), 403, "FORBIDDEN")
    # two open invitations for the last seat: the second to accept is refused
    for msisdn in (D, E):
        api.post(f"/v1/households/{hid}/invitations", {"msisdn": msisdn}, headers=me(OWNER), expect=201)
    api.post(f"/v1/households/{hid}/invitations/{D}/accept", headers=me(D), expect=200)
    error(api.post(f"/v1/households/{hid}/invitations/{E}/accept", headers=me(E)), 409, "HOUSEHOLD_FULL")
    assert len(household(api, hid)["members"]) == 5
    api.put(
        "/v1/subscribers/84981234567", {"activated_on": "2025-06-01", "plan": "prepaid"}, headers=OPERATOR, expect=201
    )
    error(
        api.post(f"/v1/households/{hid}/invitations", {"msisdn": "84981234567"}, headers=me(OWNER)),
        409,
        "HOUSEHOLD_FULL",
    )
    # nobody else's invitation can be accepted on their behalf (the path names the caller)
    error(api.post(f"/v1/households/{hid}/invitations/{E}/accept", headers=me(A)), 404, "NOT_FOUND")


def test_an_invitation_expires_after_seven_days(api_world):
    api = api_world
    hid = create(api)
    api.post(f"/v1/households/{hid}/invitations", {"msisdn": A}, headers=me(OWNER), expect=201)
    later(days=7, hours=1)
    error(api.post(f"/v1/households/{hid}/invitations/{A}/accept", headers=me(A)), 409, "INVITATION_EXPIRED")
    error(api.post(f"/v1/households/{hid}/invitations/{B}/accept", headers=me(B)), 404, "NOT_FOUND")
    # invited again, it is good for another 7 days
    join(api, hid, A)


def test_earnings_after_joining_feed_the_pool_and_own_points_are_spent_first(api_world):
    api = api_world
    hid = create(api)
    before = earn(api, A, 40_000)  # 2,000 points, A's own
    join(api, hid, A)
    join(api, hid, B)
    pooled_a = earn(api, A, 100_000)  # 5,000 to the pool, tagged A
    pooled_b = earn(api, B, 60_000)  # 3,000, tagged B
    assert points(api, A)["balance"] == before
    assert contributed(api, hid) == {OWNER: 0, A: pooled_a, B: pooled_b}
    assert points(api, A)["household"]["pool_balance"] == pooled_a + pooled_b
    # rank points stay individual
    assert points(api, A)["rank_points"] == 7_000
    cid = campaign(api, 3_000)
    # A may not spend from the pool yet: own 2,000 < 3,000
    error(api.post(f"/v1/campaigns/{cid}/claims", headers=me(A)), 409, "NOT_ALLOWED_TO_SPEND")
    r = api.call("PATCH", f"/v1/households/{hid}/members/{A}", {"can_spend": True}, headers=me(OWNER), expect=200)
    assert r.data["can_spend"] is True and r.data["contributed_points"] == pooled_a
    r = api.post(f"/v1/campaigns/{cid}/claims", headers=me(A), expect=201)
    assert r.data["balance"] == 0  # own 2,000 first, then 1,000 from the pool
    # the pool's batches expire at the same end of month: contributors in MSISDN order (A before B)
    assert contributed(api, hid) == {OWNER: 0, A: pooled_a - 1_000, B: pooled_b}
    # the owner spends from the pool with no points of their own
    api.post(f"/v1/campaigns/{cid}/claims", headers=me(OWNER), expect=201)
    assert contributed(api, hid) == {OWNER: 0, A: 1_000, B: pooled_b}
    api.post(f"/v1/campaigns/{cid}/claims", headers=me(OWNER), expect=201)
    assert contributed(api, hid) == {OWNER: 0, A: 0, B: 1_000}
    error(api.post(f"/v1/campaigns/{cid}/claims", headers=me(OWNER)), 409, "INSUFFICIENT_POINTS")
    # B's ledger shows the pool spends of B's batches
    kinds = [(e["kind"], e["points"]) for e in api.get(f"/v1/subscribers/{B}/ledger", headers=OPERATOR).data["items"]]
    assert kinds == [("spend", -2_000), ("earn", pooled_b)]
    # forbidding again
    api.call("PATCH", f"/v1/households/{hid}/members/{A}", {"can_spend": False}, headers=me(OWNER), expect=200)
    assert points(api, A)["household"]["can_spend"] is False
    error(
        api.call("PATCH", f"/v1/households/{hid}/members/{OWNER}", {"can_spend": False}, headers=me(OWNER)),
        409,
        "INVALID_STATE",
    )
    error(api.call("PATCH", f"/v1/households/{hid}/members/{B}", {"can_spend": True}, headers=me(A)), 403, "FORBIDDEN")


def test_a_leaver_takes_back_their_own_batches_with_their_expiry(api_world):
    api = api_world
    hid = create(api)
    join(api, hid, A)
    join(api, hid, B)
    data = earn(api, A, 20_000, "data")  # 1,000 expiring at the end of next month
    mobile = earn(api, A, 100_000)  # 5,000 expiring in 12 months
    earn(api, B, 100_000)
    r = api.call("DELETE", f"/v1/households/{hid}/members/{A}", headers=me(A), expect=200)
    assert r.data == {"msisdn": A, "returned_points": data + mobile}
    shown = points(api, A)
    assert shown["balance"] == data + mobile and shown["household"] is None
    assert [e["on"] for e in shown["expiring"]] == ["2026-12-31", "2027-11-30"]
    assert contributed(api, hid) == {OWNER: 0, B: 5_000}
    error(api.get(f"/v1/households/{hid}", headers=me(A)), 404, "NOT_FOUND")
    # after leaving: 30 days before joining another
    error(api.post("/v1/households", headers=me(A)), 409, "ALREADY_IN_HOUSEHOLD")
    # the owner removes B: B's batches go back to B
    r = api.call("DELETE", f"/v1/households/{hid}/members/{B}", headers=me(OWNER), expect=200)
    assert r.data["returned_points"] == 5_000 and points(api, B)["balance"] == 5_000
    later(days=31)
    create(api, A)


def test_the_owner_leaving_dissolves_and_everyone_takes_back_their_own(api_world):
    api = api_world
    hid = create(api)
    join(api, hid, A)
    earn(api, OWNER, 20_000)
    earn(api, A, 40_000)
    error(api.call("DELETE", f"/v1/households/{hid}/members/{OWNER}", headers=me(A)), 403, "FORBIDDEN")
    r = api.call("DELETE", f"/v1/households/{hid}/members/{OWNER}", headers=me(OWNER), expect=200)
    assert r.data == {"msisdn": OWNER, "returned_points": 1_000}
    assert points(api, A)["balance"] == 2_000 and points(api, A)["household"] is None
    error(api.get(f"/v1/households/{hid}", headers=OPERATOR), 404, "NOT_FOUND")


def test_a_recycled_members_batches_are_forfeited(api_world):
    api = api_world
    hid = create(api)
    join(api, hid, A)
    earn(api, A, 100_000)
    earn(api, OWNER, 20_000)
    api.put(f"/v1/subscribers/{A}", {"activated_on": "2026-11-10", "plan": "prepaid"}, headers=OPERATOR, expect=200)
    assert contributed(api, hid) == {OWNER: 1_000}
    assert points(api, A)["balance"] == 0 and points(api, A)["household"] is None
    # the new owner of the number may join a household at once (the wait was the old owner's)
    other = create(api, A)
    assert other != hid
    # the owner's number recycled: the household is dissolved, the others keep their own
    join(api, other, B, owner=A)
    earn(api, B, 40_000)
    api.put(f"/v1/subscribers/{A}", {"activated_on": "2026-11-11", "plan": "prepaid"}, headers=OPERATOR, expect=200)
    assert points(api, B)["balance"] == 2_000 and points(api, B)["household"] is None


def test_an_invitation_to_a_number_recycled_since_is_not_the_new_owners(api_world):
    api = api_world
    hid = create(api)
    api.post(f"/v1/households/{hid}/invitations", {"msisdn": A}, headers=me(OWNER), expect=201)
    api.put(f"/v1/subscribers/{A}", {"activated_on": "2026-11-10", "plan": "prepaid"}, headers=OPERATOR, expect=200)
    error(api.post(f"/v1/households/{hid}/invitations/{A}/accept", headers=me(A)), 404, "NOT_FOUND")
    join(api, hid, A)  # invited again, the new owner may join


def test_bad_input_is_refused_and_changes_nothing(api_world):
    api = api_world
    hid = create(api)
    invite = f"/v1/households/{hid}/invitations"
    before = household(api, hid)
    error(api.post(invite, {"msisdn": "12"}, headers=me(OWNER)), 400, "VALIDATION_ERROR")
    error(api.post(invite, {"msisdn": "0971112233", "x": 1}, headers=me(OWNER)), 400, "VALIDATION_ERROR")
    error(api.post(invite, {"msisdn": 971112233}, headers=me(OWNER)), 400, "VALIDATION_ERROR")
    error(api.post(invite, {"msisdn": "0999999999"}, headers=me(OWNER)), 404, "NOT_FOUND")  # no such subscriber
    error(api.post(invite, {"msisdn": OWNER}, headers=me(OWNER)), 409, "ALREADY_IN_HOUSEHOLD")
    assert household(api, hid) == before, "a refused invitation changed the household"
    join(api, hid, A)
    before = household(api, hid)
    member = f"/v1/households/{hid}/members/{A}"
    error(api.call("PATCH", member, {"can_spend": "yes"}, headers=me(OWNER)), 400, "VALIDATION_ERROR")
    error(api.call("PATCH", member, {"can_spend": 1}, headers=me(OWNER)), 400, "VALIDATION_ERROR")
    error(api.call("PATCH", member, {}, headers=me(OWNER)), 400, "VALIDATION_ERROR")
    error(
        api.call("PATCH", f"/v1/households/{hid}/members/abc", {"can_spend": True}, headers=me(OWNER)),
        400,
        "VALIDATION_ERROR",
    )
    error(api.call("DELETE", f"/v1/households/{hid}/members/{B}", headers=me(OWNER)), 404, "NOT_FOUND")
    error(api.call("DELETE", f"/v1/households/{'x' * 100}/members/{A}", headers=me(OWNER)), 404, "NOT_FOUND")
    assert household(api, hid)["members"][1]["can_spend"] is False
    assert household(api, hid) == before, "a refused member change changed the household"
    # the operator reads, but does not act for the members
    error(api.post("/v1/households", headers=OPERATOR), 403, "FORBIDDEN")


def test_a_keyed_create_replays(api_world):
    api = api_world
    key = {**me(OWNER), "Idempotency-Key": "hh-1"}
    first = api.post("/v1/households", headers=key, expect=201)
    again = api.post("/v1/households", headers=key, expect=201)
    assert again.data == first.data
