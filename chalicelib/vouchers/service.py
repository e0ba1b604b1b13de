"""Voucher use cases: a subscriber's claim, a marketer's grants, the wallet,
and the daily expiry job."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib import clock, idempotency, store
from chalicelib.campaigns import rules as campaign_rules
from chalicelib.campaigns import service as campaigns
from chalicelib.errors import Conflict, DiemError
from chalicelib.idempotency import Idempotency, Reply
from chalicelib.points import service as points
from chalicelib.store import Voucher
from chalicelib.store.pages import key_names, page
from chalicelib.subscribers.msisdn import normalise_msisdn
from chalicelib.vouchers import views
from chalicelib.vouchers.expiry import expire_vouchers
from chalicelib.vouchers.issue import issue

GRANT_WORKERS = 8

__all__ = ["claim", "expire_vouchers", "grant", "wallet"]


def claim(msisdn: str, campaign_id: str, idem: Idempotency | None, *, owner_id: str | None = None) -> Reply:
    """Exchange points for a voucher: 201 `{voucher, balance}` (with `owner_id`:
    only while the number has that owner, see `issue`)."""

    def render(voucher: dict[str, Any], balance: int) -> Reply:
        shown = {k: voucher[k] for k in ("code", "campaign_id", "status", "expires_at", "title")}
        return Reply(201, {"voucher": shown, "balance": balance})

    return issue(msisdn, campaign_id, free=False, source="claim", render=render, idem=idem, owner_id=owner_id)


def _grant_identity(base: str, msisdn: str, campaign_id: str) -> Idempotency:
    """A grant's own dedupe key: the same request (by Idempotency-Key, or by its
    content without one) never issues twice to the same subscriber."""
    return Idempotency(
        record_id=hashlib.sha256(f"grant\x1f{base}\x1f{msisdn}".encode()).hexdigest(),
        payload_hash=hashlib.sha256(f"{campaign_id}\x1f{msisdn}".encode()).hexdigest(),
    )


# a row's outcome that sending the same grant again may change
RETRYABLE = frozenset({"SERVICE_UNAVAILABLE", "IDEMPOTENCY_IN_PROGRESS"})


def grant(campaign_id: str, msisdns: list[str], idem: Idempotency | None) -> Reply:
    """Free vouchers to up to 1,000 subscribers, each its own transaction,
    each reported: `{msisdn, status: "issued" | <error code>, code?}`."""
    if idem is not None:
        # a grant is up to 1,000 transactions: one read of its record spares a replay all of them
        stored = idempotency.replay(idem)
        if stored is not None:
            return stored
    item = campaigns.load(campaign_id)
    if not campaign_rules.claimable(item.status, item.starts_at, item.ends_at, clock.iso(clock.now())):
        raise Conflict("This campaign is not open now.", "CAMPAIGN_NOT_ACTIVE")
    base = idem.record_id if idem else hashlib.sha256(json.dumps([campaign_id, msisdns]).encode()).hexdigest()
    normalised: list[str | None] = []
    for raw in msisdns:
        try:
            normalised.append(normalise_msisdn(raw))
        except DiemError:
            normalised.append(None)

    def one(msisdn: str) -> dict[str, Any]:
        def render(voucher: dict[str, Any], balance: int) -> Reply:
            return Reply(200, {"msisdn": msisdn, "status": "issued", "code": voucher["code"]})

        try:
            g = _grant_identity(base, msisdn, campaign_id)
            reply = issue(msisdn, campaign_id, free=True, source="grant", render=render, idem=g)
            return reply.body
        except DiemError as exc:
            return {"msisdn": msisdn, "status": exc.code}

    unique = list(dict.fromkeys(m for m in normalised if m))
    with ThreadPoolExecutor(max_workers=min(GRANT_WORKERS, max(len(unique), 1))) as pool:
        outcome = dict(zip(unique, pool.map(one, unique), strict=True))
    results = [
        outcome[m] if m else {"msisdn": raw, "status": "VALIDATION_ERROR"}
        for raw, m in zip(msisdns, normalised, strict=True)
    ]
    reply = Reply(200, {"results": results})
    if idem is None or any(r["status"] in RETRYABLE for r in results):
        # a row that may succeed when sent again is not frozen into the answer for 24 h: the
        # same key sends again, each issued row replays its own record, the others try anew
        return reply
    # the whole answer, kept for a replay with the same key (the kernel writes the record)
    return store.run(lambda _: store.Plan((), reply), idem)


def wallet(msisdn: str, limit: int, cursor: str | None) -> dict[str, Any]:
    """The current owner's vouchers, newest first."""
    owner_id = points.load(msisdn).owner_id
    now_iso = clock.iso(clock.now())
    keys = page(
        lambda **kw: Voucher.by_owner.query(owner_id, scan_index_forward=False, **kw),
        limit,
        cursor,
        {"owner_id": owner_id},
        lambda v: v.code,
        keys=key_names(Voucher, "by-owner"),
    )
    found = store.batch_get([(Voucher, code, None) for code in keys["items"]])
    vouchers = [found[(Voucher, code, None)] for code in keys["items"]]
    return {
        "items": [views.wallet_item(v, now_iso) for v in vouchers if v is not None],
        "next_cursor": keys["next_cursor"],
    }
