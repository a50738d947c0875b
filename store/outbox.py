"""The Slack outbox: messages to send, exactly once per (incident, recipient, kind), surviving outages and crashes.

States: pending -> sending -> sent, or undeliverable (the person has no Slack user: reported to IT, never
retried). A row is claimed (pending -> sending, attempts + 1, claimed_at) in its own transaction before the
Slack call; `sending` with a fresh claim is in flight in some drainer and left alone, `sending` with no claim
(the call's outcome is unknown) or a stale one (the drainer died) is *in doubt*: the next drainer looks for
the message's marker in the conversation's history before posting it again. Functions take a connection;
the caller owns the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from playbook.when import okta_time
from store.schema import outbox


class OutboxState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    UNDELIVERABLE = "undeliverable"


@dataclass(frozen=True)
class OutboxRow:
    id: int
    incident_id: str
    recipient: str
    kind: str
    payload: dict[str, Any]
    state: OutboxState
    attempts: int
    created_at: str
    sent_at: str | None
    slack_channel: str | None
    slack_ts: str | None
    last_error: str | None
    claimed_at: str | None

    @property
    def in_doubt(self) -> bool:
        """Claimed before and not known to be sent: Slack may already have the message."""
        return self.state is OutboxState.SENDING


def _row(r: Any) -> OutboxRow:
    return OutboxRow(
        id=int(r.id),
        incident_id=r.incident_id,
        recipient=r.recipient,
        kind=r.kind,
        payload=json.loads(r.payload),
        state=OutboxState(r.state),
        attempts=int(r.attempts),
        created_at=r.created_at,
        sent_at=r.sent_at,
        slack_channel=r.slack_channel,
        slack_ts=r.slack_ts,
        last_error=r.last_error,
        claimed_at=r.claimed_at,
    )


def enqueue(
    conn: Connection, incident_id: str, recipient: str, kind: str, payload: dict[str, Any], now: datetime
) -> bool:
    """Add a message unless one with the same (incident, recipient, kind) exists; True if it is new.

    INSERT ... ON CONFLICT DO NOTHING on the unique key, so two writers racing cannot both add it.
    """
    values = {
        "incident_id": incident_id,
        "recipient": recipient,
        "kind": kind,
        "payload": json.dumps(payload, sort_keys=True),
        "state": OutboxState.PENDING.value,
        "attempts": 0,
        "created_at": okta_time(now),
    }
    keys = ["incident_id", "recipient", "kind"]
    if conn.dialect.name == "postgresql":
        statement: Any = postgresql.insert(outbox).values(**values).on_conflict_do_nothing(index_elements=keys)
    else:
        statement = sqlite.insert(outbox).values(**values).on_conflict_do_nothing(index_elements=keys)
    return bool(conn.execute(statement).rowcount)


def get(conn: Connection, row_id: int) -> OutboxRow:
    return _row(conn.execute(select(outbox).where(outbox.c.id == row_id)).one())


def find(conn: Connection, incident_id: str, recipient: str, kind: str) -> OutboxRow | None:
    r = conn.execute(
        select(outbox).where(
            and_(outbox.c.incident_id == incident_id, outbox.c.recipient == recipient, outbox.c.kind == kind)
        )
    ).first()
    return _row(r) if r is not None else None


def due(conn: Connection, *, stale_before: datetime, incident_id: str | None = None) -> list[OutboxRow]:
    """Rows a drainer may take: pending, or sending with no claim or a claim older than `stale_before`."""
    query = select(outbox).where(
        or_(
            outbox.c.state == OutboxState.PENDING.value,
            and_(
                outbox.c.state == OutboxState.SENDING.value,
                or_(outbox.c.claimed_at.is_(None), outbox.c.claimed_at < okta_time(stale_before)),
            ),
        )
    )
    if incident_id is not None:
        query = query.where(outbox.c.incident_id == incident_id)
    return [_row(r) for r in conn.execute(query.order_by(outbox.c.id))]


def claim(conn: Connection, row: OutboxRow, now: datetime) -> bool:
    """Take `row` as it was read (compare-and-set on state and attempts); False if another drainer took it."""
    result = conn.execute(
        update(outbox)
        .where(and_(outbox.c.id == row.id, outbox.c.state == row.state.value, outbox.c.attempts == row.attempts))
        .values(state=OutboxState.SENDING.value, attempts=outbox.c.attempts + 1, claimed_at=okta_time(now))
    )
    return bool(result.rowcount)


def prepare(conn: Connection, row_id: int, *, payload: dict[str, Any], channel: str) -> None:
    """The rendered message and the conversation it goes to, recorded before the post (for the history check)."""
    conn.execute(
        update(outbox)
        .where(outbox.c.id == row_id)
        .values(payload=json.dumps(payload, sort_keys=True), slack_channel=channel)
    )


def mark_sent(conn: Connection, row_id: int, *, channel: str, ts: str, now: datetime) -> None:
    conn.execute(
        update(outbox)
        .where(outbox.c.id == row_id)
        .values(
            state=OutboxState.SENT.value, sent_at=okta_time(now), slack_channel=channel, slack_ts=ts,
            claimed_at=None, last_error=None,
        )
    )  # fmt: skip


def mark_in_doubt(conn: Connection, row_id: int, error: str) -> None:
    """The post may or may not have reached Slack: the next drainer checks the history first."""
    conn.execute(
        update(outbox)
        .where(outbox.c.id == row_id)
        .values(state=OutboxState.SENDING.value, claimed_at=None, last_error=error)
    )


def release(conn: Connection, row_id: int, error: str) -> None:
    """Slack certainly did not take the message (429, refused before posting): back to pending."""
    conn.execute(
        update(outbox)
        .where(outbox.c.id == row_id)
        .values(state=OutboxState.PENDING.value, claimed_at=None, last_error=error)
    )


def mark_undeliverable(conn: Connection, row_id: int, reason: str) -> None:
    conn.execute(
        update(outbox)
        .where(outbox.c.id == row_id)
        .values(state=OutboxState.UNDELIVERABLE.value, claimed_at=None, last_error=reason)
    )


def list_outbox(
    conn: Connection,
    incident_id: str | None = None,
    *,
    kinds: Sequence[str] | None = None,
    states: Sequence[OutboxState] | None = None,
) -> list[OutboxRow]:
    query = select(outbox)
    if incident_id is not None:
        query = query.where(outbox.c.incident_id == incident_id)
    if kinds:
        query = query.where(outbox.c.kind.in_(list(kinds)))
    if states:
        query = query.where(outbox.c.state.in_([s.value for s in states]))
    return [_row(r) for r in conn.execute(query.order_by(outbox.c.id))]


def counts(conn: Connection, incident_id: str | None = None) -> dict[str, int]:
    """state -> number of messages."""
    query = select(outbox.c.state, func.count()).group_by(outbox.c.state)
    if incident_id is not None:
        query = query.where(outbox.c.incident_id == incident_id)
    return {str(state): int(n) for state, n in conn.execute(query)}
