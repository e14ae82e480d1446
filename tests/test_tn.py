"""Telephone-number canonicalization (RFC 8224 §8.3; standards digest §1.6, §10 items 2 and 21)."""

from __future__ import annotations

import pytest

from shakenkit import canonicalize_tn
from shakenkit.core.tn import tn_equal


def _digits(zero: int, ascii_digits: str) -> str:
    """``ascii_digits`` written with the Unicode digits whose zero is code point ``zero``."""
    return "".join(chr(zero + int(d)) for d in ascii_digits)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+12155551212", "12155551212"),
        ("+1 (215) 555-1212", "12155551212"),
        ("1.215.555.1212", "12155551212"),
        ("+1-215-555-1212", "12155551212"),
        (" +1 215 555 1212\t", "12155551212"),
        ("[215] 555-1212", "12155551212"),
    ],
)
def test_plus_and_visual_separators_dropped(value, expected):
    """RFC 8224 §8.3 step 2 (digest §1.6): drop the leading ``+`` and the visual separators
    ``-`` ``.`` ``(`` ``)`` and whitespace."""
    assert canonicalize_tn(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "tel:+1-215-555-1212",
        "TEL:+12155551212",
        "sip:+12155551212@example.com",
        "sips:+12155551212@example.com:5061",
        "<sip:+12155551212@ims.example.com>",
        "<tel:+1-215-555-1212>",
        "sip:+1-215-555-1212@example.com;transport=udp",
    ],
)
def test_tel_and_sip_uri_forms(value):
    """RFC 8224 §8.3 step 1, RFC 3966 (digest §1.6): the TN is taken from a ``tel:`` URI or the
    user part of a ``sip:``/``sips:`` URI (host part, port and angle brackets ignored)."""
    assert canonicalize_tn(value) == "12155551212"


@pytest.mark.parametrize(
    "value",
    [
        "sip:+12155551212@example.com;user=phone",
        "<sip:+12155551212@example.com;user=phone>",
        "sip:+12155551212;verstat=TN-Validation-Passed@ims.example.com;user=phone",
        "tel:+12155551212;verstat=TN-Validation-Passed",
        "tel:+12155551212;npdi;rn=+12155550000",
    ],
)
def test_user_phone_and_uri_parameters_ignored(value):
    """RFC 8224 §8.3 step 1, digest §1.6: ``;user=phone`` marks a TN; URI parameters
    (``verstat``, ``npdi``, ``rn``) are ignored when extracting it."""
    assert canonicalize_tn(value) == "12155551212"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("tel:5551212;phone-context=+1215", "5551212"),
        ("tel:+12155551212;phone-context=example.com", "12155551212"),
        ("tel:7042;phone-context=example.com", "7042"),
    ],
)
def test_phone_context_ignored(value, expected):
    """Digest §1.6 and §10 item 21: ``phone-context`` is ignored; it is never used to expand a
    local number (local numbers cannot be canonicalized reliably)."""
    assert canonicalize_tn(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2155551212", "12155551212"),
        ("(215) 555-1212", "12155551212"),
        ("tel:215-555-1212", "12155551212"),
        ("12155551212", "12155551212"),
        ("0155551212", "0155551212"),  # NANP area codes never start with 0 or 1
        ("1155551212", "1155551212"),
        ("+44 20 7946 0000", "442079460000"),
        ("5551212", "5551212"),
    ],
)
def test_nanp_ten_digits_get_country_code(value, expected):
    """RFC 8224 §8.3 step 3, digest §10 item 2: NANP practice, a bare 10-digit number gets
    the country code 1 prepended; other lengths and international numbers are left alone."""
    assert canonicalize_tn(value) == expected


def test_nanp_prefix_can_be_disabled():
    """RFC 8224 §8.3 step 3: the E.164 conversion is local policy (``nanp=False``)."""
    assert canonicalize_tn("2155551212", nanp=False) == "2155551212"
    assert canonicalize_tn("+1 215 555 1212", nanp=False) == "12155551212"


@pytest.mark.parametrize(
    "value",
    [
        _digits(0x0660, "12155551212"),  # ARABIC-INDIC: str.isdigit() is True, not TN digits
        _digits(0xFF10, "12155551212"),  # FULLWIDTH
        _digits(0x06F0, "12155551212"),  # EXTENDED ARABIC-INDIC
        "1215555" + _digits(0x0966, "1212"),  # mixed with DEVANAGARI
        "\u00b2\u00b9\u2075\u2075\u2075\u2075\u00b9\u00b2\u00b9\u00b2",  # superscripts
    ],
)
def test_non_ascii_digits_are_not_tns(value):
    """RFC 8224 §8.3 step 2 (digest §1.6): the result is an ASCII string of ``0-9#*`` only;
    Unicode digits are not TN digits, so the value is not a TN."""
    assert canonicalize_tn(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("*67", "*67"), ("#31#2155551212", "#31#2155551212"), ("1215555*1212#", "1215555*1212#")],
)
def test_hash_and_star_kept(value, expected):
    """RFC 8224 §8.3 step 2 (digest §1.6): ``#`` and ``*`` are TN characters and are kept (a
    number holding them is not a 10-digit NANP number, so no ``1`` is added)."""
    assert canonicalize_tn(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "+",
        "#*",
        "abc",
        "1-800-FLOWERS",
        "sip:alice@example.com",
        "anonymous",
        "1" * 33,
        "+1 215 555 1212" + " -" * 150,  # over the 256-character input limit
        None,
        12155551212,
        b"12155551212",
        ["12155551212"],
        {"tn": "12155551212"},
    ],
    ids=repr,
)
def test_not_a_tn_returns_none(value):
    """RFC 8224 §8.3 step 5 (digest §1.6): a value that is not a complete TN gives None (and
    non-text never raises)."""
    assert canonicalize_tn(value) is None


def test_tn_equal_compares_canonical_forms():
    """Digest §10 item 2: compare the canonical forms of both sides, never the raw strings."""
    assert tn_equal("+1 (215) 555-1212", "sip:2155551212@example.com;user=phone")
    assert tn_equal("tel:+12155551212", "12155551212")
    assert not tn_equal("+12155551212", "+12155551213")
    assert not tn_equal("abc", "abc")  # not TNs: never "equal"
