"""The trust directory: where ``shakenkit trust update`` installs a checked STI-PA CA list, one
PEM file per root plus ``state.json`` (sequence, version, exp, fetch time, digest, the root
files and the signed list itself, for audit), nothing else. Readers load it with
:func:`shakenkit.certs.trust.read_anchor_directory` (``--trust DIR``).

Replacement is atomic. The new list is written into a sibling directory (``.NAME.new-*``),
fsynced, then swapped with the old one in one step (Linux ``renameat2(RENAME_EXCHANGE)``;
elsewhere two renames, between which the directory is briefly absent, never mixed). A reader
sees the old list or the new one, never a mix. Any refusal, or a failure before the swap,
leaves the directory exactly as it was. Concurrent updates of one directory are serialized by
an advisory lock (``flock``) on the parent directory, and the sequence is compared again under
that lock, so two updaters cannot roll each other back.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import shutil
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..certs.calist import STATE_FILE, CaList, RootRecord, TrustDirState
from ..errors import CaListError

__all__ = ["InstallResult", "install_ca_list", "read_trust_state"]

LOCK_TIMEOUT = 30.0
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


@dataclass(frozen=True, slots=True)
class InstallResult:
    """What :func:`install_ca_list` did: ``installed`` (the directory now holds ``state``) or
    ``unchanged`` (the same sequence was installed already: nothing was written). ``added``,
    ``removed`` and ``kept`` compare the roots with the ``previous`` list."""

    status: Literal["installed", "unchanged"]
    state: TrustDirState
    previous: TrustDirState | None
    added: tuple[RootRecord, ...]
    removed: tuple[RootRecord, ...]
    kept: tuple[RootRecord, ...]


def read_trust_state(out: str | os.PathLike[str]) -> TrustDirState | None:
    """The state of the list installed in ``out``; None when ``out`` does not exist or is an
    empty directory. Raises :class:`~shakenkit.errors.CaListError` (``directory``) when ``out``
    cannot be a trust directory: not a directory, or one holding files but no ``state.json``
    (it was not written by ``trust update``, and is never replaced)."""
    p = Path(out)
    if not p.exists():
        return None
    if not p.is_dir():
        raise CaListError(f"{p} exists and is not a directory", kind="directory")
    state_file = p / STATE_FILE
    try:
        if state_file.is_file():
            return TrustDirState.from_json(state_file.read_bytes())
        if any(p.iterdir()):
            raise CaListError(
                f"{p} holds files but no {STATE_FILE}: it was not written by "
                "'shakenkit trust update', and is not replaced (give a new or empty directory)",
                kind="directory",
            )
    except OSError as e:
        raise CaListError(f"cannot read {p}: {e.strerror or e}", kind="directory") from None
    return None


@contextlib.contextmanager
def _locked(parent: Path, timeout: float) -> Iterator[None]:
    """An exclusive advisory lock on ``parent`` (released when the descriptor closes)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no flock, one updater assumed
        yield
        return
    fd = os.open(parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise CaListError(
                        f"another update of a trust directory in {parent} holds the lock",
                        kind="directory",
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def _write(directory: Path, name: str, data: bytes, mode: int) -> None:
    fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _exchange(new: Path, out: Path) -> bool:
    """Swap ``new`` and ``out`` atomically (Linux renameat2 RENAME_EXCHANGE); False when the
    system or the file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    if fn(_AT_FDCWD, os.fsencode(new), _AT_FDCWD, os.fsencode(out), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(out))


def _swap_in(new: Path, out: Path, old: Path) -> Path | None:
    """Put ``new`` at ``out``; returns where the previous ``out`` now is (to be removed), or
    None when there was none."""
    if not out.exists():
        os.rename(new, out)
        return None
    if _exchange(new, out):
        return new  # ``new`` now names the previous directory
    os.rename(out, old)
    try:
        os.rename(new, out)
    except OSError:
        os.rename(old, out)  # put the previous list back
        raise
    return old


def _cleanup(parent: Path, name: str) -> None:
    """Remove what an interrupted update left beside the directory."""
    for q in parent.glob(f".{name}.*-*"):
        if q.name.startswith((f".{name}.new-", f".{name}.old-")):
            shutil.rmtree(q, ignore_errors=True)


def install_ca_list(
    out: str | os.PathLike[str],
    calist: CaList,
    *,
    fetched: float,
    source: str,
    lock_timeout: float = LOCK_TIMEOUT,
) -> InstallResult:
    """Install ``calist`` (checked by :func:`~shakenkit.certs.calist.check_ca_list`) into the
    trust directory ``out``, atomically (module docstring). ``fetched`` is when it was fetched
    (Unix seconds), ``source`` where from (an API base URL, or ``file``; never credentials).

    The sequence is compared under the lock with the one installed: lower raises
    :class:`~shakenkit.errors.CaListError` (``rollback``), equal changes nothing
    (``unchanged``). A failure raises ``CaListError`` (``directory``) and leaves ``out`` as it
    was.
    """
    target = Path(out)
    if target.is_symlink():
        target = Path(os.path.realpath(target))  # replace what the link points at
    target = target.absolute()
    parent, name = target.parent, target.name
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CaListError(f"cannot create {parent}: {e.strerror or e}", kind="directory") from None
    state = TrustDirState.of(calist, fetched=fetched, source=source)
    with _locked(parent, lock_timeout):
        previous = read_trust_state(target)
        if previous is not None and calist.sequence < previous.sequence:
            raise CaListError(
                f"the CA list has sequence {calist.sequence}, lower than the "
                f"{previous.sequence} installed: an older list is refused (rollback)",
                kind="rollback",
            )
        if previous is not None and calist.sequence == previous.sequence:
            return InstallResult("unchanged", previous, previous, (), (), previous.roots)
        _cleanup(parent, name)
        tag = secrets.token_hex(6)
        new, old = parent / f".{name}.new-{tag}", parent / f".{name}.old-{tag}"
        try:
            mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o755
            new.mkdir(mode=0o700)
            for cert, record in zip(calist.roots, state.roots, strict=True):
                _write(new, record.file, _pem(cert.der), 0o644)
            _write(new, STATE_FILE, state.to_json(), 0o644)  # last: it names the others
            os.chmod(new, mode)
            _fsync_dir(new)
            replaced = _swap_in(new, target, old)
        except OSError as e:
            shutil.rmtree(new, ignore_errors=True)
            raise CaListError(
                f"cannot write the trust directory {target}: {e.strerror or e}", kind="directory"
            ) from None
        _fsync_dir(parent)
        if replaced is not None:
            shutil.rmtree(replaced, ignore_errors=True)
    before = {r.sha256: r for r in previous.roots} if previous else {}
    after = {r.sha256: r for r in state.roots}
    return InstallResult(
        "installed",
        state,
        previous,
        added=tuple(r for k, r in after.items() if k not in before),
        removed=tuple(r for k, r in before.items() if k not in after),
        kept=tuple(r for k, r in after.items() if k in before),
    )


def _pem(der: bytes) -> bytes:
    import base64

    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"
