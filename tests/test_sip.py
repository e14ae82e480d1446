"""shakenkit.sip: SIP request parsing (RFC 3261), number extraction (RFC 8224 §8.3, ATIS-1000074),
framing (RFC 3261 §18.3), and Verifier.verify_sip / averify_sip."""

from __future__ import annotations

import contextlib
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shakenkit import ShakenError, Verdict, Verifier
from shakenkit.core.verifier import Policy
from shakenkit.sip import (
    SipFramer,
    SipParseError,
    addr_uri,
    datagram_message,
    is_invite,
    parse_sip,
    uri_tn,
)
from shakenkit.testing import TestPKI, make_pki, sign_identity
from tests.conftest import DEST_TN, NOW, ORIG_TN, ORIGID, X5U


def invite(
    *identity: str,
    frm: str = '"Alice" <sip:+12155551212@sp.example.com;user=phone>;tag=1',
    to: str = "<sip:+12155551213@cr.example.net;user=phone>",
    pai: str | None = None,
    ruri: str = "sip:+12155551213@cr.example.net;user=phone",
    date: str | None = "Thu, 01 Jan 2026 00:00:00 GMT",
    extra: tuple[str, ...] = (),
    eol: str = "\r\n",
    body: str = "",
) -> str:
    """An INVITE with the given headers (RFC 3261 §8.1.1)."""
    lines = [
        f"INVITE {ruri} SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1",
        "Max-Forwards: 70",
        f"From: {frm}",
        f"To: {to}",
        "Call-ID: c1@sp.example.com",
        "CSeq: 1 INVITE",
    ]
    if pai is not None:
        lines.append(f"P-Asserted-Identity: {pai}")
    if date is not None:
        lines.append(f"Date: {date}")
    lines += [f"Identity: {h}" for h in identity]
    lines += list(extra)
    lines += [f"Content-Length: {len(body.encode())}", "", body]
    return eol.join(lines)


# -- request line, headers ----------------------------------------------------------------------


def test_request_line_and_request_uri() -> None:
    """RFC 3261 §7.1: Method SP Request-URI SP SIP-Version."""
    m = parse_sip(invite())
    assert m.method == "INVITE"
    assert m.request_uri == "sip:+12155551213@cr.example.net;user=phone"
    assert m.call_id == "c1@sp.example.com"


def test_header_names_are_case_insensitive_and_compact_forms_expand() -> None:
    """RFC 3261 §7.3.1/§7.3.3: names in any case; f, t, i, y, l, v compact forms."""
    text = (
        "INVITE sip:+12155551213@h SIP/2.0\r\n"
        "v: SIP/2.0/UDP h;branch=z9hG4bK\r\n"
        "f: <sip:+12155551212@h>;tag=a\r\n"
        "t: <tel:+1-215-555-1213>\r\n"
        "i: abc@h\r\n"
        "CALL-ID: ignored@h\r\n"
        "y: tok;info=<https://x/y>\r\n"
        "IDENTITY: tok2;info=<https://x/z>\r\n"
        "l: 0\r\n\r\n"
    )
    m = parse_sip(text)
    assert m.call_id == "abc@h"
    assert m.identity == ("tok;info=<https://x/y>", "tok2;info=<https://x/z>")
    assert m.header("Content-Length") == "0" and m.header("l") == "0"
    assert m.header_values("CALL-ID") == ["abc@h", "ignored@h"]
    assert m.calling_tn == ORIG_TN and m.called_tn == DEST_TN


def test_identity_headers_are_one_value_each_never_split_on_commas() -> None:
    """Standards digest §1.1: each Identity header line is one value; a comma (e.g. inside an
    info URI) does not split it. A line with comma-separated values is passed through as is."""
    a = "aaa.bbb.ccc;info=<https://cr.example/a,b.pem>;ppt=shaken"
    b = "ddd.eee.fff;info=<https://cr.example/c.pem>, ggg.hhh.iii;info=<https://cr.example/d.pem>"
    m = parse_sip(invite(a, b))
    assert m.identity == (a, b)


def test_folded_identity_header_is_unfolded() -> None:
    """RFC 3261 §7.3.1: a line starting with whitespace continues the previous header; a fold
    inside the PASSporT token (wrapped long headers) is joined without a space."""
    token = "eyJhbGciOiJFUzI1NiJ9.eyJhdHRlc3QiOiJBIn0.c2ln"
    text = invite(
        extra=(
            f"Identity: {token[:20]}",
            f"  {token[20:]}",
            "\t;info=<https://x/y>",
            "   ;ppt=shaken",
        )
    )
    m = parse_sip(text)
    assert m.identity == (f"{token};info=<https://x/y> ;ppt=shaken",)


def test_lf_line_endings_and_leading_blank_lines_are_accepted() -> None:
    """RFC 3261 §7.5: CRLFs before the start line are ignored; bare LF endings are tolerated."""
    m = parse_sip("\r\n\n" + invite(eol="\n"))
    assert m.method == "INVITE" and m.calling_tn == ORIG_TN


def test_body_is_kept_as_bytes() -> None:
    m = parse_sip(invite(body="v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"))
    assert m.body.startswith(b"v=0\r\n")


def test_bytes_input_with_invalid_utf8_in_a_display_name() -> None:
    data = invite(frm='"Al\xefce" <sip:+12155551212@h>').encode("latin-1")
    assert parse_sip(data).calling_tn == ORIG_TN


# -- numbers (RFC 8224 §8.3; ATIS-1000074) -------------------------------------------------------


def test_pai_is_preferred_over_from_for_the_calling_number() -> None:
    """ATIS-1000074 / standards digest §1.3, §5.1: orig comes from PAI when present."""
    m = parse_sip(invite(frm="<sip:+12155559999@h>;tag=1", pai="<sip:+12155551212@h;user=phone>"))
    assert (m.calling_tn, m.calling_from) == (ORIG_TN, "P-Asserted-Identity")


def test_anonymous_from_with_pai() -> None:
    """Standards digest §10 item 19: From anonymous, PAI carries the TN."""
    m = parse_sip(
        invite(frm='"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1', pai="<tel:+12155551212>")
    )
    assert m.calling_tn == ORIG_TN


def test_from_is_used_without_pai_and_when_pai_holds_no_number() -> None:
    m = parse_sip(invite())
    assert (m.calling_tn, m.calling_from) == (ORIG_TN, "From")
    m = parse_sip(invite(pai="<sip:alice@example.com>"))
    assert (m.calling_tn, m.calling_from) == (ORIG_TN, "From")


def test_pai_with_sip_and_tel_values() -> None:
    """RFC 3325: PAI may hold a sip and a tel URI, comma-separated (display names may hold
    commas)."""
    m = parse_sip(invite(pai='"Doe, Jane" <sip:jane@example.com>, <tel:+1-215-555-1212>'))
    assert m.pai_uris == ("sip:jane@example.com", "tel:+1-215-555-1212")
    assert m.calling_tn == ORIG_TN


def test_called_number_from_to_else_request_uri() -> None:
    """Standards digest §10 item 20: To first, the Request-URI as fallback."""
    m = parse_sip(invite())
    assert (m.called_tn, m.called_from) == (DEST_TN, "To")
    m = parse_sip(invite(to="<sip:bob@example.net>", ruri="sip:+1-215-555-1213@h;user=phone"))
    assert (m.called_tn, m.called_from) == (DEST_TN, "Request-URI")


@pytest.mark.parametrize(
    ("uri", "tn"),
    [
        ("tel:+1-215-555-1212", ORIG_TN),
        ("tel:+1.215.555.1212;phone-context=example.com", ORIG_TN),
        ("sip:+12155551212@example.com;user=phone", ORIG_TN),
        ("sip:+1(215)555-1212@example.com;user=phone", ORIG_TN),
        ("sip:2155551212@example.com", ORIG_TN),
        ("sips:12155551212@example.com:5061", ORIG_TN),
        ("sip:+12155551212;npdi;rn=+12155550000@example.com;user=phone", ORIG_TN),
        ("sip:%2B12155551212@example.com", ORIG_TN),
        ("sip:+442079460000@example.co.uk", "442079460000"),
        ("sip:alice@example.com", None),
        ("sip:anonymous@anonymous.invalid", None),
        ("sip:192.0.2.1", None),
        ("mailto:x@example.com", None),
        ("urn:service:sos", None),
    ],
)
def test_uri_tn(uri: str, tn: str | None) -> None:
    """RFC 8224 §8.3 step 1: a tel URI, or a sip URI whose user part is a number."""
    assert uri_tn(uri) == tn


@pytest.mark.parametrize(
    ("value", "uri"),
    [
        ('"Alice" <sip:+12155551212@h;user=phone>;tag=1', "sip:+12155551212@h;user=phone"),
        ('"a <b>" <sip:x@h>', "sip:x@h"),
        ("sip:+12155551212@h;tag=1", "sip:+12155551212@h"),
        ("<tel:+12155551212>", "tel:+12155551212"),
        ("Anonymous", None),
    ],
)
def test_addr_uri(value: str, uri: str | None) -> None:
    """RFC 3261 §20.10: name-addr in <...>, else addr-spec up to the header parameters."""
    assert addr_uri(value) == uri


def test_date_header_to_unix_seconds() -> None:
    """RFC 3261 §20.17: an RFC 1123 date in GMT."""
    assert parse_sip(invite()).date == NOW
    assert parse_sip(invite(date="Thu, 1 Jan 2026 00:00:05 +0000")).date == NOW + 5
    assert parse_sip(invite(date="yesterday")).date is None
    assert parse_sip(invite(date=None)).date is None


def test_diversion_and_history_info() -> None:
    """RFC 5806 Diversion and RFC 7044 History-Info values are kept (list headers)."""
    m = parse_sip(
        invite(
            extra=(
                "Diversion: <sip:+12155550000@h>;reason=unconditional, <tel:+12155550001>",
                'History-Info: <sip:+12155550000@h>;index=1, "x,y" <sip:+12155551213@h>;index=1.1',
            )
        )
    )
    assert m.diversion == ("<sip:+12155550000@h>;reason=unconditional", "<tel:+12155550001>")
    assert len(m.history_info) == 2


# -- malformed messages ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("garbage\r\n\r\n", 1, "request line"),
        ("SIP/2.0 200 OK\r\nFrom: <sip:a@b>\r\nTo: <sip:c@d>\r\n\r\n", 1, "response"),
        ("INVITE sip:x@h SIP/3.0\r\n\r\n", 1, "version"),
        ("INVITE nourihere SIP/2.0\r\n\r\n", 1, "absolute URI"),
        ("INVITE sip:x@h SIP/2.0\r\nFrom: <sip:a@b>\r\nbroken header\r\n\r\n", 3, "colon"),
        ("INVITE sip:x@h SIP/2.0\r\n continued\r\n\r\n", 2, "continuation"),
        ("INVITE sip:x@h SIP/2.0\r\nBad Name: x\r\n\r\n", 2, "header name"),
        ("INVITE sip:x@h SIP/2.0\r\nTo: <sip:c@d>\r\n\r\n", 1, "From"),
        ("INVITE sip:x@h SIP/2.0\r\nFrom: <sip:c@d>\r\n\r\n", 1, "To"),
        (
            "\r\n\r\nINVITE sip:x@h SIP/2.0\r\nFrom: <sip:a@b>\r\nTo: <sip:c@d>\r\nl: ten\r\n\r\n",
            6,
            "Content-Length",
        ),
    ],
)
def test_malformed_messages_raise_sip_parse_error_naming_the_line(
    text: str, line: int, words: str
) -> None:
    """A clear typed error (SipParseError, a ShakenError with 438) with the line number."""
    with pytest.raises(SipParseError) as ei:
        parse_sip(text)
    e = ei.value
    assert isinstance(e, ShakenError)
    assert e.sip_code == 438 and e.check == "sip_message"
    assert e.line == line
    assert e.detail.startswith(f"line {line}: ")
    assert words.lower() in e.detail.lower()


def test_empty_and_non_text_input() -> None:
    for bad in ("", b"\r\n\r\n"):
        with pytest.raises(SipParseError, match="empty"):
            parse_sip(bad)
    with pytest.raises(SipParseError):
        parse_sip(12345)  # type: ignore[arg-type]


def test_size_and_header_count_are_bounded() -> None:
    """Bounded input: max_bytes (64 KiB default) and max_headers."""
    big = invite(body="x" * 70_000)
    with pytest.raises(SipParseError, match="65536-byte limit"):
        parse_sip(big)
    assert parse_sip(big, max_bytes=100_000).method == "INVITE"
    many = invite(extra=tuple(f"X-H{i}: v" for i in range(300)))
    with pytest.raises(SipParseError, match="more than 256 header fields"):
        parse_sip(many)
    with pytest.raises(SipParseError, match="more than 5 header fields"):
        parse_sip(invite(), max_headers=5)


# -- framing (RFC 3261 §18.3) --------------------------------------------------------------------


def test_framer_splits_messages_by_content_length() -> None:
    a = invite(body="v=0\r\n").encode()
    b = b"SIP/2.0 100 Trying\r\nContent-Length: 0\r\n\r\n"
    f = SipFramer()
    assert f.feed(b"\r\n\r\n" + a + b + a[:50]) == [a, b]
    assert f.pending == 50
    assert f.feed(a[50:]) == [a]
    assert f.pending == 0


def test_framer_resynchronizes_on_the_next_start_line_and_flushes_partial_bodies() -> None:
    a = invite(body="v=0\r\n" * 10).encode()
    f = SipFramer()
    assert f.feed(b"tail of an earlier message\r\nmore\r\n" + a) == [a]
    assert f.feed(a[:-5]) == []
    assert f.flush() == [a[:-5]]  # headers complete: kept for verification
    assert f.feed(a[:30]) == [] and f.flush() == []


def test_framer_drops_oversized_messages() -> None:
    f = SipFramer(max_bytes=500)
    big = invite(body="x" * 1000).encode()
    small = invite().encode()
    assert f.feed(big + small) == [small]
    assert f.dropped == 1


def test_datagram_message_and_is_invite() -> None:
    a = invite().encode()
    assert datagram_message(b"\r\n" + a + b"trailing padding") == a
    assert datagram_message(b"\r\n\r\n") is None
    assert datagram_message(b"\x80\x00" + bytes(100)) is None
    assert is_invite(a) and not is_invite(b"BYE sip:x@h SIP/2.0\r\n\r\n")


# -- property tests ------------------------------------------------------------------------------

_VALID = invite("aaa.bbb.ccc;info=<https://x/y>", pai="<tel:+12155551212>", body="v=0\r\n")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=2000), st.binary(max_size=2000)))
def test_parse_sip_raises_only_sip_parse_error_on_arbitrary_input(data: str | bytes) -> None:
    """Property: any input either parses or raises SipParseError, nothing else."""
    with contextlib.suppress(SipParseError):
        parse_sip(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, len(_VALID)), st.integers(0, 40), st.text(max_size=30)),
        max_size=6,
    )
)
def test_parse_sip_raises_only_sip_parse_error_on_mutated_invites(
    edits: list[tuple[int, int, str]],
) -> None:
    """Property: random edits of a valid INVITE parse or raise SipParseError."""
    text = _VALID
    for pos, cut, ins in edits:
        text = text[:pos] + ins + text[pos + cut :]
    try:
        m = parse_sip(text)
    except SipParseError:
        return
    assert isinstance(m.identity, tuple)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_framer_never_raises_and_stays_bounded(chunks: list[bytes]) -> None:
    f = SipFramer(max_bytes=1000)
    for c in chunks:
        for m in f.feed(c):
            assert len(m) <= 1000
        assert f.pending <= 1000 + len(c)
    f.flush()


def test_parse_time_is_bounded_on_hostile_input() -> None:
    """Linear time: 64 KiB of pathological input parses (or fails) in well under a second."""
    hostile = [
        "INVITE sip:x@h SIP/2.0\r\n" + "a" * 65_000,
        "INVITE sip:x@h SIP/2.0\r\nFrom: " + '"' * 65_000,
        "INVITE sip:x@h SIP/2.0\r\nFrom: <sip:a@b>\r\nTo: <sip:c@d>\r\nP-Asserted-Identity: "
        + "<" * 64_000,
        "INVITE sip:x@h SIP/2.0\r\n" + " x\r\n" * 12_000,
        "\r\n" * 32_000,
    ]
    for h in hostile:
        t = time.perf_counter()
        with contextlib.suppress(SipParseError):
            parse_sip(h)
        assert time.perf_counter() - t < 0.5


# -- Verifier.verify_sip -------------------------------------------------------------------------


def test_verify_sip_one_verdict_per_call_with_each_header_inside(
    verifier: Verifier, good_header: str
) -> None:
    """RFC 8224 §6.2 step 1: every header is verified, the call gets one verdict (like
    ``verify([...])``) and each header's outcome is in ``headers``."""
    v = verifier.verify_sip(invite(good_header, good_header), now=NOW)
    assert isinstance(v, Verdict)
    assert v.caller_id == "verified" and v.passed and not v.failed
    assert [(h.index, h.ppt, h.verstat) for h in v.headers] == [
        (0, "shaken", "TN-Validation-Passed"),
        (1, "shaken", "TN-Validation-Passed"),
    ]
    assert v.model_dump(exclude={"headers"}) == verifier.verify(
        [good_header, good_header], orig=ORIG_TN, dest=DEST_TN, now=NOW
    ).model_dump(exclude={"headers"})


def test_verify_sip_a_forged_header_beside_a_good_one_does_not_veto_the_call(
    verifier: Verifier, good_header: str, pki: TestPKI
) -> None:
    """Attack: an attacker adds a forged Identity header to a good call hoping to fail it
    (RFC 8224 §6.2 step 1: the call passes if one header passes). The forged one is reported
    in ``headers`` with its error."""
    forged = make_pki().sign(orig=ORIG_TN, dest=DEST_TN, iat=NOW, x5u=X5U)
    v = verifier.verify_sip(invite(forged, good_header), now=NOW)
    assert v.passed and v.caller_id == "verified"
    first, second = v.headers
    assert first.failed and first.error is not None and first.error.check == "signature"
    assert second.passed
    # Alone, the forged header fails the call.
    alone = verifier.verify_sip(invite(forged), now=NOW)
    assert alone.failed and alone.likely_spoofed
    assert [h.verstat for h in alone.headers] == ["TN-Validation-Failed"]


def test_verify_sip_numbers_come_from_the_message(verifier: Verifier, good_header: str) -> None:
    """PAI wins over From (the signed orig is 12155551212, the From number differs)."""
    ok = invite(good_header, frm="<sip:+12155559999@h>;tag=1", pai="<tel:+12155551212>")
    assert verifier.verify_sip(ok, now=NOW).caller_id == "verified"
    bad = invite(good_header, frm="<sip:+12155559999@h>;tag=1")
    v = verifier.verify_sip(bad, now=NOW)
    assert v.error is not None and (v.error.sip_code, v.error.check) == (438, "orig_tn")
    other = invite(good_header, to="<sip:+12155550000@h>", ruri="sip:+12155550000@h")
    v = verifier.verify_sip(other, now=NOW)
    assert v.error is not None and v.error.check == "dest_tn"


def test_verify_sip_non_tn_identities_are_compared_not_skipped(
    verifier: Verifier, good_header: str
) -> None:
    """A From/PAI without a number cannot match a signed TN: 438, not a skipped comparison."""
    msg = invite(good_header, frm="<sip:alice@example.com>;tag=1")
    v = verifier.verify_sip(msg, now=NOW)
    assert v.error is not None and v.error.check == "orig_tn"


def test_verify_sip_without_identity(verifier: Verifier, pki: TestPKI) -> None:
    """RFC 8224 §6.2 step 1: No-TN-Validation, or 428 with Policy(require_identity=True)."""
    v = verifier.verify_sip(invite(), now=NOW)
    assert v.verstat == "No-TN-Validation" and v.error is None and v.headers == []
    strict = pki.verifier(policy=Policy(require_identity=True))
    v = strict.verify_sip(invite(), now=NOW)
    assert v.error is not None and v.error.sip_code == 428


def test_verify_sip_malformed_message_gives_one_438_verdict(verifier: Verifier) -> None:
    """Never raises: a message that cannot be parsed is one 438 verdict ('unverified': the
    call could not be read, which is no evidence of forgery)."""
    for bad in ("garbage", b"\xff\xfe", "INVITE sip:x@h SIP/2.0\r\nTo: <sip:c@d>\r\n\r\n", None):
        v = verifier.verify_sip(bad, now=NOW)  # type: ignore[arg-type]
        assert v.verstat == "TN-Validation-Failed"
        assert v.error is not None and v.error.sip_code == 438 and v.error.check == "sip_message"
        assert v.caller_id == "unverified"


def test_verify_sip_uses_the_date_header_for_the_compact_form(pki: TestPKI) -> None:
    """RFC 8224 §4.1 / RFC 8225 §7: a compact-form PASSporT is rebuilt with iat = Date."""
    full = sign_identity(pki.leaf_key, x5u=X5U, orig=ORIG_TN, dest=DEST_TN, iat=NOW, ppt=None)
    token, params = full.split(";", 1)
    compact = ".." + token.split(".")[2] + ";" + params
    v = pki.verifier()
    ok = v.verify_sip(invite(compact), now=NOW + 10)
    assert ok.passed, ok.error
    bad = v.verify_sip(invite(compact, date="Thu, 01 Jan 2026 00:00:07 GMT"), now=NOW + 10)
    assert bad.error is not None and bad.error.sip_code == 438


def test_verify_sip_accepts_a_parsed_message_and_bytes(
    verifier: Verifier, good_header: str
) -> None:
    text = invite(good_header)
    for m in (text, text.encode(), parse_sip(text)):
        assert verifier.verify_sip(m, now=NOW).caller_id == "verified"


async def test_averify_sip_matches_verify_sip(verifier: Verifier, good_header: str) -> None:
    for msg in (invite(good_header, "x"), invite(), "garbage"):
        a = await verifier.averify_sip(msg, now=NOW)
        b = verifier.verify_sip(msg, now=NOW)
        assert a.model_dump() == b.model_dump()


def test_verify_sip_origid_and_attest_reported(verifier: Verifier, good_header: str) -> None:
    v = verifier.verify_sip(invite(good_header), now=NOW)
    assert (v.attest, v.origid) == ("A", ORIGID)
