"""Re-audit: the daily check that nothing slipped through since the last audit, summarised in the IT channel.

Reads top to bottom:
  # 1. WINDOW: from the end of the last audit the ledger knows (an incident's audit, or the previous
  #    re-audit), less an hour for evidence that arrives late, to now
  # 2. AUDIT the evidence store for credential changes in the window, and every account's hardware keys
  #    against the approved registry (unknown keys leave no log event when swapped silently)
  # 3. HOLDS: every held account must still be SUSPENDED; one unsuspended outside holdfast is suspended again
  #    at once (flows/hold.py)
  # 4. REPORT to the IT channel; RECORD the run (`reaudit:<id>` rows in incident_events) for the next window

Nothing is contained here beyond the re-lock of held accounts: new findings are reported for a human (or an
alert) to start `holdfast respond`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from sqlalchemy import Connection, Engine, func, select

from config.errors import InputError, ProviderError
from config.policy import Policy, Reason, load_policy
from config.settings import Settings, load_settings
from flows.audit import FactorScope, run_audit
from flows.hold import run_relock_check
from playbook.models import AuditResult, Finding
from playbook.when import okta_time, parse_when
from store import ledger
from store.db import make_engine, migrate, transaction
from store.queries import evidence_span
from store.schema import incident_events
from tasks.slack.clients import slack_client
from tasks.slack.messages import post_summary

REAUDIT_PREFIX = "reaudit:"
FIRST_WINDOW = timedelta(days=1)  # with no audit in the ledger yet: the schedule's period
LATE_EVIDENCE = timedelta(hours=1)  # evidence published before the last audit may be ingested after it
NON_CHANGE_REASONS = frozenset({Reason.UNKNOWN_HARDWARE_KEY, Reason.SEED})
LISTED = 10  # accounts named per line in Slack; the artifact and the JSON have all of them


@dataclass
class ReauditSummary:
    run_id: str
    since: str
    until: str
    window_from: str  # why `since` is what it is
    changes: list[dict[str, Any]] = field(default_factory=list)  # accounts whose credentials changed
    unknown_keys: list[dict[str, Any]] = field(default_factory=list)  # accounts with unapproved hardware keys
    holds: dict[str, Any] = field(default_factory=dict)  # the re-lock check
    notes: list[str] = field(default_factory=list)
    slack: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _last_audit_end(conn: Connection) -> tuple[str | None, str]:
    """(when the last audit's window ended, which audit that was) from the ledger, or (None, reason)."""
    finished = conn.execute(
        select(func.max(incident_events.c.at)).where(incident_events.c.kind == "audit.finished")
    ).scalar()
    last_reaudit = conn.execute(
        select(incident_events.c.detail)
        .where(incident_events.c.kind == "reaudit.finished")
        .order_by(incident_events.c.at.desc(), incident_events.c.id.desc())
        .limit(1)
    ).scalar()
    known: list[tuple[str, str]] = []
    if finished:
        known.append((str(finished), "the last incident's audit"))
    if last_reaudit and json.loads(last_reaudit).get("until"):
        known.append((str(json.loads(last_reaudit)["until"]), "the previous re-audit"))
    if not known:
        return None, "no audit in the ledger yet"
    return max(known)


def _window(engine: Engine, since: str | None, now: datetime) -> tuple[datetime, str, list[str]]:
    """# 1. WINDOW: an explicit `since`, else the end of the last audit less LATE_EVIDENCE, within the store."""
    notes: list[str] = []
    with transaction(engine) as conn:
        oldest, _ = evidence_span(conn, "okta")
        last_end, why = _last_audit_end(conn)
    if since is not None:
        try:
            start, why = parse_when(since, now), "the given since"
        except ValueError as err:
            raise InputError(f"since: {err}") from None
    elif last_end is not None:
        start, why = parse_when(last_end, now) - LATE_EVIDENCE, f"the end of {why}"
    else:
        start, why = now - FIRST_WINDOW, f"{why}: the last {FIRST_WINDOW.days} day"
    if oldest is not None and okta_time(start) < oldest:
        notes.append(f"the evidence store begins at {oldest}: changes before it cannot be seen")
        start = parse_when(oldest, now)
    return min(start, now), why, notes


def _account(finding: Finding, held: set[str]) -> dict[str, Any]:
    return {
        "login": finding.login,
        "tier": finding.risk.value,
        "reasons": [r.value for r in finding.reasons],
        "actors": list(finding.actors),
        "already_held": finding.login.lower() in held,
    }


def _classify(result: AuditResult, held: set[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    changes, keys = [], []
    for finding in result.findings:
        if set(finding.reasons) - NON_CHANGE_REASONS:
            changes.append(_account(finding, held))
        unknown = [f for f in finding.factor_findings if f.problem == Reason.UNKNOWN_HARDWARE_KEY.value]
        if unknown:
            keys.append({**_account(finding, held), "keys": [f.credential_id or f.factor_id for f in unknown]})
    return changes, keys


def _logins(accounts: list[dict[str, Any]]) -> str:
    names = [a["login"] + (" (held)" if a["already_held"] else "") for a in accounts[:LISTED]]
    more = f" and {len(accounts) - LISTED} more" if len(accounts) > LISTED else ""
    return ", ".join(names) + more


def summary_text(summary: ReauditSummary) -> str:
    """The IT channel's message (mrkdwn): three lines a responder reads at a glance."""
    lines = [f"*holdfast daily re-audit* ({summary.since} to {summary.until} UTC, from {summary.window_from})"]
    if summary.changes:
        tiers: dict[str, int] = {}
        for a in summary.changes:
            tiers[a["tier"]] = tiers.get(a["tier"], 0) + 1
        by_tier = ", ".join(f"{t} {n}" for t, n in sorted(tiers.items()))
        lines.append(f"• Credential changes: {len(summary.changes)} accounts ({by_tier}): {_logins(summary.changes)}")
    else:
        lines.append("• Credential changes: none")
    if summary.unknown_keys:
        lines.append(f"• Unknown hardware keys: {len(summary.unknown_keys)} accounts: {_logins(summary.unknown_keys)}")
    else:
        lines.append("• Unknown hardware keys: none")
    h = summary.holds
    line = f"• Held accounts: {h.get('checked', 0)} checked, {h.get('still_suspended', 0)} still suspended"
    if h.get("relocked"):
        names = ", ".join(h["relocked"][:LISTED])
        line += f", {len(h['relocked'])} found unsuspended and suspended again ({names})"
    if h.get("blocked"):
        names = ", ".join(b[0] for b in h["blocked"][:LISTED])
        line += f", {len(h['blocked'])} in a state Okta cannot suspend ({names})"
    if h.get("failed"):
        line += f", {len(h['failed'])} could not be checked"
    lines.append(line)
    if summary.changes or summary.unknown_keys:
        lines.append(f"To contain: `holdfast respond --since {summary.since}` (a dry-run plan first).")
    lines += [f"_note: {n}_" for n in summary.notes]
    return "\n".join(lines)


def summary_markdown(summary: ReauditSummary) -> str:
    lines = ["# holdfast re-audit", "", summary_text(summary).replace("\n• ", "\n- ").replace("•", "-"), ""]
    for title, accounts in (("Credential changes", summary.changes), ("Unknown hardware keys", summary.unknown_keys)):
        if accounts:
            lines += [f"## {title}", "", "| account | tier | reasons | held |", "|---|---|---|---|"]
            lines += [
                f"| {a['login']} | {a['tier']} | {', '.join(a['reasons'])} | {'yes' if a['already_held'] else ''} |"
                for a in accounts
            ]
            lines.append("")
    return "\n".join(lines)


def _post(settings: Settings, text: str) -> dict[str, Any]:
    """A Slack failure is reported, never fatal: the run and its findings are in the ledger already."""
    if settings.slack is None:
        return {"channel": None, "ts": None, "error": "slack is not configured (HOLDFAST_SLACK__*)"}
    channel = settings.slack.it_channel
    try:
        return {"channel": channel, "ts": post_summary(slack_client(settings.slack), channel, text), "error": None}
    except ProviderError as err:
        return {"channel": channel, "ts": None, "error": str(err)}


async def run_reaudit(
    settings: Settings,
    policy: Policy,
    engine: Engine,
    *,
    since: str | None = None,
    factor_scope: FactorScope = "all",
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ReauditSummary:
    now = clock()
    # 1. WINDOW
    start, why, notes = _window(engine, since, now)
    summary = ReauditSummary(f"{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}", okta_time(start), okta_time(now), why)
    summary.notes.extend(notes)
    # 2. AUDIT (reads only: the evidence store, and Okta for the factors)
    result = await run_audit(
        settings, policy, engine, cutoff=start, source="store", factor_scope=factor_scope, clock=clock
    )
    summary.notes.extend(result.notes)
    with transaction(engine) as conn:
        held = {h.login.lower() for h in ledger.list_holds(conn, states=["held", "verified"])}
    summary.changes, summary.unknown_keys = _classify(result, held)
    # 3. HOLDS: re-lock what was unsuspended outside holdfast
    relock = await run_relock_check(settings, policy, engine, clock=clock)
    checked = relock.as_dict()
    checked["still_suspended"] = relock.checked - len(relock.relocked) - len(relock.blocked) - len(relock.failed)
    summary.holds = checked
    # 4. REPORT and RECORD
    summary.slack = _post(settings, summary_text(summary))
    with transaction(engine, write=True) as conn:
        ledger.record_event(
            conn, REAUDIT_PREFIX + summary.run_id, clock(), "reaudit.finished",
            {"since": summary.since, "until": summary.until, "changes": len(summary.changes),
             "unknown_keys": len(summary.unknown_keys), "holds_checked": relock.checked,
             "relocked": len(relock.relocked), "slack_ts": summary.slack.get("ts")},
        )  # fmt: skip
    return summary


@flow(name="reaudit")
async def reaudit(
    since: str | None = None, factor_scope: FactorScope = "all", config_file: str | None = None
) -> dict[str, Any]:
    """Deployment entry point (daily): settings from the worker's environment (or `config_file`)."""
    settings = load_settings(Path(config_file) if config_file else None)
    policy = load_policy(settings.policy_file)
    engine = make_engine(settings.store.url)
    try:
        migrate(engine)
        summary = await run_reaudit(settings, policy, engine, since=since, factor_scope=factor_scope)
    finally:
        engine.dispose()
    await create_markdown_artifact(markdown=summary_markdown(summary), key="holdfast-reaudit")  # type: ignore[misc]
    return summary.as_dict()
