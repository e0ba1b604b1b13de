"""Phone numbers, stored normalised as `84` + 9 digits."""

from __future__ import annotations

import re
from urllib.parse import unquote

from chalicelib.errors import ValidationError

_SEPARATORS = re.compile(r"[\s\-.()]")
# only ASCII digits are digits: `\d` would also take full-width, Arabic-Indic or
# Devanagari digits, and `84` + a full-width `9` + `71...` would become a second,
# "shadow" subscriber
_NATIONAL = re.compile(r"0([0-9]{9})")
_INTERNATIONAL = re.compile(r"\+?84([0-9]{9})")


def normalise_msisdn(raw: str) -> str:
    """`0961234567`, `+84 96 123 4567`, `84-961-234-567` -> `84961234567`; else 400."""
    if not isinstance(raw, str) or len(raw) > 32:
        raise ValidationError("msisdn must be a Vietnamese phone number such as 0961234567.")
    compact = _SEPARATORS.sub("", raw.strip())
    match = _NATIONAL.fullmatch(compact) or _INTERNATIONAL.fullmatch(compact)
    if not match or match.group(1)[0] == "0":
        raise ValidationError("msisdn must be a Vietnamese phone number such as 0961234567.")
    return "84" + match.group(1)


def msisdn_from_path(raw: str) -> str:
    """A path parameter (URL-encoded, e.g. `%2B84...`) as a normalised MSISDN."""
    return normalise_msisdn(unquote(raw))
