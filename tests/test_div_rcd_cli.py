"""``shakenkit sign`` makes div and rcd PASSporTs; ``verify``, ``scan`` and ``traceback`` carry
the diversion chain and Rich Call Data (docs/cli.md, docs/traceback.md; RFC 8946, RFC 9795)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shakenkit.cli import main
from shakenkit.testing import TestPKI, make_pki
from shakenkit.traceback import Aggregator, VerdictRecord, verify_calls

NOW = 1_767_225_600
A, B, C = "+12155551212", "+12155551213", "+12155551214"
X5U_A = "https://cr.example.com/sp/123A.pem"
X5U_B = "https://cr.carrier-b.example/456B.pem"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TestPKI, TestPKI]:
    d = tmp_path_factory.mktemp("divlab")
    a = make_pki(x5u=X5U_A, not_before=NOW - 86_400, not_after=NOW + 300 * 86_400)
    b = a.carrier(spc="456B", x5u=X5U_B, organization="Carrier B")
    for name, data in {"root.pem": a.root_pem, "a.pem": a.chain_pem, "b.pem": b.chain_pem,
                       "a-key.pem": a.leaf_key_pem, "b-key.pem": b.leaf_key_pem,
                       "logo.png": b"LOGO"}.items():
        (d / name).write_bytes(data)
    return d, a, b


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def offline(d: Path) -> list[str]:
    return ["--offline", "--trust", str(d / "root.pem"), "--cert", f"{X5U_A}={d / 'a.pem'}",
            "--cert", f"{X5U_B}={d / 'b.pem'}"]


def signed(capsys: pytest.CaptureFixture[str], d: Path) -> tuple[str, str]:
    _, shaken, _ = run(capsys, "sign", "--key", str(d / "a-key.pem"), "--x5u", X5U_A, "--orig", A,
                       "--dest", B, "--iat", str(NOW), "--nam", "Q Branch", "--icn",
                       "https://brand.example/logo.png", "--rcd-content",
                       f"https://brand.example/logo.png={d / 'logo.png'}", "--crn", "pickup")
    code, div, err = run(capsys, "sign", "--key", str(d / "b-key.pem"), "--x5u", X5U_B, "--ppt",
                         "div", "--orig", A, "--div", B, "--dest", C, "--iat", str(NOW))
    assert code == 0, err
    return shaken.strip(), div.strip()


def test_sign_and_verify_a_forwarded_branded_call(capsys, lab) -> None:
    """`sign --ppt div` and `sign --nam/--icn/--rcd-content`; `verify` links and reports them."""
    d, _a, _b = lab
    shaken, div = signed(capsys, d)
    assert ";ppt=div" in div
    code, out, _ = run(capsys, "verify", *offline(d), "--now", str(NOW), "--orig", A, "--dest", C,
                       shaken + "," + div)
    assert code == 0
    assert "caller_id=verified" in out
    assert f"div {B[1:]} -> {C[1:]} by SPC 456B: valid" in out
    assert "rcd name 'Q Branch' (integrity incomplete)" in out  # logo not fetched (offline)
    code, out, _ = run(capsys, "verify", *offline(d), "--now", str(NOW), "--orig", A, "--dest", C,
                       "--json", shaken + "," + div)
    v = json.loads(out)
    assert v["diversion"][0]["signer"]["spc"] == "456B" and v["diversion"][0]["result"] == "valid"
    assert v["rcd"]["nam"] == "Q Branch" and v["rcd"]["crn"] == "pickup"
    assert v["rcd"]["digests"][0]["pointer"] == "/icn"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ppt", "div"], "--ppt div needs --div TN"),
        (["--div", B], "--div and --opt go with --ppt div or div-o"),
        (["--ppt", "div-o", "--div", B], "--opt (the original PASSporT) goes with --ppt div-o"),
        (["--icn", "https://x.example/l.png"], "--nam (the display name) is required"),
        (["--ppt", "rcd"], "--ppt rcd needs --nam"),
        (["--nam", "Q", "--icn", "ftp://x/l.png"], "is not an http(s) URL"),
        (["--nam", "Q", "--rcd-content", "https://other.example/x=f"], "--rcd-content wants"),
    ],
)
def test_sign_usage_errors(capsys, lab, args, message) -> None:
    d, _a, _b = lab
    code, _, err = run(capsys, "sign", "--key", str(d / "a-key.pem"), "--x5u", X5U_A, "--orig",
                       A, "--dest", C, *args)
    assert code == 2 and message in err


def test_scan_json_carries_the_chain_and_rcd(capsys, lab, tmp_path) -> None:
    """`scan --json` on JSON Lines: a forwarded call is one verdict with ``diversion``."""
    d, _a, _b = lab
    shaken, div = signed(capsys, d)
    f = tmp_path / "calls.jsonl"
    f.write_text(json.dumps({"identity": [shaken, div], "orig": A, "dest": C, "time": NOW,
                             "call_id": "fwd-1"}) + "\n")
    code, out, err = run(capsys, "scan", "--json", *offline(d), str(f))
    assert code == 0, err
    (row,) = [json.loads(x) for x in out.splitlines()]
    assert row["caller_id"] == "verified" and row["header"] == 0
    assert [x["result"] for x in row["diversion"]] == ["valid"]
    assert row["rcd"]["display_name"] == "Q Branch"


def test_traceback_records_and_counts_diverted_calls(capsys, lab) -> None:
    """Traceback: records keep the chain and rcd through JSON; signers count ``diverted``
    calls and the ``retargeters`` table counts calls per div signer."""
    d, a, _b = lab
    shaken, div = signed(capsys, d)
    plain = a.sign(orig=A, dest=C, iat=NOW)
    calls = [
        {"identity": [shaken, div], "orig": A, "dest": C, "time": NOW},
        {"identity": [plain], "orig": A, "dest": C, "time": NOW},
    ]
    records = list(verify_calls(a.verifier(), calls))
    assert [r.diverted for r in records] == [True, False]
    back = VerdictRecord.from_dict(json.loads(json.dumps(records[0].to_dict())))
    assert back == records[0]
    agg = Aggregator().update(records)
    (signer,) = agg.signers()
    assert (signer["spc"], signer["calls"], signer["diverted"]) == ("123A", 2, 1)
    (retargeter,) = agg.retargeters()
    assert (retargeter["spc"], retargeter["calls"], retargeter["diverted"]) == ("456B", 1, 1)
    assert agg.tables()["retargeters"] == agg.retargeters()
    merged = Aggregator().update(records[:1]).merge(Aggregator().update(records[1:]))
    assert merged.tables() == agg.tables()


def test_traceback_cli_writes_the_retargeters_table(capsys, lab, tmp_path) -> None:
    d, _a, _b = lab
    shaken, div = signed(capsys, d)
    f = tmp_path / "calls.jsonl"
    f.write_text(json.dumps({"identity": [shaken, div], "orig": A, "dest": C, "time": NOW}) + "\n")
    out_dir = tmp_path / "out"
    code, _, err = run(capsys, "traceback", *offline(d), "--out", str(out_dir), str(f))
    assert code == 0, err
    rows = [json.loads(x) for x in (out_dir / "retargeters.jsonl").read_text().splitlines()]
    assert [(r["spc"], r["diverted"]) for r in rows] == [("456B", 1)]
    assert (out_dir / "retargeters.csv").read_text().startswith("spc,")
