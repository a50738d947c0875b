"""Provider records as evidence: each event's exact text plus the columns derived from it.

Okta System Log pages and Google Reports activities become EvidenceRecords, the rows store.evidence
appends to its hash chain. Bad input never raises and is never lost: what cannot be read normally keeps its
exact text and is flagged (malformed, oversize, unknown_event_type, raw_escaped). This runs for every
event ingested, so the usual case has a fast path, held equal to the careful one by the fuzz tests.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime
from operator import attrgetter
from typing import Any, NamedTuple, TypeVar

import orjson

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


class EvidenceRecord(NamedTuple):
    """One provider record ready to append: raw text plus the columns derived from it.

    A NamedTuple, not a frozen dataclass: one is made for every event ingested, and a tuple is built in a
    third of the time; its fields are the table's columns in order (see _row and record_hash).
    """

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
    flags: tuple[str, ...] = ()


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
    return record._replace(**changes)


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
    """`raw` as a database can hold it. PostgreSQL text cannot hold NUL, and no column can hold a lone
    surrogate (not UTF-8): a body that is not JSON may carry either, and so may text handed in by a caller.
    Such text is stored as its JSON string literal, which json.loads turns back into exactly what was
    received, and flagged `raw_escaped`; refusing it would stop ingestion at that page for good."""
    if "\x00" in raw or not _is_utf8(raw):
        flags.append("raw_escaped")
        return json.dumps(raw)
    return raw


def _is_utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"
# Where one object of a page may end and the next begin: `}` `,` `{` with JSON whitespace between.
_OBJECT_BORDER = re.compile(r"\}[ \t\n\r]*,[ \t\n\r]*\{")
_Item = TypeVar("_Item")


def split_json_array(text: str) -> list[tuple[str, Any]] | None:
    """A JSON array's elements as (exact source text, parsed value), or None if `text` is not an array.

    Keeps each element's text byte for byte as the provider sent it: that is what the evidence stores.
    Values are what json.loads gives, except that an integer beyond 64 bits inside an object reads as the
    nearest float (orjson's choice): evidence columns read only strings and objects, and the exact number
    stays in the text.
    """
    return _split(text, lambda raw, value: (raw, value))


def okta_records(body: str, *, ingested_at: str) -> list[EvidenceRecord]:
    """A System Log page (a JSON array of LogEvents) as evidence records, each with its exact text.

    Each event's parsed value lives only while its record is made, so a page never holds a thousand parsed
    trees at once (they would be promoted through the garbage collector's generations for nothing).
    A body that is not a JSON array is kept whole as one record, flagged malformed: never lost.
    """
    records = _split(body, lambda raw, value: okta_record(value, raw=raw, ingested_at=ingested_at))
    return records if records is not None else [okta_record(body, raw=body, ingested_at=ingested_at)]


def _split(text: str, make: Callable[[str, Any], _Item]) -> list[_Item] | None:
    """make(element text, value) for each element of the JSON array `text`; None if it is not one.

    Fast path for what Okta sends, objects: cut at each `},{` and parse the piece with orjson. A cut inside
    a string or a nested array leaves a piece that is not one whole JSON value (read from a true element
    start, its text ends inside a string or with brackets open), so that cut is skipped and the piece grows
    to the next. Whatever the fast path cannot read is read from there on by the standard library's parser.
    """
    body = text.strip(_WHITESPACE)
    if not body.startswith("["):
        return None
    items: list[_Item] = []
    start = len(body) - len(body[1:].lstrip(_WHITESPACE))
    end = len(body) - 1  # the closing "]", if it is one
    if body.startswith("{", start) and body.endswith("]"):
        for border in _OBJECT_BORDER.finditer(body, start, end):
            piece = body[start : border.start() + 1]
            parsed = _one_value(piece)
            if parsed:
                items.append(make(piece, parsed[0]))
                start = border.end() - 1
        piece = body[start:end].rstrip(_WHITESPACE)
        parsed = _one_value(piece)
        if parsed:
            items.append(make(piece, parsed[0]))
            return items
    return _split_exactly(body, start, items, make)


def _one_value(piece: str) -> tuple[Any] | tuple[()]:
    """(value,) when `piece` is exactly one JSON value, else (). Unbalanced braces are refused before
    parsing: a cheap filter, exact unless a string holds an unmatched brace (then the exact parser reads)."""
    if piece.count("{") != piece.count("}"):
        return ()
    try:
        return (orjson.loads(piece),)
    except orjson.JSONDecodeError:
        pass
    try:  # what orjson refuses and json accepts: NaN, Infinity, 1e400, lone surrogate escapes
        return (json.loads(piece),)
    except (ValueError, RecursionError):
        return ()


def _split_exactly(body: str, pos: int, items: list[_Item], make: Callable[[str, Any], _Item]) -> list[_Item] | None:
    """Go on reading `body` (a stripped array) element by element from `pos`, where an element starts."""
    if body.startswith("]", pos) and not items:
        return items if pos == len(body) - 1 else None  # "[]"
    try:
        while True:
            value, end = _DECODER.raw_decode(body, pos)
            items.append(make(body[pos:end], value))
            pos = end
            while pos < len(body) and body[pos] in _WHITESPACE:
                pos += 1
            if body.startswith("]", pos):
                return items if pos == len(body) - 1 else None
            if not body.startswith(",", pos):
                return None
            pos += 1
            while pos < len(body) and body[pos] in _WHITESPACE:
                pos += 1
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        return None


def okta_record(event: Any, *, ingested_at: str, raw: str | None = None) -> EvidenceRecord:
    """Columns from an Okta LogEvent. `raw` is its text as received (re-serialised from `event` if absent).

    Never raises: what is missing or mistyped is flagged (null is how Okta sends an absent object or value,
    https://developer.okta.com/docs/reference/api/system-log/#logevent-object).
    """
    if raw is not None and (record := _okta_well_formed(event, raw)) is not None:
        return record
    return _okta_record_carefully(event, ingested_at=ingested_at, raw=raw)


def _okta_record_carefully(event: Any, *, ingested_at: str, raw: str | None) -> EvidenceRecord:
    """okta_record for any value at all: every field checked on its own, each problem flagged."""
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


_NULL_OBJECT: dict[str, Any] = {}  # read only: what an object Okta sends as null reads as


def _okta_well_formed(event: Any, raw: str) -> EvidenceRecord | None:
    """okta_record for the usual event in one pass: every object an object or null, every value a string or
    null, raw ASCII without NUL and not oversize. Anything else returns None and takes the careful path, which gives
    the same record for an event like this one (tests/store/test_records_fast_paths.py holds them equal)."""
    if event.__class__ is not dict or not raw.isascii() or len(raw) > OVERSIZE_BYTES or "\x00" in raw:
        return None
    get = event.get
    actor, client, outcome, transaction = get("actor"), get("client"), get("outcome"), get("transaction")
    actor = _NULL_OBJECT if actor is None else actor
    client = _NULL_OBJECT if client is None else client
    outcome = _NULL_OBJECT if outcome is None else outcome
    transaction = _NULL_OBJECT if transaction is None else transaction
    if not (actor.__class__ is client.__class__ is outcome.__class__ is transaction.__class__ is dict):
        return None
    geo, agent, targets = client.get("geographicalContext"), client.get("userAgent"), get("target")
    geo = _NULL_OBJECT if geo is None else geo
    agent = _NULL_OBJECT if agent is None else agent
    uuid, event_type, published = get("uuid"), get("eventType"), _normalise_published(get("published"))
    if not (geo.__class__ is agent.__class__ is dict and uuid.__class__ is str and uuid and published):
        return None
    if not (event_type.__class__ is str and _EVENT_TYPE.fullmatch(event_type)):
        return None
    if targets is None:
        targets = ()
    elif targets.__class__ is not list:
        return None
    ids: list[str] = []
    logins: list[str] = []
    for target in targets:
        if target.__class__ is not dict:
            return None
        if target.get("type") == "User":
            target_id, login = target.get("id"), target.get("alternateId")
            if not (target_id.__class__ is login.__class__ is str):
                return None
            ids.append(target_id)
            logins.append(login.lower())
    values = (
        actor.get("id"), actor.get("alternateId"), actor.get("type"), outcome.get("result"),
        client.get("ipAddress"), geo.get("country"), geo.get("city"), agent.get("rawUserAgent"), transaction.get("id"),
    )  # fmt: skip
    for value in values:  # a loop, not any(): no generator frame per event
        if value is not None and value.__class__ is not str:
            return None
    actor_id, login, actor_type, result, ip, country, city, user_agent, transaction_id = values
    record = EvidenceRecord(
        uuid, published, event_type, actor_id, login, actor_type, " ".join(ids), " ".join(logins), result, ip,
        country, city, user_agent, transaction_id, raw,
    )  # fmt: skip
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


__all__ = [
    "OVERSIZE_BYTES",
    "EvidenceRecord",
    "google_record",
    "okta_record",
    "okta_records",
    "split_json_array",
]
