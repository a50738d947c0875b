"""The audit's reads of the evidence store. Times are Okta's fixed-width text ('YYYY-MM-DDTHH:MM:SS.mmmZ'),
compared as text: it sorts like the time (see store/schema.py).

- `events_of_types`: the audit's main query, every event of some types in a window (the credential changes
  since the cutoff; Google password edits; reset mails with `raw_like`): one range scan per type on
  ix_evidence_type_published, however many sign-ins are stored (bench/audit_query.py: 10,000,000 events,
  bound 200 ms).
- `access_rows`: sign-in and MFA rows of a set of accounts through evidence_accounts (filled by append),
  without the raw text except for the factor of MFA events, so the access picture of hundreds of accounts
  stays cheap.
- `evidence_span`: the oldest and newest stored record of a source (a cutoff older than the oldest is refused).
- `google_coverage`: when each Google source was last read completely (an ingest run that ended "ok").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeAlias

from sqlalchemy import Connection, Row, and_, bindparam, func, select, text

from config.errors import InputError
from playbook.access import AccessEvent
from playbook.when import okta_time
from store.schema import evidence_events, ingest_runs

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


def evidence_span(conn: Connection, source: str = "okta") -> tuple[str | None, str | None]:
    """The oldest and newest `published` of a source: two walks of ix_evidence_published from either end
    (min()/max() with a source condition would read every row of the source through its unique index)."""
    hint = " INDEXED BY ix_evidence_published" if conn.dialect.name == "sqlite" else ""
    ends: list[str | None] = []
    for order in ("ASC", "DESC"):
        row = conn.execute(
            text(
                f"SELECT published FROM evidence_events{hint} WHERE source = :source "  # noqa: S608 (constants)
                f"ORDER BY published {order} LIMIT 1"
            ),
            {"source": source},
        ).first()
        ends.append(str(row[0]) if row else None)
    return ends[0], ends[1]


def events_of_types(
    conn: Connection,
    *,
    event_types: Sequence[str],
    since: str | datetime,
    until: str | datetime | None = None,
    sources: Sequence[str] = ("okta",),
    raw_like: str | None = None,
) -> list[EventRow]:
    """Rows of `event_types` from `sources` published in [since, until) (no end without `until`), oldest
    first; `raw_like` narrows to raw text matching a case-insensitive LIKE pattern.

    One range scan per event type on ix_evidence_type_published. On SQLite the index is named in the SQL
    (INDEXED BY): SQLAlchemy's with_hint() is not rendered by its SQLite dialect, and without statistics
    SQLite otherwise picks the (source, seq) index and reads every row of the source.
    """
    if not event_types or not sources:
        return []
    sqlite = conn.dialect.name == "sqlite"
    hint = " INDEXED BY ix_evidence_type_published" if sqlite else ""
    columns = ", ".join(c.name for c in COLUMNS)
    like = ""
    if raw_like is not None:
        like = " AND lower(raw) LIKE :raw_like" if sqlite else " AND raw ILIKE :raw_like"
    params: dict[str, object] = {
        "types": sorted(set(event_types)),
        "sources": sorted(set(sources)),
        "since": store_time(since),
    }
    if until is not None:
        like = " AND published < :until" + like
        params["until"] = store_time(until, "until")
    query = text(
        f"SELECT {columns} FROM evidence_events{hint} "  # noqa: S608 (constant column and index names)
        f"WHERE event_type IN :types AND published >= :since AND source IN :sources{like} "
        "ORDER BY published, source, seq"
    ).bindparams(bindparam("types", expanding=True), bindparam("sources", expanding=True))
    if raw_like is not None:
        params["raw_like"] = raw_like.lower()
    return list(conn.execute(query, params).all())


def google_coverage(conn: Connection, sources: Sequence[str]) -> dict[str, str | None]:
    """Per source, the start of its latest ingest run that finished "ok" (None: never read completely)."""
    runs = ingest_runs.c
    found: dict[str, str | None] = dict.fromkeys(sources)
    rows = conn.execute(
        select(runs.source, func.max(runs.started_at))
        .where(and_(runs.source.in_(list(sources)), runs.status == "ok"))
        .group_by(runs.source)
    )
    for source, started in rows:
        found[str(source)] = str(started)
    return found


def reset_mail_candidates(conn: Connection, *, since: str, until: str) -> list[EventRow]:
    """Gmail `delivery` activities in [since, until) whose raw text mentions "password", oldest first."""
    return events_of_types(
        conn, event_types=["delivery"], since=since, until=until, sources=["google:gmail"], raw_like="%password%"
    )


def _text_or_none(value: object) -> str | None:
    return str(value) if value is not None else None


def _mfa_method_sql(dialect: str) -> str:
    """The factor an MFA event used, read from raw inside the database (records flagged malformed may not be
    JSON objects: skipped)."""
    if dialect == "sqlite":
        factor = "json_extract(e.raw, '$.debugContext.debugData.factor')"
        credential = "json_extract(e.raw, '$.authenticationContext.credentialType')"
    else:
        factor = "(e.raw::jsonb #>> '{debugContext,debugData,factor}')"
        credential = "(e.raw::jsonb #>> '{authenticationContext,credentialType}')"
    return (
        "CASE WHEN e.event_type = :mfa AND a.published >= :cutoff AND e.flags NOT LIKE '%malformed%' "
        f"THEN coalesce(nullif({factor}, ''), nullif({credential}, '')) END"
    )


def access_rows(
    conn: Connection,
    *,
    user_ids: Iterable[str],
    sign_in_type: str,
    mfa_type: str,
    since: str,
    cutoff: str,
    until: str,
) -> list[tuple[str, AccessEvent]]:
    """Sign-ins (from `since`) and MFA events (from `cutoff`) whose actor is one of `user_ids`, up to `until`,
    as (user id, event); an MFA event's method is debugData.factor, else authenticationContext.credentialType.

    Driven from evidence_accounts (one primary-key range per account), then each record by (source, seq).
    CROSS JOIN fixes that order on SQLite, whose planner otherwise starts from the source's rows. Sign-ins
    before the cutoff are the baseline of known user agents; the MFA method is extracted in SQL so raw
    events never travel to Python.
    """
    wanted = sorted(set(user_ids))
    join = "CROSS JOIN" if conn.dialect.name == "sqlite" else "JOIN"  # SQLite: CROSS JOIN keeps the join order
    query = text(
        "SELECT a.account, e.published, e.event_type, e.outcome, e.client_ip, e.country, e.user_agent, "  # noqa: S608
        f"{_mfa_method_sql(conn.dialect.name)} "
        f"FROM evidence_accounts AS a {join} evidence_events AS e ON e.source = a.source AND e.seq = a.seq "
        "WHERE a.account IN :accounts AND a.published >= :since AND a.published < :until AND a.source = 'okta' "
        "AND e.actor_id = a.account "
        "AND (e.event_type = :sign_in OR (e.event_type = :mfa AND a.published >= :cutoff))"
    ).bindparams(bindparam("accounts", expanding=True))
    found: list[tuple[str, AccessEvent]] = []
    for first in range(0, len(wanted), _CHUNK):
        params = {
            "accounts": wanted[first : first + _CHUNK],
            "sign_in": sign_in_type,
            "mfa": mfa_type,
            "since": since,
            "cutoff": cutoff,
            "until": until,
        }
        for account, published, event_type, outcome, ip, country, agent, method in conn.execute(query, params):
            event = AccessEvent(published, event_type, outcome, ip, country, agent, _text_or_none(method))
            found.append((str(account), event))
    return found


__all__ = [
    "COLUMNS",
    "EventRow",
    "access_rows",
    "events_of_types",
    "evidence_span",
    "google_coverage",
    "reset_mail_candidates",
    "store_time",
]
