#!/usr/bin/env python3
"""Atheris harness: the PASSporT decoder (shakenkit.decode_passport).

    python fuzz/fuzz_passport.py [CORPUS_DIR ...] [-max_total_time=60] [libFuzzer flags]

Property: decode_passport returns a Passport or raises PassportError (438), for any text token
for tokens assembled from base64url-encoded arbitrary bytes, and for PASSporT-shaped JSON with
fuzzed values spliced in (so the JSON decoder, the duplicate-member check and the claim-shape
checks see hostile JSON). See fuzz/README.md.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import atheris

# Find shakenkit without importing it: it must be imported inside instrument_imports().
if importlib.util.find_spec("shakenkit") is None:  # a checkout without PYTHONPATH=src
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

with atheris.instrument_imports():
    from shakenkit.core.passport import Passport, b64url_encode, decode_passport
    from shakenkit.errors import PassportError


# PASSporT-shaped JSON with a hole per member: fuzzed text is spliced in raw (unescaped), so
# the result is sometimes valid JSON with hostile values, sometimes broken JSON.
HEADER = '{"alg":%s,"ppt":%s,"typ":%s,"x5u":%s}'
CLAIMS = '{"attest":%s,"dest":%s,"iat":%s,"orig":%s,"origid":%s}'
DEFAULTS = {
    "alg": '"ES256"', "ppt": '"shaken"', "typ": '"passport"', "x5u": '"https://cr.example/a"',
    "attest": '"A"', "dest": '{"tn":["12155551213"]}', "iat": "1767225600",
    "orig": '{"tn":"12155551212"}', "origid": '"123e4567-e89b-12d3-a456-426655440000"',
}


def _templated(fdp: atheris.FuzzedDataProvider) -> str:
    def hole(name: str) -> str:
        return fdp.ConsumeUnicodeNoSurrogates(16) if fdp.ConsumeBool() else DEFAULTS[name]

    header = HEADER % tuple(hole(n) for n in ("alg", "ppt", "typ", "x5u"))
    claims = CLAIMS % tuple(hole(n) for n in ("attest", "dest", "iat", "orig", "origid"))
    signature = fdp.ConsumeBytes(64)
    return ".".join(
        b64url_encode(x) for x in (header.encode(), claims.encode("utf-8", "replace"), signature)
    )


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 2)
    if mode == 0:
        token = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    elif mode == 1:
        # header JSON bytes | payload JSON bytes | signature bytes, each base64url-encoded
        header = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 512))
        payload = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 2048))
        signature = fdp.ConsumeBytes(fdp.remaining_bytes())
        token = ".".join(b64url_encode(x) for x in (header, payload, signature))
    else:
        token = _templated(fdp)
    try:
        p = decode_passport(token)
    except PassportError:
        return
    if not isinstance(p, Passport) or not isinstance(p.claims.dest_tns, tuple):
        raise AssertionError(f"unexpected decode result {p!r}")
    if p.signing_input != token.rsplit(".", 1)[0].encode("ascii"):
        raise AssertionError("signing input is not the received header.payload")


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
