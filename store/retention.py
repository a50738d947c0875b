"""Retention: the only code that removes evidence, and it records what it removed.

Per source, it removes the oldest records whose `published` is before now - keep_days, and only as a
prefix of the chain: it stops at the first record that must be kept, even if later ones are older (events
arrive late, Google's lookback re-reads), so the chain never gets a hole. Before removing anything it
re-verifies the prefix it is about to remove (sequence, links, hashes, and the anchored heads when given),
so a retention run cannot launder a deletion or alteration: it refuses and names the record instead.

What it removed goes to `evidence_retention` in the same transaction (source, when, cutoff, how many, and
the last removed record's seq and hash); store/verify.py starts each chain from that floor. The same facts
go to the anchor file (kind "retention") before the transaction commits, and verify accepts a floor only
with its anchor: a retention row forged by someone with database access is named, not believed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, select

from config.errors import ConfigError, TamperDetected
from playbook.when import okta_time
from store.anchors import Anchor, read_anchors, write_anchor
from store.evidence import GENESIS, _record_from_row, account_keys, lock_source, record_hash, sources
from store.schema import evidence_accounts, evidence_events, evidence_retention

_BATCH = 5_000


@dataclass(frozen=True)
class RetentionResult:
    source: str
    cutoff: str  # records published before this were due
    removed: int
    last_removed_seq: int  # the chain's floor after this run (0: nothing ever removed)
    last_removed_hash: str
    oldest_kept: str | None  # `published` of the first record kept (None: the source is now empty)


def anchored_floor(conn: Connection, source: str, anchors: Sequence[Anchor]) -> tuple[int, str, str | None]:
    """(seq, hash) of the last record retention removed, and a problem if any retention record is not the
    retention job's: each must follow the one before it and match a "retention" anchor line."""
    rows = conn.execute(
        select(evidence_retention)
        .where(evidence_retention.c.source == source)
        .order_by(evidence_retention.c.last_removed_seq)
    ).all()
    anchored = {(a.first_seq, a.last_seq, a.head_hash) for a in anchors if a.source == source and a.kind == "retention"}
    floor, head = 0, GENESIS
    for row in rows:
        first = int(row.last_removed_seq) - int(row.removed) + 1
        where = f"{source} retention record of {row.ran_at} (seq {first}..{row.last_removed_seq})"
        if first != floor + 1:
            return floor, head, f"{where} does not follow the one before it (seq {floor}): retention records altered"
        if (first, int(row.last_removed_seq), str(row.last_removed_hash)) not in anchored:
            return floor, head, f"{where} has no retention anchor: evidence removed outside the retention job"
        floor, head = int(row.last_removed_seq), str(row.last_removed_hash)
    return floor, head, None


def apply_retention(conn: Connection, *, keep_days: int, now: datetime, anchor_file: Path) -> list[RetentionResult]:
    """Remove each source's expired prefix inside the caller's transaction; one result per source.

    Raises TamperDetected (and removes nothing, once the caller rolls back) if a record it would remove
    is missing, out of order, altered or differs from its anchor. What it removes is anchored in
    `anchor_file` before it returns: if the commit then fails, that anchor has no retention row, and verify
    only asks each row for its anchor, never the reverse (the records are still there and still checked).
    """
    if keep_days < 1:
        raise ConfigError(f"retention: keep_days must be at least 1 (got {keep_days})")
    cutoff = okta_time(now - timedelta(days=keep_days))
    ran_at = okta_time(now)
    anchors = read_anchors(anchor_file)
    results = [_retain_source(conn, source, cutoff, ran_at, anchors) for source in sources(conn)]
    for r in results:
        if r.removed:
            first = r.last_removed_seq - r.removed + 1
            write_anchor(
                anchor_file, Anchor(ran_at, r.source, first, r.last_removed_seq, r.last_removed_hash, "retention")
            )
    return results


def _retain_source(
    conn: Connection, source: str, cutoff: str, ran_at: str, anchors: Sequence[Anchor]
) -> RetentionResult:
    lock_source(conn, source)  # appends to this source wait; they only touch the head anyway
    floor_seq, prev, problem = anchored_floor(conn, source, anchors)
    if problem:
        raise _refused(problem)  # never build on a floor the retention job did not set
    anchored = {a.last_seq: a for a in anchors if a.source == source and a.kind == "ingest"}
    expected = floor_seq + 1
    account_rows: list[dict[str, object]] = []
    oldest_kept: str | None = None
    done = False
    while not done:
        rows = conn.execute(
            select(evidence_events)
            .where(and_(evidence_events.c.source == source, evidence_events.c.seq >= expected))
            .order_by(evidence_events.c.seq)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        for row in rows:
            if row.published >= cutoff:
                oldest_kept, done = row.published, True
                _check_link(source, row, expected, prev)  # the first kept record must follow the last removed
                break
            _check_link(source, row, expected, prev)
            record = _record_from_row(row)
            if record_hash(prev, source, row.seq, row.ingested_at, record) != row.hash:
                raise _refused(f"{source} record seq {row.seq} (uuid {row.uuid}) was altered")
            anchor = anchored.get(row.seq)
            if anchor is not None and anchor.head_hash != row.hash:
                raise _refused(f"{source} record seq {row.seq} differs from its anchor of {anchor.at}")
            account_rows.extend(
                {"b_account": key, "b_published": row.published, "b_seq": row.seq} for key in account_keys(record)
            )
            prev = row.hash
            expected += 1
    removed = expected - 1 - floor_seq
    if removed:
        last = expected - 1
        events = evidence_events.c
        conn.execute(
            delete(evidence_events).where(and_(events.source == source, events.seq > floor_seq, events.seq <= last))
        )
        _delete_accounts(conn, source, account_rows)
        conn.execute(
            insert(evidence_retention).values(
                source=source, ran_at=ran_at, cutoff=cutoff, removed=removed, last_removed_seq=last,
                last_removed_hash=prev,
            )
        )  # fmt: skip
        floor_seq = last
    return RetentionResult(source, cutoff, removed, floor_seq, prev, oldest_kept)


def _check_link(source: str, row: Any, expected: int, prev: str) -> None:
    if row.seq != expected:
        raise _refused(f"{source} record seq {expected} is missing (the chain jumps to seq {row.seq})")
    if row.prev_hash != prev:
        raise _refused(f"{source} record seq {row.seq} (uuid {row.uuid}) does not link to the record before it")


def _refused(problem: str) -> TamperDetected:
    return TamperDetected(
        f"retention refused: {problem}; nothing was removed. Run `holdfast evidence verify` and investigate first."
    )


def _delete_accounts(conn: Connection, source: str, rows: list[dict[str, object]]) -> None:
    """The access-picture index rows of the removed records, by primary key."""
    if not rows:
        return
    table = evidence_accounts
    statement = delete(table).where(
        and_(
            table.c.account == bindparam("b_account"),
            table.c.published == bindparam("b_published"),
            table.c.source == source,
            table.c.seq == bindparam("b_seq"),
        )
    )
    for start in range(0, len(rows), 10_000):
        conn.execute(statement, rows[start : start + 10_000])


__all__ = ["RetentionResult", "anchored_floor", "apply_retention"]
