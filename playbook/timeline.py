"""An incident's timeline in the style of a published post-mortem: UTC time, what happened, then the counts
and the holds still open. Pure: ledger rows in (as plain records), a Timeline out, Markdown or JSON.

The ledger's `incident_events` are the story (alert received, incident opened, audit finished, first and
last suspension, notifications, each verification and release); the counts come from its tables. Kinds this
module does not know yet are still shown, as "kind: key=value ...", so nothing recorded is ever hidden.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

HOLD_OPEN_STATES = ("held", "verified")


@dataclass(frozen=True)
class IncidentRecord:
    id: str
    created_at: str
    trigger: str
    source: str | None
    cutoff: str
    seeds: tuple[str, ...]
    status: str


@dataclass(frozen=True)
class EventRecord:
    at: str  # Okta format, UTC
    kind: str
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class HoldRecord:
    login: str
    state: str  # held, verified, released
    created_at: str
    verified_at: str | None = None
    released_at: str | None = None
    relocks: int = 0


@dataclass(frozen=True)
class TimelineEntry:
    at: str
    kind: str
    what: str


@dataclass(frozen=True)
class OpenHold:
    login: str
    state: str
    since: str
    relocks: int


@dataclass(frozen=True)
class Timeline:
    incident: IncidentRecord
    entries: tuple[TimelineEntry, ...]
    counts: Mapping[str, Any]
    open_holds: tuple[OpenHold, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "incident": {**asdict(self.incident), "seeds": list(self.incident.seeds)},
            "entries": [asdict(e) for e in self.entries],
            "counts": dict(self.counts),
            "open_holds": [asdict(h) for h in self.open_holds],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, sort_keys=True)


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _names(values: Iterable[Any], limit: int = 5) -> str:
    items = [str(v) for v in values]
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _generic(kind: str, detail: Mapping[str, Any]) -> str:
    parts = [f"{k}={v}" for k, v in sorted(detail.items()) if v not in (None, "", [], {})]
    return kind + (": " + ", ".join(parts) if parts else "")


def _describe(kind: str, d: Mapping[str, Any]) -> str | None:
    """One sentence for a ledger event; None for events the timeline folds into others."""
    if kind == "alert.accepted":
        seeds = d.get("seeds") or []
        return (
            f"Alert received from {d.get('source') or 'an unnamed source'}: credential changes since "
            f"{d.get('since')}, {_plural(len(seeds), 'seed account')} ({_names(seeds)})"
        )
    if kind == "alert.undelivered":
        return f"Alert could not be delivered to Prefect: {d.get('error')}"
    if kind == "alert.emitted":
        return None  # the delivery is part of "alert received"
    if kind == "incident.created":
        trigger = str(d.get("trigger"))
        how = {"alert": "on the alert", "manual": "by hand", "reaudit": "by the scheduled re-audit"}.get(
            trigger, trigger
        )
        source = f" ({d['source']})" if d.get("source") else ""
        cutoff = f"; cutoff {d['cutoff']}" if d.get("cutoff") else ""
        return f"Incident opened {how}{source}{cutoff}"
    if kind == "audit.finished":
        found = _plural(int(d.get("accounts", 0)), "account")
        return f"Audit finished: {found} with credential changes since the cutoff"
    if kind == "containment.started":
        return f"Containment started for {_plural(int(d.get('accounts', 0)), 'account')}"
    if kind == "containment.finished":
        failed = int(d.get("failed", 0))
        tail = f", {_plural(failed, 'action')} failed" if failed else ", nothing failed"
        return f"Containment finished: {_plural(int(d.get('contained', 0)), 'account')} contained and held{tail}"
    if kind == "notify.queued":
        return f"{_plural(int(d.get('messages', 0)), 'Slack message')} queued (a notice to each person, the IT summary)"
    if kind == "notify.drained":
        text = f"Slack: {int(d.get('sent', 0))} sent"
        if d.get("undeliverable"):
            text += f", {len(d['undeliverable'])} with no Slack user (reported to IT)"
        if d.get("waiting"):
            text += f", {d['waiting']} waiting"
        if d.get("stopped"):
            text += f" (stopped early: {d['stopped']})"
        return text
    if kind == "verification.accepted":
        ticket = f", ticket {d['ticket']}" if d.get("ticket") else ""
        done = "" if d.get("complete", True) else " (first of two verifiers)"
        return f"Identity of {d.get('account')} verified by {d.get('verifier')} ({d.get('method')}{ticket}){done}"
    if kind == "verification.refused":
        return f"Verification of {d.get('account')} by {d.get('verifier') or 'someone'} refused: {d.get('reason')}"
    if kind == "hold.released":
        return f"{d.get('account')} released (verified by {_names(d.get('verifiers') or [])})"
    if kind == "hold.relocked":
        outcome = f": {d['outcome']}" if d.get("outcome") else ""
        return f"{d.get('account')} found {d.get('found')} while held{outcome}"
    return _generic(kind, d)


def _suspension_entries(events: Sequence[EventRecord]) -> list[TimelineEntry]:
    """`containment.suspended` is recorded after each suspend phase with the first and last suspension so
    far; the post-mortem wants the very first and the very last, once."""
    marks = [e.detail for e in events if e.kind == "containment.suspended" and e.detail.get("first")]
    if not marks:
        return []
    first = min(str(m["first"]) for m in marks)
    last = max(str(m.get("last") or m["first"]) for m in marks)
    total = max(int(m.get("accounts", 0)) for m in marks)
    if first == last:
        return [TimelineEntry(first, "containment.suspended", f"{_plural(total, 'account')} suspended")]
    return [
        TimelineEntry(first, "containment.suspended", "First account suspended"),
        TimelineEntry(last, "containment.suspended", f"Last account suspended: {_plural(total, 'account')} suspended"),
    ]


def _counts(
    findings_by_tier: Mapping[str, int],
    actions: Mapping[str, Mapping[str, int]],
    holds: Sequence[HoldRecord],
    verifications: Mapping[str, int],
    messages: Mapping[str, int],
) -> dict[str, Any]:
    by_state: dict[str, int] = {}
    for hold in holds:
        by_state[hold.state] = by_state.get(hold.state, 0) + 1
    return {
        "accounts_found": sum(findings_by_tier.values()),
        "accounts_by_tier": dict(sorted(findings_by_tier.items())),
        "actions": {a: dict(sorted(s.items())) for a, s in sorted(actions.items())},
        "holds": dict(sorted(by_state.items())),
        "relocks": sum(h.relocks for h in holds),
        "verifications": dict(sorted(verifications.items())),
        "slack_messages": dict(sorted(messages.items())),
    }


def build_timeline(
    incident: IncidentRecord,
    events: Sequence[EventRecord],
    *,
    alert_events: Sequence[EventRecord] = (),
    holds: Sequence[HoldRecord] = (),
    findings_by_tier: Mapping[str, int] | None = None,
    actions: Mapping[str, Mapping[str, int]] | None = None,
    verifications: Mapping[str, int] | None = None,
    messages: Mapping[str, int] | None = None,
) -> Timeline:
    """The incident's story in time order (ties keep the ledger's order), its counts and its open holds."""
    entries: list[TimelineEntry] = []
    for event in [*alert_events, *events]:
        if event.kind == "containment.suspended":
            continue
        what = _describe(event.kind, event.detail)
        if what is not None:
            entries.append(TimelineEntry(event.at, event.kind, what))
    entries.extend(_suspension_entries(events))
    entries.sort(key=lambda e: e.at)  # stable: equal times keep the ledger's order
    open_holds = tuple(
        OpenHold(h.login, h.state, h.created_at, h.relocks)
        for h in sorted(holds, key=lambda h: (h.created_at, h.login))
        if h.state in HOLD_OPEN_STATES
    )
    counts = _counts(findings_by_tier or {}, actions or {}, holds, verifications or {}, messages or {})
    return Timeline(incident, tuple(entries), counts, open_holds)


def from_dict(data: Mapping[str, Any]) -> Timeline:
    """The inverse of Timeline.as_dict (a flow's JSON result back into a Timeline)."""
    inc = data["incident"]
    return Timeline(
        IncidentRecord(**{**inc, "seeds": tuple(inc["seeds"])}),
        tuple(TimelineEntry(**e) for e in data["entries"]),
        dict(data["counts"]),
        tuple(OpenHold(**h) for h in data["open_holds"]),
    )


def _clock(at: str) -> str:
    """'2022-01-21T03:30:00.000Z' -> '2022-01-21 03:30:00' (the column header says UTC)."""
    return at[:19].replace("T", " ") if len(at) >= 19 else at


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(timeline: Timeline) -> str:
    inc, counts = timeline.incident, timeline.counts
    seeds = ", ".join(inc.seeds) or "none"
    lines = [
        f"# Incident {inc.id}: timeline",
        "",
        f"Opened {_clock(inc.created_at)} UTC ({inc.trigger}{', ' + inc.source if inc.source else ''}). "
        f"Credential changes since {inc.cutoff}. Seed accounts: {_cell(seeds)}. Status: **{inc.status}**.",
        "",
        "| time (UTC) | what happened |",
        "|---|---|",
    ]
    lines += [f"| {_clock(e.at)} | {_cell(e.what)} |" for e in timeline.entries]
    tiers = ", ".join(f"{t} {n}" for t, n in counts["accounts_by_tier"].items())
    lines += ["", "## Counts", "", "| what | count |", "|---|---:|"]
    lines.append(f"| accounts found by the audit{' (' + tiers + ')' if tiers else ''} | {counts['accounts_found']} |")
    for action, states in counts["actions"].items():
        detail = ", ".join(f"{s} {n}" for s, n in states.items())
        lines.append(f"| {action} ({detail}) | {sum(states.values())} |")
    for state, n in counts["holds"].items():
        lines.append(f"| holds {state} | {n} |")
    if counts["relocks"]:
        lines.append(f"| accounts suspended again after being unsuspended outside holdfast | {counts['relocks']} |")
    for outcome, n in counts["verifications"].items():
        lines.append(f"| verifications {outcome} | {n} |")
    for state, n in counts["slack_messages"].items():
        lines.append(f"| Slack messages {state} | {n} |")
    lines += ["", f"## Open holds ({len(timeline.open_holds)})", ""]
    if timeline.open_holds:
        lines += ["| account | held since (UTC) | state | re-locked |", "|---|---|---|---:|"]
        lines += [f"| {h.login} | {_clock(h.since)} | {h.state} | {h.relocks} |" for h in timeline.open_holds]
    elif counts["holds"]:
        lines.append("None: every contained account has been verified and released.")
    else:
        lines.append("None: nothing was contained.")
    return "\n".join(lines) + "\n"
