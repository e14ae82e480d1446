"""The certificate-repository client: where certificates and CRLs come from.

Owns the :class:`CertificateSource` protocol and its implementations (:class:`StaticSource`,
:class:`HttpsSource`, :class:`LayeredSource`) and the hardened HTTPS :class:`Fetcher` behind
them: URL policy (:class:`FetchPolicy`), HTTP transport, cache, single flight and the
persistent store; :class:`CacheLimits`, the byte budgets of every cache they keep.
:mod:`.stipa` fetches the STI-PA's CA list over the same transport and
:mod:`.trustdir` installs it atomically as a trust directory (docs/trust.md).

May import: :mod:`shakenkit.errors`, :mod:`shakenkit.certs` (docs/architecture.md).
"""

from .cache import DEFAULT_CACHE_LIMITS, CacheLimits
from .fetch import (
    DEFAULT_POLICY,
    Fetcher,
    FetchError,
    FetchErrorKind,
    FetchPolicy,
    freshness_lifetime,
)
from .https import HttpsSource, LayeredSource
from .sources import (
    CertificateSource,
    ChainSource,
    CrlSource,
    RefreshableChainSource,
    StaticSource,
)

__all__ = [
    "DEFAULT_CACHE_LIMITS",
    "DEFAULT_POLICY",
    "CacheLimits",
    "CertificateSource",
    "ChainSource",
    "CrlSource",
    "FetchError",
    "FetchErrorKind",
    "FetchPolicy",
    "Fetcher",
    "HttpsSource",
    "LayeredSource",
    "RefreshableChainSource",
    "StaticSource",
    "freshness_lifetime",
]
