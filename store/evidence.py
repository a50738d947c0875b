"""The evidence store: provider records (store/records.py) kept exactly as received, append-only,
hash-chained per source.

Each record's hash covers every stored column (raw JSON included) and the previous record's hash, so
altering, deleting, reordering or inserting any row breaks the chain at that row. Chain heads are also
written outside the database (store/anchors.py) so that rewriting the whole chain is caught too.

Bad input never stops ingestion: a record that cannot be read normally is stored raw with flags
(malformed, oversize, unknown_event_type, raw_escaped from store/records.py; uuid_conflict here).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, select

from store.db import is_sqlite
from store.records import EvidenceRecord
from store.schema import evidence_accounts, evidence_events

GENESIS = "0" * 64
_FIELDS = EvidenceRecord._fields


def record_hash(prev_hash: str, source: str, seq: int, ingested_at: str, record: EvidenceRecord) -> str:
    """sha256 over the previous hash and every stored column, each length-prefixed so borders cannot blur.

    Columns in declaration order, None as "~", flags joined by commas last (this runs for every record
    appended and verified; tests/store/test_fuzz_parser.py pins its output to a plain reference).
    """
    texts = (prev_hash, source, str(seq), ingested_at, *record[:-1], ",".join(record.flags))
    return hashlib.sha256("".join(["~" if t is None else f"{len(t)}:{t}" for t in texts]).encode()).hexdigest()


@dataclass(frozen=True)
class AppendResult:
    stored: int
    duplicates: int
    flagged: int
    head_seq: int
    head_hash: str


def lock_source(conn: Connection, source: str) -> None:
    """Serialise appends to one source's chain (SQLite: the caller's BEGIN IMMEDIATE already does)."""
    if not is_sqlite(conn):
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext(%(s)s))", {"s": f"evidence:{source}"})


def chain_head(conn: Connection, source: str) -> tuple[int, str]:
    row = conn.execute(
        select(evidence_events.c.seq, evidence_events.c.hash)
        .where(evidence_events.c.source == source)
        .order_by(evidence_events.c.seq.desc())
        .limit(1)
    ).first()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def _existing_raw(conn: Connection, source: str, batch: list[EvidenceRecord]) -> dict[tuple[str, str], set[str]]:
    """The raw texts already stored under each (published, uuid) of `batch`: one range of
    ix_evidence_source_published_uuid from the batch's oldest to its newest event, narrowed by uuid."""
    keys = sorted({r.uuid for r in batch})
    if not keys:
        return {}
    oldest, newest = min(r.published for r in batch), max(r.published for r in batch)
    events = evidence_events.c
    found: dict[tuple[str, str], set[str]] = {}
    for start in range(0, len(keys), 500):
        rows = conn.execute(
            select(events.published, events.uuid, events.raw).where(
                and_(
                    events.source == source,
                    events.published >= oldest,
                    events.published <= newest,
                    events.uuid.in_(keys[start : start + 500]),
                )
            )
        )
        for published, uuid, raw in rows:
            found.setdefault((published, uuid), set()).add(raw)
    return found


def append(conn: Connection, source: str, records: Iterable[EvidenceRecord], *, ingested_at: str) -> AppendResult:
    """Append records to `source`'s chain inside the caller's transaction.

    The same uuid and published time with the same content is a duplicate (polling repeats events at page
    borders, overlapping runs fetch the same page) and is skipped; with different content it is stored and
    flagged `uuid_conflict`. The same uuid at another published time is stored as a record of its own.
    """
    lock_source(conn, source)
    batch = list(records)
    seen = _existing_raw(conn, source, batch)
    seq, head = chain_head(conn, source)
    rows: list[tuple[object, ...]] = []
    accounts: list[tuple[str, str, str, int]] = []
    duplicates = flagged = 0
    for record in batch:
        known = seen.setdefault((record.published, record.uuid), set())
        if record.raw in known:
            duplicates += 1
            continue
        if known:
            record = record._replace(flags=tuple(sorted({*record.flags, "uuid_conflict"})))
        known.add(record.raw)
        seq += 1
        prev, head = head, record_hash(head, source, seq, ingested_at, record)
        flagged += bool(record.flags)
        rows.append(_row(source, seq, ingested_at, record, prev, head))
        accounts.extend((account, record.published, source, seq) for account in account_keys(record))
    if rows:
        # Driver-level executemany: SQLAlchemy's per-row parameter processing costs more than the insert.
        conn.exec_driver_sql(_insert_sql(conn), rows)
    if accounts:
        conn.exec_driver_sql(_insert_accounts_sql(conn), accounts)
    return AppendResult(len(rows), duplicates, flagged, seq, head)


_ACCOUNT_WIDTH = 320


def account_keys(record: EvidenceRecord) -> set[str]:
    """The accounts a record is about (evidence_accounts.account): actor and User targets, ids as sent,
    logins lower-cased."""
    keys = {*record.target_ids.split(" "), *record.target_logins.split(" ")}
    if record.actor_id:
        keys.add(record.actor_id)
    if record.actor_alternate_id:
        keys.add(record.actor_alternate_id.lower())
    keys.discard("")
    if any(len(k) > _ACCOUNT_WIDTH for k in keys):
        keys = {k[:_ACCOUNT_WIDTH] for k in keys}
    return keys


def _insert_accounts_sql(conn: Connection) -> str:
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    columns = "account, published, source, seq"
    # DO NOTHING: rows left behind by evidence deleted outside the retention job must not stop ingestion
    # (verify reports the deletion; queries re-check each record's accounts).
    return (
        f"INSERT INTO {evidence_accounts.name} ({columns}) VALUES ({', '.join([marker] * 4)}) "  # noqa: S608
        "ON CONFLICT DO NOTHING"
    )


_COLUMNS = ("source", "seq", "ingested_at", "prev_hash", "hash", *_FIELDS)


def _insert_sql(conn: Connection) -> str:
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return (
        f"INSERT INTO evidence_events ({', '.join(_COLUMNS)}) "  # noqa: S608 (constant column names)
        f"VALUES ({', '.join(marker for _ in _COLUMNS)})"
    )


def _row(source: str, seq: int, ingested_at: str, record: EvidenceRecord, prev: str, digest: str) -> tuple[object, ...]:
    return (source, seq, ingested_at, prev, digest, *record[:-1], ",".join(record.flags))


def _record_from_row(row: Any) -> EvidenceRecord:
    return EvidenceRecord(
        uuid=row.uuid,
        published=row.published,
        event_type=row.event_type,
        actor_id=row.actor_id,
        actor_alternate_id=row.actor_alternate_id,
        actor_type=row.actor_type,
        target_ids=row.target_ids,
        target_logins=row.target_logins,
        outcome=row.outcome,
        client_ip=row.client_ip,
        country=row.country,
        city=row.city,
        user_agent=row.user_agent,
        transaction_id=row.transaction_id,
        raw=row.raw,
        flags=tuple(f for f in row.flags.split(",") if f),
    )


def iter_chain(conn: Connection, source: str, batch: int = 20_000) -> Iterator[Any]:
    """Rows of one source in stored (id) order, streamed in batches."""
    last_id = 0
    while True:
        rows = conn.execute(
            select(evidence_events)
            .where(and_(evidence_events.c.source == source, evidence_events.c.id > last_id))
            .order_by(evidence_events.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id


def sources(conn: Connection) -> list[str]:
    return [
        str(s) for (s,) in conn.execute(select(evidence_events.c.source).distinct().order_by(evidence_events.c.source))
    ]


def count(conn: Connection, source: str | None = None) -> int:
    query = select(func.count()).select_from(evidence_events)
    if source is not None:
        query = query.where(evidence_events.c.source == source)
    return int(conn.execute(query).scalar_one())


__all__ = [
    "GENESIS",
    "AppendResult",
    "account_keys",
    "append",
    "chain_head",
    "count",
    "iter_chain",
    "record_hash",
    "sources",
]
