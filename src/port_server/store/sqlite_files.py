"""The SQLite file on disk: what can go wrong with it, found cheaply and named in one line.

A database file can fill its disk, lose its write permission, get a corrupted tail, or be
removed or replaced (its data dir deleted) while the server runs. SQLite reports some of these
as errors with a code (SQLITE_FULL, SQLITE_READONLY, SQLITE_CORRUPT ...); others it does not
report at all: an open connection keeps writing into a deleted file, so the writes would be
acknowledged and lost at the next start. ``DbFile`` remembers the inodes of the file and its
directory when they are opened and compares them before every write transaction (two stat
calls), and ``fault`` turns an SQLite error into ``StoreUnavailable`` with the cause and the fix.
Each cause has a short machine name (``cause``) that ``/healthz``, ``portctl health`` and
``doctor`` show.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from port_server.errors import StoreUnavailable

#: Below this many free bytes the disk counts as full for the readiness check (a write needs
#: room for its WAL frames; SQLite's own SQLITE_FULL is the last word).
MIN_FREE_BYTES = 64 * 1024
SIDE_FILES = ("-wal", "-shm", "-journal")


def unavailable(cause: str, message: str) -> StoreUnavailable:
    return StoreUnavailable(message, cause=cause)


class DbFile:
    """One database file and its directory, identified by (device, inode)."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.dir = self.path.parent
        self._ids: tuple[tuple[int, int], tuple[int, int]] | None = None

    # -- before the first open -------------------------------------------------------------

    def preflight(self) -> None:
        """Refuse to open what would fail or leave harm behind, in one line: an unwritable
        directory, a read-only database (SQLite would create its -wal/-shm files read-only too,
        and those block every later start), a full disk. Repairs side files a read-only period
        left read-only."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise unavailable("unwritable", f"cannot create the data dir {self.dir}:"
                              f" {exc.strerror}; create it or choose another --db") from None
        if not self._dir_writable():
            raise unavailable("read_only", f"the data dir {self.dir} is not writable; make it"
                              " writable (chmod u+w, or remount read-write) or choose another"
                              " --db")
        try:
            st = self.path.stat()
        except FileNotFoundError:
            st = None
        if st is not None and not st.st_mode & stat.S_IWUSR:
            raise unavailable("read_only", f"the database {self.path} is read-only (mode"
                              f" {stat.S_IMODE(st.st_mode):04o}); make it writable with"
                              f" chmod u+w {self.path}")
        if st is not None:
            self._repair_side_files(stat.S_IMODE(st.st_mode))
        free = self.free_bytes()
        if free is not None and free < MIN_FREE_BYTES:
            raise unavailable("disk_full", f"the disk holding {self.dir} is full ({free} bytes"
                              " free); free some space and start again")

    def _dir_writable(self) -> bool:
        try:
            if os.statvfs(self.dir).f_flag & os.ST_RDONLY:
                return False
        except OSError:
            return False
        # root passes access(); a directory without any write bit is meant read-only anyway.
        mode = self.dir.stat().st_mode
        return os.access(self.dir, os.W_OK) and bool(mode & stat.S_IWUSR)

    def _repair_side_files(self, db_mode: int) -> None:
        """-wal/-shm files must be as writable as the database: SQLite copies the database's
        mode when it creates them, so a start while the file was read-only leaves them 0444."""
        for suffix in SIDE_FILES:
            side = Path(f"{self.path}{suffix}")
            try:
                st = side.lstat()
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode) and not st.st_mode & stat.S_IWUSR:
                os.chmod(side, db_mode & 0o666)

    # -- while running ---------------------------------------------------------------------

    def remember(self) -> None:
        """Record what we opened: later checks compare against it."""
        self._ids = (_file_id(self.dir), _file_id(self.path))

    def guard(self) -> None:
        """Raise StoreUnavailable unless the file we opened is still there and writable.
        Two stat calls: cheap enough before every write transaction."""
        if self._ids is None:
            return
        try:
            now = (_file_id(self.dir), _file_id(self.path))
            mode = self.path.stat().st_mode
        except OSError:
            now, mode = None, 0
        if now != self._ids:
            raise self.removed()
        if not mode & stat.S_IWUSR:
            raise unavailable("read_only", f"the database {self.path} was made read-only while"
                              f" port-server ran; make it writable again (chmod u+w"
                              f" {self.path}); the request was not applied")

    def removed(self) -> StoreUnavailable:
        return unavailable(
            "removed", f"the data dir {self.dir} or the database {self.path.name} in it was"
            " removed or replaced while port-server ran; restart port-server (writes are"
            " refused so none is lost); the request was not applied")

    def free_bytes(self) -> int | None:
        try:
            st = os.statvfs(self.dir)
        except OSError:
            return None
        return st.f_bavail * st.f_frsize

    def check_space(self) -> None:
        free = self.free_bytes()
        if free is not None and free < MIN_FREE_BYTES:
            raise self.full()

    def full(self) -> StoreUnavailable:
        return unavailable("disk_full", f"the disk holding {self.dir} is full; free some space"
                           " (writes resume by themselves); the request was not applied")

    def fault(self, exc: BaseException) -> StoreUnavailable:
        """An error from SQLite (or the OS) as a one-line StoreUnavailable naming the cause."""
        if isinstance(exc, StoreUnavailable):
            return exc
        try:
            self.guard()  # a removed or read-only file explains most other errors
        except StoreUnavailable as found:
            return found
        name = str(getattr(exc, "sqlite_errorname", "") or "")
        text = " ".join(str(exc).split()) or type(exc).__name__
        if name.startswith("SQLITE_FULL") or "disk is full" in text or _errno(exc) == 28:
            return self.full()
        if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text:
            return unavailable("corrupt", f"the database {self.path} is corrupt ({text});"
                               " restore it from a backup and restart port-server")
        if name.startswith("SQLITE_READONLY") or "readonly" in text:
            return unavailable("read_only", f"the database {self.path} cannot be written"
                               f" ({text}); make it and {self.dir} writable")
        if name.startswith("SQLITE_IOERR") or isinstance(exc, OSError):
            free = self.free_bytes()
            if free is not None and free < MIN_FREE_BYTES:
                return self.full()
            return unavailable("io_error", f"disk I/O error on {self.path} ({text}); check the"
                               " disk; the request was not applied")
        if name.startswith("SQLITE_BUSY") or "locked" in text:
            return unavailable("busy", f"the database {self.path} is locked by another process"
                               f" ({text}); retry shortly")
        if name.startswith("SQLITE_CANTOPEN"):
            return self.removed()
        return unavailable("error", f"database error on {self.path}: {text}; the request was"
                           " not applied")

    def quick_check(self, conn: sqlite3.Connection) -> None:
        """SQLite's own structure check of every page: a truncated or overwritten tail fails."""
        try:
            rows = conn.execute("PRAGMA quick_check(1)").fetchall()
        except sqlite3.Error as exc:
            raise self.fault(exc) from None
        if rows != [("ok",)]:
            raise unavailable("corrupt", f"the database {self.path} is corrupt ({rows[0][0]});"
                              " restore it from a backup and restart port-server")


def _file_id(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


def _errno(exc: BaseException) -> int | None:
    return exc.errno if isinstance(exc, OSError) else None
