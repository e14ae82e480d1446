"""The ``shakenkit`` command line: ``verify`` and ``demo`` (exit status 0 every header passed, 1
otherwise, 2 usage error). In-process through ``shakenkit.cli.main`` and as a real subprocess."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shakenkit import Verdict
from shakenkit.cli import main
from shakenkit.testing import make_crl, make_pki
from tests.conftest import DAY, DEST, NOW, ORIG, ORIGID, serial_of

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module")
def cli_pki():
    """A PKI without CRL distribution points: nothing for the CLI to fetch."""
    return make_pki(crl_url=None, not_before=NOW - 30 * DAY, not_after=NOW + 300 * DAY)


@pytest.fixture
def files(cli_pki, tmp_path):
    """Trust anchor, x5u chain and an empty CRL written to files, as an operator would have."""
    root = tmp_path / "root.pem"
    root.write_bytes(cli_pki.root_pem)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(cli_pki.chain_pem)
    crl = tmp_path / "crl.pem"
    crl.write_bytes(make_crl(cli_pki.ca_key, cli_pki.ca_der, []))
    return {"root": str(root), "chain": str(chain), "crl": str(crl), "dir": tmp_path}


def _args(cli_pki, files, *extra, orig=ORIG, dest=DEST, now=NOW, offline=True):
    args = [
        "verify",
        "--trust",
        files["root"],
        "--cert",
        f"{cli_pki.x5u}={files['chain']}",
        "--now",
        str(now),
    ]
    if orig is not None:
        args += ["--orig", orig]
    if dest is not None:
        args += ["--dest", dest]
    if offline:
        args.append("--offline")
    return args + list(extra)


def _verdicts(out: str) -> list[Verdict]:
    return [Verdict.model_validate_json(line) for line in out.splitlines() if line.strip()]


def test_cli_verify_json_passes_exit_0(cli_pki, files, capsys):
    """``verify --json`` prints one JSON verdict per header; exit 0 when all passed."""
    h = cli_pki.sign(orig=ORIG, dest=DEST, iat=NOW, origid=ORIGID)
    assert main([*_args(cli_pki, files, "--json", "--crl", files["crl"]), h]) == 0
    (v,) = _verdicts(capsys.readouterr().out)
    assert (v.verstat, v.caller_id, v.attest, v.origid) == (
        "TN-Validation-Passed",
        "verified",
        "A",
        ORIGID,
    )


def test_cli_verify_without_offline_uses_given_certificates(cli_pki, files, capsys):
    """``--cert URL=FILE`` serves that URL locally even when live fetching is on."""
    h = cli_pki.sign(orig=ORIG, dest=DEST, iat=NOW)
    assert main([*_args(cli_pki, files, "--json", offline=False), h]) == 0
    assert _verdicts(capsys.readouterr().out)[0].passed


def test_cli_verify_failure_exit_1(cli_pki, files, capsys):
    """A header that fails (caller-ID mismatch, 438) gives exit 1 and the error in the JSON."""
    h = cli_pki.sign(orig=ORIG, dest=DEST, iat=NOW)
    assert main([*_args(cli_pki, files, "--json", orig="+12155559999"), h]) == 1
    (v,) = _verdicts(capsys.readouterr().out)
    assert v.error is not None
    assert (v.error.sip_code, v.error.check, v.caller_id) == (438, "orig_tn", "likely_spoofed")


def test_cli_crl_revokes(cli_pki, files, capsys, tmp_path):
    """``--crl`` files are checked: a revoked SP certificate -> 437, exit 1."""
    crl = tmp_path / "revoked.pem"
    crl.write_bytes(make_crl(cli_pki.ca_key, cli_pki.ca_der, [serial_of(cli_pki.leaf_der)]))
    h = cli_pki.sign(orig=ORIG, dest=DEST, iat=NOW)
    assert main([*_args(cli_pki, files, "--json", "--crl", str(crl)), h]) == 1
    (v,) = _verdicts(capsys.readouterr().out)
    assert v.error is not None
    assert (v.error.sip_code, v.error.check) == (437, "crl")


def test_cli_now_and_max_age(cli_pki, files, capsys):
    """``--now`` is the verification time and ``--max-age`` the freshness window (RFC 8224
    §6.2 step 4)."""
    h = cli_pki.sign(orig=ORIG, dest=DEST, iat=NOW - 120)
    assert main([*_args(cli_pki, files, "--json"), h]) == 1
    (v,) = _verdicts(capsys.readouterr().out)
    assert v.error is not None
    assert v.error.sip_code == 403
    assert main([*_args(cli_pki, files, "--json", "--max-age", "300"), h]) == 0
    assert main([*_args(cli_pki, files, "--json", now=NOW - 100), h]) == 0
    capsys.readouterr()


def test_cli_reads_headers_from_stdin(cli_pki, files, capsys, monkeypatch):
    """``-`` reads Identity headers from stdin, one a line (blank lines skipped)."""
    good = cli_pki.sign(orig=ORIG, dest=DEST, iat=NOW)
    stale = cli_pki.sign(orig=ORIG, dest=DEST, iat=NOW - 3600)
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{good}\n\n  {stale}  \n"))
    assert main([*_args(cli_pki, files, "--json"), "-"]) == 1
    verdicts = _verdicts(capsys.readouterr().out)
    assert [v.verstat for v in verdicts] == ["TN-Validation-Passed", "TN-Validation-Failed"]
    assert verdicts[1].error is not None
    assert verdicts[1].error.sip_code == 403


def test_cli_human_output(cli_pki, files, capsys):
    """Without ``--json``: a readable summary with verstat, attestation, caller ID, signer SPC,
    and for a failure the code, reason and check."""
    h = cli_pki.sign(orig=ORIG, dest=DEST, iat=NOW, origid=ORIGID)
    assert main([*_args(cli_pki, files), h]) == 0
    out = capsys.readouterr().out
    assert "TN-Validation-Passed" in out
    assert "attest=A" in out
    assert "caller_id=verified" in out
    assert "signer SPC 123A" in out
    assert ORIGID in out
    assert main([*_args(cli_pki, files, dest="+12155559999"), h]) == 1
    out = capsys.readouterr().out
    assert "TN-Validation-Failed" in out
    assert "438 Invalid Identity Header [dest_tn]" in out
    assert "caller_id=likely_spoofed" in out


def test_cli_trust_directory(cli_pki, files, capsys, tmp_path):
    """``--trust`` also takes a directory of anchors."""
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    (anchors / "root.pem").write_bytes(cli_pki.root_pem)
    h = cli_pki.sign(orig=ORIG, dest=DEST, iat=NOW)
    args = _args(cli_pki, files, "--json")
    args[args.index(files["root"])] = str(anchors)
    assert main([*args, h]) == 0
    capsys.readouterr()


def test_cli_require_identity(cli_pki, files, capsys):
    """``--require-identity``: an empty Identity value gets 428 (RFC 8224 §6.2 step 1)."""
    assert main([*_args(cli_pki, files, "--json", "--require-identity"), ""]) == 1
    (v,) = _verdicts(capsys.readouterr().out)
    assert v.error is not None
    assert v.error.sip_code == 428


@pytest.mark.parametrize("which", ["trust", "cert", "crl"])
def test_cli_unreadable_file_exit_2(cli_pki, files, capsys, which, tmp_path):
    """An unreadable ``--trust``/``--cert``/``--crl`` file is a usage error: exit 2, one line."""
    missing = str(tmp_path / "missing.pem")
    args = _args(cli_pki, files)
    if which == "trust":
        args[args.index(files["root"])] = missing
    elif which == "cert":
        args[args.index(f"{cli_pki.x5u}={files['chain']}")] = f"{cli_pki.x5u}={missing}"
    else:
        args += ["--crl", missing]
    assert main([*args, "x.y.z;info=<https://a.example/>"]) == 2
    captured = capsys.readouterr()
    assert "cannot read" in captured.err
    assert captured.out == ""


@pytest.mark.parametrize("spec", ["no-equals-sign", "=chain.pem", "https://cr.example.com/x.pem="])
def test_cli_bad_cert_spec_exit_2(cli_pki, files, capsys, spec):
    """``--cert`` wants ``URL=PEM_FILE``: anything else is a usage error (exit 2)."""
    args = _args(cli_pki, files)
    args[args.index(f"{cli_pki.x5u}={files['chain']}")] = spec
    assert main([*args, "x.y.z;info=<https://a.example/>"]) == 2
    assert "--cert" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content", [b"not a certificate", b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----"]
)
def test_cli_garbage_trust_anchor_exit_2(cli_pki, files, capsys, content, tmp_path):
    """A trust anchor file that holds no certificate is a usage error (exit 2)."""
    bad = tmp_path / "bad.pem"
    bad.write_bytes(content)
    args = _args(cli_pki, files)
    args[args.index(files["root"])] = str(bad)
    assert main([*args, "x.y.z;info=<https://a.example/>"]) == 2
    assert capsys.readouterr().err.startswith("shakenkit: error:")


def test_cli_bad_max_age_exit_2(cli_pki, files, capsys):
    """``--max-age`` must be positive."""
    assert main([*_args(cli_pki, files, "--max-age", "0"), "x.y.z;info=<https://a/>"]) == 2
    assert "--max-age" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [[], ["verify"], ["frobnicate"], ["verify", "--now", "yesterday", "x"]],
    ids=["nothing", "verify-no-header", "unknown-command", "bad-now"],
)
def test_cli_no_args_or_bad_args_exit_2(argv, capsys):
    """argparse usage errors exit with status 2 and a message on stderr."""
    with pytest.raises(SystemExit) as ei:
        main(argv)
    assert ei.value.code == 2
    assert "shakenkit: error:" in capsys.readouterr().err


def test_cli_empty_stdin_exit_2(cli_pki, files, capsys, monkeypatch):
    """``-`` with nothing on stdin: no Identity header given -> exit 2."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n  \n"))
    assert main([*_args(cli_pki, files), "-"]) == 2
    assert "no Identity header" in capsys.readouterr().err


DEMO_ROWS = {
    "A-attested call": ("TN-Validation-Passed", "A", "verified", "-"),
    "forged signature": ("TN-Validation-Failed", "A", "likely_spoofed", "438"),
    "replayed stale call": ("TN-Validation-Failed", "A", "likely_spoofed", "403"),
    "C-attested gateway call": ("TN-Validation-Passed", "C", "unverified", "-"),
    "caller-ID mismatch": ("TN-Validation-Failed", "A", "likely_spoofed", "438"),
    "no Identity header": ("No-TN-Validation", "-", "unverified", "-"),
}


def test_cli_demo(capsys):
    """``demo`` signs and verifies a few calls offline and prints one row per scenario with the
    expected outcome."""
    assert main(["demo"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name, (verstat, attest, caller_id, code) in DEMO_ROWS.items():
        (line,) = [ln for ln in lines if ln.startswith(name + "  ")]
        cells = line[len(name) :].split()
        assert cells[:4] == [verstat, attest, caller_id, code], line


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run(
        [sys.executable, "-m", "shakenkit.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_cli_subprocess_verify_json_from_stdin(cli_pki, files):
    """The real command (``python -m shakenkit.cli``): verify two headers from stdin -> JSON
    Lines on stdout, exit 1 because one of them fails."""
    good = cli_pki.sign(orig=ORIG, dest=DEST, iat=NOW)
    forged = make_pki().sign(orig=ORIG, dest=DEST, iat=NOW, x5u=cli_pki.x5u)
    proc = _run(
        *_args(cli_pki, files, "--json", "--crl", files["crl"]), "-", stdin=f"{good}\n{forged}\n"
    )
    assert proc.returncode == 1, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["verstat"] for r in rows] == ["TN-Validation-Passed", "TN-Validation-Failed"]
    assert rows[1]["error"]["sip_code"] == 438
    assert _run(*_args(cli_pki, files, "--json"), good).returncode == 0


def test_cli_subprocess_usage_error_exit_2(tmp_path):
    """The real command exits 2 on usage errors (no arguments; unreadable file)."""
    assert _run().returncode == 2
    proc = _run("verify", "--trust", str(tmp_path / "nope.pem"), "x.y.z;info=<https://a/>")
    assert proc.returncode == 2
    assert "cannot read" in proc.stderr


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "soon"])
def test_cli_now_must_be_a_finite_number(cli_pki, files, capsys, bad):
    """``--now nan`` is a usage error (exit 2, one line), not a verdict."""
    h = cli_pki.sign(orig=ORIG, dest=DEST, iat=NOW)
    args = _args(cli_pki, files, "--json", now=0)
    args[args.index("--now") + 1] = bad
    with pytest.raises(SystemExit) as exc:
        main([*args, h])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--now" in err[0]
