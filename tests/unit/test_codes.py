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
