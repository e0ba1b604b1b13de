"""The authenticated caller."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as day_time

ROLES = ("subscriber", "marketer", "operator", "partner", "gateway")


@dataclass(frozen=True)
class Principal:
    role: str
    # the normalised MSISDN for subscribers, partner_id for partners, staff id otherwise
    subject: str
    # when the bearer token was issued (`iat`), None for API keys; a service reading
    # the subscriber refuses a token issued before the current owner's activation
    issued_at: datetime | None = None
    # when the bearer token expires (`exp`): a verdict cached by the gateway's
    # authorizer must not outlive its token
    expires_at: datetime | None = None
    # a channel gateway's channel ("ussd" or "sms"); None for every other principal
    channel: str | None = None

    def to_context(self) -> dict[str, str]:
        """The authorizer's context (API Gateway passes strings, numbers and booleans)."""
        context = {"role": self.role, "sub": self.subject}
        if self.issued_at is not None:
            context["iat"] = str(int(self.issued_at.timestamp()))
        if self.expires_at is not None:
            context["exp"] = str(int(self.expires_at.timestamp()))
        return context

    @classmethod
    def from_context(cls, context: Mapping[str, object] | None) -> Principal | None:
        """The principal an authorizer passed on; None if the context holds none
        or its token has expired since the verdict was cached."""
        if not context:
            return None
        role, sub = context.get("role"), context.get("sub")
        if role not in ROLES or not isinstance(role, str) or not isinstance(sub, str) or not sub:
            return None
        issued_at, expires_at = _instant(context.get("iat")), _instant(context.get("exp"))
        if expires_at is not None and expires_at.timestamp() <= time.time():
            return None
        return cls(role, sub, issued_at, expires_at)


def _instant(value: object) -> datetime | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return datetime.fromtimestamp(int(str(value)), UTC)
    except (ValueError, OverflowError, OSError):
        return None


# the caller of the request being served (set by the HTTP layer for its duration)
_acting: ContextVar[Principal | None] = ContextVar("diem_principal", default=None)


@contextmanager
def acting(principal: Principal | None) -> Iterator[None]:
    """Serve a request as `principal`."""
    token = _acting.set(principal)
    try:
        yield
    finally:
        _acting.reset(token)


def refuse_stale_token(msisdn: str, activated_on: date) -> None:
    """A subscriber token issued before the current owner activated `msisdn` (the
    number was recycled since) is refused: checked wherever the subscriber is read."""
    from chalicelib.config import rules
    from chalicelib.errors import Unauthenticated

    who = _acting.get()
    if who is None or who.role != "subscriber" or who.subject != msisdn or who.issued_at is None:
        return
    if who.issued_at < datetime.combine(activated_on, day_time(), rules().zone):
        raise Unauthenticated("This token was issued before the number's current owner activated it.")
