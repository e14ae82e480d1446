"""The STI-PA's CA list, fetched and installed: the API client (login, ca-list), the list
signer's certificate fetched from ``x5u`` like a PASSporT's, and :func:`update_trust_dir`, what
``shakenkit trust update`` and ``shakenkit serve --stipa-api`` run (docs/trust.md).

The STI-PA API v1 (iconectiv's ``STI-PA-US-API-001``, as the peers that call it use it):

* ``POST {base}/auth/login`` with ``{"userId": ..., "password": ...}`` answers
  ``{"status": "success", "accessToken": "..."}``;
* ``GET {base}/ca-list`` with ``Authorization: <accessToken>`` (the bare token, no
  ``Bearer``) and ``Accept: application/jose+json`` answers ``{"status": "success", "caList":
  "<JWS>"}``.

Every request goes through the hardened transport of the certificate repository: the URL rules
of ATIS-1000074 v003 (https, port 443/8443, no userinfo, query or fragment), the SSRF address
guard (``--allow-host`` for labs), TLS to the host name, a wall-clock deadline and a size limit
(:data:`~shakenkit.certs.calist.MAX_CA_LIST_BYTES`); API calls are never redirected.
Credentials never appear in a message, a log line or an exception, and neither does the access
token.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import stat
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import httpx

from ..certs.calist import (
    MAX_CA_LIST_BYTES,
    CaList,
    check_ca_list,
    load_stipa_roots,
    parse_ca_list,
)
from ..certs.certificate import CertChain, StiCertificate
from ..errors import CaListError, CertificateError, CertificateFetchError
from .failures import _Failure, _redact
from .https import HttpsSource, LayeredSource
from .sources import CertificateSource
from .transport import _HttpTransport
from .trustdir import InstallResult, install_ca_list, read_trust_state
from .urlpolicy import FetchPolicy, _AddressGuard, _check_target

__all__ = [
    "ENV_PASSWORD",
    "ENV_USER",
    "StipaClient",
    "StipaCredentials",
    "TrustUpdate",
    "fetch_signer_chain",
    "update_trust_dir",
]

ENV_USER = "SHAKENKIT_STIPA_USER"
ENV_PASSWORD = "SHAKENKIT_STIPA_PASSWORD"
_MAX_TOKEN = 16_384
_USER_KEYS = frozenset({ENV_USER.lower(), "userid", "user", "username", "user_id"})
_PASSWORD_KEYS = frozenset({ENV_PASSWORD.lower(), "password", "passwd", "pass"})


@dataclass(frozen=True)
class StipaCredentials:
    """An STI-PA API user and password. ``repr`` shows neither."""

    user: str = field(repr=False)
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.user or not self.password:
            raise ValueError("the STI-PA user and password must not be empty")

    def __repr__(self) -> str:
        return "StipaCredentials(user=***, password=***)"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> StipaCredentials | None:
        """From ``SHAKENKIT_STIPA_USER`` and ``SHAKENKIT_STIPA_PASSWORD``; None unless both are
        set and non-empty."""
        env = os.environ if environ is None else environ
        user, password = env.get(ENV_USER, ""), env.get(ENV_PASSWORD, "")
        return cls(user, password) if user and password else None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> StipaCredentials:
        """From a file only its owner may read (mode ``0600`` or ``0400``, owned by this user):
        JSON ``{"userId": ..., "password": ...}``, or ``KEY=VALUE`` lines with the keys
        ``SHAKENKIT_STIPA_USER`` and ``SHAKENKIT_STIPA_PASSWORD`` (a systemd
        ``EnvironmentFile``; ``user``/``password`` also do), or the user and the password on two
        lines, or one ``user:password`` line. Raises :class:`ValueError` with a message that
        holds neither value."""
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(path, flags)
        except OSError as e:
            raise ValueError(
                f"cannot read the credentials file {str(path)!r}: {e.strerror}"
            ) from None
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())  # the file opened, not the name (no race)
            if not stat.S_ISREG(info.st_mode):
                raise ValueError(f"the credentials file {str(path)!r} is not a regular file")
            if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
                raise ValueError(
                    f"the credentials file {str(path)!r} is not owned by the user running shakenkit"
                )
            if info.st_mode & 0o077:
                raise ValueError(
                    f"the credentials file {str(path)!r} is readable or writable by others "
                    f"(mode {stat.S_IMODE(info.st_mode):04o}); it must be readable only by its "
                    "owner (chmod 600)"
                )
            data = f.read(65_537)
        if len(data) > 65_536:
            raise ValueError(f"the credentials file {str(path)!r} is too large")
        user, password = _parse_credentials(data)
        if not user or not password:
            raise ValueError(
                f"the credentials file {str(path)!r} does not give both a user and a password "
                f"({ENV_USER}=... and {ENV_PASSWORD}=... lines, or JSON userId/password)"
            )
        return cls(user, password)


def _parse_credentials(data: bytes) -> tuple[str, str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "", ""
    if text.lstrip().startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            return "", ""
        if not isinstance(obj, dict):
            return "", ""
        low = {str(k).lower(): v for k, v in obj.items()}
        user = next((v for k, v in low.items() if k in _USER_KEYS and isinstance(v, str)), "")
        pw = next((v for k, v in low.items() if k in _PASSWORD_KEYS and isinstance(v, str)), "")
        return user, pw
    user = password = ""
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    for line in lines:
        if "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip().lower()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if key in _USER_KEYS:
            user = value
        elif key in _PASSWORD_KEYS:
            password = value
    if not (user or password):  # no KEY=VALUE: "user" and "password" lines, or "user:password"
        if len(lines) == 2:
            user, password = lines
        elif len(lines) == 1 and ":" in lines[0]:
            user, _, password = lines[0].partition(":")
    return user, password


def _scrub(text: str, credentials: StipaCredentials, limit: int = 120) -> str:
    """A server's message fit to show: one line, short, without the credentials."""
    for secret in (credentials.password, credentials.user):
        text = text.replace(secret, "***")
    text = " ".join(text.split())
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class StipaClient:
    """The STI-PA API v1 (module docstring): :meth:`login` and :meth:`ca_list`, over the
    certificate repository's guarded transport with ``policy`` (its URL rules, SSRF guard, TLS
    trust, timeout; the size limit raised to the CA list's). ``base_url`` is the API root, e.g.
    ``https://authenticate-api.iconectiv.com/api/v1``."""

    def __init__(self, base_url: str, policy: FetchPolicy | None = None) -> None:
        base = (policy or FetchPolicy()).max_response_bytes
        self.policy = dataclasses.replace(
            policy or FetchPolicy(), max_response_bytes=max(base, MAX_CA_LIST_BYTES)
        )
        self._guard = _AddressGuard(self.policy)
        self.base_url = base_url.rstrip("/")
        try:
            self._login_url = _check_target(self.base_url + "/auth/login", self.policy, self._guard)
            self._list_url = _check_target(self.base_url + "/ca-list", self.policy, self._guard)
        except _Failure as f:
            raise CaListError(
                f"the STI-PA API URL {_redact(base_url)} is refused: {f.reason}", kind="api"
            ) from None
        self._http = _HttpTransport(self.policy, self._guard, "stipa")

    def _call(self, what: str, method: str, url: httpx.URL, **kw: object) -> tuple[int, bytes]:
        try:
            return self._http.request(method, url, **kw)  # type: ignore[arg-type]
        except _Failure as f:
            raise CaListError(f"the STI-PA {what} failed: {f.reason}", kind="api") from None

    def login(self, credentials: StipaCredentials) -> str:
        """The access token for ``credentials``. Raises :class:`~shakenkit.errors.CaListError`
        (``login`` when the STI-PA refuses them, ``api`` when it cannot be reached)."""
        body = json.dumps({"userId": credentials.user, "password": credentials.password})
        status, answer = self._call(
            "login",
            "POST",
            self._login_url,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            content=body.encode("utf-8"),
        )
        obj: object = None
        with contextlib.suppress(UnicodeDecodeError, ValueError, RecursionError):
            obj = json.loads(answer.decode("utf-8"))
        said = ""
        if isinstance(obj, dict) and isinstance(obj.get("message"), str) and obj["message"]:
            said = f": {_scrub(obj['message'], credentials)}"
        if status != 200:
            kind = "login" if status in (400, 401, 403) else "api"
            raise CaListError(f"the STI-PA refused the login (HTTP {status}{said})", kind=kind)
        if not isinstance(obj, dict):
            raise CaListError("the STI-PA's login answer is not a JSON object", kind="api")
        token = obj.get("accessToken")
        status_field = obj.get("status")
        if isinstance(status_field, str) and status_field.lower() != "success":
            raise CaListError(
                f"the STI-PA refused the login (status {status_field[:20]!r}{said})", kind="login"
            )
        if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN:
            raise CaListError("the STI-PA's login answer has no usable accessToken", kind="login")
        if any(c in token for c in "\r\n\0") or not token.isprintable():
            raise CaListError("the STI-PA's accessToken is not a valid header value", kind="login")
        return token

    def ca_list(self, token: str) -> bytes:
        """The ca-list answer (bytes, unparsed) for the access ``token``."""
        status, answer = self._call(
            "ca-list request",
            "GET",
            self._list_url,
            headers={"Authorization": token, "Accept": "application/jose+json"},
        )
        if status != 200:
            kind = "login" if status in (401, 403) else "api"
            raise CaListError(
                f"the STI-PA answered the ca-list request with HTTP {status}", kind=kind
            )
        return answer

    def fetch(self, credentials: StipaCredentials) -> bytes:
        """Log in and fetch the CA list (bytes, unparsed)."""
        return self.ca_list(self.login(credentials))

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()


def fetch_signer_chain(source: CertificateSource, x5u: str) -> CertChain:
    """The list signer's certificate chain at ``x5u``, from ``source`` (an
    :class:`~shakenkit.repository.HttpsSource` applies the ATIS URL policy and the SSRF guard,
    as for a PASSporT's ``x5u``; a :class:`~shakenkit.repository.LayeredSource` serves
    ``--cert`` files first). Raises :class:`~shakenkit.errors.CaListError` (``x5u``)."""
    try:
        return source.get(x5u)
    except (CertificateFetchError, CertificateError) as e:
        raise CaListError(
            f"the list signer's certificate at {_redact(x5u)} could not be had: {e.detail}",
            kind="x5u",
        ) from None


@dataclass(frozen=True, slots=True)
class TrustUpdate:
    """The outcome of :func:`update_trust_dir`: the checked list and what the install did."""

    calist: CaList
    install: InstallResult


def update_trust_dir(
    out: str | os.PathLike[str],
    *,
    stipa_roots: Iterable[bytes | StiCertificate],
    source: CertificateSource,
    ca_list: bytes | None = None,
    client: StipaClient | None = None,
    credentials: StipaCredentials | None = None,
    clock: Callable[[], float] = time.time,
) -> TrustUpdate:
    """Fetch (with ``client`` and ``credentials``) or take (``ca_list``, the API answer or a
    bare JWS) the STI-PA's CA list, check it (:func:`~shakenkit.certs.calist.check_ca_list`,
    the signer's chain from ``source``) and install it into the trust directory ``out``
    (:func:`~shakenkit.repository.trustdir.install_ca_list`). ``out`` is refused before any
    network traffic if it cannot be a trust directory. Raises
    :class:`~shakenkit.errors.CaListError`; on any refusal ``out`` is left exactly as it
    was."""
    roots: list[StiCertificate] = []
    for r in stipa_roots:
        roots.extend([r] if isinstance(r, StiCertificate) else load_stipa_roots(bytes(r)))
    installed = read_trust_state(out)
    if ca_list is None:
        if client is None or credentials is None:
            raise ValueError("give ca_list, or a client and credentials")
        data, origin = client.fetch(credentials), client.base_url
    else:
        data, origin = ca_list, "file"
    fetched = clock()
    signed = parse_ca_list(data)
    chain = fetch_signer_chain(source, signed.x5u)
    installed_sequence = installed.sequence if installed is not None else None
    try:
        calist = check_ca_list(
            signed, chain, roots, now=fetched, installed_sequence=installed_sequence
        )
    except CaListError as e:
        # A cached signer certificate may predate a key rotation under the same x5u: fetch it
        # again, once (at most once a minute per URL, HttpsSource.refresh), and check again.
        if e.kind not in ("signer", "signature") or not isinstance(
            source, HttpsSource | LayeredSource
        ):
            raise
        try:
            fresh = source.refresh(signed.x5u)
        except (CertificateFetchError, CertificateError):
            raise e from None
        if fresh is chain:
            raise
        calist = check_ca_list(
            signed, fresh, roots, now=fetched, installed_sequence=installed_sequence
        )
    return TrustUpdate(calist, install_ca_list(out, calist, fetched=fetched, source=origin))
