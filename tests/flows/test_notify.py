"""The Slack outbox against the fake Slack through the real slack_sdk: one DM per person, one IT summary,
and exactly once through outages, lost answers, crashes and rate limits."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from cli.holds_cmd import app
from flows.notify import DrainSummary, drain, notify, notify_contained
from playbook.models import Plan
from sandbox.knobs import Knobs
from sandbox.org import Org, UserStatus
from sandbox.server import SLACK_IT_CHANNEL, SandboxServer
from store import outbox as box
from store.db import transaction
from store.outbox import OutboxState
from store.schema import outbox as outbox_table
from tasks.slack.clients import slack_client
from tests.factories import add_people
from tests.flows.hold_fixtures import (
    World,
    age_factors,
    build_world,
    contain,
    give_slack,
    respond,
    support_reset_events,
)


def notify_after(world: World, plan: Plan) -> DrainSummary:
    return asyncio.run(notify_contained(world.settings, world.policy, world.engine, plan))


def drain_now(world: World, **kwargs: object) -> DrainSummary:
    assert world.settings.slack is not None
    client = slack_client(world.settings.slack, max_retries=1)
    return drain(world.engine, client, world.policy, **kwargs)  # type: ignore[arg-type]


def delivered(org: Org) -> Counter[tuple[str, str]]:
    """(channel, marker block_id) of every message the fake Slack stored."""
    with org.lock:
        return Counter((m.channel, str((m.blocks or [{}])[-1].get("block_id"))) for m in org.slack_messages)


def test_each_contained_person_gets_one_dm_and_it_one_summary_naming_who_has_no_slack(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    world = build_world(org, sandbox, tmp_path)
    ids = add_people(org, 4)
    give_slack(org, ids[:3])
    plan = contain(world, ids)
    summary = notify_after(world, plan)
    assert (summary.sent, summary.undeliverable, summary.waiting, summary.stopped) == (
        4,
        [world.login(ids[3])],
        0,
        None,
    )
    for uid in ids[:3]:
        [dm] = world.dms(world.login(uid))
        assert dm.text.startswith("Hi User,") and "INC-TEST-0001" in dm.text
        assert dm.blocks is not None and dm.blocks[0]["type"] == "header"
    [it] = world.it_messages()
    assert "4 accounts contained (critical 4)" in it.text
    assert world.login(ids[3]) in str(it.blocks) and "No Slack user" in str(it.blocks)

    # a second pass, and a second enqueue (a rerun of respond), send nothing more
    before = len(org.slack_messages)
    assert notify_after(world, plan).sent == 0
    assert len(org.slack_messages) == before
    with transaction(world.engine) as conn:
        states = Counter(r.state for r in box.list_outbox(conn))
    assert states == {OutboxState.SENT: 4, OutboxState.UNDELIVERABLE: 1}


def test_a_slack_outage_during_respond_never_blocks_containment_and_recovery_delivers_every_message_once(
    org: Org, knobs: Knobs, sandbox: SandboxServer, tmp_path: Path
) -> None:
    world = build_world(org, sandbox, tmp_path)
    ids = add_people(org, 4)
    give_slack(org, ids)
    age_factors(org, ids)
    support_reset_events(org, ids, datetime.now(UTC) - timedelta(days=2))
    knobs.set("slack.", fault_rate=1.0, faults=("503", "drop"))
    result = respond(world, accounts=len(ids))
    assert not result.containment.failed
    assert all(org.users[uid].status is UserStatus.SUSPENDED for uid in ids)
    assert org.slack_messages == []
    assert any("stopped early" in note for note in result.notes)

    knobs.clear()
    sent = CliRunner().invoke(app, ["notify", "--config", str(world.config)], env={"COLUMNS": "200"})
    assert sent.exit_code == 0 and "slack: 5 sent" in sent.output, sent.output
    assert all(n == 1 for n in delivered(org).values()) and len(delivered(org)) == 5
    for uid in ids:
        assert len(world.dms(world.login(uid))) == 1
    assert len(world.it_messages()) == 1
    assert asyncio.run(notify(config_file=str(world.config)))["sent"] == 0


def test_a_post_whose_answer_is_lost_is_found_in_slack_and_not_posted_again(
    org: Org, knobs: Knobs, sandbox: SandboxServer, tmp_path: Path
) -> None:
    world = build_world(org, sandbox, tmp_path)
    ids = add_people(org, 3)
    give_slack(org, ids)
    plan = contain(world, ids)
    # Slack stores every message, then the connection drops before the answer arrives.
    knobs.set("slack.chat.postMessage", fault_rate=1.0, faults=("drop_after",))
    summary = notify_after(world, plan)
    assert (summary.sent, summary.recovered, summary.waiting) == (0, 4, 0)
    assert len(org.slack_messages) == 4 and all(n == 1 for n in delivered(org).values())
    with transaction(world.engine) as conn:
        rows = box.list_outbox(conn)
    by_ts = {m.ts for m in org.slack_messages}
    assert all(r.state is OutboxState.SENT and r.slack_ts in by_ts for r in rows)


def test_after_a_crash_between_posting_and_recording_the_next_drain_does_not_post_again(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    world = build_world(org, sandbox, tmp_path)
    ids = add_people(org, 2)
    give_slack(org, ids)
    plan = contain(world, ids)
    notify_after(world, plan)
    with transaction(world.engine) as conn:
        sent = {r.id: r.slack_ts for r in box.list_outbox(conn)}
    # As if the process died after chat.postMessage returned and before the outcome was committed.
    with transaction(world.engine, write=True) as conn:
        conn.execute(update(outbox_table).values(state="sending", claimed_at=None, sent_at=None, slack_ts=None))
    summary = drain_now(world)
    assert (summary.sent, summary.recovered) == (0, 3)
    assert len(org.slack_messages) == 3
    with transaction(world.engine) as conn:
        assert {r.id: r.slack_ts for r in box.list_outbox(conn)} == sent


def test_a_message_claimed_moments_ago_by_another_drainer_is_left_to_it(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    world = build_world(org, sandbox, tmp_path)
    ids = add_people(org, 1)
    give_slack(org, ids)
    plan = contain(world, ids)
    with transaction(world.engine, write=True) as conn:
        from flows.notify import enqueue_incident
        from store.holds import list_holds

        enqueue_incident(conn, incident_id=plan.incident_id, it_channel=SLACK_IT_CHANNEL, plan=plan,
                         holds=list_holds(conn), failed=0, now=datetime.now(UTC))  # fmt: skip
        [notice] = box.list_outbox(conn, kinds=["notice"])
        assert box.claim(conn, notice, datetime.now(UTC))  # another drainer is posting it right now
    summary = drain_now(world)
    assert summary.sent == 1 and world.dms(world.login(ids[0])) == []  # only the IT summary went out
    # Once that claim is stale (the other drainer died), the message is checked for and sent once.
    later = drain_now(world, clock=lambda: datetime.now(UTC) + timedelta(minutes=11))
    assert later.sent == 1 and len(world.dms(world.login(ids[0]))) == 1


def test_a_person_found_without_slack_after_the_summary_went_out_is_reported_to_it_once(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    world = build_world(org, sandbox, tmp_path)
    ids = add_people(org, 3)
    give_slack(org, ids[:2])
    notify_after(world, contain(world, ids[:2]))
    assert len(world.it_messages()) == 1
    # A rerun contains one more account (no Slack user): IT hears about it in a follow-up, once.
    plan = contain(world, ids)
    for _ in range(2):
        notify_after(world, plan)
    first, follow_up = world.it_messages()
    assert world.login(ids[2]) not in first.text
    assert world.login(ids[2]) in follow_up.text and "could not notify" in follow_up.text


def test_rate_limited_slack_delays_messages_without_losing_or_repeating_any(
    org: Org, sandbox: SandboxServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="slack_sdk")
    world = build_world(org, sandbox, tmp_path)
    ids = add_people(org, 4)
    give_slack(org, ids)
    plan = contain(world, ids)
    # Two lookups per (shortened) minute: the SDK waits out Retry-After once, then the pass stops.
    org.slack_limits.time_scale = 0.02
    org.slack_limits.method_per_minute["users.lookupByEmail"] = 2
    summaries = [notify_after(world, plan)]
    while summaries[-1].waiting and len(summaries) < 8:
        summaries.append(drain_now(world))
    assert summaries[-1].waiting == 0
    assert sum(s.sent for s in summaries) == 5
    assert len(org.slack_messages) == 5 and all(n == 1 for n in delivered(org).values())
    assert any("RateLimitErrorRetryHandler" in r.getMessage() for r in caplog.records)  # Slack did answer 429


@pytest.mark.postgres
def test_the_outbox_is_exactly_once_on_postgresql_too(
    org: Org, sandbox: SandboxServer, tmp_path: Path, pg_url: str
) -> None:
    world = build_world(org, sandbox, tmp_path, HOLDFAST_STORE__URL=pg_url)
    assert world.engine.dialect.name == "postgresql"
    ids = add_people(org, 2)
    give_slack(org, ids)
    plan = contain(world, ids)
    assert notify_after(world, plan).sent == 3
    with transaction(world.engine, write=True) as conn:
        conn.execute(update(outbox_table).values(state="sending", claimed_at=None))
    assert notify_after(world, plan).recovered == 3  # enqueued again (nothing new), found in Slack, not re-sent
    assert len(org.slack_messages) == 3
    world.engine.dispose()
