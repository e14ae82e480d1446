"""Evidence for accountability (docs/traceback.md, "Evidence"): calls joined with consumers'
complaints (the FTC Do-Not-Call complaint data and the FCC consumer complaint data, in their
published CSV forms), a provider table keyed by OCN (``ocn,name,rmd_status`` or a Robocall
Mitigation Database export), NANPA's assigned exchanges, and the traceback incidents.

The archive is the hand-counted one of tests/test_traceback.py (27 calls on 2026-01-01, all in
the first quarter hour). Expectations are counted by hand from its call plan.
"""

from __future__ import annotations

import csv
import gzip
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from shakenkit.sip.capture import read_records
from shakenkit.traceback import Aggregator, analyze, analyze_files, write_tables
from shakenkit.traceback.complaints import complaint_day, complaint_number, read_complaints
from shakenkit.traceback.evidence import Evidence, EvidenceError
from shakenkit.traceback.incidents import Campaign, write_incidents
from shakenkit.traceback.nanp import read_exchanges
from shakenkit.traceback.providers import read_providers
from shakenkit.traceback.report import render_report
from tests.test_traceback import (
    HOSTILE_ORIGID,
    Archive,
    build_archive,
    by_spc,
    cert_args,
    num,
    tb,
)

FTC_HEADER = [
    "Company_Phone_Number", "Created_Date", "Violation_Date", "Consumer_City",
    "Consumer_State", "Consumer_Area_Code", "Subject", "Recorded_Message_Or_Robocall",
]  # fmt: skip
FCC_HEADER = [
    "Ticket ID", "Ticket Created", "Date of Issue", "Time of Issue", "Form", "Method", "Issue",
    "Caller ID Number", "Type of Call or Messge", "Advertiser Business Number", "City",
    "State", "Zip", "Location (Center point of the Zip Code)",
]  # fmt: skip


def ftc_row(number: str, violation: str, subject: str = "Reducing your debt") -> list[str]:
    return [number, violation, violation, "Austin", "Texas", "512", subject, "Y"]


def write_ftc(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(FTC_HEADER)
        w.writerows(rows)
    return path


def write_providers(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["ocn", "name", "rmd_status"])
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    return build_archive(tmp_path_factory.mktemp("evidence-archive"))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The complaint file and provider table the tests below count against.

    Complaints (the calls are all on 2026-01-01): num(0) three times in the window and once
    40 days after (X signs its 2 calls A); num(60), the calling number of X's mismatched call;
    num(6), that call's PASSporT ``orig`` (not the calling number given: no match); num(20),
    one of G's 5 C calls; num(51), an unsigned call; num(13) (Y, C) only 40 days before."""
    d = tmp_path_factory.mktemp("evidence-files")
    complaints = write_ftc(
        d / "DNC_Complaint_Numbers_2026-01-15.csv",
        [
            ftc_row("2155551000", "2025-12-20 09:15:00"),
            ftc_row("2155551000", "2026-01-01 11:00:00", "Calls pretending to be government"),
            ftc_row("2155551000", "2026-01-20 18:30:00"),
            ftc_row("2155551000", "2026-02-10 10:00:00"),
            ftc_row("2155551060", "2026-01-03 08:00:00"),
            ftc_row("2155551006", "2026-01-02 08:00:00"),
            ftc_row("2155551020", "2025-12-31 23:59:00"),
            ftc_row("2155551051", "2026-01-01 00:00:00"),
            ftc_row("2155551013", "2025-11-22 12:00:00"),
        ],
    )
    providers = write_providers(
        d / "providers.csv",
        [
            ("100x", "Example Telecom LLC", "Complete STIR/SHAKEN Implementation"),
            ("300G", "Gateway International Ltd", "No STIR/SHAKEN Implementation"),
            ("555Z", "Unrelated Carrier", "Partial STIR/SHAKEN Implementation"),
        ],
    )
    return {"complaints": complaints, "providers": providers}


@pytest.fixture(scope="module")
def evidence(files: dict[str, Path]) -> Evidence:
    return Evidence.load([files["complaints"]], [files["providers"]])


@pytest.fixture(scope="module")
def joined(archive: Archive, evidence: Evidence) -> Aggregator:
    return analyze(read_records(archive.path), archive.config, evidence=evidence)


# -- reading the published formats ---------------------------------------------------------


def test_complaint_numbers_are_canonicalised_like_calls() -> None:
    """RFC 8224 §8.3 as for calls: separators and '+' dropped, 10-digit NANP numbers get 1."""
    for raw in ("2155551000", "215-555-1000", "(215) 555-1000", "+1 215 555 1000",
                "12155551000", "tel:+1-215-555-1000", " 215.555.1000 "):  # fmt: skip
        assert complaint_number(raw) == "12155551000", raw
    assert complaint_number("+44 20 7946 0000") == "442079460000"
    for bad in ("", "N/A", "0000", "1234567890123456", "١٢٣", "215555100#"):
        assert complaint_number(bad) is None, bad


def test_complaint_dates_in_the_published_forms() -> None:
    base = complaint_day("2026-01-01")
    assert base == 20454
    assert complaint_day("2026-01-01 23:59:59") == base  # FTC Violation_Date
    assert complaint_day("01/01/2026") == base  # FCC Date of Issue (CSV export)
    assert complaint_day("2026-01-01T00:00:00.000") == base  # Socrata API
    assert complaint_day("1/2/2026 10:00 AM") == base + 1
    for bad in ("", "yesterday", "2026-13-01", "31/12/2025", "1969-12-31", "2200-01-01"):
        assert complaint_day(bad) is None, bad


def test_ftc_file_is_recognised_and_unusable_rows_counted(tmp_path: Path) -> None:
    p = write_ftc(
        tmp_path / "ftc.csv",
        [
            ftc_row("2155551000", "2026-01-01 10:00:00"),
            ftc_row("", "2026-01-01 10:00:00"),  # no number
            ftc_row("215555", "not a date"),  # a fragment is a number; no date
            ["2155551001", "2026-01-02 00:00:00", ""],  # no violation date: Created_Date
        ],
    )
    index = read_complaints([p])
    (f,) = index.files
    assert (f.format, f.rows, f.used, f.no_number, f.no_date) == ("ftc", 4, 2, 1, 1)
    assert index.days_of("12155551001") == [complaint_day("2026-01-02")]


def test_fcc_file_is_recognised_by_display_or_api_column_names(tmp_path: Path) -> None:
    """The FCC export: the calling number is "Caller ID Number", never the advertiser's
    call-back number; the day is "Date of Issue"."""
    row = ["1", "01/05/2026 10:00:00 AM", "01/04/2026", "10:00 AM", "Phone", "Wireless",
           "Unwanted Calls", "215-555-1000", "Prerecorded Voice", "215-555-1001", "Austin",
           "TX", "78701", "POINT (-97.7 30.2)"]  # fmt: skip
    display = tmp_path / "fcc.csv"
    with open(display, "w", newline="") as f:
        csv.writer(f).writerows([FCC_HEADER, row])
    api = tmp_path / "fcc-api.csv"
    with open(api, "w", newline="") as f:
        csv.writer(f).writerows(
            [["id", "issue_date", "issue_time", "issue_type", "method", "issue",
              "caller_id_number", "type_of_call_or_messge",
              "advertiser_business_phone_number", "state", "zip", "location_1"],
             ["1", "2026-01-04T00:00:00.000", "10:00 AM", "Phone", "Wireless",
              "Unwanted Calls", "215-555-1000", "Prerecorded Voice", "215-555-1001", "TX",
              "78701", ""]]
        )  # fmt: skip
    for p in (display, api):
        index = read_complaints([p])
        assert index.files[0].format == "fcc"
        assert index.days_of("12155551000") == [complaint_day("2026-01-04")]
        assert index.days_of("12155551001") == []


def test_a_file_in_neither_format_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "calls.csv"
    p.write_text("phone,date\n2155551000,2026-01-01\n")
    with pytest.raises(EvidenceError, match=r"unknown format.*FTC.*FCC"):
        read_complaints([p])


def test_empty_and_header_only_files_hold_no_complaints(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    header = write_ftc(tmp_path / "header.csv", [])
    index = read_complaints([empty, header])
    assert [f.format for f in index.files] == ["empty", "ftc"]
    assert index.rows == 0 and index.numbers == 0
    assert index.window("12155551000", 20454, 30) == (0, 0)


def test_empty_provider_and_exchange_files(
    archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty provider table names no provider (a warning says the file is empty); an
    empty exchange file is refused: it would silently flag nothing."""
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    table = read_providers([empty])
    assert len(table) == 0 and table.files[0].format == "empty"
    with pytest.raises(EvidenceError, match="empty"):
        read_exchanges(empty)
    code, _, err = tb([*cert_args(archive), "--providers", str(empty), str(archive.path)], capsys)
    assert code == 0 and "empty file" in err
    code, _, err = tb(
        [*cert_args(archive), "--nanp-exchanges", str(empty), str(archive.path)], capsys
    )
    assert code == 2 and "empty" in err


def test_gzip_complaint_and_provider_files(tmp_path: Path, files: dict[str, Path]) -> None:
    gz = tmp_path / "complaints.csv.gz"
    gz.write_bytes(gzip.compress(files["complaints"].read_bytes()))
    pz = tmp_path / "providers.csv.gz"
    pz.write_bytes(gzip.compress(files["providers"].read_bytes()))
    plain = Evidence.load([files["complaints"]], [files["providers"]])
    zipped = Evidence.load([gz], [pz])
    assert zipped.complaints is not None and plain.complaints is not None
    assert zipped.complaints.rows == plain.complaints.rows == 9
    assert zipped.fingerprint == plain.fingerprint


def test_truncated_gzip_complaint_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    gz = tmp_path / "cut.csv.gz"
    data = gzip.compress(("\n".join([",".join(FTC_HEADER)] + [
        f"215555{i:04d},2026-01-01 00:00:00,2026-01-01 00:00:00,,,,,Y" for i in range(5000)
    ])).encode())  # fmt: skip
    gz.write_bytes(data[: len(data) // 2])
    with pytest.raises(EvidenceError, match="cannot read"):
        read_complaints([gz])


def test_oversized_and_binary_complaint_rows_are_skipped_not_fatal(tmp_path: Path) -> None:
    """Hostile input: a 200 kB field (over the csv module's limit), NUL and non-UTF-8 bytes,
    a row of 10,000 columns: each is counted as unusable, the rest of the file is read."""
    p = tmp_path / "hostile.csv"
    with open(p, "wb") as f:
        f.write((",".join(FTC_HEADER) + "\n").encode())
        f.write(b"2155551000,2026-01-01,2026-01-01,x,y,z," + b"A" * 200_000 + b",Y\n")
        f.write(b"2155551001\x00,2026-01-01,2026-01-01,\xff\xfe,,,s,Y\n")
        f.write(b"," * 10_000 + b"\n")
        f.write(b"2155551002,2026-01-01,2026-01-01,,,,s,Y\n")
    index = read_complaints([p])
    (f,) = index.files
    assert f.unreadable == 1 and f.used == 1
    assert index.days_of("12155551002") == [20454]


def test_provider_table_forms(tmp_path: Path) -> None:
    table = read_providers([write_providers(tmp_path / "p.csv", [(" 100x ", "A", "Complete")])])
    p = table.get("100X")
    assert p is not None and p.to_dict() == {"name": "A", "rmd_status": "Complete"}
    rmd = tmp_path / "rmd.csv"
    rmd.write_text(
        "number,frn,business_name,business_address,implementation,ocn\n"
        'RMD0001,0012345678,Gateway Intl,"1 Main St","No STIR/SHAKEN Implementation",'
        '"300G, 301G"\n'
    )
    table = read_providers([rmd])
    assert table.files[0].format == "rmd"
    for ocn in ("300G", "301g"):
        g = table.get(ocn)
        assert g is not None and (g.name, g.rmd_status, g.frn, g.rmd_number) == (
            "Gateway Intl", "No STIR/SHAKEN Implementation", "0012345678", "RMD0001",
        )  # fmt: skip


def test_rmd_export_without_ocn_and_unknown_provider_files_are_refused(tmp_path: Path) -> None:
    rmd = tmp_path / "rmd.csv"
    rmd.write_text("number,frn,business_name,implementation\nRMD1,1,X,Complete\n")
    with pytest.raises(EvidenceError, match="no OCN column"):
        read_providers([rmd])
    other = tmp_path / "other.csv"
    other.write_text("carrier,status\nX,ok\n")
    with pytest.raises(EvidenceError, match="unknown format"):
        read_providers([other])


# -- the join ---------------------------------------------------------------------------------


def test_complained_calls_per_signer(joined: Aggregator) -> None:
    """A call matches when its calling number (the one given with the call, else the
    PASSporT's orig) was complained about within 30 days of its day, by violation date."""
    rows = by_spc(joined.signers())
    assert rows["100X"]["complained_calls"] == 3  # num(0) twice, the mismatched num(60)
    assert rows["100X"]["complained_attest"] == {"A": 3, "B": 0, "C": 0}
    assert rows["300G"]["complained_calls"] == 1
    assert rows["300G"]["complained_attest"] == {"A": 0, "B": 0, "C": 1}
    for spc in ("200Y", "400H", "999R"):
        assert rows[spc]["complained_calls"] == 0
    s = joined.summary()
    assert (s["complained_calls"], s["complained_numbers"]) == (5, 4)  # + the unsigned call


def test_provider_per_signer(joined: Aggregator) -> None:
    """Keyed by OCN = SPC (case and spaces aside); a signer the table does not name: null."""
    rows = by_spc(joined.signers())
    assert rows["100X"]["provider"] == {
        "name": "Example Telecom LLC",
        "rmd_status": "Complete STIR/SHAKEN Implementation",
    }
    assert rows["300G"]["provider"] == {
        "name": "Gateway International Ltd",
        "rmd_status": "No STIR/SHAKEN Implementation",
    }
    assert rows["200Y"]["provider"] is None and rows["999R"]["provider"] is None


def test_complaints_table_rows(joined: Aggregator) -> None:
    """One row per complained-about number seen in the calls; a number whose complaints all
    fall outside the window (num(13)) gets no row; num(6), only a PASSporT orig, none."""
    rows = joined.complaints()
    assert rows == [
        {"number": "12155551000", "complaints": 3, "calls": 2, "signers": ["100X"],
         "gateways": [], "first_seen": 1767225600, "last_seen": 1767225690},
        {"number": "12155551020", "complaints": 1, "calls": 1, "signers": ["300G"],
         "gateways": ["300G"], "first_seen": 1767226050, "last_seen": 1767226050},
        {"number": "12155551051", "complaints": 1, "calls": 1, "signers": [], "gateways": [],
         "first_seen": 1767226350, "last_seen": 1767226350},
        {"number": "12155551060", "complaints": 1, "calls": 1, "signers": ["100X"],
         "gateways": [], "first_seen": 1767225870, "last_seen": 1767225870},
    ]  # fmt: skip


def test_window_edges(archive: Archive, tmp_path: Path) -> None:
    """Days either side, both ends included: 30 days before and after match, 31 do not;
    with a window of 0 only the call's own (UTC) day."""
    p = write_ftc(
        tmp_path / "edges.csv",
        [ftc_row("2155551000", d) for d in (
            "2025-12-01 12:00:00", "2025-12-02 00:00:00", "2026-01-31 23:59:59",
            "2026-02-01 00:00:00",
        )] + [ftc_row("2155551001", "2025-12-31 23:59:59"),
              ftc_row("2155551002", "2026-01-01 00:00:00")],
    )  # fmt: skip

    def complaints(window: int) -> dict[str, int]:
        agg = analyze(
            read_records(archive.path), archive.config, evidence=Evidence.load([p], window=window)
        )
        return {r["number"]: r["complaints"] for r in agg.complaints()}

    assert complaints(30) == {"12155551000": 2, "12155551001": 1, "12155551002": 1}
    assert complaints(31) == {"12155551000": 4, "12155551001": 1, "12155551002": 1}
    assert complaints(0) == {"12155551002": 1}
    with pytest.raises(ValueError, match="window"):
        Evidence(window=-1)


def test_calls_without_a_time_match_nothing(archive: Archive, evidence: Evidence) -> None:
    from shakenkit.traceback import Call

    agg = analyze([Call(orig=num(0), dest=num(1))], archive.config, evidence=evidence, now=0)
    assert agg.summary()["calls"] == 1 and agg.summary()["untimed"] == 1
    assert agg.summary()["complained_calls"] == 0 and agg.complaints() == []


def test_two_workers_give_the_same_tables(archive: Archive, evidence: Evidence) -> None:
    """The join happens where the calls are verified; each worker gets the evidence once and
    the partial aggregates merge exactly (complaint counts are unions of index positions)."""
    one = analyze_files([archive.path], archive.config, evidence=evidence).tables()
    two = analyze_files(
        [archive.path], archive.config, evidence=evidence, workers=2, slice_bytes=2000
    ).tables()
    assert one == two
    assert one["complaints"] and by_spc(one["signers"])["100X"]["complained_calls"] == 3


def test_spawned_workers_receive_the_evidence(archive: Archive, evidence: Evidence) -> None:
    import multiprocessing

    one = analyze_files([archive.path], archive.config, evidence=evidence).tables()
    spawned = analyze_files(
        [archive.path], archive.config, evidence=evidence, workers=2, slice_bytes=2000,
        mp_context=multiprocessing.get_context("spawn"),
    ).tables()  # fmt: skip
    assert spawned == one


def test_aggregate_travels_without_the_complaint_index(
    archive: Archive, joined: Aggregator, evidence: Evidence, tmp_path: Path
) -> None:
    """A pickled aggregate carries the evidence's description, not its data (the index of a
    big complaint file would travel back from every worker): it still writes its tables,
    merges into the aggregate that holds the evidence, and refuses to join new calls."""
    back = pickle.loads(pickle.dumps(joined))
    assert back.evidence is not None and not back.evidence.attached
    assert back.tables() == joined.tables()
    merged = Aggregator(None, evidence).merge(back)
    assert merged.tables() == joined.tables()
    with pytest.raises(RuntimeError, match="detached"):
        back.add(_one_record(archive))
    big = write_ftc(
        tmp_path / "big.csv", [ftc_row(f"3{i:09d}", "2026-01-01") for i in range(50_000)]
    )
    heavy = Evidence.load([big])
    agg = analyze(read_records(archive.path), archive.config, evidence=heavy)
    assert len(pickle.dumps(heavy)) > 500_000
    assert len(pickle.dumps(agg)) < 50_000


def _one_record(archive: Archive) -> Any:
    from shakenkit.traceback import verify_many

    return next(iter(verify_many(read_records(archive.path), archive.config)))


def test_merging_aggregates_of_different_evidence_is_refused(
    archive: Archive, joined: Aggregator, tmp_path: Path
) -> None:
    other = Evidence.load([write_ftc(tmp_path / "o.csv", [ftc_row("2155551099", "2026-01-01")])])
    with pytest.raises(ValueError, match="different evidence"):
        Aggregator(None, other).merge(joined)
    plain = analyze(read_records(archive.path), archive.config)
    with pytest.raises(ValueError, match="without the evidence"):
        Aggregator(None, other).merge(plain)


# -- NANP exchanges -------------------------------------------------------------------------


def test_nanpa_exchange_file_forms(tmp_path: Path) -> None:
    nanpa = tmp_path / "allutlzd.txt"
    nanpa.write_text(
        "State\tNPA-NXX\tOCN\tCompany\tRateCenter\tEffectiveDate\tUse\tAssignDate\t"
        "Initial/Growth\n"
        "PA\t215-555\t9206\tEXAMPLE TEL\tPHILA\t01/01/2000\tAS\t01/01/2000\tI\n"
        "PA\t215-556\t\t\t\t\tUA\t\t\n"
    )
    t = read_exchanges(nanpa)
    assert t.format == "nanpa" and t.assigned_codes == 1
    assert not t.unassigned("12155551000")
    assert t.unassigned("12155561000")  # listed, not assigned
    assert t.unassigned("12150001000")  # an NXX never assignable
    assert not t.unassigned("16105551000")  # NPA 610 not covered: never flagged
    assert not t.unassigned("442079460000")
    listing = tmp_path / "codes.txt"
    listing.write_text("215-555\n215556\n")
    t = read_exchanges(listing)
    assert t.format == "list" and t.assigned_codes == 2
    cols = tmp_path / "cnac.csv"
    cols.write_text("NPA,CO Code (NXX),Status\n204,200,In Service\n204,201,Unassigned\n")
    t = read_exchanges(cols)
    assert not t.unassigned("12042001234") and t.unassigned("12042011234")
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n")
    with pytest.raises(EvidenceError, match="unknown format"):
        read_exchanges(bad)


def test_calls_from_unassigned_exchanges_per_signer(archive: Archive, tmp_path: Path) -> None:
    """Every archive number is 215-555-xxxx: with 215-555 unassigned, each call whose number
    is NANP is flagged, counted per signer and in the summary."""
    f = tmp_path / "codes.txt"
    f.write_text("215-556\n")
    agg = analyze(
        read_records(archive.path), archive.config, evidence=Evidence.load(nanp_exchanges=f)
    )
    rows = by_spc(agg.signers())
    assert all(r["unassigned_exchange_calls"] == r["calls"] for r in rows.values())
    assert agg.summary()["unassigned_exchange_calls"] == 27
    f.write_text("215-555\n")
    agg = analyze(
        read_records(archive.path), archive.config, evidence=Evidence.load(nanp_exchanges=f)
    )
    assert agg.summary()["unassigned_exchange_calls"] == 0


# -- outputs and the command ------------------------------------------------------------------


def _jsonl(p: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in p.read_text().splitlines()]


def test_cli_out_dir_gains_complaints_and_evidence_columns(
    archive: Archive, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, text, err = tb(
        [*cert_args(archive), "--complaints", str(files["complaints"]), "--providers",
         str(files["providers"]), "--workers", "2", "--out", str(out), str(archive.path)],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "5 complained-about calls" in text
    signers = by_spc(_jsonl(out / "signers.jsonl"))
    assert signers["100X"]["complained_calls"] == 3
    assert signers["200Y"]["provider"] is None
    rows = _jsonl(out / "complaints.jsonl")
    assert [r["number"] for r in rows] == ["12155551000", "12155551020", "12155551051",
                                          "12155551060"]  # fmt: skip
    with open(out / "complaints.csv", newline="") as f:
        first = next(csv.DictReader(f))
    assert first == {"number": "12155551000", "complaints": "3", "calls": "2",
                     "signers": "100X", "gateways": "", "first_seen": "1767225600",
                     "last_seen": "1767225690"}  # fmt: skip
    with open(out / "signers.csv", newline="") as f:
        table = {r["spc"]: r for r in csv.DictReader(f)}
    assert table["100X"]["provider_name"] == "Example Telecom LLC"
    assert table["100X"]["complained_calls"] == "3"
    assert table["200Y"]["provider_name"] == "" and table["200Y"]["provider_rmd_status"] == ""
    summary = json.loads((out / "summary.json").read_text())
    assert summary["summary"]["complained_calls"] == 5
    assert summary["evidence"]["complaints"]["rows"] == 9
    assert summary["evidence"]["providers"]["providers"] == 3


def test_cli_json_prints_the_complaints_table(
    archive: Archive, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = tb(
        [*cert_args(archive), "--json", "--complaints", str(files["complaints"]),
         str(archive.path)],
        capsys,
    )  # fmt: skip
    assert code == 0
    rows = [json.loads(x) for x in out.splitlines()]
    assert {r["table"] for r in rows} == {"signers", "complaints"}
    assert sum(r["table"] == "complaints" for r in rows) == 4


def test_cli_prints_complained_numbers(
    archive: Archive, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = tb(
        [*cert_args(archive), "--complaints", str(files["complaints"]), str(archive.path)],
        capsys,
    )
    assert code == 0
    assert "5 calls from 4 complained-about numbers (complaints within 30 days)" in out
    assert "12155551000" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--complaint-window", "-1"], "--complaint-window"),
        (["--incident-min-calls", "0", "--incidents", "x"], "--incident-min-calls"),
        (["--complaints", "/nonexistent/complaints.csv"], "cannot read"),
    ],
)
def test_cli_evidence_usage_errors(
    archive: Archive, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = tb([*cert_args(archive), *extra, str(archive.path)], capsys)
    assert code == 2 and message in err and err.count("\n") == 1


def test_cli_refuses_a_complaint_file_in_no_known_format(
    archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = tmp_path / "c.csv"
    p.write_text("number,when\n2155551000,2026-01-01\n")
    code, _, err = tb([*cert_args(archive), "--complaints", str(p), str(archive.path)], capsys)
    assert code == 2 and "unknown format" in err


def test_report_has_a_complaints_section(joined: Aggregator) -> None:
    page = render_report(joined)
    assert 'id="complaints"' in page and 'id="complained-signers"' in page
    assert "12155551000" in page and "Example Telecom LLC" in page
    section = page[page.index('id="complained-signers"') :]
    assert "Gateway International Ltd" in section and "Other Telecom" not in section
    assert 'id="evidence"' not in render_report(Aggregator())


def test_hostile_provider_names_are_escaped_in_report_and_neutralized_in_csv(
    archive: Archive, files: dict[str, Path], tmp_path: Path
) -> None:
    """Provider tables are input too: a name that is markup, or a spreadsheet formula."""
    p = write_providers(
        tmp_path / "p.csv",
        [("100X", '<script>alert("p")</script>', '=HYPERLINK("http://evil.example")')],
    )
    agg = analyze(
        read_records(archive.path), archive.config,
        evidence=Evidence.load([files["complaints"]], [p]),
    )  # fmt: skip
    page = render_report(agg)
    assert "<script>" not in page and "&lt;script&gt;" in page
    write_tables(agg, tmp_path / "out")
    with open(tmp_path / "out" / "signers.csv", newline="") as f:
        x = {r["spc"]: r for r in csv.DictReader(f)}["100X"]
    assert x["provider_rmd_status"].startswith("'=")


# -- incidents --------------------------------------------------------------------------------


def test_incidents_of_origids_and_complained_numbers(
    archive: Archive, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inc = tmp_path / "incidents"
    code, _, err = tb(
        [*cert_args(archive), "--complaints", str(files["complaints"]), "--providers",
         str(files["providers"]), "--incidents", str(inc), "--incident-min-calls", "2",
         "--incident-calls", "3", str(archive.path)],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    index = json.loads((inc / "index.json").read_text())
    kinds = [(i["kind"], i["origid"] or i["originating_telephone_number"], i["volume_of_calls"])
             for i in index]  # fmt: skip
    assert kinds == [("origid", "ox1", 10), ("origid", "og-robo", 5), ("origid", "oy1", 3),
                     ("origid", "or1", 2), ("number", "12155551000", 2)]  # fmt: skip
    ox1 = json.loads((inc / index[0]["json"]).read_text())
    assert ox1["volume_of_calls"] == 10 and ox1["calls_listed"] == 3
    (x,) = ox1["voice_service_providers_in_call_path"]
    assert (x["spc"], x["calls"], x["attestation"]) == ("100X", 10, {"A": 8, "B": 2, "C": 0})
    assert x["provider"] == {"name": "Example Telecom LLC",
                             "rmd_status": "Complete STIR/SHAKEN Implementation"}  # fmt: skip
    pki = archive.pkis["X"]
    serial = format(__import__("cryptography.x509", fromlist=["x"]).load_pem_x509_certificate(
        pki.chain_pem).serial_number, "x")  # fmt: skip
    first = ox1["calls"][0]
    assert first["signing_provider"]["certificate_serial"] == serial
    assert first["originating_telephone_number"] == num(0)
    assert first["called_telephone_number"] == "+1 215 555 9999"
    assert first["date_and_time_of_call"] == "2026-01-01T00:00:00Z"
    assert first["verification"]["verstat"] == "TN-Validation-Passed"
    assert first["complaints_in_window"] == 3
    assert ox1["complaints"]["complained_calls"] == 3 and ox1["complaints"]["complaints"] == 4
    number = json.loads((inc / index[-1]["json"]).read_text())
    subjects = {s["subject"]: s["complaints"] for s in number["complaints"]["subjects"]}
    assert subjects == {"Reducing your debt": 2, "Calls pretending to be government": 1}
    assert number["complaints"]["sources"] == {"ftc": 3}
    page = (inc / index[0]["html"]).read_text()
    assert page.startswith("<!DOCTYPE html>") and "default-src 'none'" in page
    assert "Traceback incident: origid ox1" in page
    # with --out (and 2 workers) the incidents read verdicts.jsonl back: the same files
    again = tmp_path / "again"
    code, _, err = tb(
        [*cert_args(archive), "--complaints", str(files["complaints"]), "--providers",
         str(files["providers"]), "--incidents", str(again), "--incident-min-calls", "2",
         "--incident-calls", "3", "--out", str(tmp_path / "out"), "--workers", "2",
         str(archive.path)],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in again.iterdir()) == sorted(p.name for p in inc.iterdir())
    for p in inc.iterdir():
        assert (again / p.name).read_text() == p.read_text(), p.name


def test_incident_of_a_hostile_origid_cannot_escape_its_directory_or_page(
    archive: Archive, joined: Aggregator, tmp_path: Path
) -> None:
    """Path traversal and markup in an origid (it comes from the PASSporT): the file name is
    a slug and a digest; the page escapes it."""
    from shakenkit.traceback import verify_many

    records = list(verify_many(read_records(archive.path), archive.config))
    out = tmp_path / "inc"
    write_incidents(joined, records, out, min_calls=1, limit=None, sample=5)
    assert all(p.parent == out for p in out.rglob("*"))
    name = Campaign("origid", HOSTILE_ORIGID, 1).incident
    assert "/" not in name and "<" not in name and not name.startswith(".")
    page = (out / f"{name}.html").read_text()
    assert "<img" not in page and "&lt;img" in page
    traversal = Campaign("origid", "../../etc/passwd", 1).incident
    assert "/" not in traversal and ".." not in traversal
