"""The audit's reads of the evidence store: credential changes since a cutoff, and the access picture.

`credential_events_since` is the audit's main query (every password or MFA change since the cutoff, Okta
and optionally Google): one range scan per event type on ix_evidence_type_published, so it stays fast
however many sign-ins are stored (bench/audit_query.py: 10,000,000 events, bound 200 ms).
`events_for_accounts` gives everything the store holds about a set of accounts since a cutoff (sign-ins:
IPs, places, user agents, MFA methods in raw), through the evidence_accounts index filled by append.

Times are compared as Okta's fixed-width text ('YYYY-MM-DDTHH:MM:SS.mmmZ'), which sorts like the time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeAlias

from sqlalchemy import Connection, Row, Select, and_, select

from config.errors import InputError
from playbook.when import okta_time
from store.evidence import _record_from_row, account_keys
from store.schema import evidence_accounts, evidence_events

_e = evidence_events.c
# The indexed columns plus the raw event, as received.
COLUMNS = (
    _e.source,
    _e.seq,
    _e.uuid,
    _e.published,
    _e.event_type,
    _e.actor_id,
    _e.actor_alternate_id,
    _e.actor_type,
    _e.target_ids,
    _e.target_logins,
    _e.outcome,
    _e.client_ip,
    _e.country,
    _e.city,
    _e.user_agent,
    _e.transaction_id,
    _e.ingested_at,
    _e.flags,
    _e.raw,
)
# One stored event: attribute access by column name (row.published, row.raw, ...).
EventRow: TypeAlias = "Row[*tuple[Any, ...]]"
_CHUNK = 500  # values per IN list: well under every driver's parameter limit


def store_time(value: str | datetime, name: str = "since") -> str:
    """An ISO 8601 time (or datetime) as the store's fixed-width text; UTC when no zone is given."""
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"{name}: {value!r} is not an ISO 8601 time like 2021-12-01T00:00:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return okta_time(parsed)


def credential_events_query(
    *,
    event_types: Sequence[str],
    since: str | datetime,
    until: str | datetime | None = None,
    sources: Sequence[str] = ("okta",),
) -> Select[Any]:
    """The audit's query (see credential_events_since), for running or explaining."""
    conditions = [_e.event_type.in_(sorted(set(event_types))), _e.published >= store_time(since)]
    if until is not None:
        conditions.append(_e.published < store_time(until, "until"))
    # `source || ''`: a filter, never an index choice. Given `source = ?`, SQLite's planner (no statistics)
    # prefers the (source, seq) index and walks all 10,000,000 Okta rows; this keeps it on one range scan per
    # type of ix_evidence_type_published, then a sort of the few thousand matches.
    conditions.append(_e.source.concat("").in_(sorted(set(sources))))
    return select(*COLUMNS).where(and_(*conditions)).order_by(_e.published, _e.source, _e.seq)


def credential_events_since(
    conn: Connection,
    *,
    event_types: Sequence[str],
    since: str | datetime,
    until: str | datetime | None = None,
    sources: Sequence[str] = ("okta",),
) -> list[EventRow]:
    """Events of `event_types` published at or after `since` (and before `until`), oldest first."""
    if not event_types or not sources:
        return []
    query = credential_events_query(event_types=event_types, since=since, until=until, sources=sources)
    return list(conn.execute(query).all())


def events_for_accounts(
    conn: Connection,
    *,
    logins_or_ids: Iterable[str],
    since: str | datetime,
    until: str | datetime | None = None,
    event_types: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
) -> list[EventRow]:
    """Every stored event whose actor or User target is one of the accounts (Okta id or login, any case;
    Google profile id or email), published at or after `since`, oldest first; each event once.

    `event_types` / `sources` narrow it (e.g. sign-ins only); None means all.
    """
    wanted: set[str] = set()
    for value in logins_or_ids:
        value = value.strip()
        if value:
            wanted |= {value, value.lower()}
    if not wanted:
        return []
    start, end = store_time(since), store_time(until, "until") if until is not None else None
    accounts = evidence_accounts.c
    found: dict[tuple[str, int], EventRow] = {}
    ordered = sorted(wanted)
    for first in range(0, len(ordered), _CHUNK):
        chunk = ordered[first : first + _CHUNK]
        keys = (
            select(accounts.source, accounts.seq)
            .where(and_(accounts.account.in_(chunk), accounts.published >= start))
            .distinct()
        )
        if end is not None:
            keys = keys.where(accounts.published < end)
        matched = keys.subquery()
        query = select(*COLUMNS).join_from(
            evidence_events, matched, and_(_e.source == matched.c.source, _e.seq == matched.c.seq)
        )
        if event_types is not None:
            query = query.where(_e.event_type.in_(sorted(set(event_types))))
        if sources is not None:
            query = query.where(_e.source.in_(sorted(set(sources))))
        for row in conn.execute(query):
            # Re-check against the record itself: index rows can outlive evidence deleted outside retention.
            if account_keys(_record_from_row(row)) & wanted and row.published >= start:
                found[(row.source, row.seq)] = row
    return sorted(found.values(), key=lambda r: (r.published, r.source, r.seq))


__all__ = [
    "COLUMNS",
    "EventRow",
    "credential_events_query",
    "credential_events_since",
    "events_for_accounts",
    "store_time",
]
