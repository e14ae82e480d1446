"""Traceback analytics (shakenkit.traceback, shakenkit.report, the ``traceback`` command): one
verdict per call judged at the call's own time, exact and mergeable tables (signers, origids,
gateways, lookup), the same results on one process, on worker processes and merged in any
order, and outputs whose attacker-controlled strings cannot break out (CSV formulas, HTML).

The archive used here is small and hand-counted (:func:`build_archive`); the Dask and browser
tests import it from this module.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import pickle
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shakenkit import Verifier, cli
from shakenkit.cli import traceback as traceback_cli
from shakenkit.sip.capture import read_records
from shakenkit.testing import TestPKI, make_pki, sign_identity
from shakenkit.traceback import (
    Aggregator,
    Call,
    LookupQuery,
    VerdictRecord,
    VerifierConfig,
    analyze,
    flatten,
    parse_time,
    share,
    verify_calls,
    verify_many,
)
from shakenkit.traceback.report import render_report
from tests.conftest import DAY, NOW

T0 = NOW  # 2026-01-01T00:00:00Z: the first call
HOSTILE_ORG = '<script>alert("org")</script> & Co'
HOSTILE_ORIGID = '=HYPERLINK("http://evil.example")"><img src=x onerror=alert(1)>'


def _pki(spc: str, org: str, host: str) -> TestPKI:
    return make_pki(
        spc=spc,
        x5u=f"https://cr.{host}.example/{spc}.pem",
        organization=org,
        crl_url=None,
        not_before=NOW - 30 * DAY,
        not_after=NOW + 300 * DAY,
    )


@dataclass
class Archive:
    """A JSON Lines call archive and what verifies it."""

    path: Path
    config: VerifierConfig
    pkis: dict[str, TestPKI]
    calls: int  # usable records (one invalid line besides)


_PKIS: dict[str, TestPKI] = {}


def pkis() -> dict[str, TestPKI]:
    """The carriers (built once per test session): X and Y sign for their customers, G is a
    gateway (mostly C), H has a hostile organisation name, R sits under an untrusted root."""
    if not _PKIS:
        _PKIS.update(
            X=_pki("100X", "Example Telecom", "x"),
            Y=_pki("200Y", "Other Telecom", "y"),
            G=_pki("300G", "Gateway International", "g"),
            H=_pki("400H", HOSTILE_ORG, "h"),
            R=_pki("999R", "Rogue Telecom", "r"),
        )
    return _PKIS


def config_for(p: dict[str, TestPKI]) -> VerifierConfig:
    trusted = [k for k in p if k != "R"]
    certs = {v.x5u: v.chain_pem for v in p.values()}
    return VerifierConfig(tuple(p[k].root_pem for k in trusted), tuple(certs.items()))


def num(i: int) -> str:
    return f"+1 215 555 {1000 + i:04d}"


def call_plan(p: dict[str, TestPKI], scale: int = 1) -> list[dict[str, Any]]:
    """The calls, in time order, 30 s apart. Per ``scale`` unit (hand-counted in the tests):

    * X: 6 A (3 numbers, origid ox1) + 2 B, a forged signature, a calling-number mismatch, a
      stale PASSporT (403: the verifier stops before fetching; attributed to X all the same);
    * Y: 3 A, 1 C; G: 5 C from one origid over 5 numbers, 1 B; H: 1 A with a hostile origid;
    * R (untrusted root): 2 A (437); an unknown x5u (436); 2 unsigned calls.
    """
    forger = make_pki(spc="100X", crl_url=None).leaf_key
    calls: list[dict[str, Any]] = []
    for u in range(scale):
        base = u * 100

        def add(pki: TestPKI | None, orig: str, *, attest: str = "A", origid: str = "o",
                calling: str | None = None, key: Any = None, x5u: str | None = None,
                age: int = 2) -> None:  # fmt: skip
            t = T0 + 30 * len(calls)
            dest = "+1 215 555 9999"
            rec: dict[str, Any] = {
                "time": t,
                "orig": calling or orig,
                "dest": dest,
                "call_id": f"call-{len(calls)}@test",
            }
            if pki is not None:
                rec["identity"] = sign_identity(
                    key or pki.leaf_key,
                    x5u=x5u or pki.x5u,
                    orig=orig,
                    dest=dest,
                    attest=attest,
                    origid=origid,
                    iat=t - age,
                )
            calls.append(rec)

        X, Y, G, H, R = p["X"], p["Y"], p["G"], p["H"], p["R"]
        for i in range(6):
            add(X, num(base + i % 3), origid="ox1")
        add(X, num(base + 3), attest="B", origid="ox1")
        add(X, num(base + 4), attest="B", origid="ox1")
        add(X, num(base + 5), origid="ox-forged", key=forger)
        add(X, num(base + 6), origid="ox1", calling=num(base + 60))
        add(X, num(base + 7), origid="ox1", age=3600)
        for i in range(3):
            add(Y, num(base + 10 + i), origid="oy1")
        add(Y, num(base + 13), attest="C", origid="oy-gw")
        for i in range(5):
            add(G, num(base + 20 + i), attest="C", origid="og-robo")
        add(G, num(base + 25), attest="B", origid="og-2")
        add(H, num(base + 30), origid=HOSTILE_ORIGID)
        add(R, num(base + 40), origid="or1")
        add(R, num(base + 41), origid="or1")
        add(X, num(base + 50), x5u="https://cr.unknown.example/sp.pem", origid="ou")
        add(None, num(base + 51))
        add(None, num(base + 52))
    return calls


def build_archive(directory: Path, scale: int = 1) -> Archive:
    """Write the archive (with one invalid line in the middle) and its PKI files."""
    p = pkis()
    plan = call_plan(p, scale)
    lines = [json.dumps(c) for c in plan]
    lines.insert(len(lines) // 2, '{"identity": 42}')  # unusable: skipped, counted
    path = directory / "calls.jsonl"
    path.write_text("\n".join(lines) + "\n")
    for k, v in p.items():
        (directory / f"root-{k}.pem").write_bytes(v.root_pem)
        (directory / f"chain-{k}.pem").write_bytes(v.chain_pem)
    return Archive(path, config_for(p), p, len(plan))


def cert_args(a: Archive) -> list[str]:
    args = []
    for k, v in a.pkis.items():
        if k != "R":
            args += ["--trust", str(a.path.parent / f"root-{k}.pem")]
        args += ["--cert", f"{v.x5u}={a.path.parent / f'chain-{k}.pem'}"]
    return ["--offline", *args]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    return build_archive(tmp_path_factory.mktemp("archive"))


@pytest.fixture(scope="module")
def single(archive: Archive) -> Aggregator:
    return analyze(read_records(archive.path), archive.config)


def by_spc(rows: list[dict[str, Any]]) -> dict[str | None, dict[str, Any]]:
    return {r["spc"]: r for r in rows}


# -- verdict records ----------------------------------------------------------------------------


def test_freshness_is_judged_at_the_calls_own_time(archive: Archive) -> None:
    """RFC 8224 §6.2 step 4 after the fact: a captured call passes when it was fresh at its
    own time, though the analysis runs much later; an explicit ``now`` overrides it."""
    p = pkis()["X"]
    h = p.sign(orig=num(0), dest="+1 215 555 9999", iat=T0)
    rec = {"identity": h, "orig": num(0), "dest": "+1 215 555 9999", "time": T0 + 10}
    (v,) = verify_many([rec], archive.config)
    assert (v.verstat, v.caller_id, v.verified_at, v.time) == (
        "TN-Validation-Passed",
        "verified",
        T0 + 10,
        T0 + 10,
    )
    (late,) = verify_many([rec], archive.config, now=T0 + 3600)
    assert late.error is not None and late.error.sip_code == 403


def test_stale_calls_are_attributed_from_configured_certificates(archive: Archive) -> None:
    """A replayed PASSporT fails freshness (403) before its certificate is fetched; traceback
    names the signer from the configured certificate its x5u points at, and never fetches."""
    p = pkis()["X"]
    stale = p.sign(orig=num(0), dest="+12155559999", iat=T0 - 3600)
    elsewhere = p.sign(orig=num(0), dest="+12155559999", iat=T0 - 3600, x5u="https://n.example/x")
    recs = [{"identity": h, "orig": num(0), "dest": "+12155559999", "time": T0}
            for h in (stale, elsewhere)]  # fmt: skip
    a, b = verify_many(recs, archive.config)
    assert a.error is not None and a.error.sip_code == 403 and a.caller_id == "likely_spoofed"
    assert a.signer is not None and (a.signer.spc, a.signer.x5u) == ("100X", p.x5u)
    assert b.error is not None and b.error.sip_code == 403 and b.signer is None


def test_one_verdict_per_call_best_header_wins(archive: Archive) -> None:
    """RFC 8224 §6.2 step 1: a call with several Identity headers is one verdict, the best."""
    p = pkis()
    bad = p["R"].sign(orig=num(0), dest="+12155559999", iat=T0)
    good = p["X"].sign(orig=num(0), dest="+12155559999", attest="B", iat=T0)
    (v,) = verify_many(
        [{"identity": [bad, good], "orig": num(0), "dest": "+12155559999", "time": T0}],
        archive.config,
    )
    assert (v.verstat, v.attest, v.signer and v.signer.spc) == ("TN-Validation-Passed", "B", "100X")


def test_record_forms_give_the_same_verdicts(archive: Archive) -> None:
    """CallRecord (read_records), Call and mappings (ISO 8601 time) are the same calls."""
    from_file = list(verify_many(read_records(archive.path), archive.config))
    plan = [json.loads(x) for x in archive.path.read_text().splitlines()]
    plan = [r for r in plan if not isinstance(r.get("identity"), int)]
    as_calls = [
        Call(
            identity=r.get("identity") or (),
            orig=r["orig"],
            dest=r["dest"],
            time=float(r["time"]),
            call_id=r["call_id"],
        )
        for r in plan
    ]
    iso = [
        {**r, "time": parse_time(r["time"]) and _iso(r["time"]), "calling": r["orig"]} for r in plan
    ]
    for r in iso:
        del r["orig"]
    keep = ("verstat", "attest", "caller_id", "error", "origid", "signer", "time", "call_id")

    def strip(rs: list[VerdictRecord]) -> list[tuple[Any, ...]]:
        return [tuple(getattr(r, k) for k in keep) for r in rs]

    assert strip(list(verify_many(as_calls, archive.config))) == strip(from_file)
    assert strip(list(verify_many(iso, archive.config))) == strip(from_file)
    assert from_file[0].source == str(archive.path) and from_file[0].line == 1


def _iso(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def test_unusable_records_are_skipped_and_counted(archive: Archive, single: Aggregator) -> None:
    seen: list[tuple[str, str]] = []
    records = list(
        verify_many(
            read_records(archive.path), archive.config, on_skip=lambda w, y: seen.append((w, y))
        )
    )
    assert len(records) == archive.calls
    assert len(seen) == 1 and "identity" in seen[0][1]
    assert single.summary()["skipped_records"] == 1
    assert list(verify_many([{"time": "yesterday"}, 17], archive.config)) == []


def test_verdict_record_round_trips_and_pickles(archive: Archive) -> None:
    records = list(verify_many(read_records(archive.path), archive.config))
    for r in records:
        assert VerdictRecord.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    assert pickle.loads(pickle.dumps(records)) == records
    d = records[0].to_dict()
    fields = "verstat attest caller_id likely_spoofed error origid orig_tn dest_tns iat signer"
    for k in [*fields.split(), "warnings", "source", "line", "call_id", "time"]:
        assert k in d
    assert "checks" not in d


# -- tables -------------------------------------------------------------------------------------


def test_signers_table_counts(single: Aggregator) -> None:
    """By signing carrier (SPC, organisation, issuing STI-CA): exact counts."""
    rows = by_spc(single.signers())
    assert set(rows) == {"100X", "200Y", "300G", "400H", "999R"}
    x = rows["100X"]
    assert x["organization"] == "Example Telecom"
    assert x["issuer"].startswith("CN=shakenkit Test STI-CA")
    assert x["calls"] == 11  # the stale one too: its x5u names X's configured certificate
    assert x["attest"] == {"A": 9, "B": 2, "C": 0}
    assert x["caller_id"] == {"verified": 6, "unverified": 2, "likely_spoofed": 3}
    assert x["caller_id_share"] == {
        "verified": 0.5455,
        "unverified": 0.1818,
        "likely_spoofed": 0.2727,
    }
    assert x["top_errors"] == [{"sip_code": 438, "calls": 2}, {"sip_code": 403, "calls": 1}]
    assert x["numbers"] == 8  # 3 A, 2 B, the forged, the mismatched caller, the stale
    assert x["first_seen"] == T0 and x["last_seen"] == T0 + 30 * 10
    r = rows["999R"]
    assert (r["calls"], r["caller_id"]["likely_spoofed"], r["top_errors"]) == (
        2,
        2,
        [{"sip_code": 437, "calls": 2}],
    )
    assert [row["spc"] for row in single.signers()][:2] == ["100X", "300G"]  # by volume


def test_summary_counts(single: Aggregator, archive: Archive) -> None:
    s = single.summary()
    assert s["calls"] == archive.calls == 27
    assert s["no_signer"] == 3  # unknown x5u, 2 unsigned
    assert s["caller_id"] == {"verified": 10, "unverified": 12, "likely_spoofed": 5}
    assert sum(r["calls"] for r in single.signers()) + s["no_signer"] == s["calls"]


def test_origid_table_one_origid_many_numbers(single: Aggregator) -> None:
    rows = {r["origid"]: r for r in single.origids()}
    robo = rows["og-robo"]
    assert (robo["calls"], robo["signers"], robo["numbers"], robo["spcs"]) == (5, 1, 5, ["300G"])
    assert rows["ox1"]["calls"] == 10  # X's calls but the forged one
    assert rows["ox1"]["signers"] == 1


def test_gateway_view_lists_c_signers(single: Aggregator) -> None:
    """Carriers that sign C (RFC 8588 §4), most C calls first; carriers without C absent."""
    rows = single.gateways()
    assert [(r["spc"], r["c_calls"], r["calls"]) for r in rows] == [
        ("300G", 5, 6),
        ("200Y", 1, 4),
    ]
    assert rows[0]["c_share"] == 0.8333 and rows[0]["c_numbers"] == 5


def test_lookup_by_number_and_window_in_time_order(archive: Archive) -> None:
    q = LookupQuery("tel:+1-215-555-1000", T0 + 30, T0 + 30 * 3)
    agg = analyze(reversed(list(read_records(archive.path))), archive.config, lookup=q)
    rows = agg.lookup()
    assert [r["time"] for r in rows] == [T0 + 90]  # calls 0 and 3 use number 1000; 0 is early
    everything = analyze(
        read_records(archive.path), archive.config, lookup=LookupQuery("2155551000")
    ).lookup()
    assert [r["time"] for r in everything] == [T0, T0 + 90]
    assert everything[0]["spc"] == "100X" and everything[0]["origid"] == "ox1"
    with pytest.raises(ValueError):
        LookupQuery("not a number")
    with pytest.raises(ValueError):
        LookupQuery("2155551000", 10, 5)


def test_shares_are_exact_and_rounded_half_even() -> None:
    assert [share(1, 3), share(2, 3), share(1, 8), share(0, 0)] == [0.3333, 0.6667, 0.125, 0.0]
    assert share(1, 20_000) == 0.0 and share(3, 20_000) == 0.0002  # .00005 -> 0, .00015 -> .0002


def test_timeline_buckets() -> None:
    agg = Aggregator()
    base = VerdictRecord(
        "TN-Validation-Failed", "A", "likely_spoofed", True, None, None, None, (), None, None,
        None, (), None, None, None, None, None, 0.0, 0.0, None, None,
    )  # fmt: skip
    for t in (0, 59, 60, 3 * 3600):
        agg.add(base._replace(time=float(1_767_225_600 + t)))
    rows = agg.timeline()
    assert rows[0] == {
        "start": 1_767_225_600,
        "seconds": 300,
        "calls": 3,
        "failed": 3,
        "likely_spoofed": 3,
    }
    assert len(rows) == 37 and sum(r["calls"] for r in rows) == 4
    assert agg.timeline(3600)[-1]["calls"] == 1
    with pytest.raises(ValueError):
        agg.timeline(90)


# -- merging and workers ------------------------------------------------------------------------


def test_merge_of_any_split_equals_one_pass(archive: Archive, single: Aggregator) -> None:
    """Partial aggregates over any partition of the calls, merged in any order, equal the
    single pass exactly (counts, sets, first/last seen, lookups)."""
    q = LookupQuery(num(0))
    records = list(verify_many(read_records(archive.path), archive.config))
    whole = Aggregator(q).update(records)
    rnd = random.Random(7)
    for _ in range(5):
        cuts = sorted(rnd.sample(range(1, len(records)), 4))
        parts = [
            Aggregator(q).update(records[a:b])
            for a, b in itertools.pairwise([0, *cuts, len(records)])
        ]
        rnd.shuffle(parts)
        parts = [pickle.loads(pickle.dumps(p)) for p in parts]
        assert Aggregator.merged(parts, q).tables() == whole.tables()
    single_tables = single.tables()
    mine = whole.tables()
    del mine["lookup"]
    single_tables["summary"]["skipped_records"] = 0
    assert mine == single_tables
    with pytest.raises(ValueError):
        Aggregator(q).merge(Aggregator())


def test_verify_many_two_workers_same_records_in_order(archive: Archive) -> None:
    one = list(verify_many(read_records(archive.path), archive.config))
    two = list(
        verify_many(read_records(archive.path), archive.config, workers=2, chunk_size=3, window=3)
    )
    assert two == one
    assert [r.line for r in two] == sorted(r.line or 0 for r in two)


def test_aggregates_identical_on_one_process_and_two_workers(
    archive: Archive, single: Aggregator
) -> None:
    """The acceptance rule: one process, verify_many on 2 workers and analyze on 2 workers give
    identical tables."""
    q = LookupQuery(num(0), T0, T0 + DAY)
    ref = analyze(read_records(archive.path), archive.config, lookup=q).tables()
    via_many = Aggregator(q).update(
        verify_many(read_records(archive.path), archive.config, workers=2, chunk_size=4)
    )
    via_many.skipped = 1
    assert via_many.tables() == ref
    two = analyze(read_records(archive.path), archive.config, workers=2, chunk_size=4, lookup=q)
    assert two.tables() == ref


def test_analyze_writes_the_same_verdicts_on_any_worker_count(archive: Archive) -> None:
    texts = []
    for workers, chunk in ((1, 2000), (2, 5)):
        j, c = io.StringIO(), io.StringIO()
        analyze(
            read_records(archive.path),
            archive.config,
            workers=workers,
            chunk_size=chunk,
            verdicts_jsonl=j,
            verdicts_csv=c,
        )
        texts.append((j.getvalue(), c.getvalue()))
    assert texts[0] == texts[1]
    assert len(texts[0][0].splitlines()) == 27 and len(texts[0][1].splitlines()) == 28


def test_verify_many_streams_with_bounded_input(archive: Archive) -> None:
    """Memory stays flat: the input is consumed only a bounded window ahead of the output."""
    rec = json.loads(archive.path.read_text().splitlines()[0])
    consumed = 0

    def endless() -> Any:
        nonlocal consumed
        while True:
            consumed += 1
            yield rec

    out = verify_many(endless(), archive.config, workers=2, chunk_size=10, window=2)
    first = list(itertools.islice(out, 25))
    out.close()  # type: ignore[attr-defined]
    assert len(first) == 25 and all(r.caller_id == "verified" for r in first)
    assert consumed <= 10 * (2 + 3) + 1


def test_workers_need_a_picklable_configuration(archive: Archive) -> None:
    with pytest.raises(TypeError):
        list(verify_many([], Verifier(), workers=2))
    with pytest.raises(ValueError):
        list(verify_many([], archive.config, workers=-1))


def test_verifier_config_is_picklable_hashable_and_loads_files(
    archive: Archive, tmp_path: Path
) -> None:
    cfg = archive.config
    assert pickle.loads(pickle.dumps(cfg)) == cfg and hash(cfg) == hash(config_for(pkis()))
    d = tmp_path / "roots"
    d.mkdir()
    for k in ("X", "Y", "G", "H"):
        (d / f"{k}.pem").write_bytes(pkis()[k].root_pem)
    (d / "notes.txt").write_text("not a certificate")
    loaded = VerifierConfig.load(
        [d],
        {v.x5u: archive.path.parent / f"chain-{k}.pem" for k, v in pkis().items()},
    )
    assert set(loaded.trust_anchors) == set(cfg.trust_anchors)
    ref = [r.verstat for r in verify_many(read_records(archive.path), cfg)]
    assert [r.verstat for r in verify_many(read_records(archive.path), loaded)] == ref
    with pytest.raises(ValueError):
        VerifierConfig.load([tmp_path / "missing.pem"])


def test_verify_calls_in_process_with_a_verifier(archive: Archive) -> None:
    v = archive.config.build()
    got = list(verify_calls(v, read_records(archive.path)))
    assert got == list(verify_many(read_records(archive.path), v))


# -- outputs ------------------------------------------------------------------------------------


def test_csv_flattening_and_formula_neutralization(single: Aggregator, tmp_path: Path) -> None:
    from shakenkit.traceback import write_tables

    write_tables(single, tmp_path)
    with open(tmp_path / "signers.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    x = next(r for r in rows if r["spc"] == "100X")
    assert (x["attest_A"], x["attest_B"], x["caller_id_likely_spoofed"], x["calls"]) == (
        "9",
        "2",
        "3",
        "11",
    )
    with open(tmp_path / "origids.csv", newline="") as f:
        origids = {r["origid"] for r in csv.DictReader(f)}
    assert "'" + HOSTILE_ORIGID in origids  # a formula in a spreadsheet no more
    assert flatten({"a": {"b": 1}, "e": [{"sip_code": 438, "calls": 2}]}) == {
        "a_b": 1,
        "e": "438:2",
    }
    for name in ("signers", "origids", "gateways"):
        lines = (tmp_path / f"{name}.jsonl").read_text().splitlines()
        assert [json.loads(x) for x in lines] == getattr(single, name)()


def test_report_escapes_attacker_strings(single: Aggregator) -> None:
    """Organisation names and origids come from certificates and calls: escaped in HTML."""
    page = render_report(single, inputs=["<b>calls</b>.jsonl"])
    assert "<script" not in page and "<img" not in page and "<b>calls" not in page
    assert "&lt;script&gt;alert(&quot;org&quot;)&lt;/script&gt; &amp; Co" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "default-src &#x27;none&#x27;" in page or "default-src 'none'" in page
    for chart in ("chart-signers", "chart-verdicts", "chart-timeline"):
        assert f'<svg id="{chart}"' in page
    assert re.search(r"<[a-z]+[^>]*\s(src|href)=", page) is None and "<link" not in page
    assert render_report(single) == render_report(single)  # deterministic


def test_report_of_nothing() -> None:
    page = render_report(Aggregator(LookupQuery("2155551000")))
    assert "no signed calls" in page and "no calls with a known time" in page


# -- the command --------------------------------------------------------------------------------


def tb(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``shakenkit traceback ...`` through the parser, as cli.main wires it."""
    p = cli.build_parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    if "traceback" not in sub.choices:
        traceback_cli.add_parser(sub)
    try:
        args = p.parse_args(["traceback", *argv])
        code = traceback_cli.run(args, sys.stdout)
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_prints_the_signer_table(archive: Archive, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = tb([*cert_args(archive), str(archive.path)], capsys)
    assert code == 0, err
    assert out.startswith("27 calls: 10 verified, 12 unverified, 5 likely spoofed")
    assert "100X" in out and "Example Telecom" in out and "TOP_ERRORS" in out
    assert "skipped" in err


def test_cli_out_dir_files_and_fields(
    archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    report = tmp_path / "report.html"
    code, _, err = tb(
        [*cert_args(archive), "--workers", "2", "--out", str(out_dir), "--report", str(report),
         "--number", num(0), "--from", _iso(T0), "--to", str(T0 + DAY), str(archive.path)],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    names = {p.name for p in out_dir.iterdir()}
    for n in ("verdicts", "signers", "origids", "gateways", "lookup"):
        assert f"{n}.jsonl" in names and f"{n}.csv" in names
    assert len((out_dir / "verdicts.jsonl").read_text().splitlines()) == 27
    signers = [json.loads(x) for x in (out_dir / "signers.jsonl").read_text().splitlines()]
    x = by_spc(signers)["100X"]
    assert {"spc", "organization", "issuer", "calls", "attest", "caller_id"} <= set(x)
    assert x["attest"] == {"A": 9, "B": 2, "C": 0}
    origids = [json.loads(x) for x in (out_dir / "origids.jsonl").read_text().splitlines()]
    assert {"origid", "calls", "signers", "numbers"} <= set(origids[0])
    lookup = [json.loads(x) for x in (out_dir / "lookup.jsonl").read_text().splitlines()]
    assert [r["time"] for r in lookup] == [T0, T0 + 90]
    assert report.read_text().startswith("<!DOCTYPE html>")
    with open(out_dir / "gateways.csv", newline="") as f:
        assert next(csv.DictReader(f))["c_calls"] == "5"


def test_cli_json_lines(archive: Archive, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = tb(
        [*cert_args(archive), "--json", "--number", num(0), str(archive.path)], capsys
    )
    assert code == 0
    rows = [json.loads(x) for x in out.splitlines()]
    assert {r["table"] for r in rows} == {"signers", "lookup"}
    assert by_spc([r for r in rows if r["table"] == "signers"])["300G"]["attest"]["C"] == 5


def test_cli_reads_captures(capsys: pytest.CaptureFixture[str]) -> None:
    data = Path(__file__).parent / "data" / "samples"
    code, out, err = tb(
        ["--offline", "--trust", str(data / "root.pem"), "--cert",
         f"https://cr.example.com/sp/123A.pem={data / 'chain.pem'}", "--json",
         str(data / "calls.pcap"), str(data / "calls.sip")],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    (row,) = [json.loads(x) for x in out.splitlines()]
    assert row["spc"] == "123A" and row["calls"] == 7 + 5  # the unsigned call: no signer


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from", "0"], "--from/--to need --number"),
        (["--number", "nope"], "not a telephone number"),
        (["--from", "soon", "--number", "2155551000"], "argument --from"),
        (["--workers", "-1"], "--workers"),
        (["--trust", "/nonexistent/root.pem"], "cannot read trust anchor file"),
        (["--cert", "no-equals-sign"], "--cert wants URL=PEM_FILE"),
        (["--max-age", "0"], "--max-age must be positive"),
    ],
)
def test_cli_usage_errors(
    archive: Archive, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = tb(["--offline", *argv, str(archive.path)], capsys)
    assert code == 2 and out == ""
    assert err.startswith("shakenkit: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_cli_refuses_unknown_inputs(
    archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import gzip

    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01 not a capture")
    cut = tmp_path / "cut.jsonl.gz"
    packed = gzip.compress(archive.path.read_bytes())
    cut.write_bytes(packed[: len(packed) // 2])  # breaks off mid-stream
    for path in (junk, tmp_path / "missing.pcap", tmp_path, cut):
        code, _, err = tb(["--offline", str(archive.path), str(path)], capsys)
        assert code == 2 and err.splitlines()[-1].startswith("shakenkit: error: ")
        assert str(path) in err.splitlines()[-1]


def test_spawned_workers_give_the_same_records(archive: Archive) -> None:
    """Workers started by ``spawn`` (no inherited state) build their verifier from the
    configuration alone."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    one = list(verify_many(read_records(archive.path), archive.config))
    two = verify_many(
        read_records(archive.path), archive.config, workers=2, chunk_size=9, mp_context=ctx
    )
    assert list(two) == one


def test_analyze_files_slices_equal_reading_here(archive: Archive, tmp_path: Path) -> None:
    """JSON Lines files cut into slices parsed on the workers (also gzip-compressed, with
    over-long and blank lines) give the records and tables of reading the file here."""
    import gzip

    from shakenkit.traceback import analyze_files

    text = archive.path.read_text()
    odd = tmp_path / "odd.jsonl"
    lines = text.splitlines()
    lines[5:5] = ["", "x" * 70_000, "   ", "not json"]
    odd.write_text("\n".join(lines) + "\n")
    packed = tmp_path / "calls.jsonl.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    q = LookupQuery(num(0))
    seen: list[str] = []
    for path in (archive.path, odd, packed):
        ref = analyze(read_records(path), archive.config, lookup=q)
        del seen[:]
        for workers, size in ((1, 1 << 20), (2, 1500)):
            j = io.StringIO()
            got = analyze_files(
                [path], archive.config, workers=workers, slice_bytes=size, lookup=q,
                verdicts_jsonl=j, on_skip=lambda w, _: seen.append(w),
            )  # fmt: skip
            assert got.tables() == ref.tables(), path
            lines_out = [json.loads(x) for x in j.getvalue().splitlines()]
            expected = [r.to_dict() for r in verify_many(read_records(path), archive.config)]
            assert lines_out == expected
        assert len(seen) == 2 * ref.summary()["skipped_records"]


def test_example_traceback_report(tmp_path: Path) -> None:
    """examples/traceback_report.py: tables printed, report written."""
    import os
    import subprocess

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, str(root / "examples" / "traceback_report.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root / "src")},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "signer 123A Example Telecom: 42 calls" in proc.stdout
    assert "gateway 987Z Example Gateway: 18 C-attested calls" in proc.stdout
    assert (tmp_path / "traceback_report.html").read_text().count("<svg") == 3


def test_cli_text_output_cannot_drive_the_terminal(
    archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An origid is the caller's text: escape sequences in it are shown, not sent raw."""
    p = pkis()["X"]
    h = p.sign(orig=num(0), dest="+12155559999", iat=T0, origid="\x1b]0;pwned\x07\x1b[2J")
    f = tmp_path / "esc.jsonl"
    f.write_text(json.dumps({"identity": h, "orig": num(0), "dest": "+12155559999", "time": T0}))
    code, out, _ = tb([*cert_args(archive), "--number", num(0), str(f)], capsys)
    assert code == 0 and "\x1b" not in out and "\x07" not in out
    assert "\\x1b]0;pwned\\x07" in out


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_every_worker_hands_over_its_aggregate(archive: Archive, start: str) -> None:
    """Each worker process keeps its own aggregate and hands it over once at the end: more
    workers than chunks, or no input at all, still add up to the one-process tables."""
    import multiprocessing

    if start not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {start} start method here")
    ctx = multiprocessing.get_context(start)
    ref = analyze(read_records(archive.path), archive.config).tables()
    got = analyze(read_records(archive.path), archive.config, workers=3, mp_context=ctx)
    assert got.tables() == ref
    empty = analyze([], archive.config, workers=3, mp_context=ctx)
    assert empty.tables() == Aggregator().tables()
