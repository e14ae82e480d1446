"""Replay detection (optional policy; RFC 8224 §12.1, standards digest §9)."""

from __future__ import annotations

import time

from shakenkit import Policy
from shakenkit.core.replay import ReplayCache
from shakenkit.testing import make_pki

ORIG, DEST = "12155551212", "12155551213"


def test_replay_detection_is_off_by_default() -> None:
    """Without detect_replay the same PASSporT verifies twice with no replay check."""
    pki = make_pki(crl_url=None)
    v = pki.verifier()
    now = int(time.time())
    h = pki.sign(orig=ORIG, dest=DEST, iat=now)
    for _ in range(2):
        verdict = v.verify(h, orig=ORIG, dest=DEST, now=now)
        assert verdict.caller_id == "verified"
        assert all(c.name != "replay" for c in verdict.checks)


def test_replayed_passport_is_flagged_in_the_verdict() -> None:
    """RFC 8224 §12.1: a repeat within the freshness window is flagged (check + warning)."""
    pki = make_pki(crl_url=None)
    v = pki.verifier(policy=Policy(detect_replay=True))
    now = int(time.time())
    h = pki.sign(orig=ORIG, dest=DEST, iat=now)
    first = v.verify(h, orig=ORIG, dest=DEST, now=now)
    assert all(c.name != "replay" for c in first.checks) and first.caller_id == "verified"
    again = v.verify(h, orig=ORIG, dest=DEST, now=now + 5)
    assert any(c.name == "replay" and not c.ok for c in again.checks)
    assert any("replayed" in w for w in again.warnings)
    other = pki.sign(orig=ORIG, dest=DEST, iat=now)  # a new signature is not a replay
    assert all(c.name != "replay" for c in v.verify(other, orig=ORIG, dest=DEST, now=now).checks)


def test_replay_fails_with_403_by_option() -> None:
    """With replay_fails, a repeat is 403 Stale Date and likely spoofed."""
    pki = make_pki(crl_url=None)
    v = pki.verifier(policy=Policy(detect_replay=True, replay_fails=True))
    now = int(time.time())
    h = pki.sign(orig=ORIG, dest=DEST, iat=now)
    assert v.verify(h, orig=ORIG, dest=DEST, now=now).passed
    again = v.verify(h, orig=ORIG, dest=DEST, now=now + 1)
    assert again.error is not None and again.error.sip_code == 403
    assert again.error.check == "replay" and again.likely_spoofed


def test_forged_token_is_not_remembered() -> None:
    """Only valid PASSporTs are recorded: a forged copy cannot poison the cache."""
    pki, forger = make_pki(crl_url=None), make_pki(crl_url=None)
    v = pki.verifier(policy=Policy(detect_replay=True, replay_fails=True))
    now = int(time.time())
    forged = forger.sign(orig=ORIG, dest=DEST, iat=now, x5u=pki.x5u)
    assert v.verify(forged, orig=ORIG, dest=DEST, now=now).error.check == "signature"  # type: ignore[union-attr]
    good = pki.sign(orig=ORIG, dest=DEST, iat=now)
    assert v.verify(good, orig=ORIG, dest=DEST, now=now).passed


def test_replay_cache_forgets_after_the_window_and_stays_bounded() -> None:
    """Entries leave after keep_until; memory never exceeds max_entries."""
    cache = ReplayCache(max_entries=100)
    assert not cache.seen(b"a", now=0, keep_until=60)
    assert cache.seen(b"a", now=30, keep_until=90)
    assert not cache.seen(b"a", now=61, keep_until=121)  # window passed: new entry
    for i in range(1000):
        cache.seen(i.to_bytes(4, "big"), now=100, keep_until=200)
    assert len(cache) == 100
