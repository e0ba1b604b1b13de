"""Time: UTC instants for the API, calendar dates in the operator's zone.

`now()` is the one clock; tests and the stateful machine move it with `set_now`.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import UTC, date, datetime

from chalicelib.config import rules

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    return _now()


def set_now(fn: Callable[[], datetime] | None) -> None:
    """Replace the clock (None restores the real one)."""
    global _now
    _now = fn or (lambda: datetime.now(UTC))


def iso(instant: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a Z, sortable as a string."""
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("timestamp needs a time zone")
    return value.astimezone(UTC)


def local_date(instant: datetime) -> date:
    """The calendar date in the operator's zone."""
    return instant.astimezone(rules().zone).date()


def today() -> date:
    return local_date(now())


def add_months(day: date, months: int) -> date:
    """Same day `months` later, clamped to the month's end (31 Jan + 1 -> 28/29 Feb)."""
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def end_of_month(day: date, months_ahead: int = 0) -> date:
    first = add_months(day.replace(day=1), months_ahead)
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def whole_months_between(start: date, end: date) -> int:
    """Whole months from `start` to `end` (tenure); 0 if `end` is before `start`."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if add_months(start, months) > end:
        months -= 1
    return max(months, 0)
