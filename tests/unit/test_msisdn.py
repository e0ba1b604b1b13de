"""MSISDN normalisation (DOMAIN.md "Time, money, identity"): `84` + 9 digits;
`0961234567`, `+84 96 123 4567`, `84-961-234-567` are read; anything else is a 400."""

import pytest

from chalicelib.errors import ValidationError
from chalicelib.subscribers import msisdn_from_path, normalise_msisdn

STORED = "84961234567"


@pytest.mark.parametrize(
    "raw",
    [
        "0961234567",  # national: trunk 0 + 9 digits
        "+84 96 123 4567",  # international with spaces
        "84-961-234-567",  # international without + and with hyphens
        "+84961234567",
        "84961234567",  # already normalised
        "096 123 4567",
        "  0961234567  ",  # surrounding blanks
        "\t+84-96-123-4567\n",
    ],
)
def test_the_accepted_forms_normalise_to_84_and_nine_digits(raw):
    assert normalise_msisdn(raw) == STORED


def test_normalising_is_idempotent_and_keeps_the_nine_digits():
    assert normalise_msisdn(normalise_msisdn("0971112233")) == "84971112233"
    assert normalise_msisdn("0912345678") == "84912345678"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "096123456",  # national with 8 digits
        "09612345678",  # national with 10 digits
        "8496123456",  # 84 + 8 digits
        "849612345678",  # 84 + 10 digits
        "+84 096 123 4567",  # the trunk 0 kept after +84: 10 digits
        "961234567",  # no prefix at all
        "+0961234567",  # + before a national number
        "++84961234567",
        "+85961234567",  # another country
        "0084961234567",  # 00 international prefix is not one of the forms
        "0012345678",  # after the trunk 0 the number cannot start with 0 again
        "84012345678",  # nor after 84
        "+84012345678",
        "84 96 123 456a",
        "096123456O",  # a letter O, not a zero
        "+84961234567+",
        "84961234567#",
    ],
)
def test_anything_else_is_a_400(raw):
    with pytest.raises(ValidationError) as caught:
        normalise_msisdn(raw)
    assert caught.value.status == 400


@pytest.mark.parametrize("raw", [None, 84961234567, 961234567.0, b"0961234567", ["0961234567"]])
def test_a_non_string_is_a_400(raw):
    with pytest.raises(ValidationError):
        normalise_msisdn(raw)


def test_an_overlong_input_is_a_400_even_if_it_holds_a_number():
    with pytest.raises(ValidationError):
        normalise_msisdn("0961234567" + " " * 100)


# -- only ASCII digits are digits: any other script's digits would otherwise be
# read as a separate ("shadow") subscriber that no billing event ever reaches --


def digits(zero: int, ascii_digits: str) -> str:
    """`ascii_digits` written in the decimal digits of the script whose zero is U+`zero`."""
    return "".join(chr(zero + int(d)) if d.isdigit() else d for d in ascii_digits)


FULL_WIDTH = 0xFF10
ARABIC_INDIC = 0x0660
EXTENDED_ARABIC_INDIC = 0x06F0
DEVANAGARI = 0x0966
BENGALI = 0x09E6
SUPERSCRIPTS = str.maketrans("0123456789", "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


def test_the_digits_helper_writes_each_digit_of_the_script():
    assert digits(FULL_WIDTH, "09") == "\uff10\uff19"
    assert digits(ARABIC_INDIC, "+5 ") == "+\u0665 "
    # superscripts are not decimal digits (`\d` never took them) but str.isdigit() does
    assert all(c.isdigit() and not c.isdecimal() for c in "0123456789".translate(SUPERSCRIPTS))


@pytest.mark.parametrize(
    "raw",
    [
        digits(FULL_WIDTH, "0961234567"),
        "84" + digits(FULL_WIDTH, "971234567"),  # full-width after an ASCII 84
        "84" + digits(FULL_WIDTH, "9") + "61234567",  # a single full-width digit
        "+84 " + digits(FULL_WIDTH, "96 123 4567"),
        "096123456" + digits(FULL_WIDTH, "7"),  # only the last digit
        digits(FULL_WIDTH, "0") + "961234567",  # a full-width trunk 0
        digits(FULL_WIDTH, "84") + "961234567",  # a full-width country code
        digits(ARABIC_INDIC, "0961234567"),
        "84" + digits(ARABIC_INDIC, "961234567"),
        "0" + digits(ARABIC_INDIC, "961234567"),
        "84" + digits(EXTENDED_ARABIC_INDIC, "961234567"),
        digits(DEVANAGARI, "0961234567"),
        "+84 " + digits(DEVANAGARI, "961234567"),
        "84" + digits(BENGALI, "961234567"),
        "0961234567".translate(SUPERSCRIPTS),  # str.isdigit() holds for superscripts too
        "84" + "961234567".translate(SUPERSCRIPTS),
        "0" + "961234567".translate(SUPERSCRIPTS),
    ],
)
def test_only_ascii_digits_are_digits(raw):
    with pytest.raises(ValidationError) as caught:
        normalise_msisdn(raw)
    assert caught.value.status == 400


def test_path_parameters_are_url_decoded_then_normalised():
    assert msisdn_from_path("%2B84961234567") == STORED
    assert msisdn_from_path("%2B84%20961%20234%20567") == STORED
    assert msisdn_from_path("0961234567") == STORED
    with pytest.raises(ValidationError):
        msisdn_from_path("%2B84961234567%23")


def test_url_encoded_non_ascii_digits_in_a_path_are_a_400():
    # 84 then a full-width nine (U+FF19, UTF-8 EF BC 99) then eight ASCII digits
    with pytest.raises(ValidationError):
        msisdn_from_path("84%EF%BC%9961234567")
    # Arabic-Indic zero (U+0660, UTF-8 D9 A0) as the trunk prefix
    with pytest.raises(ValidationError):
        msisdn_from_path("%D9%A0961234567")
