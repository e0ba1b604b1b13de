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

The test's own reads (the invariants, creating a campaign, the set-up) run
with the faults suspended, so an armed fault always hits a call under test;
at most two faults are pending at once. A response lost after its commit
followed by a conflict on the SDK's resend makes the product's own retry meet
its earlier commit: every operation must still answer as if nothing was lost.
DynamoDB Local's TTL sweeper (wall clock) is switched off on the example's
tables, since the machine runs its own clock.

Runs under the "ci" profile in `make test`: 200 examples x at most 20 steps,
about 80-95 s on a 2-core machine (fresh tables per example). Shrinking a
failure is slow (minutes): the seed Hypothesis prints replays it at once.
`DIEM_STATEFUL_STATS=1 pytest -s` prints how often each outcome was seen.
"""

from __future__ import annotations

import dataclasses
import math
import os
import uuid
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from machines import machine_settings, stateful_db  # noqa: F401  (a fixture)

from chalicelib import clock, config, idempotency, store
from chalicelib.campaigns import service as campaigns
from chalicelib.errors import DiemError
from chalicelib.idempotency import Idempotency, Reply
from chalicelib.partners import redemptions
from chalicelib.partners import service as partners
from chalicelib.points import rules as points_rules
from chalicelib.points import service as points
from chalicelib.store import Campaign, Counter, LedgerEntry, Redemption, Subscriber, Voucher, schema
from chalicelib.subscribers import service as subscribers
from chalicelib.vouchers import codes, views
from chalicelib.vouchers import service as vouchers
from faults import KINDS, Faults

START = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
SUBSCRIBERS = ("84901000001", "84902000002", "84903000003")
WHO = st.integers(0, len(SUBSCRIBERS) - 1)
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
Outcome = tuple[Reply | None, str | None, bool]  # reply, error code, a response was lost after a commit


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
    def __init__(self) -> None:
        super().__init__()
        self.faults = Faults()
        self.subs: list[str] = []
        self.partners: list[str] = []
        self.campaigns: list[Camp] = []
        self.vouchers: list[Vch] = []
        self.redemptions: list[Rdm] = []
        self.keyed: list[Keyed] = []
        self.buckets: dict[int, dict[str, int]] = defaultdict(dict)
        self.earned: dict[int, set[str]] = defaultdict(set)
        self.claims: Tally[tuple[int, int]] = Tally()  # (campaign, who) -> vouchers
        # grants without a key: the same request content never issues twice to a subscriber
        self.granted: dict[tuple[str, tuple[str, ...]], dict[int, tuple[str, datetime]]] = {}

    @initialize(
        partner_count=st.integers(1, 2),
        # 10,000 / 50,000 / 0 / 1,500 points to start with
        amounts=st.lists(
            st.sampled_from([200_000, 1_000_000, 0, 30_000]), min_size=len(SUBSCRIBERS), max_size=len(SUBSCRIBERS)
        ),
        first=st.fixed_dictionaries(_campaign_args()),
    )
    def fresh_tables(self, partner_count: int, amounts: list[int], first: dict[str, Any]) -> None:
        self.prefix = f"v{uuid.uuid4().hex[:8]}-"
        os.environ["DIEM_TABLE_PREFIX"] = self.prefix
        config.reset()
        store.bind()
        client = store.binding.client()
        schema.create_tables(client, self.prefix)
        # DynamoDB Local's TTL sweeper deletes by the wall clock, not by the machine's clock
        # (it would drop idempotency records that are live at `self.now`)
        for model in store.MODELS:
            if attribute := schema.ttl_attribute(model):
                spec = {"Enabled": False, "AttributeName": attribute}
                client.update_time_to_live(TableName=self.prefix + model.Meta.base_name, TimeToLiveSpecification=spec)
        self.now = START
        clock.set_now(lambda: self.now)
        self.faults.install()
        with self.faults.suspended():
            for n, msisdn in enumerate(SUBSCRIBERS):
                subscribers.put_profile(msisdn, {"activated_on": f"202{n}-01-15", "plan": "prepaid"}, None)
            self.subs = list(SUBSCRIBERS)
            self.partners = [
                partners.create_partner(f"Partner {n}", None).body["partner_id"] for n in range(partner_count)
            ]
            for who, amount in enumerate(amounts):
                if amount:
                    self.spend(who, amount, "mobile", 0)
            self.new_campaign(**{**first, "starts_in_days": -1}, launch=True)

    def teardown(self) -> None:
        self.faults.uninstall()
        clock.set_now(None)
        if getattr(self, "prefix", None):
            schema.delete_tables(store.binding.client(), self.prefix)

    # -- helpers -------------------------------------------------------------

    def _call(self, name: str, operation: Callable[[], Reply]) -> Outcome:
        before = dict(self.faults.fired)
        try:
            reply, code = operation(), None
        except DiemError as exc:
            reply, code = None, exc.code
        fired = sorted(k for k, n in self.faults.fired.items() if n > before[k])
        OUTCOMES[
            f"{name}: {code or (reply.status if reply else None)}{' after ' + '+'.join(fired) if fired else ''}"
        ] += 1
        return reply, code, "timeout_after_commit" in fired

    @staticmethod
    def _send(idem: Idempotency | None, send: Callable[[Idempotency | None], Reply]) -> Reply:
        """As the HTTP layer does: a stored reply for the key first, else the operation."""
        stored = idempotency.replay(idem)
        return stored if stored is not None else send(idem)

    @staticmethod
    def _key(keyed: bool, scope: str, params: dict[str, Any], body: Any) -> Idempotency | None:
        if not keyed:
            return None
        return idempotency.key_for(f"k-{uuid.uuid4().hex}", scope, {"params": params, "body": body})

    def _remember(self, idem: Idempotency | None, send: Callable[[Idempotency | None], Reply], reply: Reply) -> None:
        if idem is not None:
            self.keyed.append(Keyed(idem, send, reply, self.now))

    def _open(self, camp: Camp) -> bool:
        return camp.status == "active" and camp.starts_at <= self.now < camp.ends_at

    def _spendable(self, who: int) -> int:
        return points_rules.spendable_balance(self.buckets[who], clock.today())

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
    @rule(**_campaign_args(), launch=st.sampled_from([True, False]))
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
        # a fresh random key: no write can conflict with it, so faults wait for the next call
        with self.faults.suspended():
            body = campaigns.create_campaign(fields, None).body
        assert body["status"] == "draft"
        camp = Camp(
            body["campaign_id"], partner, inventory, limit, price, peak, valid_days, starts_at, fields["ends_at"]
        )
        self.campaigns.append(camp)
        if launch:
            self.transition(len(self.campaigns) - 1, "launch")

    @precondition(lambda self: self.campaigns)
    @rule(which=PICK, action=st.sampled_from(["launch", "launch", "pause", "end"]))
    def transition(self, which: int, action: str) -> None:
        camp = self.campaigns[which % len(self.campaigns)]
        target = LIFECYCLE[action].get(camp.status)
        reply, code, _ = self._call(f"{action}", lambda: campaigns.transition(camp.campaign_id, action, None))
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

    @precondition(lambda self: self.campaigns)
    @rule(which=PICK, added=st.sampled_from([1, 2, -1]), longer_days=st.sampled_from([0, 7, -1]))
    def change_campaign(self, which: int, added: int, longer_days: int) -> None:
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
        reply, code, _ = self._call(
            "change campaign", lambda: campaigns.patch(camp.campaign_id, inventory, ends_at, None)
        )
        if refusals:
            assert code in refusals, (code, refusals)
            return
        assert code is None and reply is not None and reply.status == 200, code
        assert reply.body["inventory"] == inventory and reply.body["ends_at"] == clock.iso(ends_at)
        camp.inventory, camp.ends_at = inventory, ends_at

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
    @rule(attempts=st.lists(st.tuples(WHO, PICK, st.booleans()), min_size=1, max_size=3))
    def claim(self, attempts: list[tuple[int, int, bool]]) -> None:
        """One to three claims in a row: (subscriber, campaign, with an Idempotency-Key)."""
        for who, which, keyed in attempts:
            self._claim(who, which, keyed)

    def _claim(self, who: int, which: int, keyed: bool) -> None:
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
        idem = self._key(keyed, f"subscriber:{msisdn}:{CLAIM_PATH}", {"campaign_id": camp.campaign_id}, {})

        def send(idem: Idempotency | None) -> Reply:
            return vouchers.claim(msisdn, camp.campaign_id, idem)

        reply, code, _ = self._call("claim" + (" keyed" if keyed else ""), lambda: self._send(idem, send))
        if refusals:
            assert code in refusals, (code, refusals)
            return
        assert code is None and reply is not None and reply.status == 201, code
        if camp.price:
            self.buckets[who] = points_rules.fefo_debit(self.buckets[who], camp.price, clock.today())
        voucher = self._issued(index, who, reply.body["voucher"]["code"], camp.price)
        assert reply.body["balance"] == self._spendable(who)
        shown = reply.body["voucher"]
        assert (shown["campaign_id"], shown["status"]) == (camp.campaign_id, "issued")
        assert shown["expires_at"] == clock.iso(voucher.expires_at)
        self._remember(idem, send, reply)

    @precondition(lambda self: self.campaigns)
    @rule(whos=st.lists(WHO, min_size=1, max_size=4), which=PICK, keyed=st.booleans())
    def grant(self, whos: list[int], which: int, keyed: bool) -> None:
        index = which % len(self.campaigns)
        camp = self.campaigns[index]
        msisdns = [self.subs[w] for w in whos]
        idem = self._key(keyed, f"marketer:mkt-1:{GRANT_PATH}", {"campaign_id": camp.campaign_id}, {"msisdns": msisdns})

        def send(idem: Idempotency | None) -> Reply:
            return vouchers.grant(camp.campaign_id, msisdns, idem)

        reply, code, _ = self._call("grant" + (" keyed" if keyed else ""), lambda: self._send(idem, send))
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
        wanting, issued, refused = 0, [], []
        for w, result in outcome.items():
            if w in done and self.now <= done[w][1] + KEEP:
                # the same grant again: answered from the subscriber's dedupe record
                assert result == {"msisdn": self.subs[w], "status": "issued", "code": done[w][0]}, result
                continue
            under_limit = self.claims[(index, w)] < camp.limit
            wanting += under_limit
            if result["status"] == "issued":
                issued.append((w, result["code"]))
            else:
                refused.append((under_limit, result["status"]))
        # the subscribers are served concurrently: who gets the last vouchers is not known
        assert len(issued) == min(camp.remaining, wanting), (issued, camp.remaining, wanting)
        sold_out = camp.remaining == len(issued)
        for under_limit, status in refused:
            allowed = ({"SOLD_OUT"} if sold_out else set()) | (set() if under_limit else {"LIMIT_REACHED"})
            assert status in allowed, (status, allowed)
        for w, shown in issued:
            self._issued(index, w, shown, 0)
            if not keyed:
                done[w] = (shown, self.now)
        self._remember(idem, send, reply)

    # -- partners ------------------------------------------------------------------

    @precondition(lambda self: self.vouchers)
    @rule(pick=PICK, right=RIGHT, keyed=st.booleans(), form=st.sampled_from(["display", "compact", "lower"]))
    def redeem(self, pick: int, right: bool, keyed: bool, form: str) -> None:
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
        idem = self._key(keyed, f"partner:{partner_id}:{REDEEM_PATH}", {}, body)

        def send(idem: Idempotency | None) -> Reply:
            return redemptions.redeem(partner_id, raw, order_ref, "s-1", idem)

        reply, code, _ = self._call("redeem" if right else "redeem wrong partner", lambda: self._send(idem, send))
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
        self._remember(idem, send, reply)

    @precondition(lambda self: self.redemptions)
    @rule(pick=PICK, right=RIGHT, keyed=st.booleans())
    def reverse(self, pick: int, right: bool, keyed: bool) -> None:
        # open redemptions first, then the reversed ones
        pool = sorted(self.redemptions, key=lambda r: r.reversed)
        redemption = pool[pick % len(pool)]
        voucher = self.vouchers[redemption.voucher]
        if right:
            partner_id = self.partners[redemption.partner]
        else:
            partner_id = self.partners[1 - redemption.partner] if len(self.partners) == 2 else UNKNOWN_PARTNER
        rid = redemption.redemption_id
        idem = self._key(keyed, f"partner:{partner_id}:{REVERSE_PATH}", {"redemption_id": rid}, None)

        def send(idem: Idempotency | None) -> Reply:
            return redemptions.reverse(partner_id, rid, idem)

        reply, code, _ = self._call("reverse" if right else "reverse wrong partner", lambda: self._send(idem, send))
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
        self._remember(idem, send, reply)

    # -- retries, time, jobs, points, faults -----------------------------------------

    @precondition(lambda self: any(self.now <= k.at + KEEP for k in self.keyed))
    @rule(pick=PICK)
    def replay(self, pick: int) -> None:
        """The same key and payload within 24 hours: the original answer, nothing changed."""
        live = [k for k in self.keyed if self.now <= k.at + KEEP]
        keyed = live[pick % len(live)]
        reply, code, _ = self._call("replay", lambda: self._send(keyed.idem, keyed.send))
        assert code is None and reply == keyed.reply, (code, reply, keyed.reply)

    @rule(
        step=st.one_of(
            st.sampled_from([timedelta(hours=1), timedelta(hours=12), KEEP, REVERSAL_WINDOW]),
            st.integers(2, 20).map(lambda days: timedelta(days=days)),
        )
    )
    def advance_clock(self, step: timedelta) -> None:
        self.now += step

    @rule()
    def run_voucher_expiry(self) -> None:
        today = clock.today()
        due = [v for v in self.vouchers if v.due and 1 <= (today - clock.local_date(v.expires_at)).days <= 7]
        expiring = [v for v in due if v.status == "issued"]
        result = vouchers.expire_vouchers()
        # redeemed (or reversed after expiry) vouchers keep their key and are skipped
        assert (result["vouchers"], result["skipped"]) == (len(expiring), len(due) - len(expiring)), result
        for v in expiring:
            v.status, v.due = "expired", False

    @rule(
        who=WHO,
        amount=st.integers(0, 600_000),
        service=st.sampled_from(["mobile", "data"]),
        days_back=st.integers(0, 40),
    )
    def spend(self, who: int, amount: int, service: str, days_back: int) -> None:
        event_id = f"ev-{uuid.uuid4().hex[:12]}"
        occurred = self.now - timedelta(days=days_back)
        reply, code, lost = self._call(
            "spend", lambda: points.accrue(event_id, self.subs[who], amount, service, occurred, None)
        )
        # a response lost after the commit makes our own retry look like a duplicate: 200, same body
        assert code is None and reply is not None and (reply.status == 201 or (lost and reply.status == 200)), code
        earned = reply.body["earned"]["spendable_points"]
        if earned:
            expiry = points_rules.expiry_for(service, clock.local_date(occurred))
            self.buckets[who] = points_rules.credit(self.buckets[who], earned, expiry)
        self.earned[who].add(event_id)

    @precondition(lambda self: self.faults.pending < 2)
    @rule(kind=st.sampled_from(KINDS))
    def inject_fault(self, kind: str) -> None:
        self.faults.arm(kind)

    # -- invariants ------------------------------------------------------------------

    @invariant()
    def books_balance(self) -> None:
        if not self.subs:
            return
        with self.faults.suspended():
            campaign_items = {c.campaign_id: c for c in Campaign.scan(consistent_read=True)}
            counters = {c.counter_id: c for c in Counter.scan(consistent_read=True)}
            stored = {v.code: v for v in Voucher.scan(consistent_read=True)}
            redeemed = {r.redemption_id: r for r in Redemption.scan(consistent_read=True)}
            accounts = {s.msisdn: s for s in Subscriber.scan(consistent_read=True)}
            ledger: dict[str, list[LedgerEntry]] = defaultdict(list)
            for entry in LedgerEntry.scan(consistent_read=True):
                ledger[entry.owner_id].append(entry)
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
            assert points_rules.unexpired(account.buckets, today) == points_rules.unexpired(self.buckets[who], today)
            spends = {e.entry_id: int(e.points) for e in entries if e.kind == "spend"}
            assert spends == {f"spend:{v.code}": -v.price for v in self.vouchers if v.who == who and v.price}
            assert {e.ref for e in entries if e.kind == "earn"} == self.earned[who]


VouchersMachine.TestCase.settings = machine_settings()


@pytest.mark.usefixtures("stateful_db")
def test_voucher_invariants():
    OUTCOMES.clear()
    VouchersMachine.TestCase().runTest()
    if os.environ.get("DIEM_STATEFUL_STATS"):
        print("\n".join(f"{n:6d}  {what}" for what, n in sorted(OUTCOMES.items())))
