"""Phone numbers normalised as the API does (`84` + 9 digits), written again here:
the command line is a client of the API and imports none of its code.
tests/cli/test_cli_units.py checks that both agree."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-.()]")
# ASCII digits only, as the API: `\d` would take full-width or other scripts' digits
_NATIONAL = re.compile(r"0([0-9]{9})")
_INTERNATIONAL = re.compile(r"\+?84([0-9]{9})")
MAX_LENGTH = 32


def normalise(raw: str) -> str | None:
    """`0961234567`, `+84 96 123 4567`, `84-961-234-567` -> `84961234567`; None if it is not one."""
    if len(raw) > MAX_LENGTH:
        return None
    compact = _SEPARATORS.sub("", raw.strip())
    match = _NATIONAL.fullmatch(compact) or _INTERNATIONAL.fullmatch(compact)
    if not match or match.group(1)[0] == "0":
        return None
    return "84" + match.group(1)
