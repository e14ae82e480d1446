"""``shakenkit serve --trust-dir DIR [--stipa-api BASE_URL --trust-refresh SECONDS]``: the
trust anchors follow the STI-PA's CA list without a restart (service/trust_refresh.py).

Real processes: the server (``tests/serve_process.py``) pulls from the HTTPS STI-PA stand-in
(``tests/stipa_server.py``). Calls carry their SP chains with ``--cert`` (``--offline``), so
only the trust anchors decide whether a call passes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("uvicorn", reason="shakenkit serve needs the 'serve' extra")
pytest.importorskip("prometheus_client", reason="shakenkit serve needs the 'serve' extra")

from shakenkit.cli import main
from shakenkit.testing import TestPKI, make_pki
from tests.serve_process import ServeProcess, free_port
from tests.stipa_server import StiPaServer, answer, running_stipa

ORIG, DEST = "12155551212", "12155551213"


@pytest.fixture(scope="module")
def pkis() -> dict[str, TestPKI]:
    return {
        name: make_pki(spc=spc, x5u=f"https://cr.example.com/sp/{spc}.pem", crl_url=None)
        for name, spc in (("a", "111A"), ("b", "222B"))
    }


@pytest.fixture
def srv() -> Iterator[StiPaServer]:
    with running_stipa() as server:
        yield server


@pytest.fixture
def files(tmp_path: Path, srv: StiPaServer, pkis: dict[str, TestPKI]) -> dict[str, Path]:
    f = {"root": tmp_path / "sti-pa-root.pem", "dir": tmp_path / "lib" / "trust"}
    f["root"].write_bytes(srv.stipa.root_pem)
    for name, p in pkis.items():
        f[name] = tmp_path / f"chain-{name}.pem"
        f[name].write_bytes(p.chain_pem)
    return f


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch, srv: StiPaServer) -> None:
    # ServeProcess passes the environment on to the server process.
    monkeypatch.setenv("SHAKENKIT_STIPA_USER", srv.user)
    monkeypatch.setenv("SHAKENKIT_STIPA_PASSWORD", srv.password)


def serve_args(
    srv: StiPaServer, files: dict[str, Path], pkis: dict[str, TestPKI], *, pull: bool = True
) -> list[str]:
    args = ["--trust-dir", str(files["dir"]), "--trust-refresh", "1", "--offline"]
    for name, p in pkis.items():
        args += ["--cert", f"{p.x5u}={files[name]}"]
    if pull:
        args += [
            "--stipa-api", srv.base_url, "--stipa-root", str(files["root"]),
            "--allow-host", srv.host_port, "--tls-ca", srv.ca_pem_path,
        ]  # fmt: skip
    return args


def verstat(server: ServeProcess, pki: TestPKI) -> str:
    body = {
        "verificationRequest": {
            "from": {"tn": ORIG},
            "to": {"tn": [DEST]},
            "time": int(time.time()),
            "identity": pki.sign(orig=ORIG, dest=DEST),
        }
    }
    r = httpx.post(server.url + "/stir/v1/verification", json=body, timeout=10)
    assert r.status_code == 200, r.text
    return str(r.json()["verificationResponse"]["verstat"])


def health(server: ServeProcess) -> dict[str, Any]:
    return dict(httpx.get(server.url + "/healthz", timeout=10).json())


def samples(server: ServeProcess) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in httpx.get(server.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith("shakenkit_trust_list"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def wait_for(check: Callable[[], bool], what: str, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


PASSED, FAILED = "TN-Validation-Passed", "TN-Validation-Failed"


def test_serve_pulls_the_list_and_swaps_anchors_without_a_restart(
    srv: StiPaServer, files: dict[str, Path], pkis: dict[str, TestPKI], creds: None
) -> None:
    """Start with an empty DIR (pulled before serving), then the STI-PA withdraws STI-CA b:
    the running server stops trusting it, same process, no signal."""
    st = srv.stipa
    srv.ca_list_body = answer(st.sign_list([pkis["a"].root_pem, pkis["b"].root_pem], sequence=1))
    with ServeProcess(serve_args(srv, files, pkis)) as server:
        h = health(server)
        assert h["status"] == "ok" and h["trust_list"]["sequence"] == 1
        assert verstat(server, pkis["b"]) == PASSED
        pid = h["pid"]
        srv.ca_list_body = answer(st.sign_list([pkis["a"].root_pem], sequence=2))
        wait_for(lambda: health(server)["trust_list"]["sequence"] == 2, "sequence 2")
        assert verstat(server, pkis["b"]) == FAILED
        assert verstat(server, pkis["a"]) == PASSED
        assert health(server)["pid"] == pid and health(server)["trust_anchors"] == 1
        m = samples(server)
        assert m["shakenkit_trust_list_sequence"] == 2
        assert m['shakenkit_trust_list_pulls_total{result="installed"}'] >= 1
        assert 0 <= m["shakenkit_trust_list_age_seconds"] < 30
        assert m["shakenkit_trust_list_expiry_timestamp_seconds"] > time.time()

        # A failing STI-PA, then a rollback and a forged list: the last good list stays.
        srv.ca_list_status = 503
        wait_for(
            lambda: (
                samples(server).get('shakenkit_trust_list_pulls_total{result="failed"}', 0) >= 1
            ),
            "a failed pull",
        )
        h = health(server)
        assert h["status"] == "ok" and h["trust_list"]["last_result"] == "failed"
        assert "HTTP 503" in h["trust_list"]["last_error"]
        srv.ca_list_status = 200
        srv.ca_list_body = answer(st.sign_list([pkis["b"].root_pem], sequence=1))  # rollback
        wait_for(lambda: health(server)["trust_list"]["last_result"] == "refused", "refusal")
        assert "rollback" in health(server)["trust_list"]["last_error"]
        head, _, sig = st.sign_list([pkis["a"].root_pem], sequence=3).split(".")
        forged = st.sign_list([pkis["b"].root_pem], sequence=3).split(".")[1]
        srv.ca_list_body = answer(f"{head}.{forged}.{sig}")
        wait_for(
            lambda: "signature" in str(health(server)["trust_list"].get("last_error")), "forgery"
        )
        assert health(server)["trust_list"]["sequence"] == 2
        assert verstat(server, pkis["b"]) == FAILED and verstat(server, pkis["a"]) == PASSED
        # the password never reaches the log
        assert srv.password not in server.log and srv.token not in server.log


def test_an_expired_list_is_reported_on_healthz(
    srv: StiPaServer, files: dict[str, Path], pkis: dict[str, TestPKI], creds: None
) -> None:
    """Past the list's exp /healthz says degraded; calls are still verified with the last
    good anchors (an alarm, not an outage)."""
    exp = time.time() + 6
    srv.ca_list_body = answer(srv.stipa.sign_list([pkis["a"].root_pem], sequence=4, exp=exp))
    with ServeProcess(serve_args(srv, files, pkis)) as server:
        assert health(server)["trust_list"]["expired"] is False
        wait_for(lambda: health(server)["status"] == "degraded", "degraded", timeout=30)
        wait_for(lambda: health(server)["trust_list"]["last_result"] == "refused", "refusal")
        h = health(server)["trust_list"]
        assert h["expired"] is True and h["exp"] == pytest.approx(int(exp), abs=1)
        assert h["last_result"] == "refused" and "expired" in h["last_error"]
        assert verstat(server, pkis["a"]) == PASSED


def test_a_resigned_list_with_the_same_sequence_extends_the_reported_exp(
    srv: StiPaServer, files: dict[str, Path], pkis: dict[str, TestPKI], creds: None
) -> None:
    """The directory does not change for the same sequence, but the service knows the STI-PA
    still vouches for it: healthz reports the later exp."""
    first = time.time() + 3600
    srv.ca_list_body = answer(srv.stipa.sign_list([pkis["a"].root_pem], sequence=4, exp=first))
    with ServeProcess(serve_args(srv, files, pkis)) as server:
        later = time.time() + 7200
        srv.ca_list_body = answer(srv.stipa.sign_list([pkis["a"].root_pem], sequence=4, exp=later))
        wait_for(lambda: health(server)["trust_list"]["exp"] > first + 1, "the later exp")
        state = json.loads((files["dir"] / "state.json").read_text())
        assert state["exp"] == pytest.approx(int(first), abs=1)  # DIR untouched


def test_watch_mode_follows_a_trust_update_with_two_workers(
    srv: StiPaServer,
    files: dict[str, Path],
    pkis: dict[str, TestPKI],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--trust-dir alone: a systemd timer runs 'trust update'; every worker picks it up."""
    st = srv.stipa
    signer = tmp_path / "signer.pem"
    signer.write_bytes(st.signer_pem)

    def update(roots: list[bytes], sequence: int) -> None:
        lst = tmp_path / f"list-{sequence}.json"
        lst.write_bytes(answer(st.sign_list(roots, sequence=sequence)))
        code = main(
            [
                "trust", "update", "--out", str(files["dir"]), "--stipa-root",
                str(files["root"]), "--ca-list", str(lst), "--cert", f"{st.x5u}={signer}",
            ]
        )  # fmt: skip
        assert code == 0, capsys.readouterr()

    update([pkis["a"].root_pem, pkis["b"].root_pem], 1)
    args = [*serve_args(srv, files, pkis, pull=False), "--workers", "2"]
    with ServeProcess(args) as server:
        assert verstat(server, pkis["b"]) == PASSED
        update([pkis["a"].root_pem], 2)
        wait_for(lambda: samples(server).get("shakenkit_trust_list_sequence") == 2, "both workers")
        assert all(verstat(server, pkis["b"]) == FAILED for _ in range(12))
        assert all(verstat(server, pkis["a"]) == PASSED for _ in range(6))


def test_serve_stops_when_no_list_can_be_had_and_shows_no_secret(
    srv: StiPaServer, files: dict[str, Path], pkis: dict[str, TestPKI]
) -> None:
    env = dict(
        os.environ, SHAKENKIT_STIPA_USER=srv.user, SHAKENKIT_STIPA_PASSWORD="Not-The-Pa55word"
    )
    cmd = [sys.executable, "-m", "shakenkit.cli", "serve", "--port", str(free_port())]
    r = subprocess.run(
        cmd + serve_args(srv, files, pkis), env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 1
    assert "no CA list" in r.stderr and "refused the login" in r.stderr
    assert "Not-The-Pa55word" not in r.stdout + r.stderr
    assert not files["dir"].exists()


@pytest.mark.parametrize(
    "extra, why",
    [
        (["--stipa-api", "https://sti-pa.example/api/v1"], "--stipa-api needs --trust-dir"),
        (["--trust-dir", "x", "--trust-refresh", "0"], "--trust-refresh must be at least"),
    ],
)
def test_serve_trust_usage_errors(
    extra: list[str], why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", *extra]) == 2
    assert why in capsys.readouterr().err
