"""The pure parts of the events pipeline: deriving events from old and new
images, the ids, what a partner sees, the images' values, the SMS texts and
the quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from chalicelib.events import derive, ids, images, types
from chalicelib.events.derive import Change, Event, SoldOutProbe
from chalicelib.notify import gsm, messages
from chalicelib.store import kernel

AT = datetime(2026, 11, 10, 3, 0, 1, tzinfo=UTC)
CODE = "7KQ2M9XD4RTW0CZPX"


def change(table: str, name: str, old=None, new=None) -> Change:
    return Change(table, name, old, new, AT)


def entry(kind: str, points: int, entry_id: str = "earn:e-1") -> dict:
    return {"owner_id": "849@2020-01-15", "entry_id": entry_id, "msisdn": "849", "kind": kind, "points": points,
            "rank_points": 0, "balance_after": 10, "ref": "r", "seq": 3}  # fmt: skip


def voucher(status: str, **more) -> dict:
    return {"code": CODE, "campaign_id": "c_1", "partner_id": "p_1", "msisdn": "849", "status": status,
            "title": "T", "issued_at": "2026-11-10T03:00:00.000Z", "expires_at": "2026-11-24T03:00:00.000Z",
            **more}  # fmt: skip


def test_the_kernels_stamp_is_the_one_derive_reads():
    assert derive.KERNEL_STAMP == kernel.STAMP


@pytest.mark.parametrize(("kind", "event_type"), sorted(derive.LEDGER_TYPES.items()))
def test_each_ledger_kind_is_its_event(kind, event_type):
    (event,) = derive.derive(change("ledger", "INSERT", new=entry(kind, -5)))
    assert isinstance(event, Event)
    assert (event.type, event.timestamp, event.partner_id) == (event_type, "2026-11-10T03:00:01.000Z", None)
    assert event.data == {"msisdn": "849", "entry_id": "earn:e-1", "kind": kind, "points": -5, "rank_points": 0,
                          "balance_after": 10, "ref": "r"}  # fmt: skip
    assert event.id == ids.ledger_event_id("849@2020-01-15", "earn:e-1")


def test_ids_are_stable_distinct_and_well_formed():
    one = derive.derive(change("ledger", "INSERT", new=entry("earn", 5)))
    again = derive.derive(change("ledger", "INSERT", new=entry("earn", 5)))
    other = derive.derive(change("ledger", "INSERT", new=entry("earn", 5, "earn:e-2")))
    assert one == again and one[0].id != other[0].id  # type: ignore[union-attr]
    assert all(len(e.id) == 36 and e.id.startswith("evt_") and e.id[4:].isalnum() for e in one + other)  # type: ignore[union-attr]


def test_what_yields_nothing():
    nothing = [
        change("ledger", "MODIFY", entry("earn", 5), entry("earn", 5)),
        change("ledger", "INSERT", new=entry("bonus-of-no-kind", 5)),
        change("subscribers", "INSERT", new={"msisdn": "849", "owner_id": "o", "tier": "potential"}),
        change("subscribers", "MODIFY", {"owner_id": "o", "tier": "gold"}, {"owner_id": "o", "tier": "gold"}),
        # a recycled number's new owner starts again: nobody's tier changed
        change("subscribers", "MODIFY", {"owner_id": "o1", "tier": "gold"}, {"owner_id": "o2", "tier": "potential"}),
        change("vouchers", "MODIFY", voucher("issued"), voucher("issued", expiry_due=None)),
        change("vouchers", "REMOVE", old=voucher("issued")),
        change("campaigns", "MODIFY", {"status": "draft"}, {"status": "draft", "campaign_id": "c"}),
        change("campaigns", "INSERT", new={"status": "draft", "campaign_id": "c"}),
        change("counters", "MODIFY", {"counter_id": "claims#c#849", "count": 1}, {"counter_id": "claims#c#849"}),
        change("counters", "MODIFY", {"counter_id": "stock#c#0", "stock": 2}, {"counter_id": "stock#c#0", "stock": 1}),
        change("counters", "MODIFY", {"counter_id": "stock#c#0", "stock": 0}, {"counter_id": "stock#c#0", "stock": 0}),
        change("idempotency", "INSERT", new={"idempotency_id": "x"}),
        change("partners", "INSERT", new={"partner_id": "p"}),
    ]
    for case in nothing:
        assert derive.derive(case) == [], case


def test_tier_changes_for_the_same_owner():
    old = {"msisdn": "849", "owner_id": "o", "tier": "loyal", "seq": 4}
    (event,) = derive.derive(change("subscribers", "MODIFY", old, {**old, "tier": "silver", "seq": 5, "_rq": "a.0"}))
    assert isinstance(event, Event) and event.type == "tier.changed"
    assert event.data == {"msisdn": "849", "from": "loyal", "to": "silver"}
    (later,) = derive.derive(change("subscribers", "MODIFY", old, {**old, "tier": "silver", "seq": 9, "_rq": "b.0"}))
    assert isinstance(later, Event) and later.id != event.id  # another commit, another event


def test_voucher_transitions():
    cases = {
        ("INSERT", None, "issued"): "voucher.issued",
        ("MODIFY", "issued", "redeemed"): "voucher.redeemed",
        ("MODIFY", "redeemed", "issued"): "voucher.reversed",
        ("MODIFY", "redeemed", "expired"): "voucher.reversed",
        ("MODIFY", "redeemed", "cancelled"): "voucher.reversed",
        ("MODIFY", "issued", "expired"): "voucher.expired",
        ("MODIFY", "issued", "cancelled"): "voucher.cancelled",
    }
    for (name, before, after), wanted in cases.items():
        old = voucher(before, redemption_id="rd_1") if before else None
        new = voucher(after, redemption_id="rd_2" if after == "redeemed" else None)
        (event,) = derive.derive(change("vouchers", name, old, new))
        assert isinstance(event, Event)
        assert (event.type, event.partner_id, event.data["code"]) == (wanted, "p_1", "7KQ2-M9XD-4RTW-0CZP-X")
        if wanted == "voucher.reversed":
            assert (event.data["redemption_id"], event.data["status"]) == ("rd_1", after)
        if wanted == "voucher.redeemed":
            assert event.id == ids.voucher_event_id("voucher.redeemed", CODE, "rd_2")


def test_campaign_transitions_and_the_sold_out_probe():
    base = {"campaign_id": "c_1", "partner_id": "p_1", "name": "N", "updated_at": "t"}
    for before, after, wanted in (("draft", "active", "launched"), ("active", "paused", "paused"),
                                  ("paused", "active", "launched"), ("paused", "ended", "ended")):  # fmt: skip
        (event,) = derive.derive(change("campaigns", "MODIFY", {**base, "status": before}, {**base, "status": after}))
        assert isinstance(event, Event) and event.type == f"campaign.{wanted}" and event.data["from"] == before
    probe = derive.derive(
        change(
            "counters", "MODIFY", {"counter_id": "stock#c_1#3", "stock": 1}, {"counter_id": "stock#c_1#3", "stock": 0}
        )
    )
    assert probe == [SoldOutProbe("c_1", AT)]
    campaign = {**base, "status": "active", "shard_count": 2}
    assert derive.sold_out(campaign, [{"stock": 0, "issued": 4}, {"stock": 1, "issued": 3}], AT) is None
    assert derive.sold_out(campaign, [{"stock": 0, "issued": 4}], AT) is None  # a shard not read
    event = derive.sold_out(campaign, [{"stock": 0, "issued": 4}, {"stock": 0, "issued": 4}], AT)
    assert event is not None and event.data["issued"] == 8 and event.partner_id == "p_1"
    again = derive.sold_out(campaign, [{"stock": 0, "issued": 4}, {"stock": 0, "issued": 4}], AT)
    grown = derive.sold_out(campaign, [{"stock": 0, "issued": 9}, {"stock": 0, "issued": 4}], AT)
    assert again == event and grown is not None and grown.id != event.id


def test_a_partner_sees_only_its_types_without_subscribers():
    data = {"code": "C", "campaign_id": "c", "partner_id": "p", "msisdn": "849", "redemption_id": "r",
            "redeemed_at": "t", "status": "issued", "title": "x"}  # fmt: skip
    assert types.partner_view("voucher.redeemed", data) == {"code": "C", "campaign_id": "c", "redemption_id": "r",
                                                            "redeemed_at": "t"}  # fmt: skip
    assert types.partner_view("voucher.issued", data) is None
    assert types.partner_view("points.earned", data) is None
    for kind in types.PARTNER_TYPES:
        assert "msisdn" not in (types.partner_view(kind, data) or {})
    assert set(types.PARTNER_TYPES) < set(types.EVENT_TYPES)


def test_images_become_plain_values():
    raw = {"s": {"S": "x"}, "n": {"N": "12"}, "f": {"N": "1.5"}, "b": {"BOOL": True}, "z": {"NULL": True},
           "m": {"M": {"k": {"L": [{"N": "1"}, {"S": "y"}]}}}, "ss": {"SS": ["a", "b"]}}  # fmt: skip
    assert images.image(raw) == {"s": "x", "n": 12, "f": Decimal("1.5"), "b": True, "z": None,
                                 "m": {"k": [1, "y"]}, "ss": {"a", "b"}}  # fmt: skip
    assert images.image(None) is None


# -- SMS -------------------------------------------------------------------------------


def test_texts_are_gsm_in_one_segment():
    issued = messages.text_for("voucher.issued", {"code": "7KQ2-M9XD-4RTW-0CZP-X", "title": "Cà phê sữa đá ☕" * 5,
                                                  "expires_at": "2026-11-24T18:00:00.000Z"})  # fmt: skip
    assert issued is not None and "Ca phe sua da" in issued and "HSD 25/11/2026" in issued  # local date
    upgrade = messages.text_for("tier.changed", {"from": "silver", "to": "gold"})
    expiring = messages.text_for("points.expiring", {"on": "2026-12-31", "points": 12_345})
    for text in (issued, upgrade, expiring):
        assert text is not None and gsm.septets(text) <= messages.SEGMENT and gsm.is_gsm(text), text
    assert messages.text_for("tier.changed", {"from": "gold", "to": "silver"}) is None  # a downgrade: no SMS
    assert messages.text_for("points.earned", {"points": 5}) is None
    assert messages.plain("Đà Nẵng") == "Da Nang"


@pytest.mark.parametrize(
    ("utc", "held_until"),
    [
        ("2026-11-10T13:59:59", None),  # 20:59 local
        ("2026-11-10T14:00:00", "2026-11-11T01:00:00"),  # 21:00 -> 08:00 next day
        ("2026-11-10T16:59:00", "2026-11-11T01:00:00"),  # 23:59
        ("2026-11-10T17:00:00", "2026-11-11T01:00:00"),  # 00:00
        ("2026-11-11T00:59:59", "2026-11-11T01:00:00"),  # 07:59:59
        ("2026-11-11T01:00:00", None),  # 08:00
    ],
)
def test_quiet_hours(utc, held_until):
    instant = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    wanted = instant if held_until is None else datetime.fromisoformat(held_until).replace(tzinfo=UTC)
    assert messages.not_before(instant) == wanted
