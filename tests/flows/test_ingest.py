"""Ingest against the sandbox through the real okta SDK: polling, cursors, overlap, faults, rate limits."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import select

from config.settings import Settings, load_settings
from flows.ingest import ingest
from sandbox.knobs import Knobs
from sandbox.okta.ratelimit import Bucket
from sandbox.org import Org
from sandbox.server import SandboxServer
from store.anchors import read_anchors
from store.db import make_engine, transaction
from store.schema import evidence_events
from store.verify import verify_all
from tests.factories import add_log_events, settings_file


def configure(server: SandboxServer, folder: Path, **extra: str) -> tuple[str, Settings]:
    path = settings_file(server, folder, **extra)
    return str(path), load_settings(path, environ={})


def run(config: str) -> dict[str, Any]:
    """One run of the ingest flow, as the deployment runs it; returns the Okta source's summary."""
    summary: dict[str, Any] = asyncio.run(ingest(config_file=config))
    okta: dict[str, Any] = summary["sources"][0]
    return okta


def stored_uuids(settings: Settings) -> list[str]:
    engine = make_engine(settings.store.url)
    with transaction(engine) as conn:
        rows = conn.execute(select(evidence_events.c.uuid).where(evidence_events.c.source == "okta"))
        return [r.uuid for r in rows]


def chains_intact(settings: Settings) -> bool:
    engine = make_engine(settings.store.url)
    with transaction(engine) as conn:
        reports = verify_all(conn, read_anchors(settings.store.resolved_anchor_file()))
    return bool(reports) and all(r.ok for r in reports)


def test_backfill_stores_every_event_exactly_once_across_page_borders(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    uuids = add_log_events(org, 2_500)
    config, settings = configure(sandbox, tmp_path)
    okta = run(config)
    assert okta["status"] == "ok"
    assert okta["counts"]["pages"] == 4  # 1000 + 1000 + 500 + the empty page that says "caught up"
    assert sorted(stored_uuids(settings)) == sorted(uuids)
    assert chains_intact(settings)


def test_the_next_run_resumes_at_the_cursor_and_stores_only_new_events(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    first = add_log_events(org, 1_200)
    config, settings = configure(sandbox, tmp_path)
    run(config)
    second = add_log_events(org, 300)
    assert run(config)["counts"]["stored"] == 300
    assert sorted(stored_uuids(settings)) == sorted(first + second)
    assert chains_intact(settings)


def test_overlapping_runs_neither_duplicate_nor_lose_events(org: Org, sandbox: SandboxServer, tmp_path: Path) -> None:
    uuids = add_log_events(org, 3_000)
    config, settings = configure(sandbox, tmp_path)

    async def two_at_once() -> None:
        await asyncio.gather(ingest(config_file=config), ingest(config_file=config))

    asyncio.run(two_at_once())
    stored = stored_uuids(settings)
    assert len(stored) == len(set(stored)) == 3_000
    assert set(stored) == set(uuids)
    assert chains_intact(settings)


def test_dropped_connections_and_server_errors_are_retried_without_loss(
    org: Org, knobs: Knobs, sandbox: SandboxServer, tmp_path: Path
) -> None:
    uuids = add_log_events(org, 2_000)
    knobs.set("okta.logs", fault_rate=0.4, faults=("500", "503", "drop", "drop_after"))
    config, settings = configure(sandbox, tmp_path, HOLDFAST_OKTA__RETRIES="10")
    assert run(config)["status"] == "ok"
    assert sum(v for k, v in knobs.injected.items() if k.startswith("okta.logs")) > 0
    assert sorted(stored_uuids(settings)) == sorted(uuids)


def test_a_page_that_keeps_failing_is_reported_and_the_next_run_finishes_the_job(
    org: Org, knobs: Knobs, sandbox: SandboxServer, tmp_path: Path
) -> None:
    uuids = add_log_events(org, 1_500)
    config, settings = configure(sandbox, tmp_path, HOLDFAST_OKTA__RETRIES="1")
    knobs.set("okta.logs", fault_rate=1.0, faults=("503",))
    failed = run(config)
    assert failed["status"] == "failed"
    assert "HTTP 503" in failed["error"]
    knobs.clear()
    assert run(config)["status"] == "ok"
    assert sorted(stored_uuids(settings)) == sorted(uuids)


def test_ingest_waits_for_the_logs_bucket_instead_of_hitting_429(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    add_log_events(org, 4_000)
    org.okta_rate_limits.logs = Bucket(2, window_s=1.0)
    config, _ = configure(sandbox, tmp_path, HOLDFAST_OKTA__RETRIES="0")
    okta = run(config)
    # With no retries allowed, a single 429 would fail the run: success means the limiter waited.
    assert okta["status"] == "ok"
    assert okta["counts"]["stored"] == 4_000


def test_malformed_events_served_by_okta_are_kept_raw_flagged_and_do_not_stop_ingest(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    good = add_log_events(org, 5)
    # Rows the fake serves verbatim: valid JSON, but not valid LogEvents.
    bad_bodies = ['{"uuid":"bad-1","published":12,"eventType":["x"]}', '{"uuid":"bad-2","target":"nobody"}']
    latest = org.system_log.latest_published()
    for n, body in enumerate(bad_bodies):
        org.system_log.insert_raw(f"bad-{n + 1}", latest or "", "user.session.start", body)
    config, settings = configure(sandbox, tmp_path)
    assert run(config)["status"] == "ok"
    engine = make_engine(settings.store.url)
    with transaction(engine) as conn:
        rows = {r.uuid: r for r in conn.execute(select(evidence_events))}
    assert set(good) <= set(rows)
    for n, body in enumerate(bad_bodies):
        row = rows[f"bad-{n + 1}"]
        assert row.raw == body
        assert "malformed" in row.flags
    assert chains_intact(settings)
