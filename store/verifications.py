"""Identity verifications, accepted and refused: who vouched for whom, how, under which ticket, and why a
refusal was refused. Auditors read this table; the two-person rule counts distinct accepted verifiers.
Functions take a connection; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, and_, func, insert, select

from playbook.when import okta_time
from store.schema import verifications

Outcome = Literal["accepted", "refused"]


@dataclass(frozen=True)
class VerificationRow:
    id: int
    incident_id: str | None
    account: str
    verifier: str
    method: str
    ticket: str
    note: str | None
    channel: str
    outcome: Outcome
    reason: str | None
    recorded_at: str


def _row(r: Any) -> VerificationRow:
    return VerificationRow(
        id=int(r.id),
        incident_id=r.incident_id,
        account=r.account,
        verifier=r.verifier,
        method=r.method,
        ticket=r.ticket,
        note=r.note,
        channel=r.channel,
        outcome=r.outcome,
        reason=r.reason,
        recorded_at=r.recorded_at,
    )


def record(
    conn: Connection,
    *,
    incident_id: str | None,
    account: str,
    verifier: str,
    method: str,
    ticket: str,
    note: str | None,
    channel: str,
    outcome: Outcome,
    reason: str | None,
    now: datetime,
) -> None:
    # Column widths: a refusal of over-long input is still recorded, truncated, rather than lost.
    conn.execute(
        insert(verifications).values(
            incident_id=incident_id,
            account=account[:320],
            verifier=verifier[:320],
            method=method[:32],
            ticket=ticket[:128],
            note=note,
            channel=channel,
            outcome=outcome,
            reason=reason,
            recorded_at=okta_time(now),
        )
    )


def accepted_verifiers(conn: Connection, incident_id: str, account: str) -> frozenset[str]:
    """Distinct verifiers (lower-cased) whose verification of `account` was accepted in the incident."""
    rows = conn.execute(
        select(func.lower(verifications.c.verifier)).where(
            and_(
                verifications.c.incident_id == incident_id,
                func.lower(verifications.c.account) == account.lower(),
                verifications.c.outcome == "accepted",
            )
        )
    )
    return frozenset(str(v) for (v,) in rows)


def has_accepted(
    conn: Connection, *, incident_id: str, account: str, verifier: str, method: str, ticket: str, channel: str
) -> bool:
    """The same accepted verification is already recorded (a resumed or repeated run): record it once."""
    row = conn.execute(
        select(verifications.c.id).where(
            and_(
                verifications.c.incident_id == incident_id,
                func.lower(verifications.c.account) == account.lower(),
                func.lower(verifications.c.verifier) == verifier.lower(),
                verifications.c.method == method,
                verifications.c.ticket == ticket,
                verifications.c.channel == channel,
                verifications.c.outcome == "accepted",
            )
        )
    ).first()
    return row is not None


def list_verifications(
    conn: Connection, account: str | None = None, outcomes: Sequence[Outcome] | None = None
) -> list[VerificationRow]:
    query = select(verifications)
    if account is not None:
        query = query.where(func.lower(verifications.c.account) == account.lower())
    if outcomes:
        query = query.where(verifications.c.outcome.in_(list(outcomes)))
    return [_row(r) for r in conn.execute(query.order_by(verifications.c.id))]
