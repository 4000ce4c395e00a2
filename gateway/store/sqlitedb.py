"""One SQLite database file shared by threads and processes: connections, transactions, clear errors.

Durability: the file runs in WAL mode with ``synchronous=NORMAL``. A committed transaction survives
a crash or ``kill -9`` of any process; only a power loss or OS crash can lose the last few commits
(the database itself stays consistent). That is the usual trade for an embedded store: commits do
not wait for an fsync.

Concurrency: each thread gets its own connection (a connection must not be shared across threads
mid-transaction, and a forked child must not reuse its parent's). Every read-modify-write runs in
``BEGIN IMMEDIATE``, which takes the database's single write lock up front, so a condition checked
inside it still holds at commit, across threads and processes alike. Readers never block writers.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

DEFAULT_BUSY_TIMEOUT = 5.0
WAL_AUTOCHECKPOINT_PAGES = 10_000
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024

ErrorFactory = Callable[[str], Exception]

# Bumped in every forked child, so a child never reuses a connection inherited from its parent.
# (Comparing os.getpid() on every statement was 5 % of a bulk worker's time: a system call each.)
_fork_generation = [0]


def _after_fork_in_child() -> None:
    _fork_generation[0] += 1


os.register_at_fork(after_in_child=_after_fork_in_child)


class _Handle:
    """One thread's connection. Only its thread-local holds it strongly: when the thread ends, the
    handle and its connection are freed (no file descriptors pile up from short-lived threads)."""

    __slots__ = ("__weakref__", "conn", "generation")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.generation = _fork_generation[0]


class SqliteDatabase:
    """Per-thread connections to one file; every ``sqlite3`` error leaves as ``unavailable(message)``."""

    def __init__(
        self,
        path: Path,
        *,
        unavailable: ErrorFactory,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        integrity_check: bool = True,
        schema: Sequence[str] = (),
    ) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._unavailable = unavailable
        self._local = threading.local()
        self._lock = threading.Lock()
        self._handles: weakref.WeakSet[_Handle] = weakref.WeakSet()
        self._closed = False
        self._prepare_directory()
        try:
            conn = self.connection()
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise self._unavailable(
                    f"{self.path}: the file system does not support SQLite's WAL mode (got {mode!r}); "
                    "put the data directory on a local disk"
                )
            if integrity_check:
                self._quick_check(conn)
            if schema:
                with self.transaction() as tx:
                    for statement in schema:
                        tx.execute(statement)
        except sqlite3.Error as exc:
            raise self.error(exc) from None

    def _prepare_directory(self) -> None:
        path = self.path
        if path.is_dir():
            raise self._unavailable(f"{path} is a directory; expected the database file inside the data dir")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._unavailable(
                f"cannot create the data directory {path.parent}: {exc.strerror or exc}; "
                "create it yourself or choose another data directory"
            ) from None
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise self._unavailable(
                f"the data directory {path.parent} is not writable by this user (uid {os.getuid()}); "
                "SQLite needs to create files beside the database. Fix its permissions or choose another "
                "data directory"
            )
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            raise self._unavailable(
                f"{path} is not readable and writable by this user (uid {os.getuid()}); fix its permissions"
            )

    def _quick_check(self, conn: sqlite3.Connection) -> None:
        rows = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
        if rows != ["ok"]:
            detail = "; ".join(str(r) for r in rows[:3])
            raise self._unavailable(
                f"{self.path} failed SQLite's integrity check ({detail}). Stop every process using it, move "
                "the file and its -wal/-shm companions aside, and restore a backup or start with an empty "
                "data directory"
            )

    def connection(self) -> sqlite3.Connection:
        handle: _Handle | None = getattr(self._local, "handle", None)
        if handle is not None and handle.generation == _fork_generation[0]:
            return handle.conn
        return self._open()

    def _open(self) -> sqlite3.Connection:
        if self._closed:
            raise self._unavailable(f"{self.path}: the store has been closed")
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,  # autocommit; transactions are explicit (BEGIN IMMEDIATE)
            check_same_thread=False,  # only its own thread uses it; close() may run on another
            cached_statements=512,
        )
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            # A checkpoint (which fsyncs) every ~40 MB of WAL rather than every 4 MB: writers stop
            # paying an fsync every few hundred commits; the WAL is truncated back after each one.
            # The checkpoint stays in the commit that crosses the threshold on purpose. Background
            # PASSIVE checkpoints from a helper thread (rewinding the WAL under the write lock) were
            # measured with benchmarks.gateway: the rare 30 ms stall became a more frequent ~9 ms one
            # and p99 got worse (0.5 -> 0.9 ms quiet; no better under CPU load), because on ext4 a
            # concurrent fsync stalls the commits' own WAL writes anyway.
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
        except sqlite3.Error:
            conn.close()
            raise
        handle = _Handle(conn)
        self._local.handle = handle
        with self._lock:
            self._handles.add(handle)
        return conn

    @property
    def open_connections(self) -> int:
        """Connections of live threads (the others have been freed)."""
        with self._lock:
            return len(self._handles)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the database's write lock from its first statement."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # Also after a failed COMMIT, so the connection is never left inside a transaction.
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise

    def error(self, exc: sqlite3.Error) -> Exception:
        """A message a person can act on: which file, what is wrong, what to do."""
        text = str(exc)
        lower = text.lower()
        path = self.path
        if "locked" in lower or "busy" in lower:
            msg = (
                f"{path} is locked: another connection held its write lock for more than "
                f"{self.busy_timeout:g} s (sqlite: {text}). Another process may be using this data "
                "directory; stop it or use a different one"
            )
        elif "not a database" in lower or "malformed" in lower or "corrupt" in lower:
            msg = (
                f"{path} is not a valid SQLite database or is damaged (sqlite: {text}). Move it and its "
                "-wal/-shm companions aside, then restore a backup or start with an empty data directory"
            )
        elif "readonly" in lower or "read-only" in lower:
            msg = f"{path} is read-only (sqlite: {text}); make the file and its directory writable"
        elif "unable to open" in lower or "cannot open" in lower:
            msg = (
                f"cannot open {path} (sqlite: {text}); check that its directory exists and is writable by "
                "this user"
            )
        elif "no such table" in lower or "no such column" in lower:
            msg = (
                f"{path}: a table is missing or out of date (sqlite: {text}); the file was changed outside "
                "this program. Restart to recreate missing tables, or restore a backup"
            )
        elif "disk" in lower and ("full" in lower or "i/o" in lower):
            msg = f"{path}: the disk failed or is full (sqlite: {text}); free space or check the device"
        elif isinstance(exc, sqlite3.ProgrammingError) and "closed" in lower:
            msg = f"{path}: the store has been closed"
        else:
            msg = f"{path}: SQLite error: {text}"
        return self._unavailable(msg)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections = [h.conn for h in self._handles]
        for conn in connections:
            with contextlib.suppress(sqlite3.Error):  # best effort; the file stays consistent either way
                conn.close()
