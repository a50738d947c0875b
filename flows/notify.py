"""Notify: Slack messages through the outbox in the ledger, exactly once per (incident, recipient, kind).

Reads top to bottom:
  # 1. ENQUEUE: containment, releases and re-locks add messages to the outbox in their own transactions
  #    (INSERT ... ON CONFLICT DO NOTHING on the unique key: a rerun adds nothing);
  # 2. DRAIN: person DMs first (users.lookupByEmail, conversations.open), then the IT channel, each row
  #    claimed before the call and marked sent with Slack's ts after it.

Why it never sends twice: chat.postMessage has no idempotency key, so every message carries a marker (a
block_id derived from its outbox key, playbook/messages.py). A row whose post may have reached Slack (dropped
connection, 5xx, or a crash between the call and the commit) is *in doubt*; before posting it again the
drainer reads the conversation's history since the row was created and, if the marker is there, records
that message instead. Only 429 is retried by the SDK on the posting client (Slack did not take the message).
Concurrent drainers: a claim is a compare-and-set on the row; a fresh claim is left alone for LEASE.

Why it never blocks containment: respond enqueues after containment is recorded and drains best-effort; the
first sign of an outage (5xx / connection / 429 after the SDK's retries) ends the pass, and the rest waits
for `holdfast notify` or the next scheduled run. People with no Slack user are marked undeliverable once and
reported to IT (in the summary, or in a follow-up if the summary already went out); never retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow
from slack_sdk import WebClient
from sqlalchemy import Connection, Engine

from config.errors import ConfigError, ProviderError
from config.policy import Policy, load_policy
from config.settings import Settings, load_settings
from playbook import messages
from playbook.messages import Kind, SlackPayload, kind_of, marker
from playbook.models import Plan
from playbook.when import parse_when
from store import ledger
from store import outbox as box
from store.db import make_engine, migrate, transaction
from store.holds import Hold, HoldState
from store.holds import list_holds as holds_of_incident
from store.outbox import OutboxRow, OutboxState
from tasks.slack.clients import slack_client
from tasks.slack.messages import find_message, post_message, posting_client
from tasks.slack.people import lookup_by_email, open_dm

LEASE = timedelta(minutes=10)  # a claim younger than this is in flight elsewhere
POST_ATTEMPTS = 3  # posts of one message within one pass (each after a history check)
HISTORY_SKEW_S = 300.0  # look back this far before the row's creation (clocks differ)

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class DrainSummary:
    sent: int = 0
    recovered: int = 0  # in doubt, found already in Slack: recorded, not posted again
    undeliverable: list[str] = field(default_factory=list)  # recipients with no Slack user (this pass)
    waiting: int = 0  # pending or in doubt after the pass
    stopped: str | None = None  # why the pass ended early (Slack down or rate limited)
    errors: list[str] = field(default_factory=list)  # messages refused for a reason retrying cannot fix

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "recovered": self.recovered,
            "undeliverable": self.undeliverable,
            "waiting": self.waiting,
            "stopped": self.stopped,
            "errors": self.errors,
        }

    def line(self) -> str:
        text = f"slack: {self.sent} sent"
        if self.recovered:
            text += f", {self.recovered} found already delivered"
        if self.undeliverable:
            text += f", {len(self.undeliverable)} with no Slack user (reported to IT)"
        if self.waiting:
            text += f", {self.waiting} waiting (`holdfast notify` sends them)"
        if self.stopped:
            text += f"; stopped early: {self.stopped}"
        return text


# --- 1. ENQUEUE ----------------------------------------------------------------------------------------------


def enqueue_incident(
    conn: Connection,
    *,
    incident_id: str,
    it_channel: str,
    plan: Plan,
    holds: Sequence[Hold],
    failed: int,
    now: datetime,
) -> int:
    """A notice per held account and the IT summary; returns how many messages are new."""
    tiers = {a.user_id: a.risk.value for a in plan.accounts}
    by_tier: dict[str, int] = {}
    new = 0
    for hold in holds:
        tier = tiers.get(hold.user_id, "unknown")
        by_tier[tier] = by_tier.get(tier, 0) + 1
        params = {"user_id": hold.user_id, "login": hold.login}
        new += box.enqueue(conn, incident_id, hold.login, Kind.NOTICE.value, {"params": params}, now)
    summary = {
        "contained_by_tier": by_tier,
        "failed": failed,
        "manual": [[m.login, m.why] for m in plan.manual],
        "skipped": len(plan.skipped),
    }
    new += box.enqueue(conn, incident_id, it_channel, Kind.IT_SUMMARY.value, {"params": summary}, now)
    return new


def _rendered(params: dict[str, Any], payload: SlackPayload) -> dict[str, Any]:
    return {"params": params, **payload.as_dict()}


def enqueue_released(
    conn: Connection,
    *,
    it_channel: str | None,
    hold: Hold,
    verifiers: Sequence[str],
    method: str,
    ticket: str,
    open_holds: int,
    now: datetime,
) -> None:
    """The person's 'active again' DM and the IT channel's status update for one released hold."""
    params = {"user_id": hold.user_id, "login": hold.login}
    box.enqueue(conn, hold.incident_id, hold.login, Kind.RELEASED.value, {"params": params}, now)
    if it_channel is None:
        return
    kind = f"{Kind.IT_RELEASED.value}:{hold.user_id}"
    payload = messages.it_released(
        incident_id=hold.incident_id, login=hold.login, verifiers=verifiers, method=method, ticket=ticket,
        open_holds=open_holds, mark=marker(hold.incident_id, it_channel, kind),
    )  # fmt: skip
    box.enqueue(conn, hold.incident_id, it_channel, kind, _rendered(params, payload), now)


def enqueue_relock(
    conn: Connection, *, it_channel: str, hold: Hold, found: str, outcome: str, key: str, relocks: int, now: datetime
) -> None:
    """An IT alert for a held account found unsuspended; `key` makes it once per event (re-lock number)."""
    kind = f"{Kind.IT_RELOCK.value}:{hold.user_id}:{key}"
    payload = messages.it_relock(
        incident_id=hold.incident_id, login=hold.login, found=found, outcome=outcome, relocks=relocks,
        mark=marker(hold.incident_id, it_channel, kind),
    )  # fmt: skip
    box.enqueue(conn, hold.incident_id, it_channel, kind, _rendered({"user_id": hold.user_id}, payload), now)


# --- 2. DRAIN ------------------------------------------------------------------------------------------------


class _StopPass(Exception):
    """Slack is down or rate limiting: end this pass, keep everything for the next."""


@dataclass
class _Drain:
    engine: Engine
    client: WebClient
    poster: WebClient
    policy: Policy
    clock: Clock
    summary: DrainSummary


def _epoch(stamp: str, now: datetime) -> float:
    return parse_when(stamp, now).timestamp()


def _summary_of(conn: Connection, row: OutboxRow) -> messages.IncidentSummary:
    params = row.payload["params"]
    notices = box.list_outbox(conn, row.incident_id, kinds=[Kind.NOTICE.value])
    return messages.IncidentSummary(
        incident_id=row.incident_id,
        contained_by_tier=params["contained_by_tier"],
        failed=int(params["failed"]),
        manual=[(str(a), str(w)) for a, w in params["manual"]],
        skipped=int(params["skipped"]),
        no_slack=[n.recipient for n in notices if n.state is OutboxState.UNDELIVERABLE],
        notices_waiting=sum(n.state in (OutboxState.PENDING, OutboxState.SENDING) for n in notices),
    )


def _render(conn: Connection, ctx: _Drain, row: OutboxRow, first_name: str) -> dict[str, Any]:
    templates = ctx.policy.templates
    mark = marker(row.incident_id, row.recipient, row.kind)
    kind = kind_of(row.kind)
    params = dict(row.payload.get("params") or {})
    if kind is Kind.NOTICE:
        payload = messages.person_notice(templates, first_name=first_name, incident_id=row.incident_id, mark=mark)
    elif kind is Kind.RELEASED:
        payload = messages.person_released(templates, first_name=first_name, incident_id=row.incident_id, mark=mark)
    elif kind is Kind.IT_SUMMARY:
        summary = _summary_of(conn, row)
        payload = messages.it_summary(templates, summary, mark=mark)
        params["no_slack_listed"] = list(summary.no_slack)
    else:  # rendered when enqueued
        return dict(row.payload)
    return _rendered(params, payload)


def _undeliverable(ctx: _Drain, row: OutboxRow, reason: str) -> None:
    """Mark once; a notice IT has not heard about yet gets a follow-up in the IT channel."""
    with transaction(ctx.engine, write=True) as conn:
        box.mark_undeliverable(conn, row.id, reason)
        if kind_of(row.kind) is Kind.NOTICE:
            for summary in box.list_outbox(conn, row.incident_id, kinds=[Kind.IT_SUMMARY.value]):
                listed = summary.payload.get("params", {}).get("no_slack_listed")
                if listed is None or row.recipient in listed:
                    continue  # the summary is not rendered yet (it will list this person), or it did
                user_id = row.payload["params"]["user_id"]
                kind = f"{Kind.IT_NO_SLACK.value}:{user_id}"
                payload = messages.it_no_slack(
                    incident_id=row.incident_id, login=row.recipient, reason=reason,
                    mark=marker(row.incident_id, summary.recipient, kind),
                )  # fmt: skip
                box.enqueue(conn, row.incident_id, summary.recipient, kind, _rendered({"user_id": user_id}, payload),
                            ctx.clock())  # fmt: skip
    ctx.summary.undeliverable.append(row.recipient)


def _already_there(ctx: _Drain, row: OutboxRow, channel: str) -> str | None:
    mark = marker(row.incident_id, row.recipient, row.kind)
    return find_message(ctx.client, channel, mark, oldest=_epoch(row.created_at, ctx.clock()) - HISTORY_SKEW_S)


def _sent(ctx: _Drain, row: OutboxRow, channel: str, ts: str, *, recovered: bool) -> None:
    with transaction(ctx.engine, write=True) as conn:
        box.mark_sent(conn, row.id, channel=channel, ts=ts, now=ctx.clock())
    if recovered:
        ctx.summary.recovered += 1
    else:
        ctx.summary.sent += 1


@dataclass
class _Attempt:
    """Whether Slack may hold the message without our knowing: decides 'in doubt' vs 'pending' on failure."""

    maybe_posted: bool


def _deliver(ctx: _Drain, row: OutboxRow) -> None:
    with transaction(ctx.engine, write=True) as conn:
        if not box.claim(conn, row, ctx.clock()):
            return  # another drainer took it
    channel, payload = row.slack_channel, row.payload
    attempt = _Attempt(maybe_posted=row.in_doubt and channel is not None and "text" in payload)
    try:
        # In doubt: Slack may have it already (a crash or a lost answer after the post).
        if attempt.maybe_posted and channel is not None:
            ts = _already_there(ctx, row, channel)
            if ts is not None:
                _sent(ctx, row, channel, ts, recovered=True)
                return
            attempt.maybe_posted = False
        if channel is None or "text" not in payload:
            first_name = ""
            if row.kind in messages.PERSON_KINDS:
                person = lookup_by_email(ctx.client, row.recipient)
                if person is None or person.deleted:
                    reason = "no Slack user with this email" if person is None else "Slack user deactivated"
                    _undeliverable(ctx, row, reason)
                    return
                channel = open_dm(ctx.client, person.user_id)
                if channel is None:
                    _undeliverable(ctx, row, "Slack user deactivated")
                    return
                first_name = messages.first_name_of(person.real_name, person.first_name, row.recipient)
            else:
                channel = row.recipient
            with transaction(ctx.engine, write=True) as conn:
                payload = _render(conn, ctx, row, first_name)
                box.prepare(conn, row.id, payload=payload, channel=channel)
        _post(ctx, row, channel, payload, attempt)
    except ProviderError as err:
        with transaction(ctx.engine, write=True) as conn:
            if attempt.maybe_posted:
                box.mark_in_doubt(conn, row.id, str(err))  # the next drainer looks in Slack before posting
            else:
                box.release(conn, row.id, str(err))
        if err.retryable:
            raise _StopPass(str(err)) from None
        ctx.summary.errors.append(f"{row.kind} to {row.recipient}: {err}")
    except ConfigError as err:
        with transaction(ctx.engine, write=True) as conn:
            box.release(conn, row.id, str(err))
        ctx.summary.errors.append(f"{row.kind} to {row.recipient}: {err}")


def _post(ctx: _Drain, row: OutboxRow, channel: str, payload: dict[str, Any], attempt: _Attempt) -> None:
    """Post; after an answer that leaves it unknown whether Slack stored the message, look before posting again."""
    last: ProviderError | None = None
    for _ in range(POST_ATTEMPTS):
        if attempt.maybe_posted:
            ts = _already_there(ctx, row, channel)
            if ts is not None:
                _sent(ctx, row, channel, ts, recovered=True)
                return
            attempt.maybe_posted = False
        try:
            posted_channel, ts = post_message(ctx.poster, channel, payload["text"], payload["blocks"])
        except ProviderError as err:
            if not err.retryable or err.status == 429:
                raise  # Slack refused it or rate limited it: certainly not posted
            attempt.maybe_posted, last = True, err  # 5xx, dropped connection, timeout: maybe posted
            continue
        _sent(ctx, row, posted_channel, ts, recovered=False)
        return
    assert last is not None
    raise ProviderError("slack", f"chat.postMessage failed {POST_ATTEMPTS} times ({last})", retryable=True)


def drain(
    engine: Engine,
    client: WebClient,
    policy: Policy,
    *,
    incident_id: str | None = None,
    clock: Clock = _now,
    lease: timedelta = LEASE,
) -> DrainSummary:
    """One pass over the outbox (or one incident's part of it). Synchronous: slack_sdk's WebClient is."""
    ctx = _Drain(engine, client, posting_client(client), policy, clock, DrainSummary())
    with transaction(engine) as conn:
        rows = box.due(conn, stale_before=clock() - lease, incident_id=incident_id)
    # People first: the IT summary then knows who has no Slack user.
    rows.sort(key=lambda r: (r.kind not in messages.PERSON_KINDS, r.id))
    for row in rows:
        try:
            _deliver(ctx, row)
        except _StopPass as stop:
            ctx.summary.stopped = str(stop)
            break
    # Follow-ups enqueued during the pass (no Slack user) go out in the same pass, if Slack is up.
    if ctx.summary.stopped is None:
        with transaction(engine) as conn:
            late = [r for r in box.due(conn, stale_before=clock() - lease, incident_id=incident_id) if r.attempts == 0]
        for row in late:
            try:
                _deliver(ctx, row)
            except _StopPass as stop:
                ctx.summary.stopped = str(stop)
                break
    with transaction(engine) as conn:
        counts = box.counts(conn, incident_id)
    ctx.summary.waiting = counts.get(OutboxState.PENDING.value, 0) + counts.get(OutboxState.SENDING.value, 0)
    return ctx.summary


async def drain_best_effort(
    settings: Settings,
    policy: Policy,
    engine: Engine,
    *,
    incident_id: str | None = None,
    retries: int = 1,
    clock: Clock = _now,
) -> DrainSummary:
    """Drain in a worker thread; Slack not configured means nothing is sent (and nothing is lost)."""
    if settings.slack is None:
        return DrainSummary(stopped="slack is not configured (HOLDFAST_SLACK__*): messages wait in the outbox")
    client = slack_client(settings.slack, max_retries=retries)
    return await asyncio.to_thread(drain, engine, client, policy, incident_id=incident_id, clock=clock)


async def notify_contained(
    settings: Settings, policy: Policy, engine: Engine, plan: Plan, *, clock: Clock = _now
) -> DrainSummary:
    """After containment: a notice per held account and the IT summary, then one best-effort pass."""
    if settings.slack is None:
        return DrainSummary(stopped="slack is not configured (HOLDFAST_SLACK__*): nobody was notified")
    incident = plan.incident_id
    with transaction(engine, write=True) as conn:
        holds = holds_of_incident(conn, incident, states=[HoldState.HELD, HoldState.VERIFIED])
        failed = sum(n for (_, state), n in ledger.action_counts(conn, incident).items() if state == "failed")
        if not holds and not failed and not plan.manual:
            return DrainSummary()  # nothing contained, nothing to hand over: a quiet re-audit posts nothing
        queued = enqueue_incident(
            conn, incident_id=incident, it_channel=settings.slack.it_channel, plan=plan, holds=holds, failed=failed,
            now=clock(),
        )  # fmt: skip
        if queued:
            ledger.record_event(conn, incident, clock(), "notify.queued", {"messages": queued})
    summary = await drain_best_effort(settings, policy, engine, incident_id=incident, clock=clock)
    with transaction(engine, write=True) as conn:
        ledger.record_event(conn, incident, clock(), "notify.drained", summary.as_dict())
    return summary


@flow(name="notify")
async def notify(incident: str | None = None, config_file: str | None = None) -> dict[str, Any]:
    """Deployment and CLI entry point: send what the outbox holds (one incident's messages, or all)."""
    settings = load_settings(Path(config_file) if config_file else None)
    settings.require_slack()
    policy = load_policy(settings.policy_file)
    engine = make_engine(settings.store.url)
    migrate(engine)
    if incident is not None:
        with transaction(engine) as conn:
            ledger.get_incident(conn, incident)  # an unknown incident is an InputError, not silence
    summary = await drain_best_effort(settings, policy, engine, incident_id=incident, retries=3)
    return summary.as_dict()
