"""The result cache: sqlite (WAL), content-addressed, shared safely between processes.

An entry is one request's answer (a prompt's completions, or its continuation scores) on one
model. Its key hashes everything that determines that answer: the model's weights
fingerprint (with the backend, for one that answers in its own way: vLLM), the probe and
its version, the request itself (prompt, system prompt, continuations or generation
parameters, seed), the cache format and, for samples, the sampler's version. So a changed
model, probe version, prompt or seed can never read a stale answer, and nothing needs
invalidating by hand; `traitgate cache clear` only reclaims space.

Each chunk of work is committed in one transaction as soon as it is computed (see
:class:`traitgate.cached_backend.CachedBackend`); a run killed at any point keeps every
committed chunk and a restart computes only the rest. WAL mode lets several processes
(pytest-xdist workers, two CI jobs) read and write the same file; writers wait for each
other (``busy_timeout``). Before computing a chunk, a process claims it: a second process
running the same work computes the chunks nobody holds and then waits for the others'
(taking over a claim whose process has ended, or one older than the stall time), so no
answer is computed twice.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traitgate.errors import ConfigError

FORMAT = 1  # bump when the meaning of a stored value changes
DB_NAME = "traitgate-cache.sqlite"
DEFAULT_DIR = ".traitgate_cache"
BUSY_TIMEOUT_S = 120.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS claims (chunk TEXT PRIMARY KEY, owner TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    probe TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL
);
"""


class CacheFileError(ConfigError):
    """The cache file cannot be used. ``replaceable``: it is corrupt or of another format,
    so clearing it (deleting the file) loses nothing usable; otherwise the file may be fine
    and the folder or disk is the problem (read-only, full, a file-size limit)."""

    def __init__(self, message: str, *, replaceable: bool) -> None:
        super().__init__(message)
        self.replaceable = replaceable


# sqlite's words for a file it cannot write or grow (permissions, a full disk, a size limit)
_STORAGE_WORDS = ("readonly", "read-only", "unable to open", "disk", "full", "too large")


@dataclass(frozen=True)
class CacheInfo:
    path: Path
    entries: int
    models: int
    probes: list[str]
    size_bytes: int


class Cache:
    """An open cache file. Values are JSON (lists of floats or strings): floats round-trip
    exactly through Python's JSON, so a cached answer equals the computed one bit for bit."""

    def __init__(self, directory: Path, *, lazy: bool = False) -> None:
        """Open the cache in ``directory`` (created if needed). ``lazy``: touch nothing on
        disk until the first read or write (so a pytest run without gates leaves no trace)."""
        self.directory = Path(directory)
        self.path = self.directory / DB_NAME
        if self.directory.exists() and not self.directory.is_dir():
            raise ConfigError(f"cache directory {self.directory}: exists and is not a directory")
        self.hits = 0
        self.stored = 0
        self._connection: sqlite3.Connection | None = None
        if not lazy:
            self._connection = self._open()

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = self._open()
        return self._connection

    def _open(self) -> sqlite3.Connection:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cache directory {self.directory}: {exc.strerror}") from None
        # Several processes may open a new cache at once (xdist workers). Switching to WAL
        # and creating the tables can meet a lock that sqlite reports at once instead of
        # waiting for it: retry those with back-off, up to the busy timeout.
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        delay = 0.01
        while True:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            try:
                self._setup(conn)
                return conn
            except sqlite3.OperationalError as exc:
                conn.close()
                busy = "locked" in str(exc) or "busy" in str(exc)
                if busy and time.monotonic() < deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, 0.5)
                    continue
                raise self._failure(exc) from None
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise self._failure(exc) from None
            except ConfigError:
                conn.close()
                raise

    def _setup(self, conn: sqlite3.Connection) -> None:
        if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            conn.execute("PRAGMA journal_mode=WAL")  # persistent: set once per file
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL: committed data survives a kill
        conn.execute("BEGIN IMMEDIATE")  # waits for other writers (busy timeout)
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            row = conn.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
            if row is None:
                conn.execute("INSERT INTO meta VALUES ('format', ?)", (str(FORMAT),))
            elif row[0] != str(FORMAT):
                raise CacheFileError(
                    f"cache {self.path}: written in format {row[0]}, this traitgate reads "
                    f"format {FORMAT}; clear it with `traitgate cache clear "
                    f"--cache-dir {self.directory}` or use another --cache-dir",
                    replaceable=True,
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _failure(self, exc: sqlite3.Error) -> CacheFileError:
        """What went wrong with the file, and what to do (never: delete a good cache)."""
        if isinstance(exc, sqlite3.OperationalError) and any(
            word in str(exc).lower() for word in _STORAGE_WORDS
        ):
            return CacheFileError(
                f"cache {self.path}: cannot write it ({exc}); the answers stored there are "
                "kept: check the folder's permissions and free space, or use another "
                "--cache-dir (or --no-cache)",
                replaceable=False,
            )
        return CacheFileError(
            f"cache {self.path}: not a usable traitgate cache ({exc}); it was left as it "
            f"is: move it away or clear it with `traitgate cache clear --cache-dir "
            f"{self.directory}`",
            replaceable=True,
        )

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # ------------------------------------------------------------------ entries
    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for start in range(0, len(keys), 500):  # stay under sqlite's variable limit
            part = list(keys[start : start + 500])
            marks = ",".join("?" * len(part))
            try:
                rows = self._conn.execute(
                    f"SELECT key, value FROM entries WHERE key IN ({marks})", part
                ).fetchall()
            except sqlite3.DatabaseError as exc:  # a damaged page, an I/O error
                raise self._failure(exc) from None
            for key, value in rows:
                try:
                    found[key] = json.loads(value)
                except json.JSONDecodeError:
                    raise ConfigError(
                        f"cache {self.path}: entry {key[:12]} is corrupt; clear the cache "
                        f"with `traitgate cache clear --cache-dir {self.directory}`"
                    ) from None
        self.hits += len(found)
        return found

    def put_many(
        self,
        entries: Mapping[str, Any],
        *,
        model: str,
        probe: str,
        kind: str,
        release: str | None = None,
    ) -> None:
        """Store entries in one transaction: all of them or, if killed, none (with the
        ``release``d claim dropped in the same transaction)."""
        now = time.time()
        rows = [(key, model, probe, kind, json.dumps(value), now) for key, value in entries.items()]
        with self._transaction():
            self._conn.executemany("INSERT OR IGNORE INTO entries VALUES (?,?,?,?,?,?)", rows)
            if release is not None:
                self._conn.execute("DELETE FROM claims WHERE chunk = ?", (release,))
        self.stored += len(rows)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction; a write the disk refuses (full, read-only, a size limit)
        is rolled back (the stored answers stay as they were) and is one line naming the
        file."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")  # take the write lock now (waits for others)
            try:
                yield
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise self._failure(exc) from None

    # ------------------------------------------------------------------ claims
    def claim(self, chunk: str, owner: str, stale_seconds: float) -> bool:
        """Take the chunk of work named ``chunk`` for ``owner`` unless another owner holds a
        live claim on it: one that is younger than ``stale_seconds`` and, on this machine,
        whose process still runs. Two processes sharing a cache thus split the work instead
        of both computing it; a crashed owner's chunks are taken over."""
        now = time.time()
        with self._transaction():
            row = self._conn.execute(
                "SELECT owner, at FROM claims WHERE chunk = ?", (chunk,)
            ).fetchone()
            live = row is not None and row[0] != owner and now - row[1] < stale_seconds
            if live and _alive(row[0]):
                return False
            self._conn.execute(
                "INSERT OR REPLACE INTO claims VALUES (?, ?, ?)", (chunk, owner, now)
            )
        return True

    def release(self, chunk: str) -> None:
        with self._transaction():
            self._conn.execute("DELETE FROM claims WHERE chunk = ?", (chunk,))

    # ------------------------------------------------------------------ markers
    def mark_done(self, name: str) -> None:
        """Record that some work (named by the caller) is complete in this cache; pytest-xdist
        workers wait on each other's markers instead of repeating their models."""
        with self._transaction():
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"done:{name}", "1"))

    def is_done(self, name: str) -> bool:
        row = self._conn.execute("SELECT 1 FROM meta WHERE name = ?", (f"done:{name}",))
        return row.fetchone() is not None

    def write_mark(self) -> int:
        """A number that grows with every stored entry (the newest rowid): a cheap way to see
        that someone is still writing, where COUNT(*) would scan the table."""
        return int(self._conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM entries").fetchone()[0])

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def info(self) -> CacheInfo:
        models = self._conn.execute("SELECT COUNT(DISTINCT model) FROM entries").fetchone()[0]
        probes = [r[0] for r in self._conn.execute("SELECT DISTINCT probe FROM entries")]
        size = sum(p.stat().st_size for p in self.directory.glob(f"{DB_NAME}*"))
        return CacheInfo(self.path, self.count(), int(models), sorted(probes), size)

    def clear(self) -> int:
        """Delete every entry; returns how many there were."""
        n = self.count()
        with self._transaction():
            self._conn.execute("DELETE FROM entries")
            self._conn.execute("DELETE FROM meta WHERE name LIKE 'done:%'")
        try:
            self._conn.execute("VACUUM")  # gives the space back; needs room for a copy
        except sqlite3.OperationalError as exc:
            raise self._failure(exc) from None
        return n


OWNER = f"{socket.gethostname()}:{os.getpid()}"  # this process, as claims name it


def _alive(owner: str) -> bool:
    """Whether a claim's owner may still be working: a process of another machine is
    assumed alive (its claim expires with time); one of this machine, if its pid runs."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # it runs, as another user
        return True
    return True


def clear_cache(directory: Path) -> int:
    """Delete every entry of the cache in ``directory``; returns how many there were.

    A cache file that cannot be opened because it is corrupt or of another format is
    deleted (clearing is the explicit request to drop what is stored) and -1 returned. One
    that cannot be opened for writing (a read-only folder, a full disk) is left alone: the
    error says so."""
    try:
        cache = Cache(directory)
    except CacheFileError as exc:
        if not exc.replaceable or not (Path(directory) / DB_NAME).is_file():
            raise
        for path in Path(directory).glob(f"{DB_NAME}*"):
            path.unlink()
        return -1
    with closing(cache):
        return cache.clear()


__all__ = ["OWNER", "Cache", "CacheFileError", "CacheInfo", "clear_cache"]
