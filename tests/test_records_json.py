"""traceback's VerdictRecord writes and reads the verdict's parts as pydantic does (issue 18
point 16): the same JSON as ``Verdict.model_dump(mode="json")``, validated on the way back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shakenkit import Verdict
from shakenkit.testing import TestPKI, make_pki, rcd_claims
from shakenkit.traceback import VerdictRecord
from tests.conftest import DEST, NOW, ORIG

PARTS = ("error", "signer", "diversion", "rcd")


def _verdicts(_session_pki: TestPKI) -> list[Verdict]:
    pki = make_pki(not_before=NOW - 86_400, not_after=NOW + 300 * 86_400)  # carrier() adds
    b = pki.carrier(spc="456B", x5u="https://cr.b.example/456B.pem")
    v = pki.verifier()
    shaken = pki.sign(orig=ORIG, dest=DEST, iat=NOW,
                      extra_claims=rcd_claims(nam="Q Branch", jcd=[["vcard", []]]))
    div = b.sign_div(orig=ORIG, div=DEST, dest="+12155550000", iat=NOW)
    return [
        v.verify(shaken, orig=ORIG, dest=DEST, now=NOW),  # passed, signer, rcd
        v.verify([shaken, div], orig=ORIG, dest="+12155550000", now=NOW),  # a div link
        v.verify(shaken, orig="+12025550100", dest=DEST, now=NOW),  # an error
        v.verify(None, now=NOW),  # nothing
    ]


def test_record_parts_are_the_verdicts_own_json(pki: TestPKI) -> None:
    verdicts = _verdicts(pki)
    assert [v.diverted for v in verdicts] == [False, True, False, False]
    assert verdicts[0].rcd is not None and verdicts[2].error is not None
    for verdict in verdicts:
        rec = VerdictRecord.of(verdict, verified_at=NOW)
        d = rec.to_dict()
        want = verdict.model_dump(mode="json")
        for part in PARTS:
            assert d[part] == want[part], part
        back = VerdictRecord.from_dict(json.loads(json.dumps(d)))
        assert back == rec


@pytest.mark.parametrize(
    ("part", "value"),
    [
        ("error", {"sip_code": "not a code"}),
        ("signer", ["not", "a", "signer"]),
        ("diversion", [{"header": 0}]),
        ("rcd", {"integrity": "maybe"}),
    ],
)
def test_a_malformed_part_is_a_value_error(pki: TestPKI, part: str, value: Any) -> None:
    """Reading back a hand-edited verdicts.jsonl line: a part that is not what to_dict writes
    is refused with ValueError, not silently filled with defaults."""
    d = VerdictRecord.of(_verdicts(pki)[1], verified_at=NOW).to_dict()
    d[part] = value
    with pytest.raises(ValueError):
        VerdictRecord.from_dict(d)
