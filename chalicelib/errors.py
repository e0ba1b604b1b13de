"""Domain errors and the one catalogue of API error codes.

`CATALOGUE` names every error code the API answers with, its HTTP status and
a one-line meaning (API.md "Conventions"). An error's HTTP status is derived
from its code here and nowhere else: raising `Conflict("...", "SOLD_OUT")` is
a 409 because the catalogue says so, and a code missing from the catalogue is
refused when the error is raised. The OpenAPI document's error descriptions
and its error-code enum are meant to be generated from this table too.

Raising a `DiemError` means nothing was changed.
"""

from __future__ import annotations

from typing import Any

# code -> (HTTP status, what it means)
CATALOGUE: dict[str, tuple[int, str]] = {
    "VALIDATION_ERROR": (
        400,
        "Malformed JSON, wrong types, out-of-range values, unknown fields, a bad MSISDN or a time in the future.",
    ),
    "UNAUTHENTICATED": (401, "Missing, expired, forged or over-long-lived token, or an unknown API key."),
    "FORBIDDEN": (403, "Authenticated, but this role may not call this operation."),
    "NOT_ELIGIBLE": (403, "The subscriber does not meet the campaign's eligibility rules."),
    "NOT_FOUND": (404, "No such object, or it belongs to someone else."),
    "SOLD_OUT": (409, "The campaign has no vouchers left."),
    "INSUFFICIENT_POINTS": (409, "Not enough spendable points."),
    "LIMIT_REACHED": (409, "The per-subscriber limit of this campaign is reached."),
    "CAMPAIGN_NOT_ACTIVE": (409, "The campaign is not active or outside its claim window."),
    "ALREADY_REDEEMED": (409, "The voucher has already been redeemed."),
    "VOUCHER_EXPIRED": (409, "The voucher has expired."),
    "VOUCHER_NOT_REDEEMABLE": (409, "The voucher is cancelled or otherwise not redeemable."),
    "INVALID_STATE": (409, "The object is not in a state that allows this change."),
    "IDEMPOTENCY_IN_PROGRESS": (409, "A request with this Idempotency-Key is still running; retry later."),
    "HOUSEHOLD_FULL": (409, "The household has as many members as it may have."),
    "ALREADY_IN_HOUSEHOLD": (409, "The subscriber is already in a household, or left one too recently."),
    "NOT_ALLOWED_TO_SPEND": (409, "This member may not spend from the household pool."),
    "INVITATION_EXPIRED": (409, "The household invitation has expired."),
    "IDEMPOTENCY_KEY_REUSED": (422, "The same Idempotency-Key was sent with a different request."),
    "TOO_MANY_ATTEMPTS": (429, "Too many attempts (unknown voucher codes); retry after Retry-After seconds."),
    "INTERNAL": (500, "An unexpected error, logged with the correlation id."),
    "SERVICE_UNAVAILABLE": (503, "Contention or throttling outlasted the retries; retry after Retry-After seconds."),
}

# the statuses whose answers carry a Retry-After header
RETRYABLE_STATUSES = frozenset({429, 503})


def status_of(code: str) -> int:
    """The HTTP status of an error code; a code outside the catalogue is a programming error."""
    try:
        return CATALOGUE[code][0]
    except KeyError:
        raise ValueError(f"error code {code!r} is not in chalicelib.errors.CATALOGUE") from None


def codes_for(status: int) -> list[str]:
    """The catalogue's codes answered with `status`, in catalogue order."""
    return [code for code, (s, _) in CATALOGUE.items() if s == status]


class DiemError(Exception):
    """An answer in the API's error shape. `status` follows `code` through the catalogue."""

    code: str = "VALIDATION_ERROR"
    status: int = 400
    retry_after_seconds: int | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.status = status_of(cls.code)

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.status = status_of(code)
            self.code = code


class ValidationError(DiemError):
    code = "VALIDATION_ERROR"


class Unauthenticated(DiemError):
    code = "UNAUTHENTICATED"


class Forbidden(DiemError):
    code = "FORBIDDEN"


class NotEligible(DiemError):
    code = "NOT_ELIGIBLE"


class NotFound(DiemError):
    code = "NOT_FOUND"

    def __init__(self, message: str = "No such object.") -> None:
        super().__init__(message)


class Conflict(DiemError):
    """409 with one of the business codes (SOLD_OUT, INSUFFICIENT_POINTS, ...)."""

    code = "INVALID_STATE"


class IdempotencyKeyReused(DiemError):
    code = "IDEMPOTENCY_KEY_REUSED"


class TooManyAttempts(DiemError):
    """429; the block lasts until the end of the clock hour (partners/guard.py)
    unless the raiser says how long."""

    code = "TOO_MANY_ATTEMPTS"

    def __init__(self, message: str, code: str | None = None, *, retry_after_seconds: int | None = None) -> None:
        super().__init__(message, code)
        if retry_after_seconds is None:
            from chalicelib import clock

            now = clock.now()
            retry_after_seconds = 3600 - (now.minute * 60 + now.second)
        self.retry_after_seconds = max(1, int(retry_after_seconds))


class Unavailable(DiemError):
    """A retryable condition (contention on one item, throttling) outlasted the
    kernel's retries: 503 with `Retry-After`; the same request may be sent again."""

    code = "SERVICE_UNAVAILABLE"
    retry_after_seconds = 1

    def __init__(
        self,
        message: str = "The service is busy; retry shortly.",
        code: str | None = None,
        *,
        retry_after_seconds: int = 1,
    ) -> None:
        super().__init__(message, code)
        self.retry_after_seconds = max(1, int(retry_after_seconds))
