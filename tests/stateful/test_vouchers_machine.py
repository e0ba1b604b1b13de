"""Hypothesis stateful test of the voucher invariants on the embedded engine, with
throttling, transaction conflicts and lost responses injected (as in
`test_points_machine`).

A few subscribers with points, one or two partners, campaigns with small
inventories, random inventory shard counts, per-subscriber limits and points
prices; claims (some with an Idempotency-Key, some replayed), grants,
redemptions by the right and the wrong partner, reversals within and after 30
days, pause / launch / end / inventory growth, the clock moving, the voucher
expiry job and spend events. The machine keeps its own model and checks each
answer against it: a refusal only for a reason the model sees (SOLD_OUT only
with no stock left, INSUFFICIENT_POINTS only below the price, LIMIT_REACHED
only at the limit, ...), a success whenever the model sees none.

After every step, read back consistently from the example's own tables:
- per campaign: vouchers issued == inventory - remaining (sum of its shards'
  stock) <= inventory, every shard's stock >= 0, each shard's issued and
  reversed counts exact, the shards mirroring the campaign's status and window;
- per subscriber and campaign: vouchers (and the claim counter) <= the limit;
- each voucher redeemed at most once net of reversals: at most one open
  redemption per code, and a `redeemed` voucher has exactly that one;
  `redeemed_campaign` set only on redeemed vouchers, the expiry job's key on
  every voucher it has not expired yet;
- points: balance == sum of the ledger == sum of the buckets, never negative;
  the unexpired buckets equal the model's; every claim debited its price
  exactly once (`spend:<code>`), every acknowledged spend event earned once.

Faults (see `faults.py`) are armed for one operation under test at a time
(none, one or two per call); the test's own reads (the invariants, creating a
campaign, the set-up) never meet one. A response lost after its commit makes
the SDK resend it and the product meet its own earlier commit: every operation
must still answer as if nothing was lost; an operation may give up (503,
nothing changed) only on a fault that outlasts retries. The earned points of
spend events come from the points model of `test_points_machine` (DOMAIN.md),
never from the reply. Every keyed operation can be replayed (the original
answer) or its key reused with another payload (422).

Runs under the "ci" profile in `make test`: 200 examples x at most 20 steps,
on one set of tables (each example has its own subscribers, partners and
campaigns, and deletes what the expiry job's index would find). Shrinking a
failure is slow (minutes): the seed Hypothesis prints replays it at once.
`DIEM_STATEFUL_STATS=1 pytest -s` prints how often each outcome was seen.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import traceback
import uuid
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from machines import (
    FAULTS,
    FIRING,
    HALVES,
    fresh_msisdn,
    key,
    machine_settings,
    reused,
    run_half,
    send_as_http,
    stateful_db,  # noqa: F401  (a fixture)
    under_faults,
    without_faults_deterministically,
)
from test_points_machine import ZONE, Sub, local

from chalicelib import clock, config, store
from chalicelib.campaigns import service as campaigns
from chalicelib.campaigns import shards as shard_module
from chalicelib.idempotency import Idempotency, Reply
from chalicelib.partners import redemptions
from chalicelib.partners import service as partners
from chalicelib.points import service as points
from chalicelib.store import Campaign, Counter, LedgerEntry, Redemption, Subscriber, Voucher
from chalicelib.subscribers import service as subscribers
from chalicelib.vouchers import codes, expiry, views
from chalicelib.vouchers import service as vouchers
from faults import Faults, Observed, report

START = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
ACTIVATIONS = (date(2020, 1, 15), date(2021, 1, 15), date(2022, 1, 15))
WHO = st.integers(0, len(ACTIVATIONS) - 1)
PICK = st.integers(0, 63)  # an index into a model list, taken modulo its length
RIGHT = st.sampled_from([True, True, False])  # the partner of the voucher, or another one
MAX_CAMPAIGNS = 3
KEEP = timedelta(hours=24)  # idempotency records are kept at least this long
REVERSAL_WINDOW = timedelta(days=30)
UNKNOWN_PARTNER = "p_0000000000000000"
# the campaign lifecycle (DOMAIN.md): action -> {from: to}
LIFECYCLE = {
    "launch": {"draft": "active", "paused": "active"},
    "pause": {"active": "paused"},
    "end": {"active": "ended", "paused": "ended"},
}
CLAIM_PATH = "POST /v1/campaigns/{campaign_id}/claims"
GRANT_PATH = "POST /v1/campaigns/{campaign_id}/grants"
REDEEM_PATH = "POST /v1/redemptions"
REVERSE_PATH = "POST /v1/redemptions/{redemption_id}/reversal"

# what the examples exercised: printed with DIEM_STATEFUL_STATS=1 (and pytest -s)
OUTCOMES: Tally[str] = Tally()
Outcome = tuple[Reply | None, str | None, Observed]  # reply, error code, the faults that fired


@dataclasses.dataclass
class Camp:
    campaign_id: str
    partner: int
    inventory: int
    limit: int
    price: int
    peak: int
    valid_days: int
    starts_at: datetime
    ends_at: datetime
    status: str = "draft"
    shard_count: int = 0
    issued: int = 0

    @property
    def remaining(self) -> int:
        return self.inventory - self.issued


@dataclasses.dataclass
class Vch:
    code: str
    campaign: int
    who: int
    price: int  # points debited for it (0 for a grant)
    expires_at: datetime
    status: str = "issued"  # as stored: issued | redeemed | expired
    redemption: str | None = None
    due: bool = True  # on the expiry job's index: from issue until the job finds it (kept through redemption)


@dataclasses.dataclass
class Rdm:
    redemption_id: str
    voucher: int
    partner: int
    redeemed_at: datetime
    reversed: bool = False


@dataclasses.dataclass
class Keyed:
    """A successful request made with an Idempotency-Key, to replay."""

    idem: Idempotency
    send: Callable[[Idempotency | None], Reply]
    reply: Reply
    at: datetime
    # the same key bound to another payload, and its send
    other: Callable[[], tuple[Idempotency, Callable[[Idempotency | None], Reply]]]


def _campaign_args() -> dict[str, Any]:
    return {
        "partner": st.integers(0, 1),
        "inventory": st.integers(1, 6),
        "limit": st.integers(1, 3),
        "price": st.sampled_from([0, 500, 2_000, 8_000, 30_000]),
        # 250 claims/s per shard: 1, 1, 2, 4, 6 or 20 shards, never more than the inventory
        "peak": st.sampled_from([0, 250, 500, 1_000, 1_500, 5_000]),
        # Hypothesis favours the first choice (and shrinks towards it): the one that keeps claims open
        "valid_days": st.sampled_from([30, 7, 45, 1, 2]),
        "starts_in_days": st.sampled_from([-1, 0, -3, 2]),
        "lasts_days": st.sampled_from([60, 120, 30, 3, 1]),
    }


class VouchersMachine(RuleBasedStateMachine):
    fired: Tally[str] = Tally()

    def __init__(self) -> None:
        super().__init__()
        self.faults = Faults()
        self.subs: list[str] = []
        self.partners: list[str] = []
        self.campaigns: list[Camp] = []
        self.vouchers: list[Vch] = []
        self.redemptions: list[Rdm] = []
        self.keyed: list[Keyed] = []
        self.points: list[Sub] = []  # the points model, as in test_points_machine
        self.earned: dict[int, set[str]] = defaultdict(set)
        self.claims: Tally[tuple[int, int]] = Tally()  # (campaign, who) -> vouchers
        # grants without a key: the same request content never issues twice to a subscriber
        self.granted: dict[tuple[str, tuple[str, ...]], dict[int, tuple[str, datetime]]] = {}
        # what the invariant read last: an owner's vouchers and ledger by the seq they were read at,
        # the partners' redemptions; re-read after a step that can change them (a claim, a grant, a
        # redemption, a replay, a moved seq) and all of them at the end of every example
        self.read_at: dict[str, int] = {}
        self.owned: dict[str, set[str]] = {}
        self.ledgers: dict[str, list[LedgerEntry]] = {}
        self.partner_redemptions: dict[str, Redemption] = {}
        self.issuing = self.redeeming = True

    @initialize(
        partner_count=st.integers(1, 2),
        # 10,000 / 50,000 / 0 / 1,500 points to start with
        amounts=st.lists(
            st.sampled_from([200_000, 1_000_000, 0, 30_000]), min_size=len(ACTIVATIONS), max_size=len(ACTIVATIONS)
        ),
        first=st.fixed_dictionaries(_campaign_args()),
    )
    def set_up(self, partner_count: int, amounts: list[int], first: dict[str, Any]) -> None:
        self.now = START
        clock.set_now(lambda: self.now)
        for activated in ACTIVATIONS:
            msisdn = fresh_msisdn()
            subscribers.put_profile(msisdn, {"activated_on": activated.isoformat(), "plan": "prepaid"}, None)
            self.subs.append(msisdn)
            self.points.append(Sub(msisdn, activated, local(START)))
        self.partners = [partners.create_partner(f"Partner {n}", None).body["partner_id"] for n in range(partner_count)]
        self.faults.install()
        for who, amount in enumerate(amounts):
            if amount:
                self.spend(who, amount, "mobile", 0, False, ())
        self.new_campaign(**{**first, "starts_in_days": -1}, launch=True, faults=())

    def teardown(self) -> None:
        self.faults.uninstall()
        VouchersMachine.fired.update(self.faults.fired)
        if self.subs:
            self.books_balance(everything=True)
        # what the jobs' indexes would find in the next example
        for msisdn in self.subs:
            with contextlib.suppress(Subscriber.DoesNotExist):
                owner = Subscriber.get(msisdn, consistent_read=True).owner_id
                for voucher in Voucher.by_owner.query(owner):
                    Voucher(voucher.code).delete()
            Subscriber(msisdn).delete()
        clock.set_now(None)

    # -- helpers -------------------------------------------------------------

    def _call(self, name: str, operation: Callable[[], Reply], faults: Any) -> Outcome:
        outcome = under_faults(self.faults, operation, faults)
        reply, code, seen = outcome.reply, outcome.code, outcome.seen
        kind = name.split()[0]
        self.issuing |= kind in ("claim", "grant", "replay", "key")
        self.redeeming |= kind in ("redeem", "reverse", "replay", "key")
        fired = "+".join(sorted(seen.kinds))
        OUTCOMES[f"{name}: {code or (reply.status if reply else None)}{' after ' + fired if fired else ''}"] += 1
        return reply, code, seen

    @staticmethod
    def _gave_up(code: str | None, seen: Observed) -> bool:
        """The operation gave up on a fault that outlasted its retries: 503, nothing changed."""
        return code == "SERVICE_UNAVAILABLE" and seen.may_give_up

    _send = staticmethod(send_as_http)

    @staticmethod
    def _key(keyed: bool, scope: str, params: dict[str, Any], body: Any) -> Idempotency | None:
        return key(scope, params, body) if keyed else None

    def _remember(
        self,
        idem: Idempotency | None,
        send: Callable[[Idempotency | None], Reply],
        reply: Reply,
        scope: str,
        params: dict[str, Any],
        body: Any,
        other_send: Callable[[Idempotency | None], Reply],
    ) -> None:
        """A keyed success, to replay; `params`/`body`/`other_send`: the same key with another payload."""
        if idem is not None:
            bound = idem
            self.keyed.append(
                Keyed(idem, send, reply, self.now, lambda: (reused(bound, scope, params, body), other_send))
            )

    def _open(self, camp: Camp) -> bool:
        return camp.status == "active" and camp.starts_at <= self.now < camp.ends_at

    def _spendable(self, who: int) -> int:
        return self.points[who].spendable(clock.today())

    def _effective(self, v: Vch) -> str:
        return "expired" if v.status == "issued" and v.expires_at <= self.now else v.status

    def _issued(self, camp_index: int, who: int, code: str, price: int) -> Vch:
        camp = self.campaigns[camp_index]
        assert camp.remaining > 0 and self.claims[(camp_index, who)] < camp.limit
        camp.issued += 1
        self.claims[(camp_index, who)] += 1
        normalised = codes.parse(code)
        assert normalised is not None and normalised not in {v.code for v in self.vouchers}
        voucher = Vch(normalised, camp_index, who, price, self.now + timedelta(days=camp.valid_days))
        self.vouchers.append(voucher)
        return voucher

    # -- campaigns -------------------------------------------------------------

    @precondition(lambda self: len(self.campaigns) < MAX_CAMPAIGNS)
    @rule(**_campaign_args(), launch=st.sampled_from([True, False]), faults=FAULTS)
    def new_campaign(
        self,
        partner: int,
        inventory: int,
        limit: int,
        price: int,
        peak: int,
        valid_days: int,
        starts_in_days: int,
        lasts_days: int,
        launch: bool,
        faults: Any,
    ) -> None:
        partner %= len(self.partners)
        starts_at = self.now + timedelta(days=starts_in_days)
        fields = {
            "name": f"Campaign {len(self.campaigns)}",
            "partner_id": self.partners[partner],
            "voucher": {"title": "50,000 VND off", "value_vnd": 50_000},
            "points_price": price,
            "inventory": inventory,
            "per_subscriber_limit": limit,
            "starts_at": starts_at,
            "ends_at": starts_at + timedelta(days=lasts_days),
            "voucher_valid_days": valid_days,
            "expected_peak_claims_per_second": peak,
        }
        # set-up of the campaigns under test: no faults
        body = campaigns.create_campaign(fields, None).body
        assert body["status"] == "draft"
        camp = Camp(
            body["campaign_id"], partner, inventory, limit, price, peak, valid_days, starts_at, fields["ends_at"]
        )
        self.campaigns.append(camp)
        if launch:
            self.transition(len(self.campaigns) - 1, "launch", False, faults)

    @precondition(lambda self: self.campaigns)
    @rule(which=PICK, action=st.sampled_from(["launch", "launch", "pause", "end"]), keyed=st.booleans(), faults=FAULTS)
    def transition(self, which: int, action: str, keyed: bool, faults: Any) -> None:
        camp = self.campaigns[which % len(self.campaigns)]
        target = LIFECYCLE[action].get(camp.status)
        scope = f"marketer:mkt-1:POST /v1/campaigns/{{campaign_id}}/{action}"
        params = {"campaign_id": camp.campaign_id}
        idem = self._key(keyed, scope, params, None)

        def send(idem: Idempotency | None) -> Reply:
            return campaigns.transition(camp.campaign_id, action, idem)

        reply, code, seen = self._call(action + (" keyed" if keyed else ""), lambda: self._send(idem, send), faults)
        if self._gave_up(code, seen):
            return
        if target is None:
            assert code == "INVALID_STATE", code
            return
        assert code is None and reply is not None and reply.status == 200, code
        assert reply.body["status"] == target
        if camp.status == "draft":
            wanted = math.ceil(camp.peak / config.rules().claims_per_shard_per_second)
            camp.shard_count = max(1, min(wanted, config.rules().max_inventory_shards, camp.inventory))
        assert reply.body["shard_count"] == camp.shard_count
        camp.status = target
        other = next((c for c in self.campaigns if c is not camp), None)
        if other is not None:
            # the same key for another campaign: another payload
            self._remember(
                idem,
                send,
                reply,
                scope,
                {"campaign_id": other.campaign_id},
                None,
                lambda i: campaigns.transition(other.campaign_id, action, i),
            )

    @precondition(lambda self: self.campaigns)
    @rule(
        which=PICK,
        added=st.sampled_from([1, 2, -1]),
        longer_days=st.sampled_from([0, 7, -1]),
        keyed=st.booleans(),
        faults=FAULTS,
    )
    def change_campaign(self, which: int, added: int, longer_days: int, keyed: bool, faults: Any) -> None:
        camp = self.campaigns[which % len(self.campaigns)]
        inventory = max(camp.inventory + added, 1)
        ends_at = camp.ends_at + timedelta(days=longer_days)
        refusals = set()
        if camp.status == "ended" or (
            camp.status != "draft" and (inventory < camp.inventory or ends_at < camp.ends_at)
        ):
            refusals.add("INVALID_STATE")
        if ends_at <= camp.starts_at:
            refusals.add("VALIDATION_ERROR")
        scope, params = "marketer:mkt-1:PATCH /v1/campaigns/{campaign_id}", {"campaign_id": camp.campaign_id}
        body = {"inventory": inventory, "ends_at": clock.iso(ends_at)}
        idem = self._key(keyed, scope, params, body)

        def send(idem: Idempotency | None) -> Reply:
            return campaigns.patch(camp.campaign_id, inventory, ends_at, idem)

        reply, code, seen = self._call(
            "change campaign" + (" keyed" if keyed else ""), lambda: self._send(idem, send), faults
        )
        if self._gave_up(code, seen):
            return
        if refusals:
            assert code in refusals, (code, refusals)
            return
        assert code is None and reply is not None and reply.status == 200, code
        assert reply.body["inventory"] == inventory and reply.body["ends_at"] == clock.iso(ends_at)
        camp.inventory, camp.ends_at = inventory, ends_at
        self._remember(
            idem,
            send,
            reply,
            scope,
            params,
            {**body, "inventory": inventory + 1},
            lambda i: campaigns.patch(camp.campaign_id, inventory + 1, ends_at, i),
        )

    @precondition(lambda self: self.campaigns)
    @rule(which=PICK)
    def campaign_stats(self, which: int) -> None:
        camp = self.campaigns[which % len(self.campaigns)]
        stats = campaigns.get(camp.campaign_id)["stats"]
        mine = [n for n, v in enumerate(self.vouchers) if v.campaign == which % len(self.campaigns)]
        assert stats["issued"] == camp.issued and stats["remaining"] == camp.remaining
        assert stats["redeemed"] == sum(self.vouchers[n].status == "redeemed" for n in mine)
        assert stats["reversed"] == sum(r.reversed and r.voucher in mine for r in self.redemptions)

    # -- claims and grants -------------------------------------------------------

    @precondition(lambda self: self.campaigns)
    @rule(attempts=st.lists(st.tuples(WHO, PICK, st.booleans(), FAULTS), min_size=1, max_size=3))
    def claim(self, attempts: list[tuple[int, int, bool, Any]]) -> None:
        """One to three claims in a row: (subscriber, campaign, with an Idempotency-Key, faults)."""
        for who, which, keyed, faults in attempts:
            self._claim(who, which, keyed, faults)

    def _claim(self, who: int, which: int, keyed: bool, faults: Any) -> None:
        index = which % len(self.campaigns)
        camp, msisdn = self.campaigns[index], self.subs[who]
        refusals = set()
        if not self._open(camp):
            refusals.add("CAMPAIGN_NOT_ACTIVE")
        if self.claims[(index, who)] >= camp.limit:
            refusals.add("LIMIT_REACHED")
        if camp.remaining <= 0:
            refusals.add("SOLD_OUT")
        if camp.price > self._spendable(who):
            refusals.add("INSUFFICIENT_POINTS")
        scope = f"subscriber:{msisdn}:{CLAIM_PATH}"
        idem = self._key(keyed, scope, {"campaign_id": camp.campaign_id}, {})

        def send(idem: Idempotency | None) -> Reply:
            return vouchers.claim(msisdn, camp.campaign_id, idem)

        reply, code, seen = self._call("claim" + (" keyed" if keyed else ""), lambda: self._send(idem, send), faults)
        if self._gave_up(code, seen):
            return
        if refusals:
            assert code in refusals, (code, refusals)
            return
        assert code is None and reply is not None and reply.status == 201, code
        if camp.price:
            self.points[who].debit(camp.price, clock.today())
        voucher = self._issued(index, who, reply.body["voucher"]["code"], camp.price)
        assert reply.body["balance"] == self._spendable(who)
        shown = reply.body["voucher"]
        assert (shown["campaign_id"], shown["status"]) == (camp.campaign_id, "issued")
        assert shown["expires_at"] == clock.iso(voucher.expires_at)
        other = next((c for c in self.campaigns if c is not camp), None)
        if other is not None:
            self._remember(
                idem,
                send,
                reply,
                scope,
                {"campaign_id": other.campaign_id},
                {},
                lambda i: vouchers.claim(msisdn, other.campaign_id, i),
            )

    @precondition(lambda self: self.campaigns)
    @rule(whos=st.lists(WHO, min_size=1, max_size=4), which=PICK, keyed=st.booleans(), faults=FAULTS)
    def grant(self, whos: list[int], which: int, keyed: bool, faults: Any) -> None:
        index = which % len(self.campaigns)
        camp = self.campaigns[index]
        msisdns = [self.subs[w] for w in whos]
        scope, params = f"marketer:mkt-1:{GRANT_PATH}", {"campaign_id": camp.campaign_id}
        idem = self._key(keyed, scope, params, {"msisdns": msisdns})

        def send(idem: Idempotency | None) -> Reply:
            return vouchers.grant(camp.campaign_id, msisdns, idem)

        reply, code, seen = self._call("grant" + (" keyed" if keyed else ""), lambda: self._send(idem, send), faults)
        if self._gave_up(code, seen):
            return
        if not self._open(camp):
            assert code == "CAMPAIGN_NOT_ACTIVE", code
            return
        assert code is None and reply is not None and reply.status == 200, code
        results = reply.body["results"]
        assert [r["msisdn"] for r in results] == msisdns
        outcome: dict[int, dict[str, Any]] = {}
        for w, result in zip(whos, results, strict=True):
            assert outcome.setdefault(w, result) == result, "one answer per subscriber"
        done = {} if keyed else self.granted.setdefault((camp.campaign_id, tuple(msisdns)), {})
        wanting, issued, refused, unavailable = 0, [], [], 0
        for w, result in outcome.items():
            if w in done and self.now <= done[w][1] + KEEP:
                # the same grant again: answered from the subscriber's dedupe record
                assert result == {"msisdn": self.subs[w], "status": "issued", "code": done[w][0]}, result
                continue
            under_limit = self.claims[(index, w)] < camp.limit
            wanting += under_limit
            if result["status"] == "issued":
                issued.append((w, result["code"]))
            elif self._gave_up(result["status"], seen):
                unavailable += 1  # this subscriber's transaction gave up: nothing issued to it
            else:
                refused.append((under_limit, result["status"]))
        # the subscribers are served concurrently: who gets the last vouchers is not known
        served = min(camp.remaining, wanting)
        assert served - unavailable <= len(issued) <= served, (issued, camp.remaining, wanting, unavailable)
        sold_out = camp.remaining == len(issued)
        for under_limit, status in refused:
            allowed = ({"SOLD_OUT"} if sold_out else set()) | (set() if under_limit else {"LIMIT_REACHED"})
            assert status in allowed, (status, allowed)
        for w, shown in issued:
            self._issued(index, w, shown, 0)
            if not keyed:
                done[w] = (shown, self.now)
        changed = msisdns[:-1] if len(msisdns) > 1 else [*msisdns, msisdns[0]]
        self._remember(
            idem,
            send,
            reply,
            scope,
            params,
            {"msisdns": changed},
            lambda i: vouchers.grant(camp.campaign_id, changed, i),
        )

    # -- partners ------------------------------------------------------------------

    @precondition(lambda self: self.vouchers)
    @rule(
        pick=PICK,
        right=RIGHT,
        keyed=st.booleans(),
        form=st.sampled_from(["display", "compact", "lower"]),
        faults=FAULTS,
    )
    def redeem(self, pick: int, right: bool, keyed: bool, form: str, faults: Any) -> None:
        # redeemable vouchers first, then the others
        pool = sorted(range(len(self.vouchers)), key=lambda n: self._effective(self.vouchers[n]) != "issued")
        n = pool[pick % len(pool)]
        voucher = self.vouchers[n]
        owner = self.campaigns[voucher.campaign].partner
        if right:
            partner_id = self.partners[owner]
        else:
            partner_id = self.partners[1 - owner] if len(self.partners) == 2 else UNKNOWN_PARTNER
        raw = {
            "display": codes.display(voucher.code),
            "compact": voucher.code,
            "lower": codes.display(voucher.code).lower().replace("-", " "),
        }[form]
        order_ref = f"o-{uuid.uuid4().hex[:10]}"
        body = {"code": raw, "order_ref": order_ref, "store_id": "s-1"}
        scope = f"partner:{partner_id}:{REDEEM_PATH}"
        idem = self._key(keyed, scope, {}, body)

        def send(idem: Idempotency | None) -> Reply:
            return redemptions.redeem(partner_id, raw, order_ref, "s-1", idem)

        reply, code, seen = self._call(
            "redeem" if right else "redeem wrong partner", lambda: self._send(idem, send), faults
        )
        if self._gave_up(code, seen):
            return
        if not right:
            assert code == "NOT_FOUND", code  # and nothing changed: the invariants compare with the model
            return
        expected = {"issued": None, "redeemed": "ALREADY_REDEEMED", "expired": "VOUCHER_EXPIRED"}
        assert code == expected[self._effective(voucher)], (code, self._effective(voucher))
        if code is not None:
            return
        assert reply is not None and reply.status == 201
        assert reply.body["code"] == codes.display(voucher.code) and reply.body["order_ref"] == order_ref
        assert reply.body["redeemed_at"] == clock.iso(self.now)
        redemption_id = reply.body["redemption_id"]
        self.redemptions.append(Rdm(redemption_id, n, owner, self.now))
        voucher.status, voucher.redemption = "redeemed", redemption_id
        self._remember(
            idem,
            send,
            reply,
            scope,
            {},
            {**body, "order_ref": order_ref + "-b"},
            lambda i: redemptions.redeem(partner_id, raw, order_ref + "-b", "s-1", i),
        )

    @precondition(lambda self: self.redemptions)
    @rule(pick=PICK, right=RIGHT, keyed=st.booleans(), faults=FAULTS)
    def reverse(self, pick: int, right: bool, keyed: bool, faults: Any) -> None:
        # open redemptions first, then the reversed ones
        pool = sorted(self.redemptions, key=lambda r: r.reversed)
        redemption = pool[pick % len(pool)]
        voucher = self.vouchers[redemption.voucher]
        if right:
            partner_id = self.partners[redemption.partner]
        else:
            partner_id = self.partners[1 - redemption.partner] if len(self.partners) == 2 else UNKNOWN_PARTNER
        rid = redemption.redemption_id
        scope = f"partner:{partner_id}:{REVERSE_PATH}"
        idem = self._key(keyed, scope, {"redemption_id": rid}, None)

        def send(idem: Idempotency | None) -> Reply:
            return redemptions.reverse(partner_id, rid, idem)

        reply, code, seen = self._call(
            "reverse" if right else "reverse wrong partner", lambda: self._send(idem, send), faults
        )
        if self._gave_up(code, seen):
            return
        if not right:
            assert code == "NOT_FOUND", code
            return
        if redemption.reversed or self.now > redemption.redeemed_at + REVERSAL_WINDOW:
            assert code == "INVALID_STATE", code
            return
        assert code is None and reply is not None and reply.status == 200, code
        status = "expired" if voucher.expires_at <= self.now else "issued"
        assert reply.body == {"redemption_id": rid, "reversed_at": clock.iso(self.now), "voucher_status": status}
        assert voucher.status == "redeemed" and voucher.redemption == rid
        redemption.reversed = True
        voucher.status, voucher.redemption = status, None
        other = next((r.redemption_id for r in self.redemptions if r is not redemption), "r_unknown")
        self._remember(
            idem,
            send,
            reply,
            scope,
            {"redemption_id": other},
            None,
            lambda i: redemptions.reverse(partner_id, other, i),
        )

    # -- retries, time, jobs, points, faults -----------------------------------------

    @precondition(lambda self: any(self.now <= k.at + KEEP for k in self.keyed))
    @rule(pick=PICK, same=st.sampled_from([True, True, False]), faults=FAULTS)
    def replay(self, pick: int, same: bool, faults: Any) -> None:
        """The same key and payload within 24 hours: the original answer; the same key with
        another payload: 422 IDEMPOTENCY_KEY_REUSED; nothing changed either way."""
        live = [k for k in self.keyed if self.now <= k.at + KEEP]
        keyed = live[pick % len(live)]
        idem, send = (keyed.idem, keyed.send) if same else keyed.other()
        reply, code, seen = self._call("replay" if same else "key reused", lambda: self._send(idem, send), faults)
        if self._gave_up(code, seen):
            return
        if same:
            assert code is None and reply == keyed.reply, (code, reply, keyed.reply)
        else:
            assert code == "IDEMPOTENCY_KEY_REUSED", (code, reply)

    @rule(
        step=st.one_of(
            st.sampled_from([timedelta(hours=1), timedelta(hours=12), KEEP, REVERSAL_WINDOW]),
            st.integers(2, 20).map(lambda days: timedelta(days=days)),
        )
    )
    def advance_clock(self, step: timedelta) -> None:
        self.now += step

    @rule(
        # the daily job as it runs today, or on one of the 7 days after a voucher's expiry
        # (clock steps alone seldom land in that window)
        after=st.one_of(st.none(), st.tuples(PICK, st.integers(1, 7))),
        faults=FAULTS,
    )
    def run_voucher_expiry(self, after: tuple[int, int] | None, faults: Any) -> None:
        ahead = [v for v in self.vouchers if v.expires_at > self.now]
        if after is not None and ahead:
            voucher = ahead[after[0] % len(ahead)]
            expiry_day = clock.local_date(voucher.expires_at) + timedelta(days=after[1])
            self.now = max(self.now, datetime.combine(expiry_day, time(1), ZONE).astimezone(UTC))
        today = clock.today()
        due = [v for v in self.vouchers if v.due and 1 <= (today - clock.local_date(v.expires_at)).days <= 7]
        expiring = [v for v in due if v.status == "issued"]
        expired, unknown = 0, False
        for attempt in range(3):
            with self.faults.during(faults if attempt == 0 else ()) as seen:
                try:
                    result = vouchers.expire_vouchers()
                except Exception:
                    # gave up on a fault that outlasted the retries: the next run (the next
                    # day's) does what is left, and the invariants see every voucher's status
                    if not seen.may_give_up:
                        raise
                    unknown = True  # what the interrupted run expired is not reported
                    continue
            expired += result["vouchers"]
            if not result["failed"]:
                break
            # a partition or voucher left on an injected fault is left for the next run
            assert seen.may_give_up and result["failed"] <= sum(seen.fired.values()), (result, dict(seen.fired))
        else:
            raise AssertionError(f"voucher expiry still failing: {result}")
        # redeemed (or reversed after expiry) vouchers keep their key and are skipped by every run
        assert result["skipped"] == len(due) - len(expiring), result
        assert expired <= len(expiring) if unknown else expired == len(expiring), (expired, result)
        for v in expiring:
            v.status, v.due = "expired", False

    @rule(
        who=WHO,
        amount=st.integers(0, 600_000),
        service=st.sampled_from(["mobile", "data"]),
        days_back=st.integers(0, 40),
        keyed=st.booleans(),
        faults=FAULTS,
    )
    def spend(self, who: int, amount: int, service: str, days_back: int, keyed: bool, faults: Any) -> None:
        msisdn, model = self.subs[who], self.points[who]
        event_id = f"ev-{uuid.uuid4().hex[:12]}"
        occurred = self.now - timedelta(days=days_back)
        scope = "operator:crm-1:POST /v1/spend-events"
        body = {
            "event_id": event_id,
            "msisdn": msisdn,
            "amount_vnd": amount,
            "service": service,
            "occurred_at": clock.iso(occurred),
        }
        idem = self._key(keyed, scope, {}, body)

        def send(idem: Idempotency | None) -> Reply:
            return points.accrue(event_id, msisdn, amount, service, occurred, idem)

        reply, code, seen = self._call("spend" + (" keyed" if keyed else ""), lambda: self._send(idem, send), faults)
        if self._gave_up(code, seen):
            return
        # a response lost after the commit changes nothing in the answer: 201, as the model says
        assert code is None and reply is not None and reply.status == 201, (code, reply, dict(seen.fired))
        rank, spendable = model.earn(amount, service, local(occurred), clock.today())
        expected = {
            "event_id": event_id,
            "msisdn": msisdn,
            "earned": {"rank_points": rank, "spendable_points": spendable},
            "tier": model.tier,
        }
        assert reply.body == expected, (reply.body, expected)
        self.earned[who].add(event_id)
        self._remember(
            idem,
            send,
            reply,
            scope,
            {},
            {**body, "amount_vnd": amount + 1},
            lambda i: points.accrue(event_id, msisdn, amount + 1, service, occurred, i),
        )

    # -- invariants ------------------------------------------------------------------

    @invariant()
    def books_balance(self, everything: bool = False) -> None:
        if not self.subs:
            return
        # this example's key space, read by key (the tables hold every example's items); no faults here
        keys: list[tuple[Any, Any, Any]] = [(Subscriber, m, None) for m in self.subs]
        keys += [(Campaign, c.campaign_id, None) for c in self.campaigns]
        for c in self.campaigns:
            # one shard more than the model's: an extra shard shows
            keys += [(Counter, f"stock#{c.campaign_id}#{n}", None) for n in range(c.shard_count + 1)]
            keys += [(Counter, f"claims#{c.campaign_id}#{m}", None) for m in self.subs]
        found = store.batch_get(keys)
        accounts = {k[1]: v for k, v in found.items() if k[0] is Subscriber and v is not None}
        campaign_items = {k[1]: v for k, v in found.items() if k[0] is Campaign and v is not None}
        counters = {k[1]: v for k, v in found.items() if k[0] is Counter and v is not None}
        assert sorted(accounts) == sorted(self.subs)
        # every voucher of this example's subscribers (the wallet index), every redemption of its partners
        for a in accounts.values():
            moved = self.read_at.get(a.owner_id) != int(a.seq or 0)
            if everything or moved or self.issuing:
                self.owned[a.owner_id] = {v.code for v in Voucher.by_owner.query(a.owner_id)}
            if everything or moved:
                self.ledgers[a.owner_id] = list(LedgerEntry.query(a.owner_id, consistent_read=True))
            self.read_at[a.owner_id] = int(a.seq or 0)
        if everything or self.redeeming:
            self.partner_redemptions = {
                r.redemption_id: r for p in self.partners for r in Redemption.by_partner.query(p, consistent_read=False)
            }
        self.issuing = self.redeeming = False
        codes_seen = {c for a in accounts.values() for c in self.owned[a.owner_id]}
        redeemed = dict(self.partner_redemptions)
        vouchers_found = store.batch_get([(Voucher, c, None) for c in codes_seen | {v.code for v in self.vouchers}])
        stored = {k[1]: v for k, v in vouchers_found.items() if v is not None}
        for r in self.redemptions:
            redeemed.setdefault(r.redemption_id, Redemption.get(r.redemption_id, consistent_read=True))
        ledger = {a.owner_id: self.ledgers[a.owner_id] for a in accounts.values()}
        self._check_campaigns(campaign_items, counters, stored, redeemed)
        self._check_vouchers(stored, redeemed, accounts)
        self._check_points(accounts, ledger)

    def _check_campaigns(
        self,
        items: dict[str, Campaign],
        counters: dict[str, Counter],
        stored: dict[str, Voucher],
        redeemed: dict[str, Redemption],
    ) -> None:
        assert sorted(items) == sorted(c.campaign_id for c in self.campaigns)
        for index, camp in enumerate(self.campaigns):
            cid = camp.campaign_id
            item = items[cid]
            assert (item.status, int(item.inventory), item.ends_at) == (
                camp.status,
                camp.inventory,
                clock.iso(camp.ends_at),
            )
            shards = {int(k.rpartition("#")[2]): c for k, c in counters.items() if k.startswith(f"stock#{cid}#")}
            issued = [v for v in stored.values() if v.campaign_id == cid]
            if camp.status == "draft":
                assert not shards and not issued
                continue
            assert sorted(shards) == list(range(camp.shard_count)) and int(item.shard_count) == camp.shard_count
            assert all(int(s.stock) >= 0 for s in shards.values()), "a shard below zero"
            remaining = sum(int(s.stock) for s in shards.values())
            assert len(issued) == camp.inventory - remaining <= camp.inventory, "oversold or lost stock"
            assert len(issued) == camp.issued
            reversals = [r for r in redeemed.values() if r.reversed_at and r.campaign_id == cid]
            for n, shard in shards.items():
                assert (shard.status, shard.starts_at, shard.ends_at) == (
                    camp.status,
                    clock.iso(camp.starts_at),
                    clock.iso(camp.ends_at),
                )
                assert int(shard.issued) == sum(int(v.shard) == n for v in issued)
                assert int(shard.reversed) == sum(int(r.shard) == n for r in reversals)
            for who, msisdn in enumerate(self.subs):
                mine = sum(v.msisdn == msisdn for v in issued)
                assert mine == self.claims[(index, who)] <= camp.limit, "over the per-subscriber limit"
                counter = counters.get(f"claims#{cid}#{msisdn}")
                assert (int(counter.count) if counter else 0) == mine

    def _check_vouchers(
        self, stored: dict[str, Voucher], redeemed: dict[str, Redemption], accounts: dict[str, Subscriber]
    ) -> None:
        assert sorted(stored) == sorted(v.code for v in self.vouchers)
        assert sorted(redeemed) == sorted(r.redemption_id for r in self.redemptions)
        open_by_code: dict[str, list[str]] = defaultdict(list)
        for r in redeemed.values():
            assert r.code in stored and r.partner_id == stored[r.code].partner_id
            if not r.reversed_at:
                open_by_code[r.code].append(r.redemption_id)
        for r in self.redemptions:
            assert bool(redeemed[r.redemption_id].reversed_at) == r.reversed
        for v in self.vouchers:
            item = stored[v.code]
            camp = self.campaigns[v.campaign]
            msisdn = self.subs[v.who]
            assert (item.campaign_id, item.msisdn, item.owner_id) == (
                camp.campaign_id,
                msisdn,
                accounts[msisdn].owner_id,
            )
            assert (item.status, item.expires_at, item.partner_id) == (
                v.status,
                clock.iso(v.expires_at),
                self.partners[camp.partner],
            )
            opened = open_by_code.get(v.code, [])
            assert len(opened) <= 1, "redeemed twice without a reversal"
            if item.status == "redeemed":
                assert opened == [item.redemption_id] == [v.redemption], "a redeemed voucher without its redemption"
                assert item.redeemed_campaign == camp.campaign_id
            else:
                assert not opened and item.redemption_id is None and item.redeemed_campaign is None
            assert item.expiry_due == (views.expiry_due(v.code, clock.local_date(v.expires_at)) if v.due else None)
            assert v.due or item.status == "expired"

    def _check_points(self, accounts: dict[str, Subscriber], ledger: dict[str, list[LedgerEntry]]) -> None:
        today = clock.today()
        for who, msisdn in enumerate(self.subs):
            item = accounts[msisdn]
            account = points.to_account(item)
            entries = ledger[item.owner_id]
            assert account.balance == sum(int(e.points) for e in entries) == sum(account.buckets.values())
            assert account.balance >= 0 and all(p > 0 for p in account.buckets.values())
            live = {d: p for d, p in account.buckets.items() if d >= today.isoformat()}
            model = {d.isoformat(): p for d, p in self.points[who].buckets.items() if d >= today}
            assert live == model, (live, model)
            spends = {e.entry_id: int(e.points) for e in entries if e.kind == "spend"}
            assert spends == {f"spend:{v.code}": -v.price for v in self.vouchers if v.who == who and v.price}
            assert {e.ref for e in entries if e.kind == "earn"} == self.earned[who]


VouchersMachine.TestCase.settings = machine_settings()


@pytest.mark.usefixtures("stateful_db")
@pytest.mark.parametrize("half", HALVES)
def test_voucher_invariants(half, record_property, monkeypatch):
    OUTCOMES.clear()
    VouchersMachine.fired.clear()
    run_half(VouchersMachine, monkeypatch)
    if os.environ.get("DIEM_STATEFUL_STATS"):
        print("\n".join(f"{n:6d}  {what}" for what, n in sorted(OUTCOMES.items())))
    record_property("summary", report(f"voucher machine ({half}/2)", VouchersMachine.fired, FIRING))


def _stock_checked_not_taken(campaign_id: str, shard: int, now_iso: str) -> store.Op:
    """A claim's stock condition without the decrement: the claim succeeds, the stock never moves."""
    return store.check(
        Counter,
        shard_module.stock_key(campaign_id, shard),
        condition=(Counter.stock > 0) & (Counter.status == "active"),
        label=shard_module.LABEL,
    )


@pytest.mark.usefixtures("stateful_db")
@pytest.mark.parametrize(
    ("target", "name", "broken", "seen"),
    [
        # the job answers as if it had expired the vouchers and writes nothing: the next run finds them again
        (expiry, "_expire", lambda code, now_iso: True, "vouchers"),
        (shard_module, "take_op", _stock_checked_not_taken, "stock"),
    ],
    ids=["expiry-writes-nothing", "claim-takes-no-stock"],
)
def test_model_has_teeth(target: Any, name: str, broken: Any, seen: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a defect planted in the product (and no faults) the machine fails on the invariant that sees it."""
    monkeypatch.setattr(target, name, broken)
    without_faults_deterministically(monkeypatch, VouchersMachine, examples=40)
    with pytest.raises(AssertionError) as failure:
        VouchersMachine.TestCase().runTest()
    assert seen in str(failure.value) or seen in "".join(traceback.format_tb(failure.tb)), failure.value
