"""Google Workspace Reports activities for the sandbox org, in SQLite (same reasons as the System Log).

Each row is one activity resource exactly as `activities.list` returns it, with the application, actor
email, time and event names beside it for the fake's filters.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS activities (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    application TEXT NOT NULL,
    time TEXT NOT NULL,
    actor_email TEXT,
    event_names TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS activities_app_time ON activities (application, time, seq);
CREATE INDEX IF NOT EXISTS activities_app_actor_time ON activities (application, actor_email, time);
"""


@dataclass(frozen=True)
class StoredActivity:
    seq: int
    time: str
    body: str

    def as_dict(self) -> dict[str, object]:
        loaded: dict[str, object] = json.loads(self.body)
        return loaded


def _row(activity: dict[str, object]) -> tuple[str, str, str | None, str, str]:
    ident = activity["id"]
    actor = activity.get("actor") or {}
    events = activity.get("events") or []
    assert isinstance(ident, dict) and isinstance(actor, dict) and isinstance(events, list)
    names = " ".join(str(e.get("name", "")) for e in events if isinstance(e, dict))
    return (
        str(ident["applicationName"]),
        str(ident["time"]),
        actor.get("email"),
        f" {names} ",
        json.dumps(activity, separators=(",", ":"), sort_keys=True),
    )


class ReportsStore:
    """Append-only activities table; `path=None` keeps it in memory."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        if path:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.executescript(_SCHEMA)

    def append(self, activity: dict[str, object]) -> None:
        self.append_many([activity])

    def append_many(self, activities: Iterable[dict[str, object]], batch: int = 20_000) -> int:
        total = 0
        chunk: list[tuple[str, str, str | None, str, str]] = []
        for activity in activities:
            chunk.append(_row(activity))
            if len(chunk) >= batch:
                total += self._insert(chunk)
                chunk = []
        if chunk:
            total += self._insert(chunk)
        return total

    def _insert(self, rows: list[tuple[str, str, str | None, str, str]]) -> int:
        with self._lock, self._db:
            self._db.executemany(
                "INSERT INTO activities (application, time, actor_email, event_names, body) VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def scan(
        self,
        application: str,
        *,
        actor_email: str | None = None,
        start_time: str | None = None,
        end_time: str | None = None,
        event_names: Sequence[str] | None = None,
        before: tuple[str, int] | None = None,
        limit: int = 1000,
    ) -> list[StoredActivity]:
        """Activities newest first (as Google returns them), strictly before the cursor (time, seq)."""
        where = ["application = ?"]
        args: list[object] = [application]
        if actor_email is not None:
            where.append("actor_email = ?")
            args.append(actor_email)
        if start_time is not None:
            where.append("time >= ?")
            args.append(start_time)
        if end_time is not None:
            where.append("time <= ?")
            args.append(end_time)
        if event_names:
            where.append("(" + " OR ".join("event_names LIKE ?" for _ in event_names) + ")")
            args.extend(f"% {n} %" for n in event_names)
        if before is not None:
            where.append("(time, seq) < (?, ?)")
            args.extend(before)
        sql = (
            "SELECT seq, time, body FROM activities WHERE "
            + " AND ".join(where)
            + " ORDER BY time DESC, seq DESC LIMIT ?"
        )
        args.append(limit)
        with self._lock:
            return [StoredActivity(*r) for r in self._db.execute(sql, args)]

    def count(self, application: str | None = None) -> int:
        with self._lock:
            if application is None:
                return int(self._db.execute("SELECT count(*) FROM activities").fetchone()[0])
            return int(
                self._db.execute("SELECT count(*) FROM activities WHERE application = ?", (application,)).fetchone()[0]
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
