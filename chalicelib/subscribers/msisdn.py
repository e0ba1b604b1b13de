"""Phone numbers, stored normalised as `84` + 9 digits."""

from __future__ import annotations

import re
from urllib.parse import unquote

from chalicelib.errors import ValidationError

_SEPARATORS = re.compile(r"[\s\-.()]")
_NATIONAL = re.compile(r"^0(\d{9})$")
_INTERNATIONAL = re.compile(r"^\+?84(\d{9})$")


def normalise_msisdn(raw: str) -> str:
    """`0961234567`, `+84 96 123 4567`, `84-961-234-567` -> `84961234567`; else 400."""
    if not isinstance(raw, str) or len(raw) > 32:
        raise ValidationError("msisdn must be a Vietnamese phone number such as 0961234567.")
    compact = _SEPARATORS.sub("", raw.strip())
    match = _NATIONAL.match(compact) or _INTERNATIONAL.match(compact)
    if not match or match.group(1)[0] == "0":
        raise ValidationError("msisdn must be a Vietnamese phone number such as 0961234567.")
    return "84" + match.group(1)


def msisdn_from_path(raw: str) -> str:
    """A path parameter (URL-encoded, e.g. `%2B84...`) as a normalised MSISDN."""
    return normalise_msisdn(unquote(raw))
