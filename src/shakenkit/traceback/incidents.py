"""Traceback incidents: for each calling campaign — an origid (RFC 8588 §5), or a
complained-about calling number — with enough calls, one JSON file and one printable HTML page
holding what a traceback request and its answer need (docs/traceback.md, "Incidents").

The field names follow the Industry Traceback Group's Policies and Procedures where they name
the data ("Incident Data": *originating telephone number*, *called telephone number*, *date and
time of calls*, *volume of calls*, *SIP header anomalies*, *evidence of Caller ID ...
spoofing*, *information about Voice Service Providers in the call path*), in snake case.

Incidents are written in a second pass over the verdict records (``verdicts.jsonl``), after the
aggregate has chosen the campaigns: memory is bounded by ``limit`` campaigns of at most
``sample`` listed calls each, whatever the number of calls. Every string that comes from a call
or a certificate is escaped on the HTML pages, and file names are built from a digest, never
from the text of an origid.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import html
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..certs.certificate import parse_chain
from ..errors import CertificateError
from .aggregates import Aggregator, share, top_errors
from .config import VerifierConfig
from .evidence import Evidence, call_day
from .records import ATTEST_LEVELS, CALLER_IDS, SignerKey, VerdictRecord, _num

__all__ = [
    "DEFAULT_INCIDENT_CALLS",
    "DEFAULT_INCIDENT_LIMIT",
    "DEFAULT_INCIDENT_MIN_CALLS",
    "Campaign",
    "campaigns",
    "certificate_serials",
    "write_incidents",
]

DEFAULT_INCIDENT_MIN_CALLS = 10
DEFAULT_INCIDENT_LIMIT = 100
DEFAULT_INCIDENT_CALLS = 100
TOP_SUBJECTS = 10

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")


@dataclass(frozen=True)
class Campaign:
    """One incident's campaign: ``kind`` ``origid`` or ``number`` and its ``key`` (the origid,
    or the calling number's E.164 digits); ``calls`` as the aggregate counted them."""

    kind: str
    key: str
    calls: int

    @property
    def incident(self) -> str:
        """The incident's name, safe as a file name: the kind, a readable prefix of the key
        and a digest of the whole key."""
        digest = hashlib.sha256(f"{self.kind}\0{self.key}".encode()).hexdigest()[:12]
        slug = _SAFE.sub("_", self.key)[:40].strip("._-") or "x"
        return f"{self.kind}-{slug}-{digest}"


def campaigns(
    agg: Aggregator,
    *,
    min_calls: int = DEFAULT_INCIDENT_MIN_CALLS,
    limit: int | None = DEFAULT_INCIDENT_LIMIT,
) -> list[Campaign]:
    """The campaigns with at least ``min_calls`` calls: origids (all their calls) and
    complained-about numbers (their calls that matched a complaint), most calls first (ties:
    origids first, then by key), at most ``limit`` (None: all)."""
    if min_calls < 1:
        raise ValueError("min_calls must be >= 1")
    found = [Campaign("origid", r["origid"], r["calls"]) for r in agg.origids()]
    if agg.evidence is not None and agg.evidence.complaints is not None:
        found += [Campaign("number", r["number"], r["calls"]) for r in agg.complaints()]
    found = [c for c in found if c.calls >= min_calls]
    found.sort(key=lambda c: (-c.calls, c.kind != "origid", c.key))
    return found if limit is None else found[:limit]


def certificate_serials(config: VerifierConfig) -> dict[str, str]:
    """``x5u`` -> the leaf certificate's serial number (hex) of the configured certificates
    (fetched ones are not known here)."""
    out: dict[str, str] = {}
    for url, pem in config.certificates:
        try:
            out[url] = format(parse_chain(pem).leaf.cert.serial_number, "x")
        except (CertificateError, ValueError):
            continue
    return out


@dataclass
class _Provider:
    calls: int = 0
    attest: list[int] = field(default_factory=lambda: [0, 0, 0])
    caller_id: list[int] = field(default_factory=lambda: [0, 0, 0])
    complained: int = 0
    unassigned: int = 0
    subject: str = ""
    x5us: set[str] = field(default_factory=set)


@dataclass
class _Incident:
    campaign: Campaign
    calls: int = 0
    first: float | None = None
    last: float | None = None
    likely_spoofed: int = 0
    failed: int = 0
    unassigned: int = 0
    complained: int = 0
    errors: dict[int, int] = field(default_factory=dict)
    reasons: dict[int, str] = field(default_factory=dict)
    spans: set[tuple[int, int]] = field(default_factory=set)
    providers: dict[SignerKey, _Provider] = field(default_factory=dict)
    listed: list[dict[str, Any]] = field(default_factory=list)
    wanted: set[tuple[str, int]] = field(default_factory=set)  # (number, day) of matched calls
    subjects: dict[str, int] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)


_ATTEST = {"A": 0, "B": 1, "C": 2}
_CALLER = {"verified": 0, "unverified": 1, "likely_spoofed": 2}


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _span_count(spans: Iterable[tuple[int, int]]) -> int:
    total, end = 0, -1
    for a, b in sorted(spans):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def _add(
    inc: _Incident,
    r: VerdictRecord,
    number: str | None,
    span: tuple[int, int] | None,
    unassigned: bool,
    sample: int,
    serials: Mapping[str, str],
) -> None:
    inc.calls += 1
    t = r.time
    if t is not None:
        inc.first = t if inc.first is None or t < inc.first else inc.first
        inc.last = t if inc.last is None or t > inc.last else inc.last
    if r.likely_spoofed:
        inc.likely_spoofed += 1
    if r.verstat == "TN-Validation-Failed":
        inc.failed += 1
    if r.error is not None:
        inc.errors[r.error.sip_code] = inc.errors.get(r.error.sip_code, 0) + 1
        inc.reasons.setdefault(r.error.sip_code, r.error.reason)
    if unassigned:
        inc.unassigned += 1
    if span is not None:
        inc.complained += 1
        inc.spans.add(span)
        if number is not None and t is not None and len(inc.wanted) < 50 * sample:
            inc.wanted.add((number, call_day(t)))
    s = r.signer
    if s is not None:
        key = (s.spc, s.organization, s.issuer)
        p = inc.providers.get(key)
        if p is None:
            p = inc.providers[key] = _Provider(subject=s.subject)
        p.calls += 1
        i = _ATTEST.get(r.attest or "")
        if i is not None:
            p.attest[i] += 1
        p.caller_id[_CALLER[r.caller_id]] += 1
        p.complained += span is not None
        p.unassigned += unassigned
        p.x5us.add(s.x5u)
    if len(inc.listed) < sample:
        e = r.error
        inc.listed.append(
            {
                "date_and_time_of_call": _iso(t),
                "time": _num(t),
                "originating_telephone_number": r.calling if r.calling is not None else r.orig_tn,
                "called_telephone_number": r.called
                if r.called is not None
                else (r.dest_tns[0] if r.dest_tns else None),
                "attestation": r.attest,
                "origid": r.origid,
                "signing_provider": None
                if s is None
                else {
                    "spc": s.spc,
                    "organization": s.organization,
                    "certificate_subject": s.subject,
                    "certificate_issuer": s.issuer,
                    "certificate_serial": serials.get(s.x5u),
                    "x5u": s.x5u,
                },
                "gateway": r.attest == "C",
                "verification": {
                    "verstat": r.verstat,
                    "caller_id": r.caller_id,
                    "error_sip_code": None if e is None else e.sip_code,
                    "error_reason": None if e is None else e.reason,
                    "error_check": None if e is None else e.check,
                },
                "complaints_in_window": 0 if span is None else span[1] - span[0],
                "unassigned_exchange": unassigned,
                "call_id": r.call_id,
                "source": r.source,
                "frame": r.frame,
                "line": r.line,
            }
        )


def _collect(
    agg: Aggregator,
    records: Iterable[VerdictRecord],
    chosen: list[Campaign],
    sample: int,
    serials: Mapping[str, str],
) -> list[_Incident]:
    ev = agg.evidence
    if ev is not None and not ev.attached:
        raise ValueError("incidents need the evidence itself, not a detached description")
    incidents = [_Incident(c) for c in chosen]
    by_origid = {i.campaign.key: i for i in incidents if i.campaign.kind == "origid"}
    by_number = {i.campaign.key: i for i in incidents if i.campaign.kind == "number"}
    for r in records:
        number = r.number
        span = None
        unassigned = False
        if ev is not None:
            if ev.complaints is not None and number is not None and r.time is not None:
                a, b = ev.complaints.window(number, call_day(r.time), ev.window)
                span = (a, b) if a < b else None
            unassigned = ev.exchanges is not None and ev.exchanges.unassigned(number)
        oi = by_origid.get(r.origid) if r.origid is not None else None
        if oi is not None:
            _add(oi, r, number, span, unassigned, sample, serials)
        ni = by_number.get(number) if span is not None and number is not None else None
        if ni is not None:
            _add(ni, r, number, span, unassigned, sample, serials)
    if ev is not None and ev.complaints is not None:
        _subjects(incidents, ev)
    return incidents


def _subjects(incidents: list[_Incident], ev: Evidence) -> None:
    """Second pass over the complaint files: the subjects of the complaints each incident's
    calls matched (for at most the days collected per incident)."""
    assert ev.complaints is not None
    wanted: dict[str, list[tuple[int, _Incident]]] = {}
    for inc in incidents:
        for number, day in inc.wanted:
            wanted.setdefault(number, []).append((day, inc))
    if not wanted:
        return
    w = ev.window
    for row in ev.complaints.rows_of(set(wanted)):
        seen: set[int] = set()
        for day, inc in wanted[row.number]:
            if abs(row.day - day) <= w and id(inc) not in seen:
                seen.add(id(inc))
                subject = _CONTROL.sub("\ufffd", row.subject) or "(no subject)"
                inc.subjects[subject] = inc.subjects.get(subject, 0) + 1
                inc.sources[row.format] = inc.sources.get(row.format, 0) + 1


def _document(inc: _Incident, agg: Aggregator) -> dict[str, Any]:
    c = inc.campaign
    ev = agg.evidence
    providers = []
    for key in sorted(inc.providers, key=lambda k: (-inc.providers[k].calls, str(k))):
        p = inc.providers[key]
        prov = None if ev is None else ev.provider(key[0])
        providers.append(
            {
                "role": "signing provider: gateway (C attestation)"
                if p.attest[2] == p.calls
                else "signing provider",
                "spc": key[0],
                "organization": key[1],
                "certificate_issuer": key[2],
                "certificate_subject": p.subject,
                "x5u": sorted(p.x5us),
                "calls": p.calls,
                "attestation": dict(zip(ATTEST_LEVELS, p.attest, strict=True)),
                "gateway_calls": p.attest[2],
                "gateway_share": share(p.attest[2], p.calls),
                "caller_id": dict(zip(CALLER_IDS, p.caller_id, strict=True)),
                "complained_calls": p.complained,
                "unassigned_exchange_calls": p.unassigned,
                "provider": None if prov is None else prov.to_dict(),
                "rmd": None
                if prov is None or (prov.frn is None and prov.rmd_number is None)
                else {"frn": prov.frn, "rmd_number": prov.rmd_number},
            }
        )
    complaints = None
    if ev is not None and ev.complaints is not None:
        ranked = sorted(inc.subjects.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_SUBJECTS]
        complaints = {
            "complaints": _span_count(inc.spans),
            "complained_calls": inc.complained,
            "window_days": ev.window,
            "subjects": [{"subject": s, "complaints": n} for s, n in ranked],
            "sources": dict(sorted(inc.sources.items())),
        }
    return {
        "incident": c.incident,
        "kind": c.kind,
        "origid": c.key if c.kind == "origid" else None,
        "originating_telephone_number": c.key if c.kind == "number" else None,
        "volume_of_calls": inc.calls,
        "date_and_time_of_first_call": _iso(inc.first),
        "date_and_time_of_last_call": _iso(inc.last),
        "first_call": _num(inc.first),
        "last_call": _num(inc.last),
        "voice_service_providers_in_call_path": providers,
        "evidence_of_spoofing": {
            "likely_spoofed_calls": inc.likely_spoofed,
            "failed_verification_calls": inc.failed,
            "unassigned_exchange_calls": inc.unassigned,
            "sip_header_anomalies": [
                {**e, "reason": inc.reasons.get(e["sip_code"], "")} for e in top_errors(inc.errors)
            ],
        },
        "complaints": complaints,
        "calls_listed": len(inc.listed),
        "calls": inc.listed,
    }


def write_incidents(
    agg: Aggregator,
    records: Iterable[VerdictRecord],
    out_dir: str | os.PathLike[str],
    *,
    min_calls: int = DEFAULT_INCIDENT_MIN_CALLS,
    limit: int | None = DEFAULT_INCIDENT_LIMIT,
    sample: int = DEFAULT_INCIDENT_CALLS,
    serials: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write one ``INCIDENT.json`` and one printable ``INCIDENT.html`` per campaign
    (:func:`campaigns`) into ``out_dir``, and ``index.json`` / ``index.html`` listing them;
    returns the paths written. ``records`` are the verdict records of the calls ``agg``
    counted, in input order (read back from ``verdicts.jsonl``, for example); the first
    ``sample`` calls of each campaign are listed. ``serials`` maps ``x5u`` to the leaf
    certificate's serial (:func:`certificate_serials`)."""
    if sample < 1:
        raise ValueError("sample must be >= 1")
    chosen = campaigns(agg, min_calls=min_calls, limit=limit)
    incidents = _collect(agg, records, chosen, sample, serials or {})
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    index = []
    for inc in incidents:
        doc = _document(inc, agg)
        name = inc.campaign.incident
        p = d / f"{name}.json"
        p.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        written.append(p)
        p = d / f"{name}.html"
        p.write_text(render_incident(doc), encoding="utf-8", newline="\n")
        written.append(p)
        index.append(
            {
                "incident": name,
                "kind": doc["kind"],
                "origid": doc["origid"],
                "originating_telephone_number": doc["originating_telephone_number"],
                "volume_of_calls": doc["volume_of_calls"],
                "json": f"{name}.json",
                "html": f"{name}.html",
            }
        )
    p = d / "index.json"
    p.write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    written.append(p)
    p = d / "index.html"
    p.write_text(_render_index(index), encoding="utf-8", newline="\n")
    written.append(p)
    return written


# -- HTML ---------------------------------------------------------------------------------------

_CSS = """
body{font:13px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
margin:24px auto;max-width:1100px;padding:0 16px;color:#212121}
h1{font-size:20px;margin:0 0 6px}h2{font-size:15px;margin:22px 0 6px;border-bottom:1px solid
#e0e0e0}table{border-collapse:collapse;width:100%;font-size:12px;margin:6px 0}
th,td{border:1px solid #e0e0e0;padding:3px 5px;text-align:left;vertical-align:top}
th{background:#f5f5f5}dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px}
dt{color:#616161}dd{margin:0}code{word-break:break-all}.note{color:#757575;font-size:12px}
@media print{body{margin:0;max-width:none}h2{break-after:avoid}tr{break-inside:avoid}}
"""

_HEAD = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
    "style-src 'unsafe-inline'\">"
)


def _e(value: object) -> str:
    """Text for HTML: escaped, control characters replaced."""
    if value is None:
        return ""
    return html.escape(_CONTROL.sub("\ufffd", str(value)), quote=True)


def _table(headers: list[str], rows: Iterable[Iterable[object]]) -> str:
    out = ["<table><thead><tr>", *(f"<th>{_e(h)}</th>" for h in headers), "</tr></thead><tbody>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in r) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def render_incident(doc: Mapping[str, Any]) -> str:
    """One incident as a printable, self-contained HTML page (no script, nothing loaded)."""
    what = (
        f"origid {doc['origid']}"
        if doc["kind"] == "origid"
        else f"calling number {doc['originating_telephone_number']}"
    )
    title = f"Traceback incident: {what}"
    facts = [
        ("incident", doc["incident"]),
        ("volume of calls", doc["volume_of_calls"]),
        ("first call", doc["date_and_time_of_first_call"]),
        ("last call", doc["date_and_time_of_last_call"]),
        ("likely spoofed calls", doc["evidence_of_spoofing"]["likely_spoofed_calls"]),
        ("calls failing verification", doc["evidence_of_spoofing"]["failed_verification_calls"]),
        (
            "calls from unassigned exchanges",
            doc["evidence_of_spoofing"]["unassigned_exchange_calls"],
        ),
    ]
    cp = doc["complaints"]
    if cp is not None:
        facts += [
            (f"complaints (within {cp['window_days']} days)", cp["complaints"]),
            ("calls matching a complaint", cp["complained_calls"]),
        ]
    out = [
        _HEAD,
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        "<dl>",
        *(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts),
        "</dl>",
        "<h2>Voice service providers in the call path (signing providers)</h2>",
        _table(
            [
                "SPC",
                "organisation",
                "certificate subject",
                "STI-CA",
                "x5u",
                "calls",
                "A",
                "B",
                "C (gateway)",
                "complained",
                "provider",
                "RMD status",
            ],
            (
                (
                    p["spc"],
                    p["organization"],
                    p["certificate_subject"],
                    p["certificate_issuer"],
                    " ".join(p["x5u"]),
                    p["calls"],
                    p["attestation"]["A"],
                    p["attestation"]["B"],
                    p["attestation"]["C"],
                    p["complained_calls"],
                    (p["provider"] or {}).get("name", "not in the provider table"),
                    (p["provider"] or {}).get("rmd_status", ""),
                )
                for p in doc["voice_service_providers_in_call_path"]
            ),
        ),
        "<h2>SIP header anomalies (verification failures)</h2>",
        _table(
            ["SIP code", "reason", "calls"],
            (
                (a["sip_code"], a["reason"], a["calls"])
                for a in doc["evidence_of_spoofing"]["sip_header_anomalies"]
            ),
        ),
    ]
    if cp is not None:
        out.append("<h2>Complaint subjects</h2>")
        out.append(
            _table(
                ["subject", "complaints"], ((s["subject"], s["complaints"]) for s in cp["subjects"])
            )
        )
    out.append(f"<h2>Calls ({doc['calls_listed']} of {doc['volume_of_calls']} listed)</h2>")
    out.append(
        _table(
            [
                "date and time (UTC)",
                "originating number",
                "called number",
                "attest",
                "origid",
                "SPC",
                "certificate serial",
                "verstat",
                "error",
                "complaints",
                "where",
            ],
            (
                (
                    c["date_and_time_of_call"],
                    c["originating_telephone_number"],
                    c["called_telephone_number"],
                    c["attestation"],
                    c["origid"],
                    (c["signing_provider"] or {}).get("spc"),
                    (c["signing_provider"] or {}).get("certificate_serial"),
                    c["verification"]["verstat"],
                    c["verification"]["error_sip_code"],
                    c["complaints_in_window"],
                    f"{c['source'] or ''}:{c['line'] if c['line'] is not None else c['frame']}",
                )
                for c in doc["calls"]
            ),
        )
    )
    out.append(
        '<p class="note">Complaints are unverified consumer reports (FTC, FCC); a number in '
        "them may itself have been spoofed. Generated by shakenkit.</p></body></html>\n"
    )
    return "".join(out)


def _render_index(index: list[dict[str, Any]]) -> str:
    rows = (
        (
            i["kind"],
            i["origid"] or i["originating_telephone_number"],
            i["volume_of_calls"],
            i["json"],
            i["html"],
        )
        for i in index
    )
    return "".join(
        [
            _HEAD,
            f"<title>Traceback incidents</title><style>{_CSS}</style></head><body>",
            f"<h1>Traceback incidents ({len(index)})</h1>",
            _table(["kind", "campaign", "calls", "JSON", "page"], rows),
            "</body></html>\n",
        ]
    )
