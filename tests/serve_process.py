"""Run ``shakenkit serve`` as a real server process on 127.0.0.1 for tests.

``ServeProcess(args)`` starts ``python -m shakenkit.cli serve --host 127.0.0.1 --port P ...``
on a free port, waits until ``GET /healthz`` answers, and stops the process (SIGTERM, then
SIGKILL) on exit. Its log (stdout and stderr) is kept for failure messages.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServeProcess:
    """A running ``shakenkit serve`` (see module docstring)."""

    def __init__(self, args: Sequence[str], *, startup_timeout: float = 30.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix="shakenkit-serve-", suffix=".log", delete=False
        )
        cmd = [
            sys.executable,
            "-m",
            "shakenkit.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            *args,
        ]
        env = dict(os.environ)
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        deadline = time.monotonic() + startup_timeout
        while True:
            if self.proc.poll() is not None:
                log = self.log
                self.stop()
                raise RuntimeError(f"shakenkit serve exited {self.proc.returncode}: {log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    break
            if time.monotonic() > deadline:
                log = self.log
                self.stop()
                raise RuntimeError(f"shakenkit serve did not start: {log}")
            time.sleep(0.1)

    @property
    def log(self) -> str:
        """Everything the server printed so far."""
        return Path(self._log.name).read_text(errors="replace")

    def signal(self, sig: int = signal.SIGHUP) -> None:
        """Send ``sig`` to the server process (the supervisor, with several workers)."""
        self.proc.send_signal(sig)

    def stop(self) -> None:
        """Stop the server (SIGTERM; SIGKILL after 10 s) and remove its log file."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        with contextlib.suppress(OSError):
            os.unlink(self._log.name)

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
