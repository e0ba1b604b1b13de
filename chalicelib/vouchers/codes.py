"""Voucher codes: 80 bits from the OS CSPRNG in Crockford base32, grouped for
reading off an SMS (`7KQ2-M9XD-4RTW-0CZP-X`), with Crockford's mod-37 check
symbol so a typo is caught before any lookup.

The normalised form (no hyphens, upper case, check symbol last) is the
voucher's key; `display` adds the hyphens back.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_SYMBOLS = ALPHABET + "*~$=U"
BITS = 80
DATA_LENGTH = BITS // 5  # 16 symbols of 5 bits
LENGTH = DATA_LENGTH + 1
GROUP = 4

_VALUE = {symbol: value for value, symbol in enumerate(CHECK_SYMBOLS)}
# Crockford's decoding: I and L read as 1, O as 0; hyphens and spaces are ignored
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0", "-": None, " ": None, "\t": None})


def _check(value: int) -> str:
    return CHECK_SYMBOLS[value % 37]


def new_code() -> str:
    """A fresh normalised code: 80 random bits and their check symbol."""
    value = secrets.randbits(BITS)
    data = "".join(ALPHABET[(value >> shift) & 31] for shift in range(BITS - 5, -1, -5))
    return data + _check(value)


def parse(text: object) -> str | None:
    """The normalised code `text` spells, or None if it is not a valid code
    (wrong length, a symbol outside the alphabet, or a failing check symbol)."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    compact = text.upper().translate(_READ_AS)
    if len(compact) != LENGTH:
        return None
    data, check = compact[:DATA_LENGTH], compact[DATA_LENGTH]
    value = 0
    for symbol in data:
        digit = _VALUE.get(symbol)
        if digit is None or digit > 31:
            return None
        value = value << 5 | digit
    return compact if check in _VALUE and _check(value) == check else None


def display(code: str) -> str:
    """`7KQ2M9XD4RTW0CZPX` -> `7KQ2-M9XD-4RTW-0CZP-X`."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))
