"""Run the service on uvicorn: one process, or ``--workers N`` processes sharing one socket.

With one worker the app runs in this process and ``SIGHUP`` reloads it in place. With several,
uvicorn's supervisor starts N worker processes, each with its own verifier and certificate
cache, built by the command's factory from ``SHAKENKIT_SERVE_CONFIG``. Here the supervisor's
``SIGHUP`` handling is changed from "restart every worker" (which would empty their caches) to
"forward SIGHUP to every worker", so each reloads in place. Prometheus multiprocess mode is
switched on for them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import tempfile
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from .app import SUPERVISOR_ENV, ServiceApp

__all__ = ["CONFIG_ENV", "run_server"]

CONFIG_ENV = "SHAKENKIT_SERVE_CONFIG"


class _Supervisor(Multiprocess):
    """uvicorn's multi-process supervisor, with SIGHUP forwarded to the workers."""

    def handle_hup(self) -> None:
        for process in list(self.processes):
            pid = process.pid
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):  # a worker that just died
                    os.kill(pid, signal.SIGHUP)


def _fast_parts() -> dict[str, Any]:
    """uvicorn's C HTTP parser and uvloop where installed (the ``serve`` extra brings them)."""
    parts: dict[str, Any] = {}
    if importlib.util.find_spec("httptools") is not None:
        parts["http"] = "httptools"
    if importlib.util.find_spec("uvloop") is not None:
        parts["loop"] = "uvloop"
    return parts


def run_server(
    app: ServiceApp | None,
    *,
    host: str,
    port: int,
    workers: int,
    factory: str,
    config_json: str,
    log_level: str = "info",
    access_log: bool = False,
) -> int:
    """Serve until SIGINT/SIGTERM. ``app`` is the built app for one worker (None with several:
    each worker process calls ``factory``, a ``module:function`` import string, which builds its
    own from ``config_json``, found in the environment as ``SHAKENKIT_SERVE_CONFIG``). Returns
    0, or 1 when the server could not start (e.g. the port is taken)."""
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": access_log,
        "lifespan": "on",
        "timeout_graceful_shutdown": 10,
        "server_header": False,
        **_fast_parts(),
    }
    os.environ[CONFIG_ENV] = config_json
    if workers <= 1:
        assert app is not None
        server = uvicorn.Server(uvicorn.Config(app, **common))
        server.run()
        return 0 if server.started else 1
    metrics_dir = tempfile.mkdtemp(prefix="shakenkit-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    os.environ[SUPERVISOR_ENV] = str(os.getpid())
    try:
        config = uvicorn.Config(factory, factory=True, workers=workers, **common)
        sock = config.bind_socket()
        supervisor = _Supervisor(config, sockets=[sock])
        supervisor.run()
        return 0
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
