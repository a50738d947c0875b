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
from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, and_, func, select

from store.db import is_sqlite
from store.schema import evidence_accounts, evidence_events

GENESIS = "0" * 64
# Compact, non-ASCII kept as is: the stored raw text is the event as received, re-serialised losslessly.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
OVERSIZE_BYTES = 64 * 1024
# Okta event types are dotted lowercase words (https://developer.okta.com/docs/reference/api/event-types/).
# ASCII and fullmatch: `\d` would take any Unicode digit and `$` a trailing newline.
_EVENT_TYPE = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)+", re.ASCII)
_PUBLISHED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z", re.ASCII)
# Column widths of evidence_events (PostgreSQL refuses longer values; raw always keeps the whole event).
_WIDTH = {"uuid": 128, "event_type": 128, "actor_id": 128, "actor_alternate_id": 320, "actor_type": 64,
          "outcome": 32, "client_ip": 64, "country": 128, "city": 128, "transaction_id": 128}  # fmt: skip


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


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _obj(parent: dict[str, Any], key: str, flags: list[str]) -> dict[str, Any]:
    """parent[key] as an object; absent or null is fine (Okta sends null), anything else is flagged."""
    value = parent.get(key)
    if isinstance(value, dict):
        return value
    if value is not None:
        flags.append("malformed")
    return {}


def _str(parent: dict[str, Any], key: str, flags: list[str]) -> str | None:
    value = parent.get(key)
    if value is None or isinstance(value, str):
        return value
    flags.append("malformed")
    return None


_UNLIMITED = ("target_ids", "target_logins", "user_agent")
_ALL_COLUMNS = attrgetter(*_WIDTH, *_UNLIMITED)


def _fits(r: EvidenceRecord) -> bool:
    """Every column within its width (spelt out: this runs for every event ingested)."""
    return (
        len(r.uuid) <= 128
        and len(r.event_type) <= 128
        and len(r.actor_id or "") <= 128
        and len(r.actor_alternate_id or "") <= 320
        and len(r.actor_type or "") <= 64
        and len(r.outcome or "") <= 32
        and len(r.client_ip or "") <= 64
        and len(r.country or "") <= 128
        and len(r.city or "") <= 128
        and len(r.transaction_id or "") <= 128
    )


def _column(record: EvidenceRecord) -> EvidenceRecord:
    """A record whose columns fit the table: no NUL (PostgreSQL refuses it), no lone surrogate (not UTF-8),
    nothing wider than its column. Any change is flagged `malformed`; raw is never touched."""
    texts = "".join(filter(None, _ALL_COLUMNS(record)))
    if texts.isascii() and "\x00" not in texts and _fits(record):
        return record
    changes: dict[str, Any] = {}
    for name in (*_WIDTH, *_UNLIMITED):
        value = getattr(record, name)
        if value is None:
            continue
        clean = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")[: _WIDTH.get(name, 1 << 20)]
        if clean != value:
            changes[name] = clean
    if not changes:
        return record
    changes["flags"] = tuple(sorted({*record.flags, "malformed"}))
    return EvidenceRecord(**{**record.__dict__, **changes})


def _encode(value: Any) -> str:
    """`value` re-serialised; ASCII escapes if it holds a lone surrogate (valid JSON, but not UTF-8)."""
    text = _ENCODE(value)
    try:
        text.encode()
    except UnicodeEncodeError:
        text = json.dumps(value, separators=(",", ":"))
    return text


def _normalise_published(value: Any) -> str | None:
    """Okta's `published` as fixed-width 'YYYY-MM-DDTHH:MM:SS.mmmZ' (sortable as text), or None."""
    if not isinstance(value, str) or not _PUBLISHED.fullmatch(value):
        return None
    head, _, frac = value[:-1].partition(".")
    try:
        datetime.fromisoformat(head)  # a real date and time, not 2026-13-45T25:61:61
    except ValueError:
        return None
    return f"{head}.{(frac + '000')[:3]}Z"


def _fallback_uuid(raw: str) -> str:
    return "sha256:" + hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def _storable_raw(raw: str, flags: list[str]) -> str:
    """Text decoded from the wire is always valid UTF-8; text handed in by a caller may hold a lone surrogate,
    which no database column can store. Keep it as its escape and flag it, rather than lose the record."""
    try:
        raw.encode()
    except UnicodeEncodeError:
        flags.append("invalid_unicode")
        return raw.encode("utf-8", "backslashreplace").decode()
    return raw


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
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        return None


def okta_record(event: Any, *, ingested_at: str, raw: str | None = None) -> EvidenceRecord:
    """Columns from an Okta LogEvent. `raw` is its text as received (re-serialised from `event` if absent).

    Never raises: what is missing or mistyped is flagged (null is how Okta sends an absent object or value,
    https://developer.okta.com/docs/reference/api/system-log/#logevent-object).
    """
    flags: list[str] = []
    raw = _storable_raw(raw if raw is not None else _encode(event), flags)
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
    elif not _EVENT_TYPE.fullmatch(event_type):
        flags.append("unknown_event_type")
    actor = _obj(body, "actor", flags)
    client = _obj(body, "client", flags)
    geo = _obj(client, "geographicalContext", flags)
    user_agent = _obj(client, "userAgent", flags)
    targets_raw = body.get("target")
    if targets_raw is not None and not isinstance(targets_raw, list):
        flags.append("malformed")
    target_ids: list[str] = []
    target_logins: list[str] = []
    for target in _list(targets_raw):
        if not isinstance(target, dict):
            flags.append("malformed")
        elif target.get("type") == "User":
            target_id, login = target.get("id"), target.get("alternateId")
            if isinstance(target_id, str):
                target_ids.append(target_id)
            if isinstance(login, str):
                target_logins.append(login.lower())
            if not (isinstance(target_id, str) and isinstance(login, str)):
                flags.append("malformed")
    if len(raw.encode("utf-8", "surrogatepass")) > OVERSIZE_BYTES:
        flags.append("oversize")
    record = EvidenceRecord(
        uuid=uuid,
        published=published,
        event_type=event_type,
        actor_id=_str(actor, "id", flags),
        actor_alternate_id=_str(actor, "alternateId", flags),
        actor_type=_str(actor, "type", flags),
        target_ids=" ".join(target_ids),
        target_logins=" ".join(target_logins),
        outcome=_str(_obj(body, "outcome", flags), "result", flags),
        client_ip=_str(client, "ipAddress", flags),
        country=_str(geo, "country", flags),
        city=_str(geo, "city", flags),
        user_agent=_str(user_agent, "rawUserAgent", flags),
        transaction_id=_str(_obj(body, "transaction", flags), "id", flags),
        raw=raw,
        flags=tuple(sorted(set(flags))),
    )
    return _column(record)


def google_record(activity: Any, *, ingested_at: str, raw: str | None = None) -> EvidenceRecord:
    """Columns from a Google Reports activity. The first event's name is the event type.

    Never raises: what is missing or mistyped is flagged
    (https://developers.google.com/admin-sdk/reports/reference/rest/v1/activities).
    """
    flags: list[str] = []
    raw = _storable_raw(raw if raw is not None else _encode(activity), flags)
    body = _dict(activity)
    if not body:
        flags.append("malformed")
    ident = _obj(body, "id", flags)
    actor = _obj(body, "actor", flags)
    events_raw = body.get("events")
    events = [e for e in _list(events_raw) if isinstance(e, dict)]
    if events_raw is not None and (not isinstance(events_raw, list) or len(events) != len(events_raw)):
        flags.append("malformed")
    published = _normalise_published(ident.get("time"))
    if published is None:
        published = ingested_at
        flags.append("malformed")
    qualifier = ident.get("uniqueQualifier")
    if not isinstance(qualifier, (str, int)) or isinstance(qualifier, bool):
        flags.append("malformed")
    uuid = f"{ident.get('time')}/{qualifier}" if qualifier is not None else _fallback_uuid(raw)
    names = [e.get("name") for e in events if isinstance(e.get("name"), str)]
    if not names or len(names) != len(events):
        flags.append("malformed")
    email = _str(actor, "email", flags)
    recipients = _gmail_recipients(events)
    if len(raw.encode("utf-8", "surrogatepass")) > OVERSIZE_BYTES:
        flags.append("oversize")
    record = EvidenceRecord(
        uuid=uuid,
        published=published,
        event_type=str(names[0]) if names else "unknown",
        actor_id=_str(actor, "profileId", flags),
        actor_alternate_id=email.lower() if email else None,
        actor_type=_str(actor, "callerType", flags),
        target_ids="",
        target_logins=" ".join(recipients or ([email.lower()] if email else [])),
        outcome=None,
        client_ip=_str(body, "ipAddress", flags),
        country=None,
        city=None,
        user_agent=None,
        transaction_id=None,
        raw=raw,
        flags=tuple(sorted(set(flags))),
    )
    return _column(record)


def _gmail_recipients(events: list[dict[str, Any]]) -> list[str]:
    """Destination addresses of a Gmail delivery event (message_info.destination.address)."""
    found: list[str] = []
    for event in events:
        for param in _list(event.get("parameters")):
            if not isinstance(param, dict) or param.get("name") != "message_info":
                continue
            for sub in _list(_dict(param.get("messageValue")).get("parameter")):
                if isinstance(sub, dict) and sub.get("name") == "destination":
                    for leaf in _list(_dict(sub.get("messageValue")).get("parameter")):
                        if isinstance(leaf, dict) and leaf.get("name") == "address":
                            value = leaf.get("value")
                            if isinstance(value, str):
                                found.append(value.lower())
    return found


_FIELDS = tuple(EvidenceRecord.__dataclass_fields__)
_HASHED = attrgetter(*_FIELDS[:-1])  # every column but flags, in declaration order


def record_hash(prev_hash: str, source: str, seq: int, ingested_at: str, record: EvidenceRecord) -> str:
    """sha256 over the previous hash and every stored column, each length-prefixed so borders cannot blur."""
    # One comprehension over an attrgetter tuple: this runs for every record appended and verified.
    parts = [
        "~" if value is None else f"{len(text)}:{text}"
        for value in (prev_hash, source, seq, ingested_at, *_HASHED(record))
        for text in (value if value.__class__ is str else str(value),)
    ]
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
    accounts: list[tuple[str, str, str, int]] = []
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
    "account_keys",
    "append",
    "chain_head",
    "count",
    "google_record",
    "iter_chain",
    "okta_record",
    "record_hash",
    "sources",
]
