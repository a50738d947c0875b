"""The sandbox org's System Log: Okta LogEvent objects in a SQLite file, so a 90-day, 10,000-person org fits.

Events are stored as the JSON Okta would return, beside the few columns the fake's queries need. Order is
(published, seq): `seq` breaks ties between events published in the same millisecond, which is what makes
an opaque `after` cursor exact across page borders.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    published TEXT NOT NULL,
    event_type TEXT NOT NULL,
    actor_id TEXT,
    actor_alternate_id TEXT,
    target_ids TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_published ON events (published, seq);
CREATE INDEX IF NOT EXISTS events_type_published ON events (event_type, published, seq);
"""


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    published: str
    body: str  # the LogEvent JSON exactly as the fake serves it

    def as_dict(self) -> dict[str, object]:
        loaded: dict[str, object] = json.loads(self.body)
        return loaded


def _row(event: dict[str, object]) -> tuple[str, str, str, str | None, str | None, str, str]:
    actor = event.get("actor") or {}
    targets = event.get("target") or []
    assert isinstance(actor, dict) and isinstance(targets, list)
    target_ids = " ".join(str(t.get("id", "")) for t in targets if isinstance(t, dict))
    return (
        str(event["uuid"]),
        str(event["published"]),
        str(event["eventType"]),
        actor.get("id"),
        actor.get("alternateId"),
        target_ids,
        json.dumps(event, separators=(",", ":"), sort_keys=True),
    )


class SystemLogStore:
    """Append-only event table; `path=None` keeps it in memory (small tests)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        if path:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.executescript(_SCHEMA)

    def append(self, event: dict[str, object]) -> int:
        with self._lock, self._db:
            cur = self._db.execute(
                "INSERT INTO events (uuid, published, event_type, actor_id, actor_alternate_id,"
                " target_ids, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                _row(event),
            )
            return int(cur.lastrowid or 0)

    def insert_raw(self, uuid: str, published: str, event_type: str, body: str) -> None:
        """Store `body` verbatim (tests: a provider that serves malformed events)."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO events (uuid, published, event_type, body) VALUES (?, ?, ?, ?)",
                (uuid, published, event_type, body),
            )

    def append_many(self, events: Iterable[dict[str, object]], batch: int = 20_000) -> int:
        """Insert a stream of events in batches; returns how many were written."""
        total = 0
        chunk: list[tuple[str, str, str, str | None, str | None, str, str]] = []
        for event in events:
            chunk.append(_row(event))
            if len(chunk) >= batch:
                total += self._insert(chunk)
                chunk = []
        if chunk:
            total += self._insert(chunk)
        return total

    def _insert(self, rows: list[tuple[str, str, str, str | None, str | None, str, str]]) -> int:
        with self._lock, self._db:
            self._db.executemany(
                "INSERT INTO events (uuid, published, event_type, actor_id, actor_alternate_id,"
                " target_ids, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def scan(
        self,
        *,
        since: str | None = None,
        until: str | None = None,
        after: tuple[str, int] | None = None,
        descending: bool = False,
        limit: int = 100,
        event_types: Sequence[str] | None = None,
        event_type_prefixes: Sequence[str] | None = None,
        actor_ids: Sequence[str] | None = None,
        actor_alternate_ids: Sequence[str] | None = None,
        target_ids: Sequence[str] | None = None,
    ) -> list[StoredEvent]:
        """Events with since <= published < until, strictly after the cursor (published, seq), in order.

        The optional column constraints (each a set of allowed values) narrow the candidates in SQL; callers
        still evaluate their full filter on what comes back.
        """
        where: list[str] = []
        args: list[object] = []
        _column_constraints(where, args, event_types, event_type_prefixes, actor_ids, actor_alternate_ids, target_ids)
        if since is not None:
            where.append("published >= ?")
            args.append(since)
        if until is not None:
            where.append("published < ?")
            args.append(until)
        if after is not None:
            op = "<" if descending else ">"
            where.append(f"(published, seq) {op} (?, ?)")
            args.extend(after)
        order = "DESC" if descending else "ASC"
        sql = "SELECT seq, published, body FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY published {order}, seq {order} LIMIT ?"
        args.append(limit)
        with self._lock:
            return [StoredEvent(*r) for r in self._db.execute(sql, args)]

    def scan_persisted(
        self,
        *,
        after_seq: int,
        min_published: str | None = None,
        limit: int = 100,
        event_types: Sequence[str] | None = None,
        event_type_prefixes: Sequence[str] | None = None,
        actor_ids: Sequence[str] | None = None,
        actor_alternate_ids: Sequence[str] | None = None,
        target_ids: Sequence[str] | None = None,
    ) -> list[StoredEvent]:
        """Events in persistence order (seq) after `after_seq`: what a System Log polling request follows."""
        where = ["seq > ?"]
        args: list[object] = [after_seq]
        if min_published is not None:
            where.append("published >= ?")
            args.append(min_published)
        _column_constraints(where, args, event_types, event_type_prefixes, actor_ids, actor_alternate_ids, target_ids)
        sql = f"SELECT seq, published, body FROM events WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?"
        args.append(limit)
        with self._lock:
            return [StoredEvent(*r) for r in self._db.execute(sql, args)]

    def first_seq_since(self, published: str) -> int | None:
        """The lowest seq among events published at or after `published` (where polling from a time starts)."""
        with self._lock:
            # Scan the published index over the range; left alone SQLite walks rowids from the start instead.
            row = self._db.execute(
                "SELECT min(seq) FROM events INDEXED BY events_published WHERE published >= ?", (published,)
            ).fetchone()
            return int(row[0]) if row and row[0] is not None else None

    def last_seq(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT max(seq) FROM events").fetchone()
            return int(row[0]) if row and row[0] is not None else 0

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])

    def latest_published(self) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT max(published) FROM events").fetchone()
            return row[0] if row else None

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _column_constraints(
    where: list[str],
    args: list[object],
    event_types: Sequence[str] | None,
    event_type_prefixes: Sequence[str] | None,
    actor_ids: Sequence[str] | None,
    actor_alternate_ids: Sequence[str] | None,
    target_ids: Sequence[str] | None,
) -> None:
    if event_types:
        where.append(f"event_type IN ({','.join('?' * len(event_types))})")
        args.extend(event_types)
    if event_type_prefixes:
        where.append("(" + " OR ".join("substr(event_type, 1, ?) = ?" for _ in event_type_prefixes) + ")")
        for prefix in event_type_prefixes:
            args.extend((len(prefix), prefix))
    if actor_ids:
        where.append(f"actor_id IN ({','.join('?' * len(actor_ids))})")
        args.extend(actor_ids)
    if actor_alternate_ids:
        where.append(f"actor_alternate_id IN ({','.join('?' * len(actor_alternate_ids))})")
        args.extend(actor_alternate_ids)
    if target_ids:
        # target_ids holds the event's target ids separated by single spaces.
        where.append("(" + " OR ".join("instr(' ' || target_ids || ' ', ?) > 0" for _ in target_ids) + ")")
        args.extend(f" {t} " for t in target_ids)
