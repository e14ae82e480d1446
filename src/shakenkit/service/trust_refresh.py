"""Keep the service's trust anchors equal to the STI-PA's CA list: ``shakenkit serve
--stipa-api BASE_URL --trust-dir DIR --trust-refresh SECONDS`` (docs/trust.md, docs/serve.md).

A :class:`TrustRefresh` runs beside the app in every worker process:

* every ``period`` seconds (with a little jitter) it pulls the list (:class:`StipaPuller`: log
  in, fetch, check, install into the trust directory atomically, exactly as ``shakenkit trust
  update`` does); a failed or refused pull keeps the last good list and is tried again after
  ``min(period, 300)`` seconds;
* every few seconds it looks at the trust directory's state file, and when the installed list
  is not the one the verifier was built from (this worker's pull, another worker's, or a
  ``trust update`` run by a systemd timer) it reloads the verifier in place, as ``SIGHUP``
  does: requests already running finish with the anchors they started with;
* it exports the list's sequence, expiry, age (seconds since the list was last confirmed
  current with the STI-PA) and the pulls by result as Prometheus series
  (:class:`~shakenkit.service.metrics.TrustListMetrics`), and reports a list past its ``exp``
  on ``/healthz`` (``"status": "degraded"``). Calls keep being verified with the last good
  anchors: an expired list is an alarm, not a reason to fail every call.

Without a puller (``--trust-dir`` alone) it only watches the directory. With ``--workers N``
each worker pulls (N pulls a period; the directory lock and the sequence check make them
harmless to one another). Credentials and the access token never reach a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..certs.calist import TrustDirState, iso
from ..errors import CaListError
from ..repository.sources import CertificateSource
from ..repository.stipa import StipaClient, StipaCredentials, TrustUpdate, update_trust_dir
from ..repository.trustdir import read_trust_state

if TYPE_CHECKING:
    from .app import ServiceApp
    from .metrics import TrustListMetrics

__all__ = ["RETRY_AFTER", "StipaPuller", "TrustRefresh"]

log = logging.getLogger("shakenkit.service.trust")

#: Seconds before a failed or refused pull is tried again (at most the period).
RETRY_AFTER = 300.0
#: Seconds between looks at the trust directory (and updates of the age gauge).
WATCH_EVERY = 5.0


@dataclass
class StipaPuller:
    """One pull of the CA list into ``trust_dir``: what ``shakenkit trust update --stipa-api``
    does, as a callable (run in a thread: it blocks)."""

    trust_dir: str
    client: StipaClient
    credentials: StipaCredentials
    stipa_roots: list[Any]
    source: CertificateSource

    def __call__(self) -> TrustUpdate:
        return update_trust_dir(
            self.trust_dir,
            stipa_roots=self.stipa_roots,
            source=self.source,
            client=self.client,
            credentials=self.credentials,
        )


class TrustRefresh:
    """The background refresh of the trust anchors (module docstring). ``pull`` is None to
    only watch ``trust_dir``; ``period`` is seconds between pulls."""

    def __init__(
        self,
        trust_dir: str,
        *,
        period: float,
        pull: Callable[[], TrustUpdate] | None = None,
        clock: Callable[[], float] = time.time,
        watch_every: float = WATCH_EVERY,
    ) -> None:
        self.trust_dir = trust_dir
        self.period = period
        self.pull = pull
        self.clock = clock
        self.watch_every = min(watch_every, period)
        self.loaded: TrustDirState | None = self._read()  # what the verifier is built from
        self.confirmed: float | None = self.loaded.fetched if self.loaded else None
        self.confirmed_exp: float | None = self.loaded.exp if self.loaded else None
        self.last_result: str | None = None
        self.last_error: str | None = None
        self.last_pull: float | None = None
        self._metrics: TrustListMetrics | None = None

    def _read(self) -> TrustDirState | None:
        try:
            return read_trust_state(self.trust_dir)
        except CaListError as e:
            log.error("trust directory: %s", e.detail)
            return None

    # -- the loop --------------------------------------------------------------------------

    async def run(self, app: ServiceApp) -> None:
        """Run until cancelled (the app's lifespan starts and stops it)."""
        from .metrics import TrustListMetrics

        self._metrics = TrustListMetrics(app.metrics.registry)
        self._export()
        next_pull = self._first_pull()
        while True:
            await self._follow(app)
            now = self.clock()
            if self.pull is not None and now >= next_pull:
                ok = await self._pull_once(app)
                wait = self.period if ok else min(self.period, RETRY_AFTER)
                next_pull = self.clock() + wait * random.uniform(0.9, 1.0)
            self._export()
            await asyncio.sleep(self.watch_every)

    def _first_pull(self) -> float:
        now = self.clock()
        if self.loaded is not None and now - self.loaded.fetched < self.period:
            return self.loaded.fetched + self.period  # pulled recently (e.g. at start-up)
        return now + random.uniform(0.0, min(5.0, self.period))

    async def _pull_once(self, app: ServiceApp) -> bool:
        assert self.pull is not None
        self.last_pull = self.clock()
        try:
            update = await asyncio.to_thread(self.pull)
        except CaListError as e:
            result = "refused" if e.kind not in ("api", "login", "x5u", "directory") else "failed"
            self._count(result)
            self.last_result, self.last_error = result, e.detail
            log.error("CA list pull %s, keeping the last good list: %s", result, e.detail)
            return False
        except Exception as e:  # never let the loop die; the detail is ours, never secrets
            self._count("failed")
            self.last_result, self.last_error = "failed", type(e).__name__
            log.error("CA list pull failed (%s), keeping the last good list", type(e).__name__)
            return False
        result = update.install.status
        self._count(result)
        self.last_result, self.last_error = result, None
        self.confirmed = self.last_pull
        self.confirmed_exp = max(update.calist.exp, update.install.state.exp)
        for note in (*update.calist.skipped, *update.calist.warnings):
            log.warning("CA list sequence %d: %s", update.calist.sequence, note)
        if result == "installed":
            log.info(
                "installed CA list sequence %d (%d roots, expires %s)",
                update.calist.sequence,
                len(update.calist.roots),
                iso(update.calist.exp),
            )
            await self._follow(app)
        return True

    async def _follow(self, app: ServiceApp) -> None:
        """Reload the verifier when the directory holds another list than the one loaded."""
        state = self._read()
        if state is None or (
            self.loaded is not None
            and (state.sequence, state.digest) == (self.loaded.sequence, self.loaded.digest)
        ):
            return
        ok, detail = await app.reload()
        if not ok:
            log.error("trust directory changed, reload failed: %s", detail)
            return
        if self.loaded is None or state.sequence != self.loaded.sequence:
            self.confirmed, self.confirmed_exp = state.fetched, state.exp
        self.loaded = state
        log.info("trust anchors now from CA list sequence %d", state.sequence)

    def _count(self, result: str) -> None:
        if self._metrics is not None:
            self._metrics.pulls.labels(result).inc()

    def _export(self) -> None:
        m, state = self._metrics, self.loaded
        if m is None or state is None:
            return
        m.sequence.set(state.sequence)
        m.expiry.set(self.effective_exp or state.exp)
        m.age.set(max(0.0, self.clock() - (self.confirmed or state.fetched)))

    # -- health ----------------------------------------------------------------------------

    @property
    def effective_exp(self) -> float | None:
        """The expiry of the loaded list: its ``exp``, or a later one the STI-PA signed since
        for the same sequence (a re-signed list changes nothing in the directory)."""
        if self.loaded is None:
            return None
        return max(self.loaded.exp, self.confirmed_exp or self.loaded.exp)

    def health(self) -> Mapping[str, Any]:
        """The ``trust_list`` member of ``/healthz``; ``expired`` is true past ``exp``."""
        state = self.loaded
        if state is None:
            return {
                "trust_list": {"installed": False, "expired": False, "last_error": self.last_error}
            }
        now = self.clock()
        exp = self.effective_exp or state.exp
        body: dict[str, Any] = {
            "installed": True,
            "sequence": state.sequence,
            "version": state.version,
            "exp": exp,
            "exp_iso": iso(exp),
            "expired": exp <= now,
            "age_seconds": round(max(0.0, now - (self.confirmed or state.fetched)), 1),
            "roots": len(state.roots),
        }
        if self.pull is not None:
            body["last_pull"] = None if self.last_pull is None else iso(self.last_pull)
            body["last_result"] = self.last_result
            if self.last_error:
                body["last_error"] = self.last_error
        return {"trust_list": body}

    async def aclose(self) -> None:
        """Close the puller's HTTP client, if any."""
        client = getattr(self.pull, "client", None)
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
