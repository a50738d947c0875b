"""Timeline: an incident's story from the ledger, as Markdown, JSON and a Prefect artifact.

  # 1. GET the incident, its story (`incident_events`), the alert that started it, holds and counts
  # 2. BUILD the timeline (playbook/timeline.py, pure)
  # 3. PUBLISH it: returned as JSON; the flow also publishes the Markdown as the `holdfast-timeline` artifact

Reads only. The alert that opened an incident is found by what the respond run was started with: an
accepted alert with the same cutoff, seeds and source, received at or before the incident was opened.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from sqlalchemy import Connection, Engine, func, select

from config.settings import load_settings
from flows.alert import alert_rows
from playbook.timeline import EventRecord, HoldRecord, IncidentRecord, Timeline, build_timeline, to_markdown
from store import ledger
from store.db import make_engine, migrate, transaction
from store.schema import findings, outbox, verifications


def _detail(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {"detail": text}
    return value if isinstance(value, dict) else {"detail": value}


def _incident(row: Any) -> IncidentRecord:
    try:
        seeds = tuple(str(s) for s in json.loads(row.seeds or "[]"))
    except ValueError:
        seeds = ()
    return IncidentRecord(row.id, row.created_at, row.trigger, row.source, row.cutoff, seeds, row.status)


def _alert_of(conn: Connection, incident: IncidentRecord) -> list[EventRecord]:
    """The rows of the alert that opened `incident` (alert-triggered incidents only)."""
    if incident.trigger != "alert":
        return []
    rows = alert_rows(conn)
    matches = [
        r for r in rows
        if r.kind == "alert.accepted" and r.at <= incident.created_at
        and (d := _detail(r.detail)).get("since") == incident.cutoff
        and sorted(d.get("seeds") or []) == sorted(incident.seeds)
        and (d.get("source") or None) == (incident.source or None)
    ]  # fmt: skip
    if not matches:
        return []
    alert_id = matches[-1].incident_id
    return [EventRecord(r.at, r.kind, _detail(r.detail)) for r in rows if r.incident_id == alert_id]


def _grouped(conn: Connection, table: Any, column: Any, incident_id: str) -> dict[str, int]:
    query = select(column, func.count()).where(table.c.incident_id == incident_id).group_by(column)
    return {str(k): int(n) for k, n in conn.execute(query)}


def read_timeline(conn: Connection, incident_id: str) -> Timeline:
    """# 1. GET and # 2. BUILD. Raises InputError for an incident the ledger does not know."""
    incident = _incident(ledger.get_incident(conn, incident_id))
    events = [EventRecord(r.at, r.kind, _detail(r.detail)) for r in ledger.incident_story(conn, incident_id)]
    holds = [
        HoldRecord(h.login, h.state, h.created_at, h.verified_at, h.released_at, h.relocks)
        for h in ledger.list_holds(conn, incident_id)
    ]
    actions: dict[str, dict[str, int]] = {}
    for (action, state), n in ledger.action_counts(conn, incident_id).items():
        name = action.split(":")[0]  # unenroll_factor:<id> and relock:<n> are counted together
        actions.setdefault(name, {})[state] = actions.get(name, {}).get(state, 0) + n
    return build_timeline(
        incident,
        events,
        alert_events=_alert_of(conn, incident),
        holds=holds,
        findings_by_tier=_grouped(conn, findings, findings.c.tier, incident_id),
        actions=actions,
        verifications=_grouped(conn, verifications, verifications.c.outcome, incident_id),
        messages=_grouped(conn, outbox, outbox.c.state, incident_id),
    )


def load_timeline(engine: Engine, incident_id: str) -> Timeline:
    with transaction(engine) as conn:
        return read_timeline(conn, incident_id)


@flow(name="timeline")
async def timeline(incident: str, config_file: str | None = None) -> dict[str, Any]:
    """Deployment and CLI entry point: the timeline as JSON, and as the `holdfast-timeline` Markdown artifact."""
    settings = load_settings(Path(config_file) if config_file else None)
    engine = make_engine(settings.store.url)
    try:
        migrate(engine)
        result = load_timeline(engine, incident)
    finally:
        engine.dispose()
    # 3. PUBLISH
    await create_markdown_artifact(  # type: ignore[misc]
        markdown=to_markdown(result), key="holdfast-timeline", description=f"Incident {incident}: timeline"
    )
    return result.as_dict()
