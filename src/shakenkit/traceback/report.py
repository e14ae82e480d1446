"""A self-contained HTML traceback report: inline CSS and inline SVG charts drawn here, no
script and no external resource (a Content-Security-Policy says so to the browser), so it opens
offline and can be mailed or attached to a traceback request as one file.

Charts: calls by signing carrier and attestation, verdict shares (``caller_id`` and
attestation), failures over time. Tables: summary, signers, gateways, origids, the evidence
joined with the calls (complained-about numbers, signers by complained calls with their
attestation and provider status, calls from unassigned exchanges) and the lookup.

Every string that comes from a call or a certificate (organisation names, SPCs, origids,
numbers, URLs, file names) is attacker-controlled and is HTML-escaped, control characters
replaced, before it reaches the page.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .aggregates import Aggregator, share
from .records import ATTEST_LEVELS, CALLER_IDS

__all__ = ["render_report", "write_report"]

COLORS = {
    "A": "#2e7d32",
    "B": "#1976d2",
    "C": "#ef6c00",
    "none": "#9e9e9e",
    "verified": "#2e7d32",
    "unverified": "#9e9e9e",
    "likely_spoofed": "#c62828",
    "calls": "#90caf9",
    "failed": "#c62828",
}
LABELS = {
    "A": "A (full)",
    "B": "B (partial)",
    "C": "C (gateway)",
    "none": "no attestation",
    "verified": "verified",
    "unverified": "unverified",
    "likely_spoofed": "likely spoofed",
    "calls": "calls",
    "failed": "failed (TN-Validation-Failed)",
}
TOP_SIGNERS = 15

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
margin:24px auto;max-width:1200px;padding:0 16px;color:#212121;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid
#e0e0e0;padding-bottom:4px}p.meta{color:#616161;margin:0 0 16px}
.charts{display:flex;flex-wrap:wrap;gap:16px}.chart{border:1px solid #e0e0e0;border-radius:6px;
padding:8px 12px;background:#fafafa}.chart h3{font-size:14px;margin:4px 0 6px}
svg text{font:11px system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
fill:#424242}
table{border-collapse:collapse;width:100%;font-size:12.5px;margin:6px 0}
th,td{border:1px solid #e0e0e0;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f5f5f5;position:sticky;top:0}td.n{text-align:right;font-variant-numeric:
tabular-nums}tr:nth-child(even) td{background:#fcfcfc}.bad{color:#c62828;font-weight:600}
.note{color:#757575;font-size:12px}code{font-size:12px;word-break:break-all}
dl.summary{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:0}
dl.summary dt{color:#616161}dl.summary dd{margin:0}h3{font-size:15px;margin:18px 0 6px}
"""


def _e(value: object) -> str:
    """Text for HTML (element content or a quoted attribute): escaped, controls replaced."""
    if value is None:
        return ""
    return html.escape(_CONTROL.sub("\ufffd", str(value)), quote=True)


def _short(value: object, n: int = 40) -> str:
    s = "" if value is None else str(value)
    return s if len(s) <= n else s[: n - 1] + "…"


def _time(t: float | None) -> str:
    if t is None:
        return ""
    d = _dt.datetime.fromtimestamp(t, _dt.timezone.utc)
    return d.strftime("%Y-%m-%d %H:%M:%SZ")


def _pct(count: int, total: int) -> str:
    return f"{share(count, total) * 100:.1f}%"


def _fmt(v: float) -> str:
    """An SVG coordinate: at most 2 decimals, no float noise."""
    s = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _rect(x: float, y: float, w: float, h: float, color: str, tip: str) -> str:
    return (
        f'<rect x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(w)}" height="{_fmt(h)}" '
        f'fill="{color}"><title>{_e(tip)}</title></rect>'
    )


def _legend(keys: Sequence[str], x: float, y: float) -> str:
    parts = []
    for k in keys:
        parts.append(_rect(x, y - 9, 10, 10, COLORS[k], LABELS[k]))
        parts.append(f'<text x="{_fmt(x + 14)}" y="{_fmt(y)}">{_e(LABELS[k])}</text>')
        x += 24 + 6.5 * len(LABELS[k])
    return "".join(parts)


# -- charts -----------------------------------------------------------------------------------


def signers_chart(rows: Sequence[Mapping[str, Any]], top: int = TOP_SIGNERS) -> str:
    """Horizontal stacked bars: calls by signer (top ``top``), split by attestation."""
    shown = list(rows[:top])
    width, label_w, row_h, top_pad = 760, 250, 22, 30
    height = top_pad + row_h * max(len(shown), 1) + 12
    bar_w = width - label_w - 70
    peak = max((int(r["calls"]) for r in shown), default=0) or 1
    out = [
        f'<svg id="chart-signers" class="chart-svg" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Calls by signer and attestation">',
        _legend(("A", "B", "C", "none"), label_w, 16),
    ]
    if not shown:
        out.append(f'<text x="{label_w}" y="{top_pad + 14}">no signed calls</text>')
    for i, r in enumerate(shown):
        y = top_pad + i * row_h
        label = f"{r['spc'] or '?'} · {r['organization'] or '(no organisation)'}"
        out.append(
            f'<text x="{label_w - 6}" y="{_fmt(y + 14)}" text-anchor="end">'
            f"{_e(_short(label, 38))}<title>{_e(label)} — {_e(r['issuer'])}</title></text>"
        )
        calls = int(r["calls"])
        counts = [int(r["attest"][k]) for k in ATTEST_LEVELS]
        parts = [*zip(ATTEST_LEVELS, counts, strict=True), ("none", calls - sum(counts))]
        x = float(label_w)
        for key, n in parts:
            if n <= 0:
                continue
            w = bar_w * n / peak
            tip = f"{r['spc']}: {LABELS[key]} {n} of {calls} ({_pct(n, calls)})"
            out.append(_rect(x, y + 3, w, row_h - 6, COLORS[key], tip))
            x += w
        out.append(f'<text x="{_fmt(x + 5)}" y="{_fmt(y + 14)}">{calls}</text>')
    out.append("</svg>")
    return "".join(out)


def _arc(cx: float, cy: float, r: float, r2: float, a0: float, a1: float) -> str:
    """A donut segment from angle ``a0`` to ``a1`` (radians, clockwise from 12 o'clock)."""

    def pt(rad: float, a: float) -> str:
        return f"{_fmt(cx + rad * math.sin(a))} {_fmt(cy - rad * math.cos(a))}"

    large = 1 if a1 - a0 > math.pi else 0
    return (
        f"M {pt(r, a0)} A {_fmt(r)} {_fmt(r)} 0 {large} 1 {pt(r, a1)} "
        f"L {pt(r2, a1)} A {_fmt(r2)} {_fmt(r2)} 0 {large} 0 {pt(r2, a0)} Z"
    )


def verdicts_chart(summary: Mapping[str, Any]) -> str:
    """A donut of ``caller_id`` shares and a 100% bar of attestation over all calls."""
    width, height = 380, 250
    total = int(summary["calls"])
    cx, cy, r, r2 = 95.0, 120.0, 80.0, 48.0
    out = [
        f'<svg id="chart-verdicts" class="chart-svg" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Verdict shares">'
    ]
    if total == 0:
        out.append(f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="#eeeeee"/>')
    a = 0.0
    for key in CALLER_IDS:
        n = int(summary["caller_id"][key])
        if n <= 0:
            continue
        tip = f"{LABELS[key]}: {n} of {total} ({_pct(n, total)})"
        if n == total:
            out.append(
                f'<circle cx="{_fmt(cx)}" cy="{_fmt(cy)}" r="{_fmt((r + r2) / 2)}" fill="none" '
                f'stroke="{COLORS[key]}" stroke-width="{_fmt(r - r2)}"><title>{_e(tip)}</title>'
                "</circle>"
            )
            break
        b = a + 2 * math.pi * n / total
        out.append(
            f'<path d="{_arc(cx, cy, r, r2, a, b)}" fill="{COLORS[key]}"><title>{_e(tip)}'
            "</title></path>"
        )
        a = b
    out.append(f'<text x="{_fmt(cx)}" y="{_fmt(cy + 4)}" text-anchor="middle">{total} calls</text>')
    y = 40.0
    for key in CALLER_IDS:
        n = int(summary["caller_id"][key])
        out.append(_rect(200, y - 9, 10, 10, COLORS[key], LABELS[key]))
        out.append(f'<text x="214" y="{_fmt(y)}">{_e(LABELS[key])}: {n} ({_pct(n, total)})</text>')
        y += 18
    # attestation of all calls, as one 100% bar
    y += 14
    out.append(f'<text x="200" y="{_fmt(y)}">attestation</text>')
    y += 6
    counts = [int(summary["attest"][k]) for k in ATTEST_LEVELS]
    x = 200.0
    for key, n in [*zip(ATTEST_LEVELS, counts, strict=True), ("none", total - sum(counts))]:
        if n <= 0 or total == 0:
            continue
        w = 170 * n / total
        out.append(_rect(x, y, w, 14, COLORS[key], f"{LABELS[key]}: {n} ({_pct(n, total)})"))
        x += w
    y += 30
    for key, n in [*zip(ATTEST_LEVELS, counts, strict=True), ("none", total - sum(counts))]:
        out.append(_rect(200, y - 9, 10, 10, COLORS[key], LABELS[key]))
        out.append(f'<text x="214" y="{_fmt(y)}">{_e(LABELS[key])}: {n}</text>')
        y += 16
    out.append("</svg>")
    return "".join(out)


def timeline_chart(buckets: Sequence[Mapping[str, Any]]) -> str:
    """Columns per time bucket: all calls, with the failed ones (TN-Validation-Failed) and the
    likely-spoofed ones drawn over them."""
    width, height, left, bottom, top_pad = 760, 240, 50, 40, 28
    plot_w, plot_h = width - left - 10, height - bottom - top_pad
    out = [
        f'<svg id="chart-timeline" class="chart-svg" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Failures over time">',
        _legend(("calls", "failed"), left, 16),
    ]
    base = top_pad + plot_h
    out.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#757575"/>')
    if not buckets:
        out.append(f'<text x="{left + 10}" y="{base - 10}">no calls with a known time</text>')
        out.append("</svg>")
        return "".join(out)
    peak = max(int(b["calls"]) for b in buckets) or 1
    out.append(f'<text x="{left - 4}" y="{top_pad + 4}" text-anchor="end">{peak}</text>')
    out.append(f'<text x="{left - 4}" y="{base}" text-anchor="end">0</text>')
    n = len(buckets)
    step = plot_w / n
    bw = max(step * 0.8, 1.0)
    for i, b in enumerate(buckets):
        x = left + i * step + (step - bw) / 2
        calls, failed = int(b["calls"]), int(b["failed"])
        when = f"{_time(b['start'])} (+{int(b['seconds']) // 60} min)"
        if calls:
            h = plot_h * calls / peak
            tip = f"{when}: {calls} calls, {failed} failed, {b['likely_spoofed']} likely spoofed"
            out.append(_rect(x, base - h, bw, h, COLORS["calls"], tip))
        if failed:
            h = plot_h * failed / peak
            out.append(_rect(x, base - h, bw, h, COLORS["failed"], f"{when}: {failed} failed"))
    ticks = sorted({0, n // 4, n // 2, (3 * n) // 4, n - 1})
    for i in ticks:
        x = left + i * step + step / 2
        anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
        x = left if anchor == "start" else left + plot_w if anchor == "end" else x
        out.append(
            f'<text x="{_fmt(x)}" y="{base + 16}" text-anchor="{anchor}">'
            f"{_e(_time(buckets[i]['start'])[5:16])}</text>"
        )
    out.append(
        f'<text x="{left}" y="{height - 4}">bucket: {int(buckets[0]["seconds"]) // 60} min, '
        "times UTC</text>"
    )
    out.append("</svg>")
    return "".join(out)


# -- tables -----------------------------------------------------------------------------------


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Iterable[int] = ()
) -> str:
    num = set(numeric)
    out = ["<table><thead><tr>"]
    out += [f"<th>{_e(h)}</th>" for h in headers]
    out.append("</tr></thead><tbody>")
    for r in rows:
        out.append("<tr>")
        for i, v in enumerate(r):
            cls = ' class="n"' if i in num else ""
            out.append(f"<td{cls}>{v if isinstance(v, _Html) else _e(v)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


class _Html(str):
    """Markup built here from escaped parts (not escaped again)."""


def _errors(top: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"{int(t['sip_code'])}: {int(t['calls'])}" for t in top)


def _capped(rows: Sequence[Any], limit: int, what: str, file: str) -> tuple[Sequence[Any], str]:
    if len(rows) <= limit:
        return rows, ""
    return rows[:limit], (
        f'<p class="note">{limit} of {len(rows)} {_e(what)} shown; all are in '
        f"<code>{_e(file)}</code>.</p>"
    )


def _where(r: Mapping[str, Any]) -> str:
    if r["frame"] is not None:
        return f"{r['source'] or ''}:frame {r['frame']}"
    if r["line"] is not None:
        return f"{r['source'] or ''}:line {r['line']}"
    return str(r["source"] or "")


def _spoofed_cell(n: int, total: int) -> _Html:
    text = f"{n} ({_pct(n, total)})"
    return _Html(f'<span class="bad">{_e(text)}</span>' if n else _e(text))


def _evidence_section(
    agg: Aggregator,
    signers: Sequence[Mapping[str, Any]],
    summary: Mapping[str, Any],
    max_rows: int,
) -> str:
    """Complaints, provider records and NANP exchanges joined with the calls (empty without
    evidence): the top complained-about numbers, and the signers by complained calls with
    their attestation mix and provider status."""
    ev = agg.evidence
    if ev is None:
        return ""
    out = ['<h2 id="evidence">Evidence: complaints, providers, exchanges</h2><dl class="summary">']
    facts: list[tuple[str, str]] = []
    n_complained = int(summary["complained_calls"])
    if ev.complaints is not None:
        files = ev.complaints.files
        facts += [
            ("complaint files", ", ".join(f"{f.path} ({f.format}, {f.used} rows)" for f in files)),
            ("complaint window", f"{ev.window} days either side of a call's day"),
            (
                "calls from complained-about numbers",
                f"{n_complained} ({_pct(n_complained, summary['calls'])})",
            ),
            ("complained-about numbers seen", str(summary["complained_numbers"])),
        ]
    if ev.providers is not None:
        facts.append(("providers in the provider table", str(len(ev.providers))))
    if ev.exchanges is not None:
        facts.append(
            ("calls from unassigned NPA-NXX exchanges", str(summary["unassigned_exchange_calls"]))
        )
    out += [f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts]
    out.append("</dl>")
    if ev.complaints is not None:
        rows = agg.complaints()
        out.append('<h3 id="complaints">Top complained-about numbers</h3>')
        out.append(
            '<p class="note">Calling numbers with consumer complaints (FTC, FCC; unverified) '
            "within the window of their calls: complaints, matched calls, the SPCs that signed "
            "them and those that signed them C (gateway).</p>"
        )
        shown, note = _capped(rows, max_rows, "numbers", "complaints.jsonl")
        out.append(
            _table(
                ("number", "complaints", "calls", "signers", "gateways", "first", "last"),
                (
                    (
                        r["number"],
                        r["complaints"],
                        r["calls"],
                        " ".join(r["signers"]),
                        " ".join(r["gateways"]),
                        _time(r["first_seen"]),
                        _time(r["last_seen"]),
                    )
                    for r in shown
                ),
                numeric=(1, 2),
            )
        )
        out.append(note)
    ranked = sorted(
        (r for r in signers if r["complained_calls"] or r["unassigned_exchange_calls"]),
        key=lambda r: (-r["complained_calls"], -r["unassigned_exchange_calls"], r["spc"] or ""),
    )
    if ev.complaints is not None or ev.exchanges is not None:
        out.append('<h3 id="complained-signers">Signers by complained calls</h3>')
        out.append(
            '<p class="note">The attestation of the calls that matched complaints, and what the '
            "provider table says of the signer (its Robocall Mitigation Database status).</p>"
        )
        shown, note = _capped(ranked, max_rows, "signers", "signers.jsonl")
        out.append(
            _table(
                (
                    "SPC",
                    "organisation",
                    "calls",
                    "complained calls",
                    "A",
                    "B",
                    "C",
                    "unassigned exchanges",
                    "provider",
                    "RMD status",
                ),
                (
                    (
                        r["spc"],
                        r["organization"],
                        r["calls"],
                        f"{r['complained_calls']} ({_pct(r['complained_calls'], r['calls'])})",
                        r["complained_attest"]["A"],
                        r["complained_attest"]["B"],
                        r["complained_attest"]["C"],
                        r["unassigned_exchange_calls"],
                        "not in the provider table"
                        if r["provider"] is None
                        else r["provider"]["name"],
                        "" if r["provider"] is None else r["provider"]["rmd_status"],
                    )
                    for r in shown
                ),
                numeric=(2, 3, 4, 5, 6, 7),
            )
        )
        out.append(note)
    return "".join(out)


def render_report(
    agg: Aggregator,
    *,
    title: str = "STIR/SHAKEN traceback report",
    inputs: Sequence[str] = (),
    generated_at: float | None = None,
    max_rows: int = 200,
) -> str:
    """The report as one HTML document (UTF-8 text). Deterministic for the same aggregator and
    arguments: ``generated_at`` (Unix seconds) is shown only when given."""
    summary = agg.summary()
    signers = agg.signers()
    gateways = agg.gateways()
    origids = agg.origids()
    total = int(summary["calls"])
    meta = []
    if inputs:
        meta.append("inputs: " + ", ".join(f"<code>{_e(i)}</code>" for i in inputs))
    if generated_at is not None:
        meta.append(f"generated {_e(_time(generated_at))}")
    if summary["first_seen"] is not None:
        meta.append(
            f"calls from {_e(_time(summary['first_seen']))} to {_e(_time(summary['last_seen']))}"
        )
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">{" · ".join(meta)}</p>' if meta else "",
        '<h2 id="charts">Charts</h2><div class="charts">',
        '<div class="chart"><h3>Calls by signer and attestation</h3>',
        signers_chart(signers),
        "</div>",
        '<div class="chart"><h3>Verdict shares</h3>',
        verdicts_chart(summary),
        "</div>",
        '<div class="chart"><h3>Failures over time</h3>',
        timeline_chart(agg.timeline()),
        "</div></div>",
        '<h2 id="summary">Summary</h2><dl class="summary">',
    ]
    cid = summary["caller_id"]
    facts: list[tuple[str, str]] = [
        ("calls", str(total)),
        ("verified", f"{cid['verified']} ({_pct(cid['verified'], total)})"),
        ("unverified", f"{cid['unverified']} ({_pct(cid['unverified'], total)})"),
        ("likely spoofed", f"{cid['likely_spoofed']} ({_pct(cid['likely_spoofed'], total)})"),
        ("failed verification", str(summary["failed"])),
        ("top error codes", _errors(summary["top_errors"]) or "none"),
        ("signing carriers", str(summary["signers"])),
        ("carriers signing C (gateways)", str(summary["gateways"])),
        ("origids", str(summary["origids"])),
        ("distinct calling numbers", str(summary["numbers"])),
        ("calls without a known signer", str(summary["no_signer"])),
        ("records skipped (unusable)", str(summary["skipped_records"])),
        ("calls without a time", str(summary["untimed"])),
    ]
    out += [f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts]
    out.append("</dl>")

    out.append('<h2 id="signers">Signers</h2>')
    out.append(
        '<p class="note">By signing certificate: SPC, subject organisation and issuing STI-CA. '
        "Shares are of the signer's calls.</p>"
    )
    shown, note = _capped(signers, max_rows, "signers", "signers.jsonl")
    out.append(
        _table(
            (
                "SPC",
                "organisation",
                "STI-CA (issuer)",
                "calls",
                "A",
                "B",
                "C",
                "verified",
                "unverified",
                "likely spoofed",
                "top errors",
                "numbers",
                "origids",
                "first seen",
                "last seen",
            ),
            (
                (
                    r["spc"],
                    r["organization"],
                    r["issuer"],
                    r["calls"],
                    f"{r['attest']['A']} ({_pct(r['attest']['A'], r['calls'])})",
                    f"{r['attest']['B']} ({_pct(r['attest']['B'], r['calls'])})",
                    f"{r['attest']['C']} ({_pct(r['attest']['C'], r['calls'])})",
                    f"{r['caller_id']['verified']} "
                    f"({_pct(r['caller_id']['verified'], r['calls'])})",
                    r["caller_id"]["unverified"],
                    _spoofed_cell(r["caller_id"]["likely_spoofed"], r["calls"]),
                    _errors(r["top_errors"]),
                    r["numbers"],
                    r["origids"],
                    _time(r["first_seen"]),
                    _time(r["last_seen"]),
                )
                for r in shown
            ),
            numeric=(3, 4, 5, 6, 7, 8, 9, 11, 12),
        )
    )
    out.append(note)

    out.append('<h2 id="gateways">Gateways</h2>')
    out.append(
        '<p class="note">Carriers that sign C (gateway) attestation: where foreign or '
        "unauthenticated traffic enters.</p>"
    )
    shown, note = _capped(gateways, max_rows, "gateways", "gateways.jsonl")
    out.append(
        _table(
            (
                "SPC",
                "organisation",
                "STI-CA (issuer)",
                "C calls",
                "all calls",
                "C share",
                "numbers (C)",
                "origids (C)",
                "likely spoofed (C)",
                "first seen",
                "last seen",
            ),
            (
                (
                    r["spc"],
                    r["organization"],
                    r["issuer"],
                    r["c_calls"],
                    r["calls"],
                    f"{r['c_share'] * 100:.1f}%",
                    r["c_numbers"],
                    r["c_origids"],
                    _spoofed_cell(r["c_caller_id"]["likely_spoofed"], r["c_calls"]),
                    _time(r["first_seen"]),
                    _time(r["last_seen"]),
                )
                for r in shown
            ),
            numeric=(3, 4, 5, 6, 7, 8),
        )
    )
    out.append(note)

    out.append('<h2 id="origids">Origids</h2>')
    out.append(
        '<p class="note">One origid across many numbers points at one originating customer '
        "(RFC 8588 §5).</p>"
    )
    shown, note = _capped(origids, max_rows, "origids", "origids.jsonl")
    out.append(
        _table(
            (
                "origid",
                "calls",
                "signers",
                "SPCs",
                "numbers",
                "likely spoofed",
                "first seen",
                "last seen",
            ),
            (
                (
                    r["origid"],
                    r["calls"],
                    r["signers"],
                    " ".join(r["spcs"]),
                    r["numbers"],
                    _spoofed_cell(r["caller_id"]["likely_spoofed"], r["calls"]),
                    _time(r["first_seen"]),
                    _time(r["last_seen"]),
                )
                for r in shown
            ),
            numeric=(1, 2, 4, 5),
        )
    )
    out.append(note)

    out.append(_evidence_section(agg, signers, summary, max_rows))

    q = agg.query
    if q is not None:
        window = " to ".join(_time(t) if t is not None else "…" for t in (q.start, q.end))
        out.append(f'<h2 id="lookup">Lookup: {_e(q.tn)}</h2>')
        out.append(f'<p class="note">calls from this number, {_e(window)}, in time order</p>')
        matches = agg.lookup()
        shown, note = _capped(matches, max_rows * 5, "calls", "lookup.jsonl")
        out.append(
            _table(
                (
                    "time",
                    "calling",
                    "called",
                    "verstat",
                    "attest",
                    "caller_id",
                    "error",
                    "SPC",
                    "organisation",
                    "origid",
                    "where",
                ),
                (
                    (
                        _time(r["time"]),
                        r["calling"],
                        r["called"],
                        r["verstat"],
                        r["attest"],
                        r["caller_id"],
                        r["error_sip_code"],
                        r["spc"],
                        r["organization"],
                        r["origid"],
                        _where(r),
                    )
                    for r in shown
                ),
            )
        )
        out.append(note)
    out.append("</body></html>\n")
    return "".join(out)


def write_report(agg: Aggregator, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """Write :func:`render_report` to ``path`` (UTF-8); returns the path."""
    p = Path(path)
    p.write_text(render_report(agg, **kwargs), encoding="utf-8", newline="\n")
    return p
