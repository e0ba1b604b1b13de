"""GSM 03.38: the 7-bit default alphabet every handset shows, and Vietnamese
written without diacritics in it (DOMAIN.md "Channels and notifications").

`fold` turns any text (a marketer's campaign name, a voucher title) into the
basic character set: diacritics dropped (`Điểm thưởng` -> `Diem thuong`),
typographic punctuation made plain, the extension table's characters (which
cost two septets and some handsets drop) replaced, anything else `?`. After
folding, one character is one septet.

What is not folded, because it must be shown exactly, is a voucher code: its
Crockford check symbol may be `~`, which is in the alphabet's extension table
(two septets: ESC, then 0x3D). So sizes are counted in septets (`septets`),
and `is_gsm` admits the extension table. Pure; no I/O.
"""

from __future__ import annotations

import unicodedata

# the default alphabet's basic set (3GPP TS 23.038 6.2.1) without ESC (0x1B),
# which introduces the extension table
BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# the extension table (3GPP TS 23.038 6.2.1.1), reached by ESC: two septets each
# (the form feed left out: nothing here pages a screen by it)
EXTENSION = frozenset("^{}\\[~]|\u20ac")
# one SMS segment, and one segment of a concatenated message (the header takes 7 septets)
SEGMENT = 160
CONCATENATED_SEGMENT = 153

# what a character outside the basic set becomes (after diacritics are dropped)
_PLAIN = {
    "\u0111": "d",  # đ
    "\u0110": "D",  # Đ
    "\u2018": "'",
    "\u2019": "'",
    "`": "'",
    "\u00b4": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2026": "...",
    "[": "(",
    "]": ")",
    "{": "(",
    "}": ")",
    "\\": "/",
    "|": "/",
    "~": "-",
    "^": "",
    "\u20ac": "EUR",
    "\u20ab": "d",
    "\t": " ",
    "\r": "",
    "\u00a0": " ",
}


def fold(text: str) -> str:
    """`text` in the GSM basic set: Vietnamese without diacritics, one septet a character."""
    out: list[str] = []
    for char in unicodedata.normalize("NFD", text):
        if unicodedata.combining(char):
            continue  # the diacritic of the letter before it
        if char in _PLAIN:
            out.append(_PLAIN[char])
        elif char in BASIC:
            out.append(char)
        elif char.isspace():
            out.append(" ")
        else:
            out.append("?")
    return "".join(out)


def fold_line(text: str) -> str:
    """`fold`, on one line: a line break in the text (a campaign name) becomes a space."""
    return fold(text).replace("\n", " ")


def is_gsm(text: str) -> bool:
    """Every character is in the default alphabet (its basic set or extension table)."""
    return all(char in BASIC or char in EXTENSION for char in text)


def septets(text: str) -> int:
    """The length of `text` on the air: one septet a basic character, two an extension one."""
    return sum(2 if char in EXTENSION else 1 for char in text)


def segments(text: str) -> int:
    """SMS segments a GSM `text` takes (0 when empty; a two-septet character
    is not split across segments in this count's favour: an upper bound)."""
    length = septets(text)
    if not length:
        return 0
    if length <= SEGMENT:
        return 1
    return -(-length // CONCATENATED_SEGMENT)


def clip(text: str, width: int) -> str:
    """`text` cut to at most `width` characters, with `..` where it was cut."""
    if len(text) <= width:
        return text
    return text[: max(width - 2, 0)].rstrip() + ".." if width >= 3 else text[:width]


def keyword(text: str) -> str:
    """An inbound message as a keyword: folded, upper case, spaces collapsed
    (`  điểm ` -> `DIEM`)."""
    return " ".join(fold(text).upper().split())
