"""Holds: every contained account stays suspended until IT verifies the person, for as long as that takes.

A hold is created by containment (store.ledger.create_holds) in state `held`; identity verification makes
it `verified` (store.verifications has who vouched, how); the release makes it `released`. `relocks` counts
how often the re-audit found the account unsuspended outside holdfast and suspended it again. Holds live
in the ledger, so they outlast processes, restarts and Prefect's own records. Functions take a connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from playbook.when import okta_time, parse_when
from store.schema import holds


class HoldState(StrEnum):
    HELD = "held"  # suspended, waiting for identity verification
    VERIFIED = "verified"  # verification complete; the release is under way (or failed and will be retried)
    RELEASED = "released"


OPEN = (HoldState.HELD, HoldState.VERIFIED)


@dataclass(frozen=True)
class Hold:
    id: int
    incident_id: str
    user_id: str
    login: str
    state: HoldState
    created_at: str
    verified_at: str | None
    released_at: str | None
    relocks: int

    def held_for(self, now: datetime) -> timedelta:
        """How long the account has been (or was) held: to the release, or to `now` while it lasts."""
        start = parse_when(self.created_at, now)
        end = parse_when(self.released_at, now) if self.released_at else now
        return end - start


def _hold(r: Any) -> Hold:
    return Hold(
        id=int(r.id),
        incident_id=r.incident_id,
        user_id=r.user_id,
        login=r.login,
        state=HoldState(r.state),
        created_at=r.created_at,
        verified_at=r.verified_at,
        released_at=r.released_at,
        relocks=int(r.relocks),
    )


def list_holds(
    conn: Connection, incident_id: str | None = None, states: Sequence[HoldState] | None = None
) -> list[Hold]:
    """Holds, oldest first (then by login)."""
    query = select(holds)
    if incident_id is not None:
        query = query.where(holds.c.incident_id == incident_id)
    if states:
        query = query.where(holds.c.state.in_([s.value for s in states]))
    return [_hold(r) for r in conn.execute(query.order_by(holds.c.created_at, holds.c.login, holds.c.id))]


def holds_of_account(conn: Connection, account: str, states: Sequence[HoldState] | None = None) -> list[Hold]:
    """Holds of one account, by Okta user id or login (case-insensitive), across incidents."""
    query = select(holds).where(or_(holds.c.user_id == account, func.lower(holds.c.login) == account.lower()))
    if states:
        query = query.where(holds.c.state.in_([s.value for s in states]))
    return [_hold(r) for r in conn.execute(query.order_by(holds.c.created_at, holds.c.id))]


def mark_verified(conn: Connection, hold_id: int, now: datetime) -> None:
    conn.execute(
        update(holds)
        .where(and_(holds.c.id == hold_id, holds.c.state == HoldState.HELD.value))
        .values(state=HoldState.VERIFIED.value, verified_at=okta_time(now))
    )


def mark_released(conn: Connection, hold_id: int, now: datetime) -> None:
    conn.execute(
        update(holds)
        .where(and_(holds.c.id == hold_id, holds.c.state != HoldState.RELEASED.value))
        .values(state=HoldState.RELEASED.value, released_at=okta_time(now))
    )


def set_relocks(conn: Connection, hold_id: int, relocks: int) -> None:
    conn.execute(update(holds).where(holds.c.id == hold_id).values(relocks=relocks))


def format_age(delta: timedelta) -> str:
    """'3d 4h', '5h 12m', '42s': short enough for a table column, precise enough for a shift hand-over."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {seconds}s"
    return f"{seconds}s"
