"""DynamoDB's typed attribute values (`{"S": "x"}`, `{"N": "5"}`, ...) as plain
Python values, for the old and new images of a stream record. Numbers come
back as `int` when whole (every number diem stores is), else `Decimal`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def value(typed: dict[str, Any]) -> Any:
    ((kind, raw),) = typed.items()
    if kind == "S":
        return raw
    if kind == "N":
        number = Decimal(raw)
        return int(number) if number == number.to_integral_value() else number
    if kind == "BOOL":
        return bool(raw)
    if kind == "NULL":
        return None
    if kind == "M":
        return {name: value(item) for name, item in raw.items()}
    if kind == "L":
        return [value(item) for item in raw]
    if kind == "SS":
        return set(raw)
    if kind == "NS":
        return {value({"N": n}) for n in raw}
    if kind in ("B", "BS"):
        return raw
    raise ValueError(f"unknown attribute type {kind!r}")


def image(typed: dict[str, Any] | None) -> dict[str, Any] | None:
    """A whole item image, or None for none."""
    if typed is None:
        return None
    return {name: value(item) for name, item in typed.items()}
