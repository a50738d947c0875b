"""The ledger: incidents, findings, write-ahead actions, holds and the incident's story, in one database.

Every side effect is (1) recorded as an intent keyed by (incident, account, action), (2) performed, (3)
recorded with its outcome and Okta's request id. A rerun reads the ledger and does only what is not done.
Functions take a connection; the caller owns the transaction.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from config.errors import InputError
from playbook.when import okta_time
from store.schema import actions, findings, holds, incident_events, incidents


class ActionState(StrEnum):
    INTENT = "intent"  # recorded, not (known to be) performed: a rerun performs it
    DONE = "done"
    ALREADY_DONE = "already_done"  # Okta says the account was already in the wanted state
    FAILED = "failed"  # a non-retryable error (400/403/404) or retries exhausted: shown, `--resume` retries
    SKIPPED = "skipped"  # not applicable to the account's status (e.g. DEPROVISIONED)
    DEFERRED = "deferred"  # legal only later (a password reset waits for the release)


FINISHED = frozenset({ActionState.DONE, ActionState.ALREADY_DONE, ActionState.SKIPPED, ActionState.DEFERRED})


@dataclass(frozen=True)
class ActionRow:
    incident_id: str
    user_id: str
    login: str
    action: str
    state: ActionState
    attempts: int
    okta_request_id: str | None
    error_code: str | None
    error: str | None
    intent_at: str
    finished_at: str | None


def new_incident_id(now: datetime) -> str:
    return f"INC-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def create_incident(
    conn: Connection,
    *,
    incident_id: str,
    trigger: str,
    source: str | None,
    cutoff: str,
    seeds: Sequence[str],
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        insert(incidents).values(
            id=incident_id,
            created_at=okta_time(now),
            trigger=trigger,
            source=source,
            cutoff=cutoff,
            seeds=json.dumps(sorted(seeds)),
            status="planned",
            detail=json.dumps(detail or {}, sort_keys=True),
        )
    )
    record_event(conn, incident_id, now, "incident.created", {"trigger": trigger, "source": source, "cutoff": cutoff})


def get_incident(conn: Connection, incident_id: str) -> Any:
    row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()
    if row is None:
        raise InputError(f"incident {incident_id} is not in the ledger: `holdfast incidents` lists them")
    return row


def list_incidents(conn: Connection) -> list[Any]:
    return list(conn.execute(select(incidents).order_by(incidents.c.created_at.desc())))


def set_incident_status(conn: Connection, incident_id: str, status: str, *, plan_hash: str | None = None) -> None:
    values: dict[str, Any] = {"status": status}
    if plan_hash is not None:
        values["plan_hash"] = plan_hash
    conn.execute(update(incidents).where(incidents.c.id == incident_id).values(**values))


def record_event(conn: Connection, incident_id: str, at: datetime, kind: str, detail: dict[str, Any]) -> None:
    """One line of the incident's story (the timeline reads these)."""
    conn.execute(
        insert(incident_events).values(
            incident_id=incident_id, at=okta_time(at), kind=kind, detail=json.dumps(detail, sort_keys=True)
        )
    )


def incident_story(conn: Connection, incident_id: str) -> list[Any]:
    return list(
        conn.execute(
            select(incident_events)
            .where(incident_events.c.incident_id == incident_id)
            .order_by(incident_events.c.at, incident_events.c.id)
        )
    )


def record_findings(
    conn: Connection, incident_id: str, rows: Iterable[tuple[str, str, str, str]], now: datetime
) -> int:
    """(user_id, login, tier, body JSON) per account. A later audit's view of an account replaces the earlier
    one (a seed contained before the audit gets its full finding); returns how many accounts are new."""
    existing = {
        r.user_id for r in conn.execute(select(findings.c.user_id).where(findings.c.incident_id == incident_id))
    }
    stamp = okta_time(now)
    fresh = []
    for user_id, login, tier, body in rows:
        if user_id in existing:
            conn.execute(
                update(findings)
                .where(and_(findings.c.incident_id == incident_id, findings.c.user_id == user_id))
                .values(tier=tier, body=body, recorded_at=stamp)
            )
        else:
            fresh.append(
                {"incident_id": incident_id, "user_id": user_id, "login": login, "tier": tier, "body": body,
                 "recorded_at": stamp}
            )  # fmt: skip
    if fresh:
        conn.execute(insert(findings), fresh)
    return len(fresh)


def incident_findings(conn: Connection, incident_id: str) -> list[Any]:
    return list(conn.execute(select(findings).where(findings.c.incident_id == incident_id).order_by(findings.c.login)))


def _action_row(row: Any) -> ActionRow:
    return ActionRow(
        incident_id=row.incident_id,
        user_id=row.user_id,
        login=row.login,
        action=row.action,
        state=ActionState(row.state),
        attempts=row.attempts,
        okta_request_id=row.okta_request_id,
        error_code=row.error_code,
        error=row.error,
        intent_at=row.intent_at,
        finished_at=row.finished_at,
    )


def actions_of(conn: Connection, incident_id: str, action: str | None = None) -> dict[tuple[str, str], ActionRow]:
    query = select(actions).where(actions.c.incident_id == incident_id)
    if action is not None:
        query = query.where(actions.c.action == action)
    return {(r.user_id, r.action): _action_row(r) for r in conn.execute(query)}


def record_intents(
    conn: Connection, incident_id: str, wanted: Sequence[tuple[str, str, str]], now: datetime
) -> dict[tuple[str, str], ActionRow]:
    """Write-ahead step 1 for (user_id, login, action) triples; returns every row, old and new, by key."""
    known = actions_of(conn, incident_id)
    stamp = okta_time(now)
    fresh = [
        {"incident_id": incident_id, "user_id": u, "login": login, "action": a, "state": "intent", "intent_at": stamp}
        for u, login, a in wanted
        if (u, a) not in known
    ]
    if fresh:
        conn.execute(insert(actions), fresh)
    return actions_of(conn, incident_id)


def mark_started(conn: Connection, incident_id: str, keys: Sequence[tuple[str, str]], now: datetime) -> None:
    """Count an attempt before the calls go out, so a crash mid-call still shows up as an attempt."""
    for user_id, action in keys:
        conn.execute(
            update(actions)
            .where(and_(actions.c.incident_id == incident_id, actions.c.user_id == user_id, actions.c.action == action))
            .values(attempts=actions.c.attempts + 1, started_at=okta_time(now))
        )


def record_outcome(
    conn: Connection,
    incident_id: str,
    user_id: str,
    action: str,
    state: ActionState,
    now: datetime,
    *,
    request_id: str | None = None,
    error_code: str | None = None,
    error: str | None = None,
) -> None:
    """Write-ahead step 3: the outcome, with Okta's request id (or its error)."""
    conn.execute(
        update(actions)
        .where(and_(actions.c.incident_id == incident_id, actions.c.user_id == user_id, actions.c.action == action))
        .values(
            state=state.value,
            finished_at=okta_time(now),
            okta_request_id=request_id,
            error_code=error_code,
            error=error,
        )
    )


def action_counts(conn: Connection, incident_id: str) -> dict[tuple[str, str], int]:
    """(action, state) -> count, for summaries."""
    rows = conn.execute(
        select(actions.c.action, actions.c.state, func.count())
        .where(actions.c.incident_id == incident_id)
        .group_by(actions.c.action, actions.c.state)
    )
    return {(a, s): int(n) for a, s, n in rows}


# --- holds ------------------------------------------------------------------------------------------------


def create_holds(conn: Connection, incident_id: str, accounts: Sequence[tuple[str, str]], now: datetime) -> int:
    """A hold per contained (user_id, login); existing holds are left as they are."""
    known = {r.user_id for r in conn.execute(select(holds.c.user_id).where(holds.c.incident_id == incident_id))}
    fresh = [
        {"incident_id": incident_id, "user_id": u, "login": login, "state": "held", "created_at": okta_time(now)}
        for u, login in accounts
        if u not in known
    ]
    if fresh:
        conn.execute(insert(holds), fresh)
    return len(fresh)


def list_holds(conn: Connection, incident_id: str | None = None, states: Sequence[str] | None = None) -> list[Any]:
    query = select(holds)
    if incident_id is not None:
        query = query.where(holds.c.incident_id == incident_id)
    if states:
        query = query.where(holds.c.state.in_(list(states)))
    return list(conn.execute(query.order_by(holds.c.created_at, holds.c.login)))
