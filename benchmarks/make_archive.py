"""Generate a call archive for traceback benchmarks and tests: JSON Lines signed by a test PKI.

    python benchmarks/make_archive.py OUT_DIR [--calls 100000] [--carriers 24] [--seed 1]

Writes into OUT_DIR:

* ``calls.jsonl`` — one call a line (``identity``, ``orig``, ``dest``, ``time``, ``call_id``),
  in time order over one day starting at 2026-01-01T00:00:00Z;
* ``trust.pem`` — the trust anchor (one test STI-PA root);
* ``certs/SPC.pem`` — each carrier's chain (SP certificate, then its STI-CA), served for its
  ``x5u``; ``manifest.json`` maps each ``x5u`` to its file and holds the expected mix.

The PKI: one root, three STI-CAs, ``--carriers`` service providers (SPC ``100A``...) with
Zipf-like volumes; two of them are gateways that sign mostly C. Each carrier has customers
(origids) with their own numbers; a few robocalling customers spread over thousands of numbers.
The mix: signed A/B/C per carrier, unsigned calls, forged signatures (another key, a real
carrier's ``x5u``), stale PASSporTs (``iat`` an hour old), calling-number mismatches, an
unknown ``x5u`` (436) and a carrier under an untrusted root (437). Every call is signed on its
own (~40 us each with the test key), so no two calls share a PASSporT.

Never use the keys for anything but tests.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from shakenkit.testing import (  # noqa: E402
    _der_to_pem,
    _name,
    issue_certificate,
    make_pki,
    sign_identity,
)

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86_400
STI_CAS = ("Alpha STI-CA", "Bravo STI-CA", "Charlie STI-CA")


@dataclass
class Carrier:
    spc: str
    organization: str
    x5u: str
    key: ec.EllipticCurvePrivateKey
    chain_pem: bytes
    issuer: str
    gateway: bool = False
    trusted: bool = True
    customers: list[tuple[str, list[str]]] = field(default_factory=list)


def build_pki(n: int, rnd: random.Random) -> tuple[bytes, list[Carrier], Carrier]:
    """One root, three STI-CAs, ``n`` trusted carriers and one carrier under another root."""
    now = time.time()
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("Bench STI-PA Root", "Bench STI-PA")
    root = issue_certificate(
        subject=root_name,
        key=root_key,
        ca=True,
        policy=False,
        crl_url=None,
        not_before=T0 - 400 * DAY,
        not_after=now + 20 * 365 * DAY,
    )
    cas = []
    for ca_org in STI_CAS:
        k = ec.generate_private_key(ec.SECP256R1())
        nm = _name(f"{ca_org} SHAKEN Issuing", ca_org)
        der = issue_certificate(
            subject=nm,
            key=k,
            issuer=root_name,
            issuer_key=root_key,
            ca=True,
            crl_url=None,
            not_before=T0 - 300 * DAY,
            not_after=now + 10 * 365 * DAY,
        )
        cas.append((k, nm, der, ca_org))
    carriers = []
    for i in range(n):
        spc = f"{100 + i}A"
        org = f"Carrier {i:02d} Telecom"
        gateway = i in (3, 7)
        if gateway:
            org = f"Carrier {i:02d} International Gateway"
        ca_key, ca_name, ca_der, _ = cas[i % len(cas)]
        lkey = ec.generate_private_key(ec.SECP256R1())
        leaf = issue_certificate(
            subject=_name(f"SHAKEN {spc}", org),
            key=lkey,
            issuer=ca_name,
            issuer_key=ca_key,
            spc=spc,
            crl_url=None,
            not_before=T0 - 200 * DAY,
            not_after=now + 365 * DAY,
        )
        carriers.append(
            Carrier(
                spc,
                org,
                f"https://cr.carrier{i:02d}.example/sti/{spc}.pem",
                lkey,
                _der_to_pem(leaf) + _der_to_pem(ca_der),
                ca_name.rfc4514_string(),
                gateway=gateway,
            )
        )
    rogue_pki = make_pki(
        spc="999R", x5u="https://cr.rogue.example/999R.pem", organization="Rogue Telecom"
    )
    rogue = Carrier(
        "999R",
        "Rogue Telecom",
        rogue_pki.x5u,
        rogue_pki.leaf_key,
        rogue_pki.chain_pem,
        "",
        trusted=False,
    )
    for c in [*carriers, rogue]:
        for j in range(rnd.randint(20, 60)):
            origid = f"{c.spc.lower()}-cust-{j:04d}-{rnd.getrandbits(32):08x}"
            count = rnd.choice((1, 1, 2, 3, 5, 10))
            if j == 0:
                count = 3000  # a robocalling customer behind many numbers
            base = rnd.randrange(2_000_000_000, 9_000_000_000)
            c.customers.append((origid, [f"+1{base + k:010d}" for k in range(count)]))
    return _der_to_pem(root), carriers, rogue


def generate(out: Path, calls: int = 100_000, carriers: int = 24, seed: int = 1) -> dict[str, Any]:
    """Write the archive into ``out``; returns the manifest."""
    rnd = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "certs").mkdir(exist_ok=True)
    root_pem, cs, rogue = build_pki(carriers, rnd)
    (out / "trust.pem").write_bytes(root_pem)
    certs = {}
    for c in cs:
        p = out / "certs" / f"{c.spc}.pem"
        p.write_bytes(c.chain_pem)
        certs[c.x5u] = f"certs/{c.spc}.pem"
    (out / "certs" / "999R.pem").write_bytes(rogue.chain_pem)
    certs[rogue.x5u] = "certs/999R.pem"
    weights = [1.0 / (i + 1) ** 0.8 for i in range(len(cs))]
    forger = ec.generate_private_key(ec.SECP256R1())
    mix: dict[str, int] = {}
    step = DAY / calls
    with open(out / "calls.jsonl", "w", encoding="utf-8") as f:
        for n in range(calls):
            t = T0 + int(n * step + rnd.random() * step)
            c = rnd.choices(cs, weights)[0]
            origid, numbers = rnd.choice(c.customers)
            orig = rnd.choice(numbers)
            dest = f"+1{rnd.randrange(2_000_000_000, 9_000_000_000):010d}"
            iat = t - rnd.randint(0, 5)
            if c.gateway:
                attest = rnd.choices("ABC", (2, 8, 90))[0]
            elif c.spc[1] in "02468":  # half the carriers also carry some gateway traffic
                attest = rnd.choices("ABC", (75, 20, 5))[0]
            else:
                attest = rnd.choices("AB", (78, 22))[0]
            kind = rnd.choices(
                ("signed", "unsigned", "forged", "stale", "mismatch", "unknown", "untrusted"),
                (85, 6, 2, 2, 3, 1, 1),
            )[0]
            key, x5u, calling = c.key, c.x5u, orig
            if kind == "forged":
                key = forger
            elif kind == "stale":
                iat = t - 3600
            elif kind == "mismatch":
                calling = f"+1{rnd.randrange(2_000_000_000, 9_000_000_000):010d}"
            elif kind == "unknown":
                x5u = f"https://cr.unknown{rnd.randrange(5)}.example/sti.pem"
            elif kind == "untrusted":
                key, x5u = rogue.key, rogue.x5u
                origid, numbers = rnd.choice(rogue.customers)
                orig = calling = rnd.choice(numbers)
            rec: dict[str, Any] = {"call_id": f"c{n:07d}@bench.example", "time": t}
            rec["orig"], rec["dest"] = calling, dest
            if kind != "unsigned":
                rec["identity"] = sign_identity(
                    key, x5u=x5u, orig=orig, dest=dest, attest=attest, origid=origid, iat=iat
                )
            mix[kind] = mix.get(kind, 0) + 1
            f.write(json.dumps(rec) + "\n")
    manifest = {
        "calls": calls,
        "carriers": len(cs),
        "trust": "trust.pem",
        "certificates": certs,
        "mix": dict(sorted(mix.items())),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--carriers", type=int, default=24)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    t = time.perf_counter()
    m = generate(a.out, a.calls, a.carriers, a.seed)
    print(
        f"wrote {a.out / 'calls.jsonl'}: {m['calls']} calls, {m['carriers']} carriers, "
        f"mix {m['mix']} in {time.perf_counter() - t:.1f} s"
    )
    certs = " ".join(f"--cert {u}={a.out / p}" for u, p in m["certificates"].items())
    print(
        f"shakenkit traceback --offline --trust {a.out / 'trust.pem'} {certs} "
        f"{a.out / 'calls.jsonl'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
