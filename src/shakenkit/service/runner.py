"""Run the service on uvicorn: one process, or ``--workers N`` processes sharing one socket.

The socket is bound here, before uvicorn starts, so that a port already in use is one clear
error (:func:`listen` raises ``OSError``; the command prints one ``shakenkit: error:`` line and
exits 1) instead of a uvicorn log line and its own exit status. uvicorn runs the service's own
HTTP/1.1 protocol (:class:`.http.HttpProtocol`) and the app's lifespan.

With one worker the app runs in this process and ``SIGHUP`` reloads it in place. With several,
uvicorn's supervisor starts N worker processes, each with its own verifier and certificate
cache, built by the command's factory from ``SHAKENKIT_SERVE_CONFIG``. Here the supervisor's
``SIGHUP`` handling is changed from "restart every worker" (which would empty their caches) to
"forward SIGHUP to every worker", so each reloads in place. Prometheus multiprocess mode is
switched on for them.

Log lines carry a timestamp and a level: ``2026-01-01T00:00:00+0000 INFO shakenkit.service:
reloaded: 12 trust anchors`` (:func:`log_config`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import signal
import socket
import tempfile
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from .app import SUPERVISOR_ENV, ServiceApp
from .http import HttpProtocol

__all__ = ["CONFIG_ENV", "DEFAULT_KEEP_ALIVE", "listen", "log_config", "run_server"]

CONFIG_ENV = "SHAKENKIT_SERVE_CONFIG"
DEFAULT_KEEP_ALIVE = 5.0  # seconds a connection may sit idle (uvicorn's default)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"

log = logging.getLogger("shakenkit.service")


class _Supervisor(Multiprocess):
    """uvicorn's multi-process supervisor, with SIGHUP forwarded to the workers."""

    def handle_hup(self) -> None:
        for process in list(self.processes):
            pid = process.pid
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):  # a worker that just died
                    os.kill(pid, signal.SIGHUP)


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (SO_REUSEADDR, inheritable by worker processes).
    Raises ``OSError`` (address in use, not available, permission denied ...)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def log_config(level: str) -> dict[str, Any]:
    """The logging configuration of ``serve`` (uvicorn's and shakenkit's loggers): one line
    each on stderr with an ISO 8601 timestamp, the level and the logger."""
    formatter = {"format": LOG_FORMAT, "datefmt": LOG_DATE_FORMAT}
    handler = {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": formatter},
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": upper, "propagate": False},
            "uvicorn.error": {"level": upper},
            "uvicorn.access": {"handlers": ["stderr"], "level": upper, "propagate": False},
            "shakenkit": {"handlers": ["stderr"], "level": upper, "propagate": False},
        },
    }


def _loop() -> str:
    """uvloop where installed (the ``serve`` extra brings it), else asyncio's own loop."""
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


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
    keep_alive: float = DEFAULT_KEEP_ALIVE,
    sock: socket.socket | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM. ``app`` is the built app for one worker (None with several:
    each worker process calls ``factory``, a ``module:function`` import string, which builds its
    own from ``config_json``, found in the environment as ``SHAKENKIT_SERVE_CONFIG``). ``sock``
    is the listening socket (default: :func:`listen` on ``host:port``, which raises OSError).
    Returns 0, or 1 when the server could not start."""
    if sock is None:
        sock = listen(host, port)
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_config": log_config(log_level),
        "log_level": log_level,
        "access_log": access_log,
        "lifespan": "on",
        "timeout_graceful_shutdown": 10,
        "timeout_keep_alive": keep_alive,
        "server_header": False,
        "proxy_headers": False,  # the admin endpoint reads X-Forwarded-For itself (app)
        "http": HttpProtocol,
        "ws": "none",
        "loop": _loop(),
    }
    os.environ[CONFIG_ENV] = config_json
    bound = sock.getsockname()
    where = (
        f"http://[{bound[0]}]:{bound[1]}"
        if ":" in str(bound[0])
        else f"http://{bound[0]}:{bound[1]}"
    )
    if workers <= 1:
        assert app is not None
        server = uvicorn.Server(uvicorn.Config(app, **common))
        log.info("listening on %s (pid %d)", where, os.getpid())
        try:
            server.run(sockets=[sock])
        except SystemExit as e:  # uvicorn's own startup failure (e.g. lifespan)
            return 0 if e.code in (0, None) else 1
        finally:
            sock.close()
        return 0 if server.started else 1
    metrics_dir = tempfile.mkdtemp(prefix="shakenkit-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    os.environ[SUPERVISOR_ENV] = str(os.getpid())
    try:
        config = uvicorn.Config(factory, factory=True, workers=workers, **common)
        log.info("listening on %s with %d workers (supervisor pid %d)", where, workers, os.getpid())
        _Supervisor(config, sockets=[sock]).run()
        return 0
    finally:
        sock.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
