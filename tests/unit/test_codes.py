"""Voucher codes: format, entropy, tolerant reading, typo detection."""

import itertools
import re
import secrets

import pytest

from chalicelib.vouchers import codes

SHOWN = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}-[0-9A-HJKMNP-TV-Z*~$=U]$")


def test_round_trip_and_display_format():
    for _ in range(2_000):
        code = codes.new_code()
        shown = codes.display(code)
        assert SHOWN.match(shown), shown
        assert codes.parse(shown) == code == codes.parse(code)


def test_codes_carry_80_random_bits(monkeypatch):
    drawn = []

    def randbits(k):
        drawn.append(k)
        return secrets.SystemRandom().getrandbits(k)

    monkeypatch.setattr(codes.secrets, "randbits", randbits)
    code = codes.new_code()
    assert drawn == [80] and codes.BITS >= 80
    # 16 data symbols of 5 bits hold exactly the 80 bits drawn
    assert len(code) == 17 and len(code[:16]) * 5 == 80
    assert len({codes.new_code() for _ in range(10_000)}) == 10_000


def test_every_value_maps_to_its_own_code(monkeypatch):
    for value in (0, 1, 2**80 - 1, 0x0123456789ABCDEF0123):
        monkeypatch.setattr(codes.secrets, "randbits", lambda k, v=value: v)
        code = codes.new_code()
        assert int("".join(f"{codes.ALPHABET.index(c):05b}" for c in code[:16]), 2) == value
        assert codes.CHECK_SYMBOLS.index(code[16]) == value % 37


def test_reading_is_case_insensitive_ignores_separators_and_confusable_letters():
    code = codes.new_code()
    shown = codes.display(code)
    sloppy = [
        shown.lower(),
        code.lower(),
        shown.replace("-", " "),
        " ".join(shown.split("-")),
        shown.replace("1", "I").replace("0", "O"),
        shown.replace("1", "l").replace("0", "o"),
    ]
    for text in sloppy:
        assert codes.parse(text) == code, text


def test_every_single_symbol_typo_is_caught():
    code = codes.new_code()
    for position, symbol in itertools.product(range(16), codes.ALPHABET):
        if code[position] != symbol:
            typo = code[:position] + symbol + code[position + 1 :]
            assert codes.parse(typo) is None, typo
    for symbol in codes.CHECK_SYMBOLS:
        if symbol != code[16]:
            assert codes.parse(code[:16] + symbol) is None


def test_every_adjacent_transposition_is_caught():
    for _ in range(200):
        code = codes.new_code()
        for i in range(16):
            swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
            if swapped != code:
                assert codes.parse(swapped) is None, (code, i)


@pytest.mark.parametrize(
    "text",
    ["", "ABC", "7KQ2-M9XD-4RTW-0CZP", "7KQ2-M9XD-4RTW-0CZP-XX", "U" * 17, "#" * 17, None, 42, "A" * 100],
)
def test_malformed_input_is_not_a_code(text):
    assert codes.parse(text) is None


def _with_check(data: str) -> str:
    """`data` (16 symbols, each read by its place in the check alphabet) and its
    mod-37 check symbol, worked out independently of codes.parse."""
    value = 0
    for symbol in data:
        value = value * 32 + codes.CHECK_SYMBOLS.index(symbol)
    return data + codes.CHECK_SYMBOLS[value % 37]


@pytest.mark.parametrize("extra", ["*", "~", "$", "=", "U"])
def test_the_check_only_symbols_are_never_data(extra):
    # Crockford: *~$=U (values 32..36) may stand only in the check position; give each a
    # check symbol that would match, so only the alphabet rule can refuse it
    for position in (0, 7, 15):
        data = "7KQ2M9XD4RTW0CZP"
        candidate = _with_check(data[:position] + extra + data[position + 1 :])
        assert codes.parse(candidate) is None, candidate


def test_the_check_symbol_is_the_value_mod_37_in_crockfords_check_alphabet():
    assert codes.CHECK_SYMBOLS == "0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U"
    assert codes.parse("0" * 16 + "0") == "0" * 17
    assert codes.parse("0" * 15 + "1" + "1") == "0" * 15 + "11"
    # values 32..36 are their own remainder: each check-only symbol is some code's check
    for value, check in zip(range(32, 37), "*~$=U", strict=True):
        data = "".join(codes.ALPHABET[(value >> s) & 31] for s in range(75, -1, -5))
        assert codes.parse(data + check) == data + check
        assert codes.parse(data + check.lower()) == data + check


def test_letters_read_as_digits_only_as_crockford_says():
    code = _with_check("0000000000000001")
    assert codes.parse(code.replace("1", "i")) == code
    assert codes.parse(code.replace("1", "L")) == code
    assert codes.parse(code.replace("0", "o")) == code
    # U is not a data symbol and nothing is read as it; J is a symbol of its own (18)
    assert codes.parse(code.replace("0", "U", 1)) is None
    assert codes.parse(code[:15] + "J" + code[16]) is None
    assert codes.parse(_with_check("000000000000000J")) == "000000000000000JJ"


def test_hyphens_and_spaces_are_optional_anywhere():
    code = codes.new_code()
    assert codes.parse("-".join(code)) == code
    assert codes.parse(" ".join(code)) == code
    assert codes.parse(f"  {code[:5]} -{code[5:]}\t") == code
    assert codes.parse(codes.display(code).replace("-", "")) == code
    assert codes.display(code).count("-") == 4 and codes.display(code).replace("-", "") == code
