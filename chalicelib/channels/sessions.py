"""A USSD session's state (`UssdSession`): what keeps `2*k` meaning one offer.

The first screen binds the session to the number and its current owner and
keeps what eligibility looks at (`begin`, one PutItem where no live session is); the first offers screen pins the
active campaigns as listed then (`pin_offers`, one UpdateItem that returns the
session: the offers are written only if none are pinned yet, so a repeat, a
concurrent repeat or a later page all see the first list). Later screens read
it (`read`). Each write is one conditional write of this session's own item;
none touches a balance, stock or status, so none goes through the kernel.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib import clock
from chalicelib.campaigns.rules import Profile
from chalicelib.config import rules
from chalicelib.store import UssdSession, conditional_write


@dataclass(frozen=True)
class Session:
    key: str
    msisdn: str
    owner_id: str | None
    profile: Profile | None
    # the day eligibility is judged on: the session's first day, on every screen
    on: date | None
    offers: list[dict[str, Any]] | None


def key(gateway_id: str, session_id: str) -> str:
    return hashlib.sha256(f"ussd\x1f{gateway_id}\x1f{session_id}".encode()).hexdigest()


def profile_map(profile: Profile, on: date) -> dict[str, Any]:
    values: dict[str, Any] = {
        "tier": profile.tier,
        "tenure_months": profile.tenure_months,
        "plan": profile.plan,
        "province": profile.province,
        "birthday": profile.birthday.isoformat() if profile.birthday else None,
        "segments": sorted(profile.segments),
        "on": on.isoformat(),
    }
    return {k: v for k, v in values.items() if v not in (None, [])}


def _session(item: UssdSession) -> Session:
    raw = item.profile.as_dict() if item.profile is not None and hasattr(item.profile, "as_dict") else item.profile
    profile, on = None, None
    if raw:
        birthday = raw.get("birthday")
        profile = Profile(
            tier=str(raw["tier"]),
            tenure_months=int(raw["tenure_months"]),
            plan=str(raw["plan"]),
            province=raw.get("province"),
            birthday=date.fromisoformat(birthday) if birthday else None,
            segments=frozenset(raw.get("segments") or ()),
        )
        on = date.fromisoformat(raw["on"])
    offers = [dict(o) for o in item.offers] if item.offers is not None else None
    return Session(item.session_key, item.msisdn, item.owner_id, profile, on, offers)


def _expires(now: datetime) -> datetime:
    return now + timedelta(seconds=rules().ussd_session_seconds)


def _live(now: datetime) -> Any:
    return UssdSession.expires_at > now


def begin(
    session_key: str,
    msisdn: str,
    owner_id: str,
    profile: dict[str, Any],
    offers: list[dict[str, Any]] | None = None,
) -> Session | None:
    """Bind a new session to the number, its owner and profile (and `offers`):
    one PutItem where no live session is. None if a live one is there already
    (a repeat of the first screen keeps what the session had; one of another
    number is refused where the session is read)."""
    now = clock.now()
    item = UssdSession(
        session_key,
        msisdn=msisdn,
        owner_id=owner_id,
        profile=profile,
        offers=offers,
        created_at=clock.iso(now),
        expires_at=_expires(now),
    )
    condition = UssdSession.session_key.does_not_exist() | ~_live(now)
    return _session(item) if conditional_write(lambda: item.save(condition=condition)) else None


def pin_offers(session_key: str, msisdn: str, offers: list[dict[str, Any]]) -> Session | None:
    """Pin `offers` unless the session has some already; the session as it is
    then. None if there is no live session of this number with a profile."""
    now = clock.now()
    item = UssdSession(session_key)
    condition = UssdSession.profile.exists() & (UssdSession.msisdn == msisdn) & _live(now)
    actions: list[Any] = [UssdSession.offers.set(UssdSession.offers | offers)]
    # PynamoDB's update returns the item as it is now (ALL_NEW) and refreshes `item`
    return _session(item) if conditional_write(lambda: item.update(actions=actions, condition=condition)) else None


def read(session_key: str) -> Session | None:
    """The live session, or None."""
    try:
        item = UssdSession.get(session_key, consistent_read=True)
    except UssdSession.DoesNotExist:
        return None
    if item.expires_at is None or item.expires_at <= clock.now():
        return None
    return _session(item)
