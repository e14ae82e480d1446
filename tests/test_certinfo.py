"""shakenkit.certinfo and `shakenkit cert`: STI certificate details and the SHAKEN profile lint
(ATIS-1000080 §6.4.1, SHAKEN CP; standards digest §6.2), against built certificates and the
real corpus (tests/data/certinfo, copied from the shared corpus)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shakenkit.certs.certificate import StiCertificate, load_certificate, parse_certificates
from shakenkit.certs.certinfo import (
    Finding,
    certificate_role,
    describe_certificate,
    lint_certificate,
)
from shakenkit.cli import main
from shakenkit.testing import make_pki
from tests.conftest import CORPUS, NOW

DATA = Path(__file__).parent / "data" / "certinfo"
CP14 = "2.16.840.1.114569.1.1.4"
CRL = "https://authenticate-api.iconectiv.com/download/v1/crl"
COMCAST_AT = 1_721_000_000  # 2024-07-14: inside the Comcast 318J leaf's validity

_CA_KEY = ec.generate_private_key(ec.SECP256R1())
_CA_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example STI-CA"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Example SHAKEN Intermediate"),
    ]
)


def _tnauthlist(spc: str = "123A", *, entries: int = 1) -> bytes:
    one = b"\xa0" + bytes([len(spc) + 2]) + b"\x16" + bytes([len(spc)]) + spc.encode()
    body = one * entries
    return b"\x30" + bytes([len(body)]) + body


def build(**kw: Any) -> StiCertificate:
    """A SHAKEN end-entity certificate that satisfies the whole profile, with one knob per
    rule to break it."""
    key = kw.get("key") or ec.generate_private_key(ec.SECP256R1())
    ca = kw.get("ca", False)
    subject = kw.get(
        "subject",
        [("C", "US"), ("O", "Example Telecom"), ("CN", "SHAKEN 123A"), ("SN", "1")],
    )
    name = _name(subject)
    self_signed = kw.get("self_signed", False)
    signer = kw.get("signer") or (key if self_signed else _CA_KEY)
    issuer = _name(kw["issuer"]) if "issuer" in kw else (name if self_signed else _CA_NAME)
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(kw.get("serial", x509.random_serial_number()))
        .not_valid_before(dt.datetime.fromtimestamp(NOW - 86_400, dt.timezone.utc))
        .not_valid_after(dt.datetime.fromtimestamp(NOW + 86_400 * 30, dt.timezone.utc))
    )
    if kw.get("bc", True):
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=None), kw.get("bc_crit", True))
    if kw.get("ku", True):
        b = b.add_extension(
            x509.KeyUsage(
                digital_signature=not ca or kw.get("ku_ds", False),
                content_commitment=False,
                key_encipherment=kw.get("ku_ke", False),
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            kw.get("ku_crit", True),
        )
    policies = kw.get("policies", [CP14])
    if policies is not None:
        b = b.add_extension(
            x509.CertificatePolicies(
                [x509.PolicyInformation(x509.ObjectIdentifier(p), None) for p in policies]
            ),
            kw.get("cp_crit", False),
        )
    if kw.get("crldp", True):
        issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "STI-PA CRL")])
        b = b.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(CRL)],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=[x509.DirectoryName(issuer)]
                        if kw.get("crl_issuer", True)
                        else None,
                    )
                ]
                * kw.get("crldp_points", 1)
            ),
            False,
        )
    if kw.get("ski", True):
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    if kw.get("aki", True):
        aki_key = key if self_signed else _CA_KEY
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(aki_key.public_key()), False
        )
    tnal = kw.get("tnauthlist", _tnauthlist())
    if tnal is not None:
        b = b.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.5.5.7.1.26"), tnal),
            kw.get("tnal_crit", False),
        )
    for ext, crit in kw.get("extra", []):
        b = b.add_extension(ext, crit)
    der = b.sign(signer, kw.get("hash", hashes.SHA256())).public_bytes(serialization.Encoding.DER)
    return load_certificate(der)


_OIDS = {
    "C": NameOID.COUNTRY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "CN": NameOID.COMMON_NAME,
    "SN": NameOID.SERIAL_NUMBER,
}


def _name(attrs: list[tuple[str, str]]) -> x509.Name:
    return x509.Name([x509.NameAttribute(_OIDS[k], v) for k, v in attrs])


def found(cert: StiCertificate, **kw: Any) -> set[tuple[str, str]]:
    return {(f.id, f.severity) for f in lint_certificate(cert, **kw)}


def test_a_conformant_end_entity_certificate_has_no_findings() -> None:
    assert lint_certificate(build()) == []


@pytest.mark.parametrize(
    ("kw", "finding"),
    [
        ({"tnauthlist": None}, ("tnauthlist", "error")),
        ({"tnal_crit": True}, ("tnauthlist", "error")),
        ({"tnauthlist": _tnauthlist(entries=2)}, ("tnauthlist", "error")),
        ({"tnauthlist": _tnauthlist("12ab")}, ("tnauthlist_spc", "error")),
        ({"ku_crit": False}, ("key_usage", "error")),
        ({"ku_ke": True}, ("key_usage", "error")),
        ({"ku": False}, ("key_usage", "error")),
        ({"bc": False}, ("basic_constraints", "error")),
        ({"bc_crit": False}, ("basic_constraints", "error")),
        ({"serial": 12345}, ("serial_number_size", "error")),
        ({"key": ec.generate_private_key(ec.SECP384R1())}, ("public_key", "error")),
        ({"hash": hashes.SHA384()}, ("signature_algorithm", "warning")),
        (
            {"subject": [("C", "US"), ("O", "X"), ("CN", "Example 123A")]},
            ("subject_common_name", "error"),
        ),
        ({"subject": [("C", "US"), ("CN", "SHAKEN 123A")]}, ("subject_organization", "error")),
        ({"subject": [("O", "X"), ("CN", "SHAKEN 123A")]}, ("subject_country", "error")),
        (
            {"subject": [("C", "US"), ("O", "X"), ("CN", "SHAKEN X 123A")]},
            ("subject_common_name_format", "warning"),
        ),
        ({"policies": None}, ("certificate_policies", "error")),
        ({"policies": [CP14, "1.2.3.4"]}, ("certificate_policies", "error")),
        ({"policies": ["1.2.3.4"]}, ("certificate_policies", "error")),
        ({"cp_crit": True}, ("certificate_policies", "error")),
        ({"policies": ["2.16.840.1.114569.1.1.1"]}, ("certificate_policy_version", "info")),
        ({"policies": ["2.16.840.1.114569.1.1.9"]}, ("certificate_policies", "warning")),
        ({"crldp": False}, ("crl_distribution_points", "error")),
        ({"crl_issuer": False}, ("crl_distribution_points", "error")),
        ({"crldp_points": 2}, ("crl_distribution_points", "error")),
        ({"ski": False}, ("subject_key_identifier", "error")),
        ({"aki": False}, ("authority_key_identifier", "error")),
        (
            {"extra": [(x509.SubjectAlternativeName([x509.DNSName("x.example")]), False)]},
            ("extension_not_in_profile", "warning"),
        ),
    ],
)
def test_end_entity_profile_rules(kw: dict[str, Any], finding: tuple[str, str]) -> None:
    """One rule of ATIS-1000080 §6.4.1 / the SHAKEN CP broken at a time (standards digest §6.2)."""
    assert finding in found(build(**kw))


def test_ca_certificates() -> None:
    """CAs: no TNAuthList; keyCertSign; roots without CP and CRLDP; root CN with ROOT."""
    inter = build(
        ca=True, tnauthlist=None, subject=[("C", "US"), ("O", "X"), ("CN", "X SHAKEN CA")]
    )
    assert certificate_role(inter) == "intermediate" and lint_certificate(inter) == []
    assert ("tnauthlist", "error") in found(build(ca=True))
    assert ("serial_number_size", "error") in found(build(ca=True, tnauthlist=None, serial=5))
    root = build(
        ca=True,
        self_signed=True,
        tnauthlist=None,
        policies=None,
        crldp=False,
        subject=[("C", "US"), ("O", "X"), ("CN", "X SHAKEN ROOT")],
    )
    assert certificate_role(root) == "root" and lint_certificate(root) == []
    noisy = build(
        ca=True,
        self_signed=True,
        tnauthlist=None,
        subject=[("C", "US"), ("O", "X"), ("CN", "X SHAKEN CA")],
    )
    assert {
        ("certificate_policies", "warning"),
        ("crl_distribution_points", "warning"),
        ("subject_common_name_root", "warning"),
    } <= found(noisy)
    p384 = build(
        ca=True, tnauthlist=None, key=ec.generate_private_key(ec.SECP384R1()), hash=hashes.SHA384()
    )
    assert ("public_key", "warning") in found(p384)
    assert ("signature_algorithm", "error") not in found(p384)


# -- issue 18 point 17: the rules where an independent SHAKEN linter disagreed -------------------


def _ca(**kw: Any) -> StiCertificate:
    """A CA certificate: no TNAuthList, keyCertSign."""
    kw.setdefault("subject", [("C", "US"), ("O", "X"), ("CN", "X SHAKEN ROOT")])
    return build(ca=True, tnauthlist=None, **kw)


def test_a_ca_with_empty_names_not_signed_by_its_own_key_is_an_intermediate() -> None:
    """Attack on the lint: a CA with an empty subject and an empty issuer (subject == issuer)
    was linted as a root, so its missing AKI, certificatePolicies and CRL distribution point
    went unreported. Root means self-signed (RFC 5280 §3.2): its own key verifies it."""
    c = _ca(subject=[], issuer=[], aki=False, policies=None, crldp=False)
    assert certificate_role(c) == "intermediate"
    assert {
        ("authority_key_identifier", "error"),
        ("certificate_policies", "error"),
        ("crl_distribution_points", "error"),
    } <= found(c)


def test_a_self_issued_ca_signed_by_another_key_is_not_a_root() -> None:
    """Same names, foreign signature (a subordinate that copies its root's name): not a root."""
    forged = _ca(self_signed=True, signer=_CA_KEY)
    assert certificate_role(forged) == "intermediate"
    assert certificate_role(_ca(self_signed=True)) == "root"


def test_a_self_signed_ca_with_another_issuer_name_is_not_a_root() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    c = _ca(key=key, signer=key, issuer=[("C", "US"), ("O", "X"), ("CN", "Other ROOT")])
    assert certificate_role(c) == "intermediate"


def test_real_roots_stay_roots_including_the_lenient_tmobile_root() -> None:
    for name in ("tmobile-root.pem", "comcast-root.pem"):
        [c] = _load(name)
        assert certificate_role(c) == "root", name
    [sub] = _load("tmobile-sub.pem")
    assert certificate_role(sub) == "intermediate"


@pytest.mark.parametrize("missing", ["C", "O", "CN"])
@pytest.mark.parametrize("ca", [False, True])
def test_issuer_dn_carries_c_o_and_cn(missing: str, ca: bool) -> None:
    """ATIS-1000080 §6.4.1: the issuer DN (the issuing CA's subject) carries C, O and CN."""
    issuer = [(k, v) for k, v in [("C", "US"), ("O", "Example STI-CA"), ("CN", "X SHAKEN CA")]
              if k != missing]
    kw: dict[str, Any] = {"issuer": issuer}
    if ca:
        kw.update(ca=True, tnauthlist=None, subject=[("C", "US"), ("O", "X"), ("CN", "X SHAKEN")])
    fs = [f for f in lint_certificate(build(**kw)) if f.id == "issuer_dn"]
    assert len(fs) == 1 and fs[0].severity == "error" and f"lacks {missing};" in fs[0].message
    assert not [f for f in lint_certificate(build()) if f.id == "issuer_dn"]


@pytest.mark.parametrize(
    ("serials", "flagged"), [(0, True), (1, False), (2, True)], ids=["none", "one", "two"]
)
def test_subject_serial_number_exactly_one_is_a_warning(serials: int, flagged: bool) -> None:
    """US SHAKEN CP 1.1 §3.1: one serialNumber beside the CN; a warning (most live leaves
    lack it; CP 1.4 made it optional)."""
    subject = [("C", "US"), ("O", "X"), ("CN", "SHAKEN 123A")] + [("SN", str(i)) for i in
                                                                    range(serials)]
    fs = [f for f in lint_certificate(build(subject=subject)) if f.id == "subject_serial_number"]
    assert bool(fs) == flagged
    assert all(f.severity == "warning" for f in fs)


def test_subject_serial_number_is_not_asked_of_cas() -> None:
    assert not [f for f in lint_certificate(_ca(self_signed=True))
                if f.id == "subject_serial_number"]
    inter = _ca(subject=[("C", "US"), ("O", "X"), ("CN", "X SHAKEN CA")])
    assert not [f for f in lint_certificate(inter) if f.id == "subject_serial_number"]


def test_an_intermediate_with_two_shaken_policy_oids_is_an_error() -> None:
    """ATIS-1000080 v004 §6.4.1: an STI intermediate carries a single SHAKEN CP OID."""
    inter = _ca(subject=[("C", "US"), ("O", "X"), ("CN", "X SHAKEN CA")],
                policies=[CP14, "2.16.840.1.114569.1.1.1"])
    assert ("certificate_policies", "error") in found(inter)
    one = _ca(subject=[("C", "US"), ("O", "X"), ("CN", "X SHAKEN CA")])
    assert ("certificate_policies", "error") not in found(one)


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not available")
def test_corpus_roots_are_exactly_its_self_signed_cas() -> None:
    """The 23 self-signed roots of the corpus are roots, its 38 other CAs intermediates."""
    from tests.conftest import corpus_rows

    roles: dict[str, int] = {}
    for row in corpus_rows(CORPUS):
        [c] = parse_certificates(row["pem"].encode())
        role = certificate_role(c)
        roles[role] = roles.get(role, 0) + 1
        assert (role == "root") == (row["is_ca"] and row["self_signed"]), row["subject"]
    assert roles == {"root": 23, "intermediate": 38, "end-entity": 211}


def test_validity_at_a_time() -> None:
    c = build()
    assert ("validity", "warning") in found(c, at=NOW + 86_400 * 60)
    assert ("validity", "warning") not in found(c, at=NOW)


def test_findings_serialize() -> None:
    f = Finding("tnauthlist", "error", "no TNAuthList")
    assert f.to_dict() == {"id": "tnauthlist", "severity": "error", "message": "no TNAuthList"}


# -- the real corpus ---------------------------------------------------------------------------


def _load(name: str) -> list[StiCertificate]:
    return parse_certificates((DATA / name).read_bytes())


def test_tmobile_null_parameter_cas_get_a_lenient_parse_finding() -> None:
    """T-Mobile's production CAs (corpus README): readable only through the lenient parse."""
    for name in ("tmobile-root.pem", "tmobile-sub.pem"):
        [c] = _load(name)
        fs = [f for f in lint_certificate(c) if f.id == "lenient_parse"]
        assert fs and fs[0].severity == "warning" and "NULL parameter" in fs[0].message
        assert describe_certificate(c)["lenient_parse"] is True


def test_bare_printable_string_tnauthlist_gets_a_warning() -> None:
    [c] = _load("bare-printablestring-755J.pem")
    assert c.spc == "755J"
    assert ("tnauthlist_encoding", "warning") in found(c)
    assert ("tnauthlist", "error") not in found(c)


def test_leaf_without_tnauthlist_gets_an_error() -> None:
    [c] = _load("no-tnauthlist.pem")
    tn = [f for f in lint_certificate(c) if f.id == "tnauthlist"]
    assert tn and tn[0].severity == "error" and "no TNAuthList" in tn[0].message


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not available")
def test_whole_corpus_lints_without_crashing_and_flags_the_known_oddities() -> None:
    """Every corpus certificate is described and linted; the counts match the corpus README
    (6 bare-string TNAuthLists, 4 TNAuthList-less leaves, T-Mobile's 4 NULL-parameter CAs)."""
    from tests.conftest import corpus_rows

    counts = {"tnauthlist_encoding_bare": 0, "no_tnauthlist": 0, "lenient": 0}
    for row in corpus_rows(CORPUS):
        [c] = parse_certificates(row["pem"].encode())
        d = describe_certificate(c)
        assert d["subject"] == row["subject"] and d["not_after"] == row["not_after"]
        fs = lint_certificate(c)
        msgs = {(f.id, f.message) for f in fs}
        if any(i == "tnauthlist_encoding" and "untagged" in m for i, m in msgs):
            counts["tnauthlist_encoding_bare"] += 1
        if any(i == "tnauthlist" and m.startswith("no TNAuthList") for i, m in msgs):
            counts["no_tnauthlist"] += 1
        if any(f.id == "lenient_parse" for f in fs):
            counts["lenient"] += 1
    assert counts == {"tnauthlist_encoding_bare": 6, "no_tnauthlist": 4, "lenient": 4}


# -- shakenkit cert ------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cert_json_fields(capsys: pytest.CaptureFixture[str]) -> None:
    """`cert --json`: one object per input with spc, tnauthlist, subject, issuer, ISO 8601
    validity, chain {trusted, error} and findings {id, severity, message}."""
    code, out, _ = run(
        capsys,
        "cert",
        "--json",
        "--trust",
        str(DATA / "comcast-root.pem"),
        "--at",
        str(COMCAST_AT),
        str(DATA / "comcast-318J-chain.pem"),
    )
    assert code == 0
    [o] = [json.loads(x) for x in out.splitlines()]
    assert o["spc"] == "318J" and o["tnauthlist"] == [["spc", "318J"]]
    assert o["subject"].startswith("CN=SHAKEN 318J,O=Comcast")
    assert o["issuer"].startswith("CN=Comcast SHAKEN Intermediate CA")
    assert o["not_before"] == "2024-07-01T20:55:51+00:00"
    assert dt.datetime.fromisoformat(o["not_after"]) > dt.datetime.fromisoformat(o["not_before"])
    assert o["chain"]["trusted"] is True and o["chain"]["error"] is None
    assert len(o["chain"]["path"]) == 3
    assert o["key"] == {"type": "EC", "curve": "secp256r1", "bits": 256}
    assert o["crl_distribution_points"][0]["urls"] == [CRL]
    assert all(set(f) == {"id", "severity", "message"} for f in o["findings"])
    assert [c["role"] for c in o["certificates"]] == ["end-entity", "intermediate"]


def test_cert_chain_status(capsys: pytest.CaptureFixture[str]) -> None:
    chain = str(DATA / "comcast-318J-chain.pem")
    code, out, _ = run(capsys, "cert", "--json", chain)
    assert code == 0 and json.loads(out)["chain"] == {
        "trusted": None, "error": None, "path": [], "notes": []
    }
    code, out, _ = run(capsys, "cert", "--json", "--trust", str(DATA / "comcast-root.pem"), chain)
    o = json.loads(out)
    assert code == 1 and o["chain"]["trusted"] is False and o["chain"]["error"]
    code, out, _ = run(
        capsys,
        "cert",
        "--json",
        "--trust",
        str(DATA / "tmobile-root.pem"),
        "--at",
        str(COMCAST_AT),
        chain,
    )
    assert code == 1 and json.loads(out)["chain"]["trusted"] is False


def test_cert_lenient_tmobile_chain(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "cert",
        "--json",
        "--trust",
        str(DATA / "tmobile-root.pem"),
        "--at",
        str(COMCAST_AT),
        str(DATA / "tmobile-sub.pem"),
    )
    o = json.loads(out)
    assert code == 0 and o["chain"]["trusted"] is True
    assert "lenient_parse" in {f["id"] for f in o["findings"]}


def test_cert_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "cert", "--trust", str(DATA / "comcast-root.pem"), "--at", str(COMCAST_AT),
        str(DATA / "comcast-318J-chain.pem"), str(DATA / "no-tnauthlist.pem"),
    )  # fmt: skip
    assert code == 1  # the second is not trusted
    assert "SPC: 318J" in out and "chain:     trusted" in out
    assert "error   tnauthlist: no TNAuthList" in out
    assert "other certificates in the bundle:" in out


def test_cert_unreadable_and_unparsable_inputs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    code, out, err = run(capsys, "cert", "--json", str(junk))
    assert code == 1 and json.loads(out)["error"] and "warning" in err
    code, out, err = run(capsys, "cert", str(tmp_path / "missing.pem"))
    assert code == 2 and err.startswith("shakenkit: error: cannot read certificate file")


def test_cert_thousands_of_files_in_one_call(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """2000 chains in one call: each parsed once, output streamed, quickly."""
    pki = make_pki(crl_url=None)
    chain = pki.chain_pem
    root = tmp_path / "root.pem"
    root.write_bytes(pki.root_pem)
    paths = []
    for i in range(2000):
        p = tmp_path / f"c{i}.pem"
        p.write_bytes(chain)
        paths.append(str(p))
    t = time.perf_counter()
    code, out, _ = run(capsys, "cert", "--json", "--trust", str(root), *paths)
    elapsed = time.perf_counter() - t
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2000
    assert all(json.loads(x)["chain"]["trusted"] for x in lines[:5])
    assert elapsed < 20


@pytest.fixture
def https() -> Iterator[Any]:
    from tests.https_server import running_https_server

    with running_https_server() as server:
        yield server


def test_cert_fetches_a_url(capsys: pytest.CaptureFixture[str], https: Any, tmp_path: Path) -> None:
    """A URL is fetched like an x5u (HttpsSource) with --tls-ca, --allow-host, --timeout."""
    pki = make_pki(crl_url=None)
    url = https.route("/sp.pem", body=pki.chain_pem)
    root = tmp_path / "root.pem"
    root.write_bytes(pki.root_pem)
    code, out, _ = run(
        capsys, "cert", "--json", "--trust", str(root), "--tls-ca", https.ca_pem_path,
        "--allow-host", https.host_port, "--timeout", "3", url,
    )  # fmt: skip
    o = json.loads(out)
    assert code == 0 and o["spc"] == "123A" and o["chain"]["trusted"] is True
    code, out, _ = run(capsys, "cert", "--json", "--tls-ca", https.ca_pem_path, url)
    assert code == 1 and json.loads(out)["error"]  # loopback refused without --allow-host
    assert https.count("/sp.pem") == 1


def test_the_projects_own_samples_lint_without_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """tests/data/samples (scripts/make_samples.py) is what the docs tell users to try: its
    certificates follow the profile (the one warning: no subject serialNumber, as most live
    leaves)."""
    samples = Path(__file__).parent / "data" / "samples"
    code, out, _ = run(capsys, "cert", "--json", "--at", str(NOW), "--trust",
                       str(samples / "root.pem"), str(samples / "chain.pem"),
                       str(samples / "root.pem"))
    assert code == 0
    for line in out.splitlines():
        d = json.loads(line)
        assert d["chain"]["trusted"] is True
        for c in d["certificates"]:
            errors = [f for f in c["findings"] if f["severity"] == "error"]
            assert errors == [], (c["subject"], errors)
            assert {f["id"] for f in c["findings"]} <= {"subject_serial_number"}
