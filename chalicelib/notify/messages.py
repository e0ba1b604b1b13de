"""What the SMS say (Vietnamese without diacritics: GSM 03.38, one segment
where possible) and when they may go out (pure)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from chalicelib.config import rules
from chalicelib.notify import gsm

SEGMENT = gsm.SEGMENT
TIER_NAMES = {
    "potential": "Tiem nang",
    "loyal": "Than thiet",
    "silver": "Bac",
    "gold": "Vang",
    "diamond": "Kim cuong",
}
TIER_ORDER = tuple(TIER_NAMES)
NOTIFIED_TYPES = ("voucher.issued", "points.expiring", "tier.changed")


def plain(text: str) -> str:
    """Vietnamese (or anything) without diacritics, in GSM 03.38's basic set only."""
    return gsm.fold(text)


def _day(iso_date: str) -> str:
    day = date.fromisoformat(iso_date[:10])
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


def _local_day(iso_instant: str) -> str:
    instant = datetime.fromisoformat(iso_instant.replace("Z", "+00:00")).astimezone(rules().zone)
    return _day(instant.date().isoformat())


def is_upgrade(before: str, after: str) -> bool:
    return before in TIER_ORDER and after in TIER_ORDER and TIER_ORDER.index(after) > TIER_ORDER.index(before)


def text_for(kind: str, data: dict[str, Any]) -> str | None:
    """The SMS of an event, or None if it sends none (a tier going down, another type)."""
    if kind == "voucher.issued":
        title = plain(str(data.get("title") or "uu dai"))[:40]
        expires = f", HSD {_local_day(str(data['expires_at']))}" if data.get("expires_at") else ""
        return f"Diem: Ban nhan duoc voucher {title}. Ma: {data['code']}{expires}."
    if kind == "points.expiring":
        return f"Diem: {int(data['points'])} diem cua ban se het han ngay {_day(str(data['on']))}. Doi qua ngay!"
    if kind == "tier.changed" and is_upgrade(str(data.get("from")), str(data.get("to"))):
        return f"Diem: Chuc mung! Ban da len hang {TIER_NAMES[str(data['to'])]}."
    return None


def not_before(instant: datetime) -> datetime:
    """`instant`, or the end of the quiet hours (21:00-08:00 local) it falls in."""
    start, end = rules().quiet_hours
    local = instant.astimezone(rules().zone)
    if local.hour >= start:
        return datetime.combine(local.date() + timedelta(days=1), time(end), rules().zone)
    if local.hour < end:
        return datetime.combine(local.date(), time(end), rules().zone)
    return instant
