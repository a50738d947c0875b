"""SQLite checkpoints off the writer's path: a thread copies the write-ahead log into the database file.

With WAL, every commit appends pages to the log, and a checkpoint copies them into the database file and
syncs it. SQLite's automatic checkpoint runs inside the commit that crosses the threshold, so the writer
stops for it: measured on ingest, a third of the time to store a page. Here a thread of the process checks
the log every 100 ms and, once it holds 16 MiB not yet copied, runs a PASSIVE checkpoint on a connection
of its own, which never blocks the writer or readers (https://www.sqlite.org/pragma.html#pragma_wal_checkpoint).
SQLite releases the GIL while it works, so the copy runs on another core while the next page is parsed.
The automatic checkpoint stays on as a backstop (store/db.py), at 256 MiB of log, for when no thread runs.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

EVERY_BYTES = 16 << 20
INTERVAL_S = 0.1


class Checkpointer:
    """One thread per SQLite engine; stopped when the engine is disposed or garbage-collected."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._wal = Path(f"{path}-wal")
        self._stop = threading.Event()
        self.checkpoints = 0
        self._thread = threading.Thread(target=self._run, name=f"sqlite-checkpoint {path.name}", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Ask the thread to end; it does within INTERVAL_S (not waited for: this may run in a finaliser)."""
        self._stop.set()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        copied_at: tuple[int, int] | None = None  # (size, mtime) of the log when last copied
        try:
            while not self._stop.wait(INTERVAL_S):
                try:
                    stat = self._wal.stat()
                except FileNotFoundError:
                    continue
                # The log file is reused from its start after a full copy, so it is its modification, not its
                # size alone, that says whether there is something new to copy.
                if stat.st_size < EVERY_BYTES or (stat.st_size, stat.st_mtime_ns) == copied_at:
                    continue
                if conn is None:
                    conn = sqlite3.connect(self._path, timeout=0, isolation_level=None, check_same_thread=False)
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    continue  # another process is checkpointing, or the file is going away: try again later
                self.checkpoints += 1
                copied_at = (stat.st_size, stat.st_mtime_ns)
        finally:
            if conn is not None:
                conn.close()


__all__ = ["Checkpointer"]
