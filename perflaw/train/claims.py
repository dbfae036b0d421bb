"""Claims: which process trains which configuration of a runs table shared by processes.

A process that wants to train configuration ``k`` of the runs table ``out`` claims it with
the file ``<out>.running/<hash of k>``, where ``out`` is the table's *resolved* path, so
one table reached through two spellings (a symbolic link, ``./``) is one set of claims.

Exactly one process wins a claim:

* the claim (JSON: host, pid, process start time, a random token) is written whole to a
  temporary file in the claims folder, then ``os.link``-ed to its name: the link fails if
  the name exists, so of several processes linking at once one succeeds, and a claim is
  never seen half written;
* deciding about an existing claim and replacing a stale one happen under the table's
  lock (:func:`table_lock`), and the stale claim is replaced by one atomic ``rename`` of
  the new claim over it (never unlink-then-create, where two takers can both win);
* a claim that cannot be read as a claim (empty: an older perflaw was writing it; torn;
  not UTF-8) counts as live until it is ``expiry`` seconds old, then as stale -- it is
  named in the message, and never crashes the sweep.

Whether an existing claim is live:

* on this host: its process exists and started when the claim says (a dead process's pid
  reused by another process is not taken for the owner);
* from another host (its process cannot be checked from here): the owner refreshes the
  claim's modification time every ``heartbeat`` seconds while it trains
  (:class:`Heartbeat`); the claim is stale once it is ``expiry`` seconds old.  The age is
  measured against the modification time of the file this process has just written in the
  same folder, i.e. on the file server's clock, so clocks that differ between hosts do
  not matter.  A live host whose heartbeat stops for longer than ``expiry`` (a suspended
  job) loses its claims.

The table lock is ``fcntl.lockf`` on the regular file ``<out>.lock`` opened for writing
(POSIX record locks: the kind NFSv4 supports; a lock on a folder opened read-only is not).
The lock file is left in place: deleting a lock file another process may be opening is
itself a race.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

try:  # POSIX; elsewhere one process per table (claims by os.link still hold)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "EXPIRY_S",
    "Heartbeat",
    "Holder",
    "claim",
    "claim_path",
    "holder",
    "release",
    "resolved",
    "table_lock",
]

#: Seconds after which a claim from another host (or an unreadable one) with no heartbeat
#: is stale.
EXPIRY_S = 600.0


def resolved(out: str | os.PathLike) -> Path:
    """The table's path with links and ``..`` resolved: the identity of one table."""
    return Path(os.path.realpath(out))


def claim_path(out: str | os.PathLike, k: tuple) -> Path:
    """Where the claim of configuration ``k`` of table ``out`` lives."""
    table = resolved(out)
    folder = table.with_name(table.name + ".running")
    return folder / hashlib.sha1(repr(k).encode()).hexdigest()[:16]


#: POSIX record locks belong to a process, not to a descriptor: two threads of one
#: process would both hold one, and closing either descriptor would release both.  So
#: the threads of a process take turns first.
_THREADS = threading.Lock()


@contextlib.contextmanager
def table_lock(out: str | os.PathLike) -> Iterator[None]:
    """Exclusive among the processes (of any host) and threads using table ``out``: held
    while a claim is judged or replaced and while a row is appended or replaced.
    Released when the descriptor closes, also when the process dies.  Not re-entrant."""
    with _THREADS:
        if fcntl is None:  # pragma: no cover
            yield
            return
        table = resolved(out)
        lock = table.with_name(table.name + ".lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock


def process_start(pid: int) -> str | None:
    """Start time of process ``pid`` (clock ticks since boot, Linux ``/proc``), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False
    try:  # a zombie (exited, not yet reaped by its parent) is not training anything
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _parse(data: bytes) -> dict | None:
    """The claim's fields, or None when the bytes are not a claim (empty, torn, not
    UTF-8).  A bare pid is an older perflaw's claim."""
    try:
        info = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if isinstance(info, int) and not isinstance(info, bool):
        info = {"pid": info}
    if not isinstance(info, dict):
        return None
    pid = info.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < 2**31:
        return None
    return info


@dataclass(frozen=True)
class Holder:
    """Who holds a claim, for messages."""

    path: Path
    host: str | None
    pid: int | None
    age: float
    live: bool
    readable: bool

    def describe(self) -> str:
        if not self.readable:
            return f"an unreadable claim file {self.path} ({self.age:.0f} s old)"
        where = "this host" if self.host == socket.gethostname() else f"host {self.host}"
        return (
            f"pid {self.pid} on {where} (claim file {self.path}, "
            f"{self.age:.0f} s since its heartbeat)"
        )


def _judge(path: Path, data: bytes, mtime: float, now: float, expiry: float) -> Holder:
    info = _parse(data)
    age = max(0.0, now - mtime)
    if info is None:  # being written by an older perflaw, or damaged: live for a while
        return Holder(path, None, None, age, age < expiry, False)
    me = socket.gethostname()
    host = str(info.get("host", me))
    pid = info["pid"]
    if host != me:
        live = age < expiry
    elif pid == os.getpid():
        live = False  # our own, left by an earlier call of this process: not held
    else:
        start = info.get("start")
        live = _alive(pid) and (start is None or start == process_start(pid))
    return Holder(path, host, pid, age, live, True)


def _read(path: Path) -> tuple[bytes, float] | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(4096), os.fstat(fh.fileno()).st_mtime
    except FileNotFoundError:
        return None


def _write_tmp(folder: Path, info: dict) -> Path:
    """The claim, whole and fsync'ed, under a name of its own in the claims folder."""
    tmp = folder / f".claim-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(6)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, json.dumps(info).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def claim(
    out: str | os.PathLike, k: tuple, *, expiry: float = EXPIRY_S
) -> tuple[Path, str] | Holder:
    """Claim configuration ``k`` of table ``out``.

    Returns ``(claim file, token)`` when this process won it (pass both to
    :func:`release`), else the :class:`Holder` of the live claim.
    """
    path = claim_path(out, k)
    path.parent.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    token = secrets.token_hex(8)
    info = {"host": socket.gethostname(), "pid": pid, "start": process_start(pid), "token": token}
    tmp = _write_tmp(path.parent, info)
    try:
        with table_lock(out):
            try:
                os.link(tmp, path)
                return path, token
            except FileExistsError:
                pass
            found = _read(path)
            if found is None:  # released meanwhile (only under the lock: cannot happen)
                os.link(tmp, path)
                return path, token
            now = os.stat(tmp).st_mtime  # the file server's clock
            held = _judge(path, *found, now, expiry)
            if held.live:
                return held
            os.replace(tmp, path)  # take the stale claim over in one step
            return path, token
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def holder(out: str | os.PathLike, k: tuple, *, expiry: float = EXPIRY_S) -> Holder | None:
    """The live holder of configuration ``k``'s claim, or None (no claim, or a stale one)."""
    path = claim_path(out, k)
    found = _read(path)
    if found is None:
        return None
    now = time.time()
    with contextlib.suppress(OSError):  # the server's clock, as in claim()
        probe = _write_tmp(path.parent, {})
        now = os.stat(probe).st_mtime
        os.unlink(probe)
    held = _judge(path, *found, now, expiry)
    return held if held.live else None


def _is_ours(path: Path, token: str) -> bool:
    found = _read(path)
    info = _parse(found[0]) if found else None
    return info is not None and info.get("token") == token


def release(out: str | os.PathLike, path: Path, token: str) -> None:
    """Remove our claim (only if it is still ours: a claim taken over after its expiry
    belongs to its new holder)."""
    with table_lock(out):
        if _is_ours(path, token):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


class Heartbeat:
    """Refresh the modification time of the claims this process holds, every
    ``interval`` seconds, from a daemon thread; ``lost`` collects claims that another
    process took over (their heartbeat had stopped for longer than its expiry)."""

    def __init__(self, interval: float) -> None:
        self.interval = float(interval)
        self.held: dict[Path, str] = {}
        self.lost: list[Path] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

    def add(self, path: Path, token: str) -> None:
        with self._mutex:
            self.held[path] = token
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="perflaw-claims", daemon=True)
            self._thread.start()

    def remove(self, path: Path) -> None:
        with self._mutex:
            self.held.pop(path, None)

    def beat(self) -> None:
        with self._mutex:
            held = list(self.held.items())
        for path, token in held:
            if _is_ours(path, token):
                with contextlib.suppress(OSError):
                    os.utime(path)  # no times given: the file server's "now"
            else:
                with self._mutex:
                    self.held.pop(path, None)
                    self.lost.append(path)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def stop(self) -> None:
        self._stop.set()
