"""Where each source's ingest resumes, and what each ingest run did.

The cursor moves in the same transaction as the events it covers, so a crash loses nothing and repeats
nothing that the next run's de-duplication would not absorb. It only ever moves forward (by watermark), so
two overlapping runs cannot drag it back.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from store.schema import ingest_cursors, ingest_runs


@dataclass(frozen=True)
class Cursor:
    cursor: str | None
    watermark: str | None


def get_cursor(conn: Connection, source: str) -> Cursor:
    row = conn.execute(
        select(ingest_cursors.c.cursor, ingest_cursors.c.watermark).where(ingest_cursors.c.source == source)
    ).first()
    return Cursor(row.cursor, row.watermark) if row else Cursor(None, None)


def save_cursor(conn: Connection, source: str, cursor: str | None, watermark: str, now: str) -> bool:
    """Move the cursor forward; returns False (and changes nothing) if another run is already further."""
    current = get_cursor(conn, source)
    if current.watermark is not None and current.watermark > watermark:
        return False
    values = {"cursor": cursor, "watermark": watermark, "updated_at": now}
    if current.watermark is None and current.cursor is None:
        exists = conn.execute(select(ingest_cursors.c.source).where(ingest_cursors.c.source == source)).first()
        if exists is None:
            conn.execute(insert(ingest_cursors).values(source=source, **values))
            return True
    conn.execute(update(ingest_cursors).where(ingest_cursors.c.source == source).values(**values))
    return True


@dataclass
class RunCounts:
    pages: int = 0
    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    flagged: int = 0
    failed_pages: int = 0


def start_run(conn: Connection, source: str, now: str) -> int:
    result = conn.execute(insert(ingest_runs).values(source=source, started_at=now, status="running"))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def finish_run(conn: Connection, run_id: int, counts: RunCounts, status: str, now: str, error: str | None) -> None:
    conn.execute(
        update(ingest_runs)
        .where(ingest_runs.c.id == run_id)
        .values(
            finished_at=now,
            status=status,
            error=error,
            pages=counts.pages,
            fetched=counts.fetched,
            stored=counts.stored,
            duplicates=counts.duplicates,
            flagged=counts.flagged,
            failed_pages=counts.failed_pages,
        )
    )
