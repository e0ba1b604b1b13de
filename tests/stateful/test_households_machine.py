"""Hypothesis stateful test of households against a model written from
DOMAIN.md "Households" (nothing of the product's pool, account or rules is
used for an expected value), with throttling, transaction conflicts, lost
responses and time-outs injected into the operation under test only.

The model: at most 5 members, owner included; invitations valid 7 days; one
household per subscriber and 30 days after leaving one before joining
another; earnings while a member go to the pool as batches of that
contributor with their own expiry (end of month N+12, `data` N+1), points from
before joining stay one's own and are spent first; the owner always spends
from the pool, another member only when allowed; a spend takes the earliest
expiring batch of any contributor first (a tie between contributors: the
lower MSISDN first); a leaver (or a removed member) takes back their own
remaining batches with their expiry dates; the owner leaving dissolves the
household (everyone takes back their own); a recycled number's batches are
forfeited (an owner's recycling dissolves the household). Rank points stay
individual (earnings are kept below the silver threshold, so the multiplier is
1 throughout).

Checked after every step: each household as its members see it (members,
who may spend, each member's contributed points, the pool) and each
subscriber's points screen (own balance, the household line); the stored
state: no pool batch below 0, nobody in two households, no household above
5, each subscriber's item naming the household that lists them; and each
touched subscriber's ledger: its sum is their balance plus their stored
batches, the pool spends of their batches and the points returned to them are
the model's, and every point they put in the pool is remaining, spent,
returned or expired, once.
"""

from __future__ import annotations

import calendar
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from machines import (
    FAULTS,
    FIRING,
    Outcome,
    assert_success,
    fresh_msisdn,
    machine_settings,
    stateful_db,  # noqa: F401  (a fixture)
    under_faults,
)

from chalicelib import clock, store
from chalicelib.campaigns import service as campaigns
from chalicelib.errors import NotFound
from chalicelib.households import service as households
from chalicelib.partners import service as partners
from chalicelib.points import service as points
from chalicelib.store import Household, LedgerEntry, Subscriber
from chalicelib.subscribers import service as subscribers
from chalicelib.vouchers import service as vouchers
from faults import Faults, report

ZONE = timezone(timedelta(hours=7))  # Asia/Ho_Chi_Minh
MAX_MEMBERS = 5
INVITATION = timedelta(days=7)
REJOIN_WAIT = timedelta(days=30)
RATE = 5  # percent, mobile and data
SILVER = 30_000  # rank points: above it the multiplier would change
PRICES = (1_500, 4_000)
PEOPLE = 7
START = datetime(2026, 1, 10, 3, 0, tzinfo=UTC)


def local(instant: datetime) -> date:
    return instant.astimezone(ZONE).date()


def month_end(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, calendar.monthrange(year, month + 1)[1])


def live(batches: dict[date, int], today: date) -> dict[date, int]:
    return {d: p for d, p in batches.items() if d >= today and p > 0}


def take_fefo(batches: dict[date, int], points_: int, today: date) -> None:
    for day in sorted(live(batches, today)):
        step = min(batches[day], points_)
        batches[day] -= step
        points_ -= step
        if not batches[day]:
            del batches[day]
    assert points_ == 0


@dataclass
class Person:
    msisdn: str
    activated: date
    own: dict[date, int] = field(default_factory=dict)
    pool: dict[date, int] = field(default_factory=dict)  # batches in the current household's pool
    household: str | None = None
    left_on: date | None = None
    rank: int = 0
    # for the current owner of the number: what happened to their pool batches
    pooled: int = 0
    spent: int = 0
    returned: int = 0
    checked: tuple[int, ...] = ()  # the stored seq and model counts the ledger was last compared at


@dataclass
class Home:
    owner: int
    members: dict[int, bool]  # person -> may spend
    invitations: dict[int, datetime] = field(default_factory=dict)
    active: bool = True
    # invitations to a number recycled since: made to its previous owner, not the new one's
    stale: set[int] = field(default_factory=set)


class HouseholdsMachine(RuleBasedStateMachine):
    fired: Counter[str] = Counter()
    seen: Counter[str] = Counter()  # what the runs reached: printed, and some of it required

    def __init__(self) -> None:
        super().__init__()
        self.faults = Faults()
        self.people: list[Person] = []
        self.homes: dict[str, Home] = {}
        self.dirty: set[int] = set()

    @initialize(
        size=st.integers(2, MAX_MEMBERS),
        before=st.lists(st.sampled_from([0, 20_000, 60_000]), min_size=PEOPLE, max_size=PEOPLE),
        after=st.lists(st.sampled_from([40_000, 100_000]), min_size=PEOPLE, max_size=PEOPLE),
        allowed=st.lists(st.booleans(), min_size=MAX_MEMBERS, max_size=MAX_MEMBERS),
    )
    def open_the_programme(self, size: int, before: list[int], after: list[int], allowed: list[bool]) -> None:
        """Seven subscribers, two campaigns, and (through the rules, without faults) one household
        of `size`: own points earned before joining, pooled ones after, some members allowed to spend."""
        self.now = START
        clock.set_now(lambda: self.now)
        for _ in range(PEOPLE):
            person = Person(fresh_msisdn(), date(2025, 3, 1))
            subscribers.put_profile(person.msisdn, {"activated_on": "2025-03-01", "plan": "prepaid"}, None)
            self.people.append(person)
        partner = partners.create_partner("Shop", None).body["partner_id"]
        self.campaigns = []
        for price in PRICES:
            fields = {
                "name": f"Voucher {price}",
                "partner_id": partner,
                "voucher": {"title": "Coffee", "value_vnd": 50_000},
                "points_price": price,
                "inventory": 10_000,
                "per_subscriber_limit": 10_000,
                "starts_at": START - timedelta(days=1),
                "ends_at": START + timedelta(days=360),
                "voucher_valid_days": 30,
            }
            campaign_id = campaigns.create_campaign(fields, None).body["campaign_id"]
            assert campaigns.transition(campaign_id, "launch", None).status == 200
            self.campaigns.append(campaign_id)
        self.dirty = set(range(PEOPLE))
        self.faults.install()
        for who, amount in enumerate(before):
            if amount:
                self.earn(who, amount, "mobile", ())
        self.create(0, ())
        for who in range(1, size):
            self.invite(0, who, ())
            self.accept(0, ())
            if allowed[who]:
                self.allow(0, sorted(self.homes[self.people[0].household or ""].members).index(who), True, ())
        for who, amount in enumerate(after):
            if amount:
                self.earn(who, amount, "data" if who % 2 else "mobile", ())
        assert len(self.homes) == 1 and len(next(iter(self.homes.values())).members) == size

    def teardown(self) -> None:
        self.faults.uninstall()
        HouseholdsMachine.fired.update(self.faults.fired)
        self.seen["examples"] += 1
        for person in self.people:  # what the due indexes would find in the next example
            Subscriber(person.msisdn).delete()
        clock.set_now(None)

    @property
    def today(self) -> date:
        return local(self.now)

    def _call(self, operation: Any, faults: Any) -> Outcome:
        return under_faults(self.faults, operation, faults)

    def _expect_refusal(self, outcome: Outcome, code: str) -> None:
        if outcome.code == "SERVICE_UNAVAILABLE" and outcome.seen.may_give_up:
            return
        assert outcome.code == code, (outcome.code, code, dict(outcome.seen.fired))

    def _home_of(self, pick: int) -> tuple[str, Home] | None:
        active = sorted(h for h, home in self.homes.items() if home.active)
        return (active[pick % len(active)], self.homes[active[pick % len(active)]]) if active else None

    def _may_join(self, person: Person) -> bool:
        return person.household is None and (person.left_on is None or self.today >= person.left_on + REJOIN_WAIT)

    def _leave(self, who: int, hid: str) -> int:
        """Model: `who` leaves `hid` with their own remaining batches; what they take back."""
        person = self.people[who]
        back = live(person.pool, self.today)
        for day, amount in back.items():
            person.own[day] = person.own.get(day, 0) + amount
        person.pool, person.household, person.left_on = {}, None, self.today
        person.returned += sum(back.values())
        self.dirty.add(who)
        return sum(back.values())

    # -- households --------------------------------------------------------------

    @rule(who=st.integers(0, PEOPLE - 1), faults=FAULTS)
    def create(self, who: int, faults: Any) -> None:
        person = self.people[who]
        outcome = self._call(lambda: households.create(person.msisdn, None), faults)
        if not self._may_join(person):
            return self._expect_refusal(outcome, "ALREADY_IN_HOUSEHOLD")
        if not assert_success(outcome, 201):
            return None
        assert outcome.reply is not None
        hid = outcome.reply.body["household_id"]
        assert hid not in self.homes
        self.homes[hid] = Home(who, {who: True})
        self.seen["created"] += 1
        person.household = hid
        self.dirty.add(who)
        return None

    @precondition(lambda self: any(h.active for h in self.homes.values()))
    @rule(pick=st.integers(0, 15), who=st.integers(0, PEOPLE - 1), faults=FAULTS)
    def invite(self, pick: int, who: int, faults: Any) -> None:
        found = self._home_of(pick)
        assert found is not None
        hid, home = found
        owner, invitee = self.people[home.owner], self.people[who]
        outcome = self._call(lambda: households.invite(owner.msisdn, hid, invitee.msisdn, None), faults)
        if who in home.members:
            return self._expect_refusal(outcome, "ALREADY_IN_HOUSEHOLD")
        if len(home.members) >= MAX_MEMBERS:
            return self._expect_refusal(outcome, "HOUSEHOLD_FULL")
        if not assert_success(outcome, 201):
            return None
        home.invitations[who] = self.now + INVITATION
        home.stale.discard(who)
        return None

    @precondition(lambda self: any(h.invitations for h in self.homes.values()))
    @rule(pick=st.integers(0, 31), faults=FAULTS)
    def accept(self, pick: int, faults: Any) -> None:
        invited = sorted((hid, who) for hid, home in self.homes.items() for who in home.invitations)
        hid, who = invited[pick % len(invited)]
        home, person = self.homes[hid], self.people[who]
        outcome = self._call(lambda: households.accept(person.msisdn, hid, None), faults)
        if not home.active or who in home.stale:
            return self._expect_refusal(outcome, "NOT_FOUND")
        if home.invitations[who] < self.now:
            return self._expect_refusal(outcome, "INVITATION_EXPIRED")
        if len(home.members) >= MAX_MEMBERS:
            return self._expect_refusal(outcome, "HOUSEHOLD_FULL")
        if not self._may_join(person):
            return self._expect_refusal(outcome, "ALREADY_IN_HOUSEHOLD")
        if not assert_success(outcome, 200):
            return None
        del home.invitations[who]
        home.members[who] = False
        self.seen["joined"] += 1
        self.seen["full households"] += len(home.members) == MAX_MEMBERS
        person.household = hid
        self.dirty.add(who)
        assert outcome.reply is not None
        shown = {m["msisdn"] for m in outcome.reply.body["members"]}
        assert shown == {self.people[m].msisdn for m in home.members}, outcome.reply.body
        return None

    @precondition(lambda self: any(h.active for h in self.homes.values()))
    @rule(pick=st.integers(0, 15), member=st.integers(0, 4), allowed=st.booleans(), faults=FAULTS)
    def allow(self, pick: int, member: int, allowed: bool, faults: Any) -> None:
        found = self._home_of(pick)
        assert found is not None
        hid, home = found
        who = sorted(home.members)[member % len(home.members)]
        owner = self.people[home.owner]
        target = self.people[who].msisdn
        outcome = self._call(lambda: households.set_can_spend(owner.msisdn, hid, target, allowed, None), faults)
        if who == home.owner and not allowed:
            return self._expect_refusal(outcome, "INVALID_STATE")
        if assert_success(outcome, 200):
            home.members[who] = allowed or who == home.owner
        return None

    @precondition(lambda self: any(h.active for h in self.homes.values()))
    @rule(
        pick=st.integers(0, 15),
        member=st.integers(0, 4),
        by_owner=st.booleans(),
        owner=st.sampled_from([False, False, False, True]),
        faults=FAULTS,
    )
    def leave(self, pick: int, member: int, by_owner: bool, owner: bool, faults: Any) -> None:
        """A member leaves, or the owner removes them; the owner leaving (`owner`) dissolves the household."""
        found = self._home_of(pick)
        assert found is not None
        hid, home = found
        others = sorted(m for m in home.members if m != home.owner)
        who = home.owner if owner or not others else others[member % len(others)]
        caller = self.people[home.owner if by_owner else who].msisdn
        target = self.people[who].msisdn
        outcome = self._call(lambda: households.remove(caller, hid, target, None), faults)
        if not assert_success(outcome, 200):
            return
        leaving = sorted(home.members) if who == home.owner else [who]
        returned = {m: self._leave(m, hid) for m in leaving}
        self.seen["dissolved" if who == home.owner else "left"] += 1
        self.seen["left with batches"] += returned[who] > 0
        if who == home.owner:
            home.active, home.members, home.invitations = False, {}, {}
        else:
            del home.members[who]
        assert outcome.reply is not None
        assert outcome.reply.body == {"msisdn": target, "returned_points": returned[who]}, (outcome.reply, returned)

    # -- points in and out -----------------------------------------------------------

    @rule(
        who=st.integers(0, PEOPLE - 1),
        amount=st.sampled_from([20_000, 40_000, 60_000, 100_000, 150_000]),
        service=st.sampled_from(["mobile", "data"]),
        faults=FAULTS,
    )
    def earn(self, who: int, amount: int, service: str, faults: Any) -> None:
        person = self.people[who]
        earned = amount * RATE // 100
        if person.rank + earned >= SILVER:
            return
        event_id = f"ev-{uuid.uuid4().hex[:12]}"
        occurred = self.now - timedelta(minutes=5)
        outcome = self._call(lambda: points.accrue(event_id, person.msisdn, amount, service, occurred, None), faults)
        if not assert_success(outcome, 201):
            return
        assert outcome.reply is not None
        assert outcome.reply.body["earned"] == {"rank_points": earned, "spendable_points": earned}
        person.rank += earned
        expires = month_end(local(occurred), 1 if service == "data" else 12)
        batches = person.pool if person.household is not None else person.own
        batches[expires] = batches.get(expires, 0) + earned
        if person.household is not None:
            person.pooled += earned
        self.dirty.add(who)

    @rule(
        who=st.integers(0, PEOPLE - 1),
        which=st.integers(0, len(PRICES) - 1),
        member=st.sampled_from([True, True, False]),
        faults=FAULTS,
    )
    def claim(self, who: int, which: int, member: bool, faults: Any) -> None:
        """A voucher for points: own points first, then the pool if allowed (FEFO across batches).
        Mostly by a member of a household (`member`: `who` picks one)."""
        in_homes = sorted(m for home in self.homes.values() for m in home.members)
        if member and in_homes:
            who = in_homes[who % len(in_homes)]
        person, price, today = self.people[who], PRICES[which], self.today
        outcome = self._call(lambda: vouchers.claim(person.msisdn, self.campaigns[which], None), faults)
        own = sum(live(person.own, today).values())
        home = self.homes[person.household] if person.household else None
        self.seen["claims"] += 1
        if own >= price:
            if assert_success(outcome, 201):
                take_fefo(person.own, price, today)
                self.dirty.add(who)
            return
        if home is None:
            return self._expect_refusal(outcome, "INSUFFICIENT_POINTS")
        if not home.members[who]:
            self.seen["not allowed to spend"] += 1
            return self._expect_refusal(outcome, "NOT_ALLOWED_TO_SPEND")
        batches = sorted(
            (day, self.people[m].msisdn, m, amount)
            for m in home.members
            for day, amount in live(self.people[m].pool, today).items()
        )
        if own + sum(b[3] for b in batches) < price:
            self.seen["pool too small"] += 1
            return self._expect_refusal(outcome, "INSUFFICIENT_POINTS")
        if not assert_success(outcome, 201):
            return None
        self.seen["pool spends"] += 1
        take_fefo(person.own, own, today)
        need = price - own
        for day, _, m, amount in batches:
            step = min(amount, need)
            if not step:
                break
            contributor = self.people[m]
            contributor.pool[day] -= step
            if not contributor.pool[day]:
                del contributor.pool[day]
            contributor.spent += step
            need -= step
            self.dirty.add(m)
            self.seen["spent another's batch"] += m != who
        self.dirty.add(who)
        assert outcome.reply is not None and outcome.reply.body["balance"] == 0
        return None

    @precondition(lambda self: any(h.active for h in self.homes.values()))
    @rule(pick=st.integers(0, 15), member=st.integers(0, 4), which=st.integers(0, len(PRICES) - 1), faults=FAULTS)
    def owner_claims(self, pick: int, member: int, which: int, faults: Any) -> None:
        """A household's owner (who may always spend from the pool) or another member claims."""
        found = self._home_of(pick)
        assert found is not None
        home = found[1]
        who = home.owner if member == 0 else sorted(home.members)[member % len(home.members)]
        self.claim(who, which, False, faults)

    @precondition(lambda self: any(h.active for h in self.homes.values()))
    @rule(pick=st.integers(0, 15), member=st.integers(0, 4), which=st.integers(0, len(PRICES) - 1), faults=FAULTS)
    def members_claim_again(self, pick: int, member: int, which: int, faults: Any) -> None:
        """The same as `owner_claims`: spending is what the pool is for, so it is drawn twice as often."""
        self.owner_claims(pick, member, which, faults)

    @precondition(lambda self: any(p.activated < local(self.now) for p in self.people))
    @rule(who=st.integers(0, PEOPLE - 1), faults=FAULTS)
    def recycle(self, who: int, faults: Any) -> None:
        """The number gets a new owner: the old owner's own points and pool batches are forfeited."""
        person, today = self.people[who], self.today
        if person.activated >= today:
            return
        profile = {"activated_on": today.isoformat(), "plan": "prepaid"}
        outcome = self._call(lambda: subscribers.put_profile(person.msisdn, profile, None), faults)
        if not assert_success(outcome, 200):
            return
        hid = person.household
        self.seen["recycled members"] += hid is not None
        if hid is not None:
            home = self.homes[hid]
            if home.owner == who:
                for m in sorted(home.members):
                    if m != who:
                        self._leave(m, hid)
                home.active, home.members, home.invitations = False, {}, {}
            else:
                del home.members[who]
        for other in self.homes.values():
            if who in other.invitations:
                other.stale.add(who)
        self.people[who] = Person(person.msisdn, today)
        self.dirty.add(who)

    @rule(days=st.one_of(st.integers(1, 10), st.integers(20, 45)))
    def advance_clock(self, days: int) -> None:
        """Time passes: invitations and batches expire, the 30-day wait runs out."""
        self.now += timedelta(days=days)
        self.dirty.update(range(PEOPLE))

    # -- what members see, and what is stored -----------------------------------------

    @invariant()
    def matches_model(self) -> None:
        if not self.people:
            return
        today = self.today
        for hid, home in self.homes.items():
            if not home.active:
                with pytest.raises(NotFound):
                    households.view(hid, None)
                continue
            shown = households.view(hid, None)
            expected = {
                self.people[m].msisdn: (allowed, sum(live(self.people[m].pool, today).values()))
                for m, allowed in home.members.items()
            }
            got = {m["msisdn"]: (m["can_spend"], m["contributed_points"]) for m in shown["members"]}
            assert got == expected, f"household {hid}: {got} != model {expected}"
            assert shown["pool_balance"] == sum(p for _, p in expected.values()) >= 0
            assert len(shown["members"]) <= MAX_MEMBERS
        dirty, self.dirty = self.dirty, set()
        items = store.batch_get([(Subscriber, p.msisdn, None) for p in self.people])
        stored_homes = store.batch_get([(Household, hid, None) for hid in self.homes]) if self.homes else {}
        listed: Counter[str] = Counter()
        for stored in stored_homes.values():
            assert stored is not None
            members = households.members_of(stored)
            assert len(members) <= MAX_MEMBERS, "above 5"
            if stored.status == "active":
                listed.update(list(members))
        for n, person in enumerate(self.people):
            item = items[(Subscriber, person.msisdn, None)]
            assert item is not None
            assert listed[person.msisdn] <= 1, "in two households"
            assert item.household_id == person.household, "the item's household"
            assert (listed[person.msisdn] == 1) == (person.household is not None), "listed by its household"
            pool = points.to_account(item).pool
            assert all(p > 0 for p in pool.values()), f"a pool batch below 0: {pool}"
            if n not in dirty:
                continue
            view = points.view_of(item)
            assert view["balance"] == sum(live(person.own, today).values()), ("own balance", view)
            if person.household is None:
                assert view["household"] is None, view
            else:
                home = self.homes[person.household]
                pool_balance = sum(sum(live(self.people[m].pool, today).values()) for m in home.members)
                expected_line = {
                    "household_id": person.household,
                    "pool_balance": pool_balance,
                    "can_spend": home.members[n],
                }
                assert view["household"] == expected_line, view
            self._ledger_matches(person, item)

    def _ledger_matches(self, person: Person, item: Subscriber) -> None:
        """Read again only when the item's seq (every entry moves it) or the model's counts moved."""
        seen = (int(item.seq or 0), person.pooled, person.spent, person.returned)
        if person.checked == seen:
            return
        person.checked = seen
        entries = list(LedgerEntry.query(item.owner_id, consistent_read=True))

        def detail(e: LedgerEntry) -> dict[str, Any]:
            return e.detail.as_dict() if e.detail else {}

        stored_pool = sum(points.to_account(item).pool.values())
        assert sum(int(e.points) for e in entries) == int(item.balance) + stored_pool, "ledger != balance + pool"
        pooled = sum(int(e.points) for e in entries if e.kind == "earn" and detail(e).get("household_id"))
        spent = -sum(int(e.points) for e in entries if e.entry_id.startswith("pool_spend:"))
        returned = sum(int(detail(e).get("returned_points", 0)) for e in entries if e.kind == "household_left")
        expired = -sum(int(e.points) for e in entries if e.entry_id.startswith("expire:pool:"))
        assert (pooled, spent, returned) == (person.pooled, person.spent, person.returned), "pool entries"
        # every batch point is remaining (perhaps expired but not yet written), spent, returned or expired, once
        assert pooled == stored_pool + spent + returned + expired, "a batch counted twice or lost"


HouseholdsMachine.TestCase.settings = settings(
    machine_settings(),
    # a fraction of the profile's examples: each one makes 7 subscribers and 2 campaigns
    max_examples=max(8, machine_settings().max_examples // 25),
)


@pytest.mark.usefixtures("stateful_db")
def test_households_invariants():
    HouseholdsMachine.fired.clear()
    HouseholdsMachine.seen.clear()
    HouseholdsMachine.TestCase().runTest()
    seen = HouseholdsMachine.seen
    print("households machine reached: " + ", ".join(f"{k}={v}" for k, v in sorted(seen.items())))
    for reached in ("joined", "pool spends", "spent another's batch", "left with batches"):
        assert seen[reached], f"no run reached {reached!r}: the machine proves nothing about it ({dict(seen)})"
    report("households machine", HouseholdsMachine.fired, FIRING)


@pytest.mark.usefixtures("stateful_db")
@pytest.mark.parametrize(
    ("where", "broken", "seen"),
    [
        # a leaver's batches lost instead of returned
        ("merged", lambda own, returned: {d: int(p) for d, p in own.items()}, "own balance|pool entries|batch"),
        # the pool spent latest-expiring first
        ("draw", None, "household|pool entries|own balance"),
    ],
    ids=["leaver-loses-batches", "pool-spent-lifo"],
)
def test_model_has_teeth(where: str, broken: Any, seen: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the pool's rules broken (and no faults) the machine fails where the model sees it."""
    from chalicelib.households import pool

    if where == "draw":
        real = pool.draw

        def lifo(pools: Any, points_: int, today: date) -> dict[str, int]:
            real(pools, points_, today)  # the same refusals
            taken: dict[str, int] = {}
            batches = sorted(
                ((d, c, a) for c, held in pools.items() for d, a in held.items() if d >= today.isoformat())
            )
            for _, contributor, amount in reversed(batches):
                step = min(amount, points_ - sum(taken.values()))
                if step:
                    taken[contributor] = taken.get(contributor, 0) + step
            return taken

        broken = lifo
    monkeypatch.setattr(pool, where, broken)
    monkeypatch.setattr(Faults, "_take", lambda self, operation, body: None)
    monkeypatch.setattr(
        HouseholdsMachine.TestCase,
        "settings",
        settings(
            max_examples=40,
            stateful_step_count=20,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.generate],
            report_multiple_bugs=False,
        ),
    )
    with pytest.raises(AssertionError, match=seen):
        HouseholdsMachine.TestCase().runTest()
