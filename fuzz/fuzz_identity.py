#!/usr/bin/env python3
"""Atheris harness: the SIP Identity header parser (shakenkit.core.identity).

    python fuzz/fuzz_identity.py [CORPUS_DIR ...] [-max_total_time=60] [libFuzzer flags]

Property: parse_identity / parse_identity_headers either return IdentityHeader objects or raise
IdentityHeaderError (RFC 8224 §4 grammar, 436 or 438); a parsed header formats and re-parses to
the same header. Anything else is a crash. See fuzz/README.md.
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
    from shakenkit.core.identity import parse_identity, parse_identity_headers
    from shakenkit.errors import IdentityHeaderError


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 3)
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    if mode == 3:  # repeated headers, the way a SIP stack hands them over
        value: object = text.split("\n")
    elif mode == 2:
        value = text.encode("utf-8", "surrogatepass")  # bytes: refused with the parser's error
    else:
        value = text
    try:
        headers = parse_identity_headers(value)  # type: ignore[arg-type]
    except IdentityHeaderError:
        headers = []
    for h in headers:
        again = parse_identity(h.format())
        if again != h:
            raise AssertionError(f"format/parse round trip changed {h!r} into {again!r}")
    if isinstance(value, str):
        try:
            h = parse_identity(value)
        except IdentityHeaderError:
            return
        if not h.info or h.token.count(".") != 2:
            raise AssertionError(f"parsed header without info or a 3-segment token: {h!r}")


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
