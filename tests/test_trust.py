"""``shakenkit trust update|show`` and the CA list library (``shakenkit.certs.calist``,
``shakenkit.repository.trustdir``, ``shakenkit.repository.stipa``): docs/trust.md.

A real HTTPS STI-PA stand-in (``tests/stipa_server.py``) serves the login and ca-list API and the
list signer's certificate. Every refusal is tested as the attack it stops (forged, stale,
rolled back, alg confusion, a signer outside the STI-PA PKI, a smuggled leaf, malformed input)
and must leave the trust directory byte-for-byte as it was. ``shakenkit verify --trust DIR``
then trusts exactly the roots of the installed list.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shakenkit.certs import TrustStore
from shakenkit.certs.calist import (
    STATE_FILE,
    CaList,
    TrustDirState,
    check_ca_list,
    parse_ca_list,
)
from shakenkit.certs.trust import read_anchor_directory
from shakenkit.cli import main
from shakenkit.errors import CaListError
from shakenkit.repository import trustdir
from shakenkit.repository.stipa import StipaCredentials
from shakenkit.repository.trustdir import install_ca_list, read_trust_state
from shakenkit.testing import TestPKI, issue_certificate, make_pki
from tests.stipa_server import (
    StiPaServer,
    TestStiPa,
    answer,
    b64url,
    es256,
    pem,
    running_stipa,
)

ORIG, DEST = "12155551212", "12155551213"


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def srv() -> Iterator[StiPaServer]:
    with running_stipa() as server:
        yield server


@pytest.fixture(scope="module")
def stipa(srv: StiPaServer) -> TestStiPa:
    return srv.stipa


@pytest.fixture(scope="module")
def pkis() -> dict[str, TestPKI]:
    """Three STI-CAs (root, intermediate, SP certificate each) the lists name."""
    return {
        name: make_pki(spc=spc, x5u=f"https://cr.example.com/sp/{spc}.pem", crl_url=None)
        for name, spc in (("a", "111A"), ("b", "222B"), ("c", "333C"))
    }


@pytest.fixture
def env(tmp_path: Path, stipa: TestStiPa, pkis: dict[str, TestPKI]) -> dict[str, Path]:
    """The STI-PA root and signer, and the STI-CA chains, as files."""
    files = {"root": tmp_path / "sti-pa-root.pem", "signer": tmp_path / "signer.pem"}
    files["root"].write_bytes(stipa.root_pem)
    files["signer"].write_bytes(stipa.signer_pem)
    for name, p in pkis.items():
        files[f"chain_{name}"] = tmp_path / f"chain-{name}.pem"
        files[f"chain_{name}"].write_bytes(p.chain_pem)
    files["out"] = tmp_path / "lib" / "trust"  # alone in its parent: snapshot() sees beside it
    return files


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def update_file(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, Path],
    stipa: TestStiPa,
    body: bytes | str,
    *extra: str,
) -> tuple[int, str, str]:
    """``trust update --ca-list FILE``, the signer's x5u served from a file (--cert)."""
    path = _write(env, body)
    return run(
        capsys,
        "trust",
        "update",
        "--out",
        str(env["out"]),
        "--stipa-root",
        str(env["root"]),
        "--ca-list",
        str(path),
        "--cert",
        f"{stipa.x5u}={env['signer']}",
        *extra,
    )


def update_live(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, Path],
    srv: StiPaServer,
    *extra: str,
) -> tuple[int, str, str]:
    """``trust update --stipa-api`` against the stand-in (credentials from the environment)."""
    return run(
        capsys,
        "trust",
        "update",
        "--out",
        str(env["out"]),
        "--stipa-root",
        str(env["root"]),
        "--stipa-api",
        srv.base_url,
        "--allow-host",
        srv.host_port,
        "--tls-ca",
        srv.ca_pem_path,
        *extra,
    )


def verify(
    capsys: pytest.CaptureFixture[str], env: dict[str, Path], pki: TestPKI, name: str
) -> int:
    """``shakenkit verify --trust DIR`` of a call signed by ``pki``."""
    identity = pki.sign(orig=ORIG, dest=DEST)
    code, _, _ = run(
        capsys,
        "verify",
        "--trust",
        str(env["out"]),
        "--offline",
        "--cert",
        f"{pki.x5u}={env[f'chain_{name}']}",
        "--orig",
        ORIG,
        "--dest",
        DEST,
        identity,
    )
    return code


def snapshot(d: Path) -> dict[str, Any]:
    """Every file of ``d`` (bytes and mode) and the names beside it: to prove nothing moved."""
    files = {
        str(p.relative_to(d)): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
        for p in sorted(d.rglob("*"))
        if p.is_file()
    }
    return {"files": files, "beside": sorted(q.name for q in d.parent.iterdir())}


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch, srv: StiPaServer) -> None:
    monkeypatch.setenv("SHAKENKIT_STIPA_USER", srv.user)
    monkeypatch.setenv("SHAKENKIT_STIPA_PASSWORD", srv.password)


def good(stipa: TestStiPa, pkis: dict[str, TestPKI], *names: str, sequence: int = 5) -> str:
    return stipa.sign_list([pkis[n].root_pem for n in names], sequence=sequence)


# -- success ------------------------------------------------------------------------------------


def test_update_from_file_installs_one_pem_per_root_and_a_state_file(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, Path],
    stipa: TestStiPa,
    pkis: dict[str, TestPKI],
) -> None:
    code, out, err = update_file(capsys, env, stipa, answer(good(stipa, pkis, "a", "b")))
    assert code == 0, err
    assert "installed CA list sequence 5" in out
    assert out.count("added") == 2
    names = sorted(p.name for p in env["out"].iterdir())
    pems = [n for n in names if n.endswith(".pem")]
    assert len(pems) == 2 and names == sorted([*pems, STATE_FILE])  # nothing else
    state = json.loads((env["out"] / STATE_FILE).read_text())
    assert state["sequence"] == 5 and state["version"] == "1.0"
    assert state["digest"].startswith("sha256:") and state["source"] == "file"
    assert abs(state["fetched"] - time.time()) < 60 and state["exp"] > time.time()
    assert {r["file"] for r in state["roots"]} == set(pems)
    assert state["jws"].count(".") == 2  # the signed list, for audit
    # verify --trust DIR trusts exactly those roots (state.json is ignored)
    assert verify(capsys, env, pkis["a"], "a") == 0
    assert verify(capsys, env, pkis["b"], "b") == 0
    assert verify(capsys, env, pkis["c"], "c") == 1


def test_update_accepts_a_bare_jws_and_stdin(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, Path],
    stipa: TestStiPa,
    pkis: dict[str, TestPKI],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = update_file(capsys, env, stipa, good(stipa, pkis, "a") + "\n")
    assert code == 0, err
    import io
    import sys

    data = answer(good(stipa, pkis, "a", "c", sequence=6))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, err = run(
        capsys,
        "trust", "update", "--out", str(env["out"]), "--stipa-root", str(env["root"]),
        "--ca-list", "-", "--cert", f"{stipa.x5u}={env['signer']}",
    )  # fmt: skip
    assert code == 0, err
    assert "sequence 6" in out and "replacing sequence 5" in out


def test_update_live_logs_in_and_fetches_the_list_and_the_signer(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, Path],
    srv: StiPaServer,
    pkis: dict[str, TestPKI],
    creds: None,
) -> None:
    srv.ca_list_body = answer(good(srv.stipa, pkis, "a", "b", sequence=7))
    before = len(srv.requests)
    code, out, err = update_live(capsys, env, srv)
    assert code == 0, err
    assert "sequence 7" in out
    calls = srv.requests[before:]
    login = next(c for c in calls if c[0] == "/api/v1/auth/login")
    assert json.loads(login[2]) == {"userId": srv.user, "password": srv.password}
    listing = next(c for c in calls if c[0] == "/api/v1/ca-list")
    assert listing[1]["Authorization"] == srv.token  # the bare token, as the STI-PA wants it
    assert listing[1]["Accept"] == "application/jose+json"
    assert any(c[0] == "/sti-pa/signer.pem" for c in calls)  # x5u fetched like a PASSporT's
    assert json.loads((env["out"] / STATE_FILE).read_text())["source"] == srv.base_url


def test_removed_root_is_no_longer_trusted(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, Path],
    srv: StiPaServer,
    pkis: dict[str, TestPKI],
    creds: None,
) -> None:
    """The STI-PA withdraws an STI-CA: after the update its calls fail (437)."""
    srv.ca_list_body = answer(good(srv.stipa, pkis, "a", "b", sequence=10))
    assert update_live(capsys, env, srv)[0] == 0
    assert verify(capsys, env, pkis["b"], "b") == 0
    srv.ca_list_body = answer(good(srv.stipa, pkis, "a", sequence=11))
    code, out, _ = update_live(capsys, env, srv)
    assert code == 0
    assert "removed" in out and "CN=shakenkit Test STI ROOT" in out
    assert verify(capsys, env, pkis["b"], "b") == 1
    assert verify(capsys, env, pkis["a"], "a") == 0


def test_same_sequence_changes_nothing(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, Path],
    stipa: TestStiPa,
    pkis: dict[str, TestPKI],
) -> None:
    assert update_file(capsys, env, stipa, good(stipa, pkis, "a", "b"))[0] == 0
    before = snapshot(env["out"])
    # the same sequence, even with other roots and a later exp: nothing changes
    other = stipa.sign_list([pkis["c"].root_pem], sequence=5, exp=time.time() + 90 * 86_400)
    code, out, _ = update_file(capsys, env, stipa, other)
    assert code == 0
    assert "nothing changed" in out
    assert snapshot(env["out"]) == before


def test_unparseable_entries_are_skipped_and_reported(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, Path],
    stipa: TestStiPa,
    pkis: dict[str, TestPKI],
) -> None:
    jws = stipa.sign_list(
        [pkis["a"].root_pem, "not a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n"],
        sequence=3,
    )
    code, out, err = update_file(capsys, env, stipa, jws)
    assert code == 0
    assert "1 roots" in out
    assert "skipped entry 2" in err and "skipped entry 3" in err


def test_roots_get_the_profile_lint_as_warnings(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, Path],
    stipa: TestStiPa,
) -> None:
    """A root off the ATIS-1000080 profile (no keyUsage, a P-384 key) is installed, with
    warnings."""
    from cryptography.x509 import Name, NameAttribute
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP384R1())
    odd = issue_certificate(
        subject=Name([NameAttribute(NameOID.COMMON_NAME, "odd root")]),
        key=key,
        ca=True,
        policy=False,
        crl_url=None,
        key_usage=False,
    )
    code, _out, err = update_file(capsys, env, stipa, stipa.sign_list([pem(odd)], sequence=1))
    assert code == 0
    assert "warning: CN=odd root:" in err


def test_trust_show_text_and_json(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, Path],
    stipa: TestStiPa,
    pkis: dict[str, TestPKI],
) -> None:
    assert update_file(capsys, env, stipa, good(stipa, pkis, "a", "b", sequence=9))[0] == 0
    code, out, _ = run(capsys, "trust", "show", str(env["out"]))
    assert code == 0
    assert "sequence 9" in out and out.count("spki sha256") == 2 and "valid " in out
    code, out, _ = run(capsys, "trust", "show", "--json", str(env["out"]))
    obj = json.loads(out)
    assert obj["sequence"] == 9 and obj["expired"] is False and len(obj["roots"]) == 2
    root = obj["roots"][0]
    assert {"subject", "sha256", "spki_sha256", "not_before", "not_after"} <= set(root)
    assert len(root["spki_sha256"]) == 64


def test_trust_show_of_a_directory_without_a_list(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "trust", "show", str(tmp_path))
    assert code == 1 and "holds no CA list" in err


# -- refusals: each an attack, each leaves DIR exactly as it was ----------------------------------


def _tampered(stipa: TestStiPa, pkis: dict[str, TestPKI]) -> str:
    """The signed list of [a] with its payload swapped for [a, c] (signature kept)."""
    head, _, sig = good(stipa, pkis, "a", sequence=6).split(".")
    other = good(stipa, pkis, "a", "c", sequence=6).split(".")[1]
    return f"{head}.{other}.{sig}"


def _rogue(stipa: TestStiPa, pkis: dict[str, TestPKI]) -> str:
    """A list signed by another "STI-PA" (its own root and signer), x5u pointing at the real
    signer's URL so the x5u is served: the signer is real, the key is not."""
    rogue = TestStiPa(x5u=stipa.x5u)
    return rogue.sign_list([pkis["c"].root_pem], sequence=6)


def _signed_under_sti_ca(stipa: TestStiPa, pkis: dict[str, TestPKI]) -> tuple[str, bytes]:
    """An STI-CA in the list issues itself a "list signer" and signs a list naming only its own
    root: the signer chains to a root of the list, not to the STI-PA root."""
    from cryptography.x509 import Name, NameAttribute, load_der_x509_certificate
    from cryptography.x509.oid import NameOID

    a = pkis["a"]
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = issue_certificate(
        subject=Name([NameAttribute(NameOID.COMMON_NAME, "STI-PA CA List Signer")]),
        key=key,
        issuer=load_der_x509_certificate(a.ca_der).subject,
        issuer_key=a.ca_key,
        policy=False,
        crl_url=None,
    )
    attacker = TestStiPa(x5u=stipa.x5u)
    attacker.signer_key = key
    return attacker.sign_list([a.root_pem], sequence=6), pem(leaf) + a.ca_pem + a.root_pem


def _payload(stipa: TestStiPa, pkis: dict[str, TestPKI], **fields: Any) -> str:
    body: dict[str, Any] = {
        "version": "1.0",
        "sequence": 6,
        "exp": int(time.time()) + 86_400,
        "trustList": [pkis["a"].root_pem.decode()],
    }
    for k, v in fields.items():
        if v is None:
            body.pop(k, None)
        else:
            body[k] = v
    return stipa.sign_list([], sequence=0, payload=body)


REFUSALS: dict[str, tuple[Callable[[TestStiPa, dict[str, TestPKI]], Any], str]] = {
    "tampered_payload": (_tampered, "signature does not verify"),
    "forged_by_another_key": (_rogue, "signature does not verify"),
    "alg_hs256_confusion": (
        lambda s, p: s.sign_list([p["a"].root_pem], sequence=6, alg="HS256"),
        "alg 'HS256'",
    ),
    "alg_none_unsigned": (
        lambda s, p: s.sign_list([p["a"].root_pem], sequence=6, alg="none"),
        "alg none",
    ),
    "alg_rs256_claimed": (
        lambda s, p: s.sign_list([p["a"].root_pem], sequence=6, header={"alg": "RS256"}),
        "only ES256",
    ),
    "expired_replay": (
        lambda s, p: s.sign_list([p["a"].root_pem], sequence=6, exp=time.time() - 60),
        "expired at",
    ),
    "rollback_to_older_sequence": (
        lambda s, p: s.sign_list([p["a"].root_pem, p["c"].root_pem], sequence=4),
        "rollback",
    ),
    "empty_list": (lambda s, p: s.sign_list([], sequence=6), "empty"),
    "nothing_parses": (
        lambda s, p: s.sign_list(["junk", "-----BEGIN CERTIFICATE-----\n!!\n"], sequence=6),
        "no usable certificate",
    ),
    "smuggled_end_entity": (
        lambda s, p: s.sign_list([p["a"].root_pem, p["c"].leaf_pem], sequence=6),
        "not a CA certificate",
    ),
    "malformed_json": (lambda s, p: b'{"status": "success", "caList": ', "not valid JSON"),
    "not_a_jws": (lambda s, p: "eyJhbGciOiJFUzI1NiJ9.e30", "not a compact JWS"),
    "api_status_failed": (
        lambda s, p: json.dumps({"status": "failed", "message": "no list"}),
        "status 'failed'",
    ),
    "sequence_as_string": (lambda s, p: _payload(s, p, sequence="6"), "'sequence'"),
    "exp_missing": (lambda s, p: _payload(s, p, exp=None), "'exp' is missing"),
    "trustlist_not_a_list": (lambda s, p: _payload(s, p, trustList="x"), "'trustList'"),
    "der_signature": (
        lambda s, p: good(s, p, "a", sequence=6).rsplit(".", 1)[0] + "." + b64url(b"\x30" * 70),
        "not the 64 of ES256",
    ),
    "crit_header": (
        lambda s, p: s.sign_list([p["a"].root_pem], sequence=6, header={"crit": ["x"]}),
        "crit",
    ),
}


@pytest.mark.parametrize("attack", sorted(REFUSALS))
def test_refusal_leaves_the_directory_byte_for_byte_unchanged(
    attack: str,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, Path],
    stipa: TestStiPa,
    pkis: dict[str, TestPKI],
) -> None:
    assert update_file(capsys, env, stipa, good(stipa, pkis, "a", "b"))[0] == 0
    before = snapshot(env["out"])
    make, why = REFUSALS[attack]
    body = make(stipa, pkis)
    code, out, err = update_file(capsys, env, stipa, body)
    assert code == 1, (out, err)
    assert err.startswith("shakenkit: trust update refused: ") and err.count("\n") == 1, err
    assert why in err
    assert snapshot(env["out"]) == before
    assert verify(capsys, env, pkis["b"], "b") == 0  # the last good list still holds
    assert verify(capsys, env, pkis["c"], "c") == 1


def test_signer_under_an_sti_ca_instead_of_the_stipa_root_is_refused(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, Path],
    stipa: TestStiPa,
    pkis: dict[str, TestPKI],
) -> None:
    """An STI-CA (trusted for calls) must not be able to sign the CA list: the signer must
    chain to --stipa-root, never to a root the list itself carries."""
    assert update_file(capsys, env, stipa, good(stipa, pkis, "b"))[0] == 0
    before = snapshot(env["out"])
    jws, chain = _signed_under_sti_ca(stipa, pkis)
    evil = env["root"].parent / "evil-signer.pem"
    evil.write_bytes(chain)
    code, _, err = run(
        capsys,
        "trust", "update", "--out", str(env["out"]), "--stipa-root", str(env["root"]),
        "--ca-list", str(_write(env, jws)), "--cert", f"{stipa.x5u}={evil}",
    )  # fmt: skip
    assert code == 1
    assert "is not under the STI-PA root" in err
    assert snapshot(env["out"]) == before


def test_rogue_signer_certificate_not_under_the_stipa_root_is_refused(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, Path],
    stipa: TestStiPa,
    pkis: dict[str, TestPKI],
) -> None:
    rogue = TestStiPa(x5u="https://sti-pa.example/signer.pem")
    signer = env["root"].parent / "rogue-signer.pem"
    signer.write_bytes(rogue.signer_pem + rogue.root_pem)  # it even ships its own root
    jws = rogue.sign_list([pkis["c"].root_pem], sequence=1)
    code, _, err = run(
        capsys,
        "trust", "update", "--out", str(env["out"]), "--stipa-root", str(env["root"]),
        "--ca-list", str(_write(env, jws)), "--cert", f"{rogue.x5u}={signer}",
    )  # fmt: skip
    assert code == 1 and "is not under the STI-PA root" in err
    assert not env["out"].exists()


def _write(env: dict[str, Path], body: str | bytes) -> Path:
    path = env["root"].parent / f"list-{time.monotonic_ns()}.json"
    path.write_bytes(body.encode() if isinstance(body, str) else body)
    return path


def test_alg_confusion_never_fetches_the_x5u(
    capsys: pytest.CaptureFixture[str], env: dict[str, Path], srv: StiPaServer
) -> None:
    """HS256 / none are refused from the header alone: no request leaves for x5u."""
    stipa = srv.stipa
    for alg in ("HS256", "none"):
        before = srv.counts["/sti-pa/signer.pem"]
        jws = stipa.sign_list([], sequence=1, alg=alg)
        code, _, err = run(
            capsys,
            "trust", "update", "--out", str(env["out"]), "--stipa-root", str(env["root"]),
            "--ca-list", str(_write(env, jws)), "--allow-host", srv.host_port,
            "--tls-ca", srv.ca_pem_path,
        )  # fmt: skip
        assert code == 1 and "only ES256" in err
        assert srv.counts["/sti-pa/signer.pem"] == before


def test_x5u_fetch_obeys_the_ssrf_guard(
    capsys: pytest.CaptureFixture[str], env: dict[str, Path], srv: StiPaServer, pkis: dict
) -> None:
    """The list's x5u is fetched under the PASSporT x5u rules: a loopback x5u is refused
    unless allow-listed, a plain http one always."""
    before = srv.counts["/sti-pa/signer.pem"]
    for x5u, why in (
        ("https://localhost/sti-pa/signer.pem", "loopback name"),
        ("https://127.0.0.1/sti-pa/signer.pem", "127.0.0.1 is a loopback address"),
        ("https://10.1.2.3:8443/signer.pem", "private address"),
        (srv.stipa.x5u, f"port {srv.port} is not allowed"),
        ("http://sti-pa.example/signer.pem", "scheme 'http'"),
        ("https://sti-pa.example/signer.pem?v=1", "query"),
    ):
        jws = srv.stipa.sign_list([pkis["a"].root_pem], sequence=1, header={"x5u": x5u})
        code, _, err = run(
            capsys,
            "trust", "update", "--out", str(env["out"]), "--stipa-root", str(env["root"]),
            "--ca-list", str(_write(env, jws)), "--tls-ca", srv.ca_pem_path,
        )  # fmt: skip
        assert code == 1 and why in err, err
    assert srv.counts["/sti-pa/signer.pem"] == before
    assert not env["out"].exists()


def test_refuses_to_replace_a_directory_it_did_not_write(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, Path],
    stipa: TestStiPa,
    pkis: dict[str, TestPKI],
) -> None:
    """--out pointing at /etc (or a hand-made roots directory) is never swapped away."""
    env["out"].mkdir(parents=True)
    (env["out"].joinpath("precious.conf")).write_text("keep me")
    code, _, err = update_file(capsys, env, stipa, good(stipa, pkis, "a"))
    assert code == 2 and "not written by 'shakenkit trust update'" in err
    assert (env["out"] / "precious.conf").read_text() == "keep me"
    empty = env["out"].parent / "empty"
    empty.mkdir()
    code, _, _ = run(
        capsys,
        "trust", "update", "--out", str(empty), "--stipa-root", str(env["root"]),
        "--ca-list", str(_write(env, good(stipa, pkis, "a"))),
        "--cert", f"{stipa.x5u}={env['signer']}",
    )  # fmt: skip
    assert code == 0


# -- the live API: login, credentials ----------------------------------------------------------


def test_bad_login_is_refused_and_the_credentials_never_show(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, Path],
    srv: StiPaServer,
    pkis: dict[str, TestPKI],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stand-in echoes the rejected credentials in its message, as a careless API might;
    shakenkit shows the status and the message with them scrubbed."""
    monkeypatch.setenv("SHAKENKIT_STIPA_USER", "api-user")
    monkeypatch.setenv("SHAKENKIT_STIPA_PASSWORD", "Wr0ng-Pa55-Phrase")
    srv.ca_list_body = answer(good(srv.stipa, pkis, "a", sequence=1))
    code, out, err = update_live(capsys, env, srv)
    assert code == 1
    assert "refused the login (HTTP 401" in err
    assert "Wr0ng-Pa55-Phrase" not in out + err and "api-user" not in out + err
    assert not env["out"].exists()


def test_credentials_never_in_output_success_or_failure(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, Path],
    srv: StiPaServer,
    pkis: dict[str, TestPKI],
    creds: None,
) -> None:
    outputs = []
    srv.ca_list_body = answer(good(srv.stipa, pkis, "a", sequence=20))
    outputs.append(update_live(capsys, env, srv))
    srv.ca_list_status = 503
    try:
        outputs.append(update_live(capsys, env, srv))
    finally:
        srv.ca_list_status = 200
    srv.ca_list_body = answer(srv.stipa.sign_list([], sequence=21))
    outputs.append(update_live(capsys, env, srv))
    assert [o[0] for o in outputs] == [0, 1, 1]
    assert "HTTP 503" in outputs[1][2]
    text = "".join(o[1] + o[2] for o in outputs)
    for secret in (srv.password, srv.user, srv.token):
        assert secret not in text
    assert srv.password not in (env["out"] / STATE_FILE).read_text()


def test_credentials_file_must_be_readable_only_by_its_owner(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, Path],
    srv: StiPaServer,
    pkis: dict[str, TestPKI],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SHAKENKIT_STIPA_USER", raising=False)
    monkeypatch.delenv("SHAKENKIT_STIPA_PASSWORD", raising=False)
    f = env["root"].parent / "stipa.env"
    f.write_text(f"SHAKENKIT_STIPA_USER={srv.user}\nSHAKENKIT_STIPA_PASSWORD='{srv.password}'\n")
    srv.ca_list_body = answer(good(srv.stipa, pkis, "a", sequence=1))
    for mode in (0o644, 0o640, 0o604, 0o620):
        f.chmod(mode)
        code, out, err = update_live(capsys, env, srv, "--credentials", str(f))
        assert code == 2 and "readable only by its owner" in err, (mode, err)
        assert srv.password not in out + err
    f.chmod(0o600)
    code, _, err = update_live(capsys, env, srv, "--credentials", str(f))
    assert code == 0, err
    j = env["root"].parent / "stipa.json"
    j.write_text(json.dumps({"userId": srv.user, "password": srv.password}))
    j.chmod(0o400)
    assert StipaCredentials.from_file(j) == StipaCredentials(srv.user, srv.password)
    assert srv.password not in repr(StipaCredentials.from_file(j))


def test_missing_credentials_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, Path],
    srv: StiPaServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SHAKENKIT_STIPA_USER", raising=False)
    monkeypatch.setenv("SHAKENKIT_STIPA_PASSWORD", "x")
    before = srv.counts["/api/v1/auth/login"]
    code, _, err = update_live(capsys, env, srv)
    assert code == 2 and "SHAKENKIT_STIPA_USER" in err
    assert srv.counts["/api/v1/auth/login"] == before


@pytest.mark.parametrize(
    "url, why",
    [
        ("http://127.0.0.1:{port}/api/v1", "scheme 'http'"),
        ("https://127.0.0.1:{port}/api/v1?x=1", "query"),
        ("https://user@127.0.0.1:{port}/api/v1", "userinfo"),
    ],
)
def test_api_url_follows_the_atis_url_rules(
    url: str,
    why: str,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, Path],
    srv: StiPaServer,
    creds: None,
) -> None:
    code, _, err = run(
        capsys,
        "trust", "update", "--out", str(env["out"]), "--stipa-root", str(env["root"]),
        "--stipa-api", url.format(port=srv.port), "--allow-host", srv.host_port,
    )  # fmt: skip
    assert code == 2 and why in err


def test_api_on_a_loopback_address_is_refused_without_allow_host(
    capsys: pytest.CaptureFixture[str], env: dict[str, Path], srv: StiPaServer, creds: None
) -> None:
    """The API URL gets the SSRF guard too: no request reaches a loopback or private address
    (or an odd port) unless --allow-host names it."""
    before = srv.counts["/api/v1/auth/login"]
    for url, why in (
        (srv.base_url, f"port {srv.port} is not allowed"),
        ("https://127.0.0.1/api/v1", "127.0.0.1 is a loopback address"),
        ("https://192.168.0.10:8443/api/v1", "private address"),
    ):
        code, _, err = run(
            capsys,
            "trust", "update", "--out", str(env["out"]), "--stipa-root", str(env["root"]),
            "--stipa-api", url, "--tls-ca", srv.ca_pem_path,
        )  # fmt: skip
        assert code == 2 and "is refused" in err and why in err, err
    assert srv.counts["/api/v1/auth/login"] == before


# -- the trust directory: atomic replacement, exactly the listed roots --------------------------


def _calist(stipa: TestStiPa, roots: list[bytes], sequence: int) -> CaList:
    jws = stipa.sign_list(roots, sequence=sequence)
    return check_ca_list(parse_ca_list(jws), stipa.signer_pem, [stipa.root_pem], now=time.time())


def test_readers_see_the_old_list_or_the_new_one_never_a_mix(
    tmp_path: Path, stipa: TestStiPa, pkis: dict[str, TestPKI]
) -> None:
    """A reader loading the directory while it is replaced again and again gets one whole list
    each time (the swap is one rename; the reader reads through one directory handle)."""
    out = tmp_path / "trust"
    lists = [
        _calist(stipa, [pkis["a"].root_pem, pkis["b"].root_pem], 1),
        _calist(stipa, [pkis["c"].root_pem], 2),
    ]
    wanted = [frozenset(r.fingerprint for r in cl.roots) for cl in lists]
    install_ca_list(out, lists[0], fetched=time.time(), source="file")
    stop = threading.Event()
    seen: list[frozenset[str]] = []
    errors: list[BaseException] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                store = TrustStore([out])
                seen.append(frozenset(c.fingerprint for c in store.snapshot().certs))
            except BaseException as e:
                errors.append(e)

    t = threading.Thread(target=reader)
    t.start()
    try:
        for i in range(60):  # alternate; sequence rises so every install replaces
            cl = lists[i % 2]
            bumped = _calist(stipa, [pem(r.der) for r in cl.roots], 3 + i)
            install_ca_list(out, bumped, fetched=time.time(), source="file")
    finally:
        stop.set()
        t.join()
    assert not errors, errors[:3]
    assert seen and set(seen) <= set(wanted)
    assert len(set(seen)) == 2  # the reader did see both lists


def test_failure_while_writing_leaves_the_directory_as_it_was(
    tmp_path: Path,
    stipa: TestStiPa,
    pkis: dict[str, TestPKI],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "trust"
    install_ca_list(out, _calist(stipa, [pkis["a"].root_pem], 1), fetched=1.0, source="file")
    before = snapshot(out)
    calls = {"n": 0}
    real = trustdir._write

    def failing(directory: Path, name: str, data: bytes, mode: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        real(directory, name, data, mode)

    monkeypatch.setattr(trustdir, "_write", failing)
    new = _calist(stipa, [pkis["b"].root_pem, pkis["c"].root_pem], 2)
    with pytest.raises(CaListError, match="No space left") as e:
        install_ca_list(out, new, fetched=2.0, source="file")
    assert e.value.kind == "directory"
    assert snapshot(out) == before  # no leftover .trust.new-* beside it either


def test_concurrent_updates_never_roll_each_other_back(
    tmp_path: Path, stipa: TestStiPa, pkis: dict[str, TestPKI]
) -> None:
    out = tmp_path / "trust"
    lists = [_calist(stipa, [pkis["abc"[i % 3]].root_pem], i) for i in range(1, 13)]
    results: list[str] = []

    def install(cl: CaList) -> None:
        try:
            results.append(install_ca_list(out, cl, fetched=time.time(), source="file").status)
        except CaListError as e:
            results.append(e.kind)

    threads = [threading.Thread(target=install, args=(cl,)) for cl in reversed(lists)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    state = read_trust_state(out)
    assert state is not None and state.sequence == 12
    assert set(results) <= {"installed", "rollback"} and "installed" in results


def test_a_planted_root_file_is_not_trusted(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, Path],
    stipa: TestStiPa,
    pkis: dict[str, TestPKI],
) -> None:
    """Roots dropped into a trust directory by hand are ignored, and a root file swapped for
    another certificate makes loading fail instead of trusting it."""
    assert update_file(capsys, env, stipa, good(stipa, pkis, "a"))[0] == 0
    (env["out"] / "extra.pem").write_bytes(pkis["c"].root_pem)
    assert verify(capsys, env, pkis["c"], "c") == 1
    assert verify(capsys, env, pkis["a"], "a") == 0
    state = TrustDirState.from_json((env["out"] / STATE_FILE).read_bytes())
    (env["out"] / state.roots[0].file).write_bytes(pkis["c"].root_pem)
    code, _, err = run(
        capsys, "verify", "--trust", str(env["out"]), "--offline", "--orig", ORIG,
        "--dest", DEST, pkis["c"].sign(orig=ORIG, dest=DEST),
    )  # fmt: skip
    assert code == 2 and "is not the certificate state.json records" in err


def test_plain_directories_still_load_every_pem(tmp_path: Path, pkis: dict[str, TestPKI]) -> None:
    (tmp_path / "a.pem").write_bytes(pkis["a"].root_pem)
    (tmp_path / "b.crt").write_bytes(pkis["b"].root_pem)
    (tmp_path / "notes.txt").write_text("not a certificate")
    assert len(read_anchor_directory(tmp_path)) == 2
    assert len(TrustStore.from_directory(tmp_path)) == 2


def test_trust_store_from_ca_list_is_exactly_its_roots(
    stipa: TestStiPa, pkis: dict[str, TestPKI]
) -> None:
    cl = _calist(stipa, [pkis["a"].root_pem, pkis["b"].root_pem, pkis["a"].root_pem], 1)
    store = TrustStore.from_ca_list(cl)
    assert {c.fingerprint for c in store.snapshot().certs} == {r.fingerprint for r in cl.roots}
    assert len(store) == 2 and any("listed more than once" in w for w in cl.warnings)
    assert len(cl.trust_store()) == 2


# -- the library: parse and check, the order of checks ------------------------------------------


def test_check_refuses_an_expired_signer_certificate(
    stipa: TestStiPa, pkis: dict[str, TestPKI]
) -> None:
    jws = stipa.sign_list([pkis["a"].root_pem], sequence=1)
    later = time.time() + 2 * 365 * 86_400  # the signer's certificate expired by then
    signed = parse_ca_list(jws)
    with pytest.raises(CaListError) as e:
        check_ca_list(signed, stipa.signer_pem, [stipa.root_pem], now=later)
    assert e.value.kind == "signer"


def test_check_accepts_a_list_signed_with_the_stipa_root_itself(
    pkis: dict[str, TestPKI],
) -> None:
    root_signed = TestStiPa(x5u="https://sti-pa.example/root.pem")
    root_signed.signer_key = root_signed.root_key
    jws = root_signed.sign_list([pkis["a"].root_pem], sequence=1)
    cl = check_ca_list(
        parse_ca_list(jws), root_signed.root_pem, [root_signed.root_pem], now=time.time()
    )
    assert cl.sequence == 1 and len(cl.roots) == 1


def test_check_refuses_an_rsa_signer(stipa: TestStiPa, pkis: dict[str, TestPKI]) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509 import Name, NameAttribute, load_der_x509_certificate
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = issue_certificate(
        subject=Name([NameAttribute(NameOID.COMMON_NAME, "RSA signer")]),
        key=key,
        issuer=load_der_x509_certificate(stipa.root_der).subject,
        issuer_key=stipa.root_key,
        policy=False,
        crl_url=None,
    )
    jws = stipa.sign_list([pkis["a"].root_pem], sequence=1)
    with pytest.raises(CaListError) as e:
        check_ca_list(parse_ca_list(jws), pem(leaf), [stipa.root_pem], now=time.time())
    assert e.value.kind == "signature"


def test_rollback_check_in_the_library(stipa: TestStiPa, pkis: dict[str, TestPKI]) -> None:
    signed = parse_ca_list(stipa.sign_list([pkis["a"].root_pem], sequence=7))
    args = (signed, stipa.signer_pem, [stipa.root_pem])
    assert check_ca_list(*args, now=time.time(), installed_sequence=7).sequence == 7
    with pytest.raises(CaListError) as e:
        check_ca_list(*args, now=time.time(), installed_sequence=8)
    assert e.value.kind == "rollback"


@given(st.binary(max_size=600) | st.text(max_size=600))
@settings(max_examples=300, deadline=None)
def test_parse_never_raises_anything_but_ca_list_error(data: bytes | str) -> None:
    with contextlib.suppress(CaListError):
        parse_ca_list(data)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@given(
    payload=st.fixed_dictionaries(
        {},
        optional={
            "version": _JSON,
            "sequence": _JSON,
            "exp": _JSON,
            "trustList": st.lists(_JSON | st.just("-----BEGIN CERTIFICATE-----"), max_size=4)
            | _JSON,
        },
    )
)
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_signed_hostile_payloads_give_a_verdict_or_a_ca_list_error(
    payload: dict[str, Any], stipa: TestStiPa
) -> None:
    """Even signed by the real signer, any payload gives a CaList or a CaListError."""
    jws = stipa.sign_list([], sequence=0, payload=payload)
    try:
        cl = check_ca_list(parse_ca_list(jws), stipa.signer_pem, [stipa.root_pem], now=time.time())
    except CaListError:
        return
    assert cl.roots and isinstance(cl.sequence, int)


def test_signature_is_checked_over_the_received_bytes(stipa: TestStiPa) -> None:
    """Re-serialized JSON would verify a different text: only the received one counts."""
    head = b64url(json.dumps({"alg": "ES256", "x5u": stipa.x5u}).encode())
    body = b64url(b'{"sequence": 1,  "exp": 9999999999, "trustList": []}')
    sig = es256(stipa.signer_key, f"{head}.{body}".encode())
    jws = f"{head}.{body}.{b64url(sig)}"
    with pytest.raises(CaListError) as e:  # the signature holds; the list is empty
        check_ca_list(parse_ca_list(jws), stipa.signer_pem, [stipa.root_pem], now=time.time())
    assert e.value.kind == "empty"


def test_api_answer_status_and_shapes() -> None:
    with pytest.raises(CaListError, match="no 'caList'"):
        parse_ca_list(b'{"status": "success"}')
    with pytest.raises(CaListError, match="over the 10-byte limit"):
        parse_ca_list(b"x" * 11, max_bytes=10)
    with pytest.raises(CaListError, match="duplicate"):
        parse_ca_list(b'{"caList": "a.b.c", "caList": "d.e.f"}')


def test_credentials_parsing_shapes(tmp_path: Path) -> None:
    f = tmp_path / "c"
    for text in (
        'export SHAKENKIT_STIPA_USER="u1"\nSHAKENKIT_STIPA_PASSWORD=p=1\n',
        '{"user": "u1", "password": "p=1"}',
        "# comment\nuserId=u1\npassword = p=1\n",
        "u1\np=1\n",
        "u1:p=1\n",
    ):
        f.write_text(text)
        f.chmod(0o600)
        c = StipaCredentials.from_file(f)
        assert (c.user, c.password) == ("u1", "p=1")
    f.write_text("user=u1\n")
    with pytest.raises(ValueError, match="does not give both"):
        StipaCredentials.from_file(f)
    link = tmp_path / "link"
    link.symlink_to(f)
    with pytest.raises(ValueError):
        StipaCredentials.from_file(link)
    if os.geteuid() != 0:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600


def test_traceback_config_reads_exactly_the_list(
    capsys: pytest.CaptureFixture[str],
    env: dict[str, Path],
    stipa: TestStiPa,
    pkis: dict[str, TestPKI],
) -> None:
    """traceback (and its worker processes) load a trust directory as verify does."""
    from shakenkit.traceback import VerifierConfig

    assert update_file(capsys, env, stipa, good(stipa, pkis, "a", "b"))[0] == 0
    (env["out"] / "planted.pem").write_bytes(pkis["c"].root_pem)
    config = VerifierConfig.load(trust_anchors=[env["out"]])
    got = {TrustStore([a]).snapshot().certs[0].fingerprint for a in config.trust_anchors}
    want = {TrustStore([pkis[n].root_pem]).snapshot().certs[0].fingerprint for n in "ab"}
    assert got == want


def test_signer_key_rotation_under_the_same_x5u_is_followed(
    tmp_path: Path, srv: StiPaServer, pkis: dict[str, TestPKI]
) -> None:
    """A long-running updater (serve) caches the signer's certificate; when the STI-PA rotates
    the key under the same x5u, the next list is checked against a fresh fetch, not refused."""
    from shakenkit.repository import FetchPolicy, HttpsSource
    from shakenkit.repository.stipa import update_trust_dir

    stipa = TestStiPa(x5u=srv.stipa.x5u)
    stipa.root_key, stipa.root_der = srv.stipa.root_key, srv.stipa.root_der
    stipa.rotate_signer()
    srv.signer_chain = stipa.signer_pem
    policy = FetchPolicy(allow_hosts=frozenset({srv.host_port}), tls_ca_file=srv.ca_pem_path)
    source = HttpsSource(policy, key_refresh_after=0.0)
    out = tmp_path / "trust"
    try:
        for seq in (1, 2):
            jws = stipa.sign_list([pkis["a"].root_pem], sequence=seq)
            update = update_trust_dir(
                out, stipa_roots=[stipa.root_pem], source=source, ca_list=jws.encode()
            )
            assert update.install.status == "installed"
            stipa.rotate_signer()
            srv.signer_chain = stipa.signer_pem
    finally:
        srv.signer_chain = srv.stipa.signer_pem
        source.close()
