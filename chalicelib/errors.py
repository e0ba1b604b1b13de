"""Domain errors. Each carries the API error code and HTTP status of API.md;
raising one means nothing was changed."""

from __future__ import annotations


class DiemError(Exception):
    status = 400
    code = "VALIDATION_ERROR"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class ValidationError(DiemError):
    status = 400
    code = "VALIDATION_ERROR"


class Unauthenticated(DiemError):
    status = 401
    code = "UNAUTHENTICATED"


class Forbidden(DiemError):
    status = 403
    code = "FORBIDDEN"


class NotEligible(DiemError):
    status = 403
    code = "NOT_ELIGIBLE"


class NotFound(DiemError):
    status = 404
    code = "NOT_FOUND"

    def __init__(self, message: str = "No such object.") -> None:
        super().__init__(message)


class Conflict(DiemError):
    """409 with one of the business codes (SOLD_OUT, INSUFFICIENT_POINTS, ...)."""

    status = 409
    code = "INVALID_STATE"


class IdempotencyKeyReused(DiemError):
    status = 422
    code = "IDEMPOTENCY_KEY_REUSED"


class TooManyAttempts(DiemError):
    status = 429
    code = "TOO_MANY_ATTEMPTS"


class Unavailable(DiemError):
    """A retryable condition (contention on one item, throttling) outlasted the
    kernel's retries: 503 with `Retry-After`; the same request may be sent again."""

    status = 503
    code = "SERVICE_UNAVAILABLE"
    retry_after_seconds = 1
