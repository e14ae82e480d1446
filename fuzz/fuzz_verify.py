#!/usr/bin/env python3
"""Atheris harness: the whole verifier (shakenkit.Verifier.verify) against a test PKI.

    python fuzz/fuzz_verify.py [CORPUS_DIR ...] [-max_total_time=60] [libFuzzer flags]

Four input shapes, picked by the first byte:

0. an arbitrary Identity header value (text) and call numbers;
1. arbitrary JOSE header and claims BYTES, validly ES256-signed by the trusted SP key, so the
   fuzzer gets past the signature into the claim, freshness and number checks;
2. a valid signed header with fuzzer-chosen edits;
3. SHAKEN claims JSON with fuzzed values spliced in, validly signed.

Property: verify never raises, returns a JSON-serializable Verdict, and a verdict passes only
when it is consistent (no error, attest A/B/C). See fuzz/README.md.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import atheris

# Find shakenkit without importing it: it must be imported inside instrument_imports().
if importlib.util.find_spec("shakenkit") is None:  # a checkout without PYTHONPATH=src
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

with atheris.instrument_imports():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    from shakenkit import Verdict
    from shakenkit.core.passport import b64url_encode
    from shakenkit.testing import make_pki

NOW = 1_767_225_600
ORIG, DEST = "+1 215-555-1212", "tel:+1-215-555-1213"
PKI = make_pki(not_before=NOW - 30 * 86_400, not_after=NOW + 335 * 86_400, crl_url=None)
VERIFIER = PKI.verifier()
GENUINE = PKI.sign(orig=ORIG, dest=DEST, attest="A", iat=NOW)
# Substrings of crash messages for known, still-open src bugs to ignore (none at present;
# see KNOWN_BUGS in tests/test_adversarial.py). SHAKENKIT_FUZZ_KNOWN_BUGS=1 reports them too.
KNOWN: tuple[str, ...] = ()
REPORT_KNOWN = os.environ.get("SHAKENKIT_FUZZ_KNOWN_BUGS") == "1"


def _sign(header: bytes, payload: bytes) -> str:
    si = b64url_encode(header) + "." + b64url_encode(payload)
    r, s = decode_dss_signature(PKI.leaf_key.sign(si.encode(), ec.ECDSA(hashes.SHA256())))
    return si + "." + b64url_encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


CLAIMS = '{"attest":%s,"dest":%s,"iat":%s,"orig":%s,"origid":%s}'
DEFAULTS = ('"A"', '{"tn":["12155551213"]}', str(NOW), '{"tn":"12155551212"}', '"x"')
HEADER = b'{"alg":"ES256","ppt":"shaken","typ":"passport","x5u":"' + PKI.x5u.encode() + b'"}'


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 3)
    orig = ORIG if fdp.ConsumeBool() else fdp.ConsumeUnicodeNoSurrogates(24)
    dest = DEST if fdp.ConsumeBool() else fdp.ConsumeUnicodeNoSurrogates(24)
    if mode == 0:
        identity = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    elif mode == 1:
        header = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 400))
        payload = fdp.ConsumeBytes(fdp.remaining_bytes())
        identity = f"{_sign(header, payload)};info=<{PKI.x5u}>;ppt=shaken"
    elif mode == 3:
        holes = tuple(fdp.ConsumeUnicodeNoSurrogates(12) if fdp.ConsumeBool() else d
                      for d in DEFAULTS)
        payload = (CLAIMS % holes).encode("utf-8", "replace")
        identity = f"{_sign(HEADER, payload)};info=<{PKI.x5u}>;ppt=shaken"
    else:
        identity = GENUINE
        for _ in range(fdp.ConsumeIntInRange(1, 4)):
            pos = fdp.ConsumeIntInRange(0, len(identity))
            cut = fdp.ConsumeIntInRange(0, 3)
            identity = identity[:pos] + fdp.ConsumeUnicodeNoSurrogates(3) + identity[pos + cut:]
    v = VERIFIER.verify(identity, orig=orig, dest=dest, now=NOW)
    try:
        Verdict.model_validate_json(v.model_dump_json())
    except Exception as e:
        if REPORT_KNOWN or not any(k in str(e) for k in KNOWN):
            raise
    if v.passed and (v.error is not None or v.attest not in ("A", "B", "C")):
        raise AssertionError(f"inconsistent passing verdict {v!r}")
    if mode == 0 and v.passed:
        raise AssertionError(f"an unsigned header passed: {identity!r}")


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
