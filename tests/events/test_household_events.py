"""Households in the events: joining (the owner creating, a member accepting)
and leaving (left, removed, dissolved) are `household.joined` / `household.left`
in the operator's feed, once each, read from the real pipeline on the engine."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import OPERATOR, auth

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("no_dns")]

OWNER, MEMBER, THIRD = "84961234567", "84971112233", "84981234560"


def household_events(api: Any) -> list[tuple[str, dict[str, Any]]]:
    page = api.get("/v1/events?types=household.joined,household.left&limit=200", headers=OPERATOR, expect=200)
    return [(e["type"], e["data"]) for e in page.data["items"]]


def test_joining_and_leaving_are_events_once_each(engine_api, pump, moving):
    api = engine_api
    for msisdn in (OWNER, MEMBER, THIRD):
        profile = {"activated_on": "2020-01-15", "plan": "prepaid"}
        api.put(f"/v1/subscribers/{msisdn}", profile, headers=OPERATOR, expect=201)
    made = api.post("/v1/households", headers=auth("subscriber", OWNER), expect=201).data
    household = made["household_id"]
    for invitee in (MEMBER, THIRD):
        path = f"/v1/households/{household}/invitations"
        api.post(path, {"msisdn": invitee}, headers=auth("subscriber", OWNER), expect=201)
        api.post(f"{path}/{invitee}/accept", headers=auth("subscriber", invitee), expect=200)
    api.call("DELETE", f"/v1/households/{household}/members/{MEMBER}", headers=auth("subscriber", MEMBER), expect=200)
    # the owner leaving dissolves it: the last member is out too
    api.call("DELETE", f"/v1/households/{household}/members/{OWNER}", headers=auth("subscriber", OWNER), expect=200)
    pump.run_until_idle()
    for shards in pump.streams.shards.values():  # every stream read again: nothing twice
        for shard in shards:
            shard.iterator = None
    pump.run_until_idle()
    moving.advance(10)  # past the feed's settle time
    seen = household_events(api)
    joined = [d["msisdn"] for t, d in seen if t == "household.joined"]
    left = {d["msisdn"]: d for t, d in seen if t == "household.left"}
    assert sorted(joined) == sorted([OWNER, MEMBER, THIRD])
    assert set(left) == {OWNER, MEMBER, THIRD}
    assert all(d["household_id"] == household and d["returned_points"] == 0 for d in left.values()), left
    assert len(seen) == 6
