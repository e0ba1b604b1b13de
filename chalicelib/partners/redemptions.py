"""A partner's side of vouchers: look-up, redemption, reversal, settlement list.

A partner sees only vouchers of its own campaigns: any other code, or one that
does not parse or fails its check symbol, is simply not found, and counts
toward the enumeration defence (`guard`).

Redeem is one TransactWriteItems and no read: the voucher update carries every
check as its condition (issued, this partner's, not expired) and copies
`campaign_id` into the sparse `redeemed_campaign` index key; when it fails,
the old item returned by the cancellation says why.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from chalicelib import clock, store
from chalicelib.campaigns import shards
from chalicelib.config import rules
from chalicelib.errors import Conflict, DiemError, NotFound, ValidationError
from chalicelib.idempotency import Idempotency, Reply
from chalicelib.partners import guard
from chalicelib.store import Redemption, Subscriber, Voucher
from chalicelib.store.pages import key_names, page
from chalicelib.vouchers import codes, views

VOUCHER = "voucher"
REDEMPTION = "redemption"
HOLDER = "holder"


def _code(partner_id: str, raw: str) -> str:
    guard.check(partner_id)
    code = codes.parse(raw)
    if code is None:
        guard.unknown(partner_id)
    return code


def lookup(partner_id: str, raw_code: str) -> dict[str, Any]:
    """`{code, status, title, value_vnd?, percent_off?, expires_at}` of the partner's own voucher."""
    code = _code(partner_id, raw_code)
    try:
        item = Voucher.get(code, consistent_read=True)
    except Voucher.DoesNotExist:
        guard.unknown(partner_id)
    if item.partner_id != partner_id:
        guard.unknown(partner_id)
    return views.partner_view(item, clock.iso(clock.now()))


def _redemption_body(item: Redemption) -> dict[str, Any]:
    return {
        "redemption_id": item.redemption_id,
        "code": codes.display(item.code),
        "order_ref": item.order_ref,
        "redeemed_at": item.redeemed_at,
        "store_id": item.store_id,
        "reversed_at": item.reversed_at,
    }


def redeem(partner_id: str, raw_code: str, order_ref: str, store_id: str | None, idem: Idempotency | None) -> Reply:
    """issued -> redeemed: 201 `{redemption_id, code, order_ref, redeemed_at, store_id}`.
    One TransactWriteItems and no read: every check is the voucher's condition."""
    code = _code(partner_id, raw_code)
    redemption_id = "rd_" + secrets.token_hex(12)  # one per request: its retries meet it

    def decide(_: store.Fresh) -> store.Plan:
        now_iso = clock.iso(clock.now())
        redemption = Redemption(
            redemption_id,
            partner_id=partner_id,
            code=code,
            order_ref=order_ref,
            store_id=store_id,
            redeemed_at=now_iso,
        )
        ops = [
            store.update(
                Voucher,
                code,
                actions=[
                    Voucher.status.set("redeemed"),
                    Voucher.redemption_id.set(redemption_id),
                    Voucher.redeemed_at.set(now_iso),
                    Voucher.redeemed_campaign.set(Voucher.campaign_id),
                ],
                condition=(Voucher.status == "issued")
                & (Voucher.partner_id == partner_id)
                & (Voucher.expires_at > now_iso),
                label=VOUCHER,
            ),
            store.put(redemption, condition=Redemption.redemption_id.does_not_exist(), label=REDEMPTION),
        ]
        body = {k: v for k, v in _redemption_body(redemption).items() if k != "reversed_at"}
        return store.Plan(ops, Reply(201, body), {VOUCHER: lambda old: _refusal(partner_id, old, now_iso)})

    return store.run(decide, idem)


def _refusal(partner_id: str, raw: dict[str, Any] | None, now_iso: str) -> DiemError:
    """Why the voucher could not be redeemed, from its item as it was."""
    old = Voucher.from_raw_data(raw) if raw else None
    if old is None or old.partner_id != partner_id:
        try:
            guard.unknown(partner_id)
        except DiemError as refusal:
            return refusal
    assert old is not None
    status = views.effective_status(old.status, old.expires_at, now_iso)
    if status == "redeemed":
        return Conflict("This voucher has already been redeemed.", "ALREADY_REDEEMED")
    if status == "expired":
        return Conflict("This voucher has expired.", "VOUCHER_EXPIRED")
    return Conflict(f"This voucher is {status} and cannot be redeemed.", "VOUCHER_NOT_REDEEMABLE")


def reverse(partner_id: str, redemption_id: str, idem: Idempotency | None) -> Reply:
    """redeemed -> issued again (or expired, if past its expiry), within 30 days,
    by the partner that redeemed: 200 `{redemption_id, reversed_at, voucher_status}`."""

    def decide(_: store.Fresh) -> store.Plan:
        try:
            redemption = Redemption.get(redemption_id, consistent_read=True) if len(redemption_id) <= 64 else None
        except Redemption.DoesNotExist:
            redemption = None
        if redemption is None or redemption.partner_id != partner_id:
            raise NotFound("No such redemption.")
        if redemption.reversed_at:
            raise Conflict("This redemption has already been reversed.", "INVALID_STATE")
        now = clock.now()
        now_iso = clock.iso(now)
        window = timedelta(days=rules().reversal_window_days)
        if clock.parse_iso(redemption.redeemed_at) + window < now:
            raise Conflict(f"Redemptions can be reversed within {window.days} days only.", "INVALID_STATE")
        voucher = Voucher.get(redemption.code, consistent_read=True)
        # never issued again to nobody: a recycled number's old owner is gone. The
        # holder is checked in the transaction (no read): a failed check means gone
        status = "expired" if voucher.expires_at <= now_iso else "issued"
        status = "cancelled" if holder_gone else status
        actions: list[Any] = [
            Voucher.status.set(status),
            Voucher.redemption_id.remove(),
            Voucher.redeemed_at.remove(),
            Voucher.redeemed_campaign.remove(),
        ]
        ops = [
            store.update(
                Voucher,
                voucher.code,
                actions=actions,
                condition=(Voucher.status == "redeemed") & (Voucher.redemption_id == redemption_id),
                label=VOUCHER,
            ),
            store.update(
                Redemption,
                redemption_id,
                actions=[
                    Redemption.reversed_at.set(now_iso),
                    Redemption.campaign_id.set(voucher.campaign_id),
                    Redemption.shard.set(voucher.shard),
                ],
                condition=(Redemption.partner_id == partner_id) & Redemption.reversed_at.does_not_exist(),
                label=REDEMPTION,
            ),
            shards.reversed_op(voucher.campaign_id, int(voucher.shard), clock.local_date(now)),
        ]
        if not holder_gone:
            holder = Subscriber.owner_id == voucher.owner_id
            ops.append(store.check(Subscriber, voucher.msisdn, condition=holder, label=HOLDER))
        body = {"redemption_id": redemption_id, "reversed_at": now_iso, "voucher_status": status}
        # reversed or changed meanwhile: decided again from a fresh read
        return store.Plan(ops, Reply(200, body), {HOLDER: gone})

    holder_gone = False

    def gone(old: dict[str, Any] | None) -> None:
        nonlocal holder_gone
        holder_gone = True  # decided again: the voucher is cancelled, not issued to nobody

    return store.run(decide, idem)


def _bound(text: str | None, end: bool) -> str | None:
    """An ISO timestamp, or a date meaning that local day (from its start; `to` through its end)."""
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text) + timedelta(days=1 if end else 0)
            return clock.iso(datetime.combine(day, time(), rules().zone))
        return clock.iso(clock.parse_iso(text))
    except (ValueError, OverflowError):
        raise ValidationError("from and to must be dates (YYYY-MM-DD) or ISO 8601 timestamps with a zone.") from None


def list_redemptions(
    partner_id: str, start: str | None, end: str | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """The partner's own redemptions from `start` (inclusive) to `end` (exclusive), oldest first."""
    low = _bound(start, end=False) or clock.iso(datetime(2000, 1, 1, tzinfo=UTC))
    high = _bound(end, end=True) or clock.iso(datetime(9999, 1, 1, tzinfo=UTC))
    if high <= low:
        raise ValidationError("to must be after from.")

    def query(**kw: Any) -> Any:
        return Redemption.by_partner.query(
            partner_id,
            Redemption.redeemed_at.between(low, high),
            filter_condition=Redemption.redeemed_at < high,
            **kw,
        )

    return page(
        query, limit, cursor, {"partner_id": partner_id}, _redemption_body, keys=key_names(Redemption, "by-partner")
    )
