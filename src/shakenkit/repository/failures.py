"""Fetch failures: :class:`FetchError` (what callers see) and the internal ``_Failure`` reason
that the layers below raise and the :class:`~shakenkit.repository.fetch.Fetcher` turns into one.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

FetchErrorKind = Literal[
    "policy",
    "ssrf",
    "dns",
    "connect",
    "tls",
    "timeout",
    # Cut short by the deadline of the call that asked (its earlier headers spent the time):
    # not the host's failure, so never remembered for the URL (docs/security.md).
    "call_deadline",
    "http_status",
    "redirect",
    "too_large",
    "parse",
    "negative_cache",
]


class FetchError(Exception):
    """A certificate/CRL could not be obtained.

    ``.kind`` is a short stable string, one of: ``'policy'`` (URL refused by policy: scheme, port,
    userinfo, query, fragment), ``'ssrf'`` (host is/resolves to a forbidden address), ``'dns'``,
    ``'connect'`` (connection refused, reset or broken HTTP), ``'tls'``, ``'timeout'``,
    ``'http_status'`` (non-200), ``'redirect'`` (3xx, not followed), ``'too_large'``, ``'parse'``
    (body not usable), ``'negative_cache'`` (a recent failure for this URL is cached;
    ``.cause_kind`` says the original kind).

    ``.url`` is the URL (with any userinfo or query redacted); ``str(e)`` is one human sentence
    without secrets or response bodies.
    """

    def __init__(
        self,
        kind: FetchErrorKind,
        url: str,
        message: str,
        *,
        cause_kind: FetchErrorKind | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: FetchErrorKind = kind
        self.url = url
        self.cause_kind: FetchErrorKind | None = cause_kind

    def __repr__(self) -> str:
        return f"FetchError(kind={self.kind!r}, url={self.url!r}, message={str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.kind, self.url, str(self)), {"cause_kind": self.cause_kind})

    def _clone(self) -> FetchError:
        """A fresh instance for each caller (a shared instance would share its traceback)."""
        return FetchError(self.kind, self.url, str(self), cause_kind=self.cause_kind)


class _Failure(Exception):
    """Internal: a failure reason without the URL; turned into :class:`FetchError` at the edge."""

    def __init__(self, kind: FetchErrorKind, reason: str) -> None:
        super().__init__(reason)
        self.kind: FetchErrorKind = kind
        self.reason = reason


def _redact(url: str) -> str:
    """The URL as safe to show: userinfo and query replaced (they may carry credentials)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
