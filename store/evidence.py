"""The evidence store: provider records kept exactly as received, append-only, hash-chained per source.

Each record's hash covers every stored column (raw JSON included) and the previous record's hash, so
altering, deleting, reordering or inserting any row breaks the chain at that row. Chain heads are also
written outside the database (store/anchors.py) so that rewriting the whole chain is caught too.

Bad input never stops ingestion: a record that cannot be read normally is stored raw with flags
(malformed, oversize, uuid_conflict, unknown_event_type) and counted.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, func, select

from store.db import is_sqlite
from store.schema import evidence_events

GENESIS = "0" * 64
# Compact, non-ASCII kept as is: the stored raw text is the event as received, re-serialised losslessly.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
OVERSIZE_BYTES = 64 * 1024
# Okta event types are dotted lowercase words (https://developer.okta.com/docs/reference/api/event-types/).
_EVENT_TYPE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
_PUBLISHED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


@dataclass(frozen=True)
class EvidenceRecord:
    """One provider record ready to append: raw text plus the columns derived from it."""

    uuid: str
    published: str
    event_type: str
    actor_id: str | None
    actor_alternate_id: str | None
    actor_type: str | None
    target_ids: str
    target_logins: str
    outcome: str | None
    client_ip: str | None
    country: str | None
    city: str | None
    user_agent: str | None
    transaction_id: str | None
    raw: str
    flags: tuple[str, ...] = field(default=())


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _normalise_published(value: Any) -> str | None:
    """Okta's `published` as fixed-width 'YYYY-MM-DDTHH:MM:SS.mmmZ' (sortable as text), or None."""
    if not isinstance(value, str) or not _PUBLISHED.match(value):
        return None
    head, _, frac = value[:-1].partition(".")
    return f"{head}.{(frac + '000')[:3]}Z"


def _fallback_uuid(raw: str) -> str:
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"


def split_json_array(text: str) -> list[tuple[str, Any]] | None:
    """A JSON array's elements as (exact source text, parsed value), or None if `text` is not an array.

    Keeps each element's text byte for byte as the provider sent it: that is what the evidence stores.
    """
    pos = len(text) - len(text.lstrip(_WHITESPACE))
    if not text.startswith("[", pos):
        return None
    items: list[tuple[str, Any]] = []
    pos += 1
    try:
        while True:
            while pos < len(text) and text[pos] in _WHITESPACE:
                pos += 1
            if text.startswith("]", pos):
                return items if not text[pos + 1 :].strip(_WHITESPACE) else None
            value, end = _DECODER.raw_decode(text, pos)
            items.append((text[pos:end], value))
            pos = end
            while pos < len(text) and text[pos] in _WHITESPACE:
                pos += 1
            if text.startswith(",", pos):
                pos += 1
            elif not text.startswith("]", pos):
                return None
    except ValueError:
        return None


def okta_record(event: Any, *, ingested_at: str, raw: str | None = None) -> EvidenceRecord:
    """Columns from an Okta LogEvent. `raw` is its text as received (re-serialised from `event` if absent).

    Never raises: what is missing or mistyped is flagged.
    """
    raw = raw if raw is not None else _ENCODE(event)
    flags: list[str] = []
    body = _dict(event)
    if not body:
        flags.append("malformed")
    uuid = _text(body.get("uuid"))
    if not uuid:
        uuid = _fallback_uuid(raw)
        flags.append("malformed")
    published = _normalise_published(body.get("published"))
    if published is None:
        published = ingested_at
        flags.append("malformed")
    event_type = _text(body.get("eventType"))
    if event_type is None:
        event_type = "unknown"
        flags.append("malformed")
    elif not _EVENT_TYPE.match(event_type):
        flags.append("unknown_event_type")
    actor = _dict(body.get("actor"))
    client = _dict(body.get("client"))
    geo = _dict(client.get("geographicalContext"))
    user_agent = _dict(client.get("userAgent"))
    targets_raw = body.get("target")
    targets = [t for t in targets_raw if isinstance(t, dict)] if isinstance(targets_raw, list) else []
    if targets_raw is not None and not isinstance(targets_raw, list):
        flags.append("malformed")
    users = [t for t in targets if t.get("type") == "User"]
    if len(raw.encode()) > OVERSIZE_BYTES:
        flags.append("oversize")
    return EvidenceRecord(
        uuid=uuid,
        published=published,
        event_type=event_type[:128],
        actor_id=_text(actor.get("id")),
        actor_alternate_id=_text(actor.get("alternateId")),
        actor_type=_text(actor.get("type")),
        target_ids=" ".join(str(t.get("id")) for t in users if isinstance(t.get("id"), str)),
        target_logins=" ".join(
            str(t.get("alternateId")).lower() for t in users if isinstance(t.get("alternateId"), str)
        ),
        outcome=_text(_dict(body.get("outcome")).get("result")),
        client_ip=_text(client.get("ipAddress")),
        country=_text(geo.get("country")),
        city=_text(geo.get("city")),
        user_agent=_text(user_agent.get("rawUserAgent")),
        transaction_id=_text(_dict(body.get("transaction")).get("id")),
        raw=raw,
        flags=tuple(sorted(set(flags))),
    )


def google_record(activity: Any, *, ingested_at: str, raw: str | None = None) -> EvidenceRecord:
    """Columns from a Google Reports activity. The first event's name is the event type."""
    raw = raw if raw is not None else _ENCODE(activity)
    flags: list[str] = []
    body = _dict(activity)
    ident = _dict(body.get("id"))
    actor = _dict(body.get("actor"))
    events = [e for e in body.get("events") or [] if isinstance(e, dict)]
    published = _normalise_published(ident.get("time"))
    if published is None:
        published = ingested_at
        flags.append("malformed")
    qualifier = ident.get("uniqueQualifier")
    if qualifier is None:
        flags.append("malformed")
    uuid = f"{ident.get('time')}/{qualifier}" if qualifier is not None else _fallback_uuid(raw)
    names = [e.get("name") for e in events if isinstance(e.get("name"), str)]
    if not names:
        flags.append("malformed")
    email = _text(actor.get("email"))
    recipients = _gmail_recipients(events)
    if len(raw.encode()) > OVERSIZE_BYTES:
        flags.append("oversize")
    return EvidenceRecord(
        uuid=uuid,
        published=published,
        event_type=str(names[0]) if names else "unknown",
        actor_id=_text(actor.get("profileId")),
        actor_alternate_id=email.lower() if email else None,
        actor_type=_text(actor.get("callerType")),
        target_ids="",
        target_logins=" ".join(recipients or ([email.lower()] if email else [])),
        outcome=None,
        client_ip=_text(body.get("ipAddress")),
        country=None,
        city=None,
        user_agent=None,
        transaction_id=None,
        raw=raw,
        flags=tuple(sorted(set(flags))),
    )


def _gmail_recipients(events: list[dict[str, Any]]) -> list[str]:
    """Destination addresses of a Gmail delivery event (message_info.destination.address)."""
    found: list[str] = []
    for event in events:
        for param in event.get("parameters") or []:
            if not isinstance(param, dict) or param.get("name") != "message_info":
                continue
            for sub in _dict(param.get("messageValue")).get("parameter") or []:
                if isinstance(sub, dict) and sub.get("name") == "destination":
                    for leaf in _dict(sub.get("messageValue")).get("parameter") or []:
                        if isinstance(leaf, dict) and leaf.get("name") == "address":
                            value = leaf.get("value")
                            if isinstance(value, str):
                                found.append(value.lower())
    return found


_FIELDS = tuple(EvidenceRecord.__dataclass_fields__)


def record_hash(prev_hash: str, source: str, seq: int, ingested_at: str, record: EvidenceRecord) -> str:
    """sha256 over the previous hash and every stored column, each length-prefixed so borders cannot blur."""
    parts: list[str] = []
    for value in (prev_hash, source, seq, ingested_at, *(getattr(record, name) for name in _FIELDS[:-1])):
        if value is None:
            parts.append("~")
        else:
            text = str(value)
            parts.append(f"{len(text)}:{text}")
    flags = ",".join(record.flags)
    parts.append(f"{len(flags)}:{flags}")
    return hashlib.sha256("".join(parts).encode()).hexdigest()


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


def _existing_raw(conn: Connection, source: str, uuids: list[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for start in range(0, len(uuids), 500):
        chunk = uuids[start : start + 500]
        rows = conn.execute(
            select(evidence_events.c.uuid, evidence_events.c.raw).where(
                and_(evidence_events.c.source == source, evidence_events.c.uuid.in_(chunk))
            )
        )
        for uuid, raw in rows:
            found.setdefault(uuid, set()).add(raw)
    return found


def append(conn: Connection, source: str, records: Iterable[EvidenceRecord], *, ingested_at: str) -> AppendResult:
    """Append records to `source`'s chain inside the caller's transaction.

    The same uuid with the same content is a duplicate (polling repeats events at page borders) and is
    skipped; the same uuid with different content is stored and flagged `uuid_conflict`.
    """
    lock_source(conn, source)
    batch = list(records)
    seen = _existing_raw(conn, source, sorted({r.uuid for r in batch}))
    seq, head = chain_head(conn, source)
    rows: list[tuple[object, ...]] = []
    duplicates = flagged = 0
    for record in batch:
        known = seen.setdefault(record.uuid, set())
        if record.raw in known:
            duplicates += 1
            continue
        if known:
            record = EvidenceRecord(**{**record.__dict__, "flags": tuple(sorted({*record.flags, "uuid_conflict"}))})
        known.add(record.raw)
        seq += 1
        prev, head = head, record_hash(head, source, seq, ingested_at, record)
        flagged += bool(record.flags)
        rows.append(_row(source, seq, ingested_at, record, prev, head))
    if rows:
        # Driver-level executemany: SQLAlchemy's per-row parameter processing costs more than the insert.
        conn.exec_driver_sql(_insert_sql(conn), rows)
    return AppendResult(len(rows), duplicates, flagged, seq, head)


_COLUMNS = ("source", "seq", "ingested_at", "prev_hash", "hash", *_FIELDS)


def _insert_sql(conn: Connection) -> str:
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return (
        f"INSERT INTO evidence_events ({', '.join(_COLUMNS)}) "  # noqa: S608 (constant column names)
        f"VALUES ({', '.join(marker for _ in _COLUMNS)})"
    )


def _row(source: str, seq: int, ingested_at: str, record: EvidenceRecord, prev: str, digest: str) -> tuple[object, ...]:
    values = [getattr(record, name) for name in _FIELDS]
    values[-1] = ",".join(record.flags)
    return (source, seq, ingested_at, prev, digest, *values)


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
    "EvidenceRecord",
    "append",
    "chain_head",
    "count",
    "google_record",
    "iter_chain",
    "okta_record",
    "record_hash",
    "sources",
]
