"""Chain heads anchored in the IT Slack channel on schedule, and read back by `holdfast evidence verify --slack`,
through the real slack_sdk against the fake."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select
from typer.testing import CliRunner

from cli.main import app
from config.errors import ProviderError, TamperDetected
from config.settings import Settings, load_settings
from flows.ingest import ingest
from sandbox.org import Org, SlackMessage
from sandbox.server import SLACK_IT_CHANNEL, SandboxServer
from store.anchors import Anchor, read_anchors, write_anchor
from store.db import make_engine, transaction
from store.evidence import _record_from_row, append, chain_head
from store.schema import evidence_events
from tasks.slack.clients import slack_client
from tasks.slack.messages import post_anchor
from tests.factories import add_log_events, settings_file


def run(config: str, **parameters: Any) -> dict[str, Any]:
    summary: dict[str, Any] = asyncio.run(ingest(config_file=config, **parameters))
    return summary


def test_the_scheduled_ingest_posts_each_sources_chain_head_to_the_it_channel(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    org.add_slack_channel(SLACK_IT_CHANNEL, "it-secops")
    add_log_events(org, 1_500)
    path = settings_file(sandbox, tmp_path)
    summary = run(str(path), post_anchor_to_slack=True)
    [message] = org.slack_messages
    assert message.channel == SLACK_IT_CHANNEL
    assert summary["slack_anchor"] == {
        "channel": SLACK_IT_CHANNEL,
        "heads": {"okta": 1_500},
        "ts": message.ts,
        "error": None,
    }
    settings = load_settings(path, environ={})
    engine = make_engine(settings.store.url)
    with transaction(engine) as conn:
        seq, digest = chain_head(conn, "okta")
    engine.dispose()
    assert re.search(rf"^okta seq={seq} sha256={digest}$", message.text, re.MULTILINE)
    # The same head the anchor file holds: two independent copies outside the database.
    assert read_anchors(settings.store.resolved_anchor_file())[-1].head_hash == digest


def test_without_the_schedule_flag_nothing_is_posted(org: Org, sandbox: SandboxServer, tmp_path: Path) -> None:
    org.add_slack_channel(SLACK_IT_CHANNEL, "it-secops")
    add_log_events(org, 10)
    summary = run(str(settings_file(sandbox, tmp_path)))
    assert org.slack_messages == []
    assert "slack_anchor" not in summary


def test_a_slack_failure_is_reported_and_does_not_fail_the_ingest(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    org.add_slack_channel(SLACK_IT_CHANNEL, "it-secops", bot_member=False)  # the bot was removed from the channel
    add_log_events(org, 20)
    summary = run(str(settings_file(sandbox, tmp_path)), post_anchor_to_slack=True)
    assert summary["ok"]
    assert summary["sources"][0]["counts"]["stored"] == 20
    assert summary["slack_anchor"]["ts"] is None
    assert "not_in_channel" in summary["slack_anchor"]["error"]


def test_post_anchor_turns_slack_api_errors_into_provider_errors(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    settings = load_settings(settings_file(sandbox, tmp_path), environ={})
    assert settings.slack is not None
    client = slack_client(settings.slack)
    with pytest.raises(ProviderError, match=r"chat\.postMessage failed.*channel_not_found") as caught:
        post_anchor(client, "C0NOSUCH", {"okta": (3, "ab" * 32)})
    assert caught.value.provider == "slack" and caught.value.code == "channel_not_found"


def _rewrite_chain_and_anchor_file(settings: Settings, *, changed_seq: int) -> None:
    """What someone with the database and this host could do: rewrite one record, recompute every hash after
    it, and rewrite the anchor file to match. Only a copy off the host can tell."""
    engine = make_engine(settings.store.url)
    with transaction(engine, write=True) as conn:
        rows = conn.execute(select(evidence_events).order_by(evidence_events.c.seq)).all()
        conn.execute(delete(evidence_events))
        records = [_record_from_row(r) for r in rows]
        records[changed_seq - 1] = records[changed_seq - 1]._replace(client_ip="198.51.100.99")
        result = append(conn, "okta", records, ingested_at=rows[0].ingested_at)
    engine.dispose()
    anchor_file = settings.store.resolved_anchor_file()
    anchor_file.write_text("")
    write_anchor(anchor_file, Anchor("2026-12-04T10:00:00.000Z", "okta", 1, result.head_seq, result.head_hash))


def test_verify_with_slack_catches_a_chain_rewritten_together_with_the_anchor_file(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    org.add_slack_channel(SLACK_IT_CHANNEL, "it-secops")
    add_log_events(org, 300)
    path = settings_file(sandbox, tmp_path)
    run(str(path), post_anchor_to_slack=True)
    # Someone else posts a lookalike anchor in the channel: only the bot's own messages count.
    fake = "holdfast evidence anchor 2026-12-04T11:00:00.000Z: x\n```\nokta seq=300 sha256=" + "0" * 64 + "\n```"
    org.slack_messages.append(SlackMessage(SLACK_IT_CHANNEL, "9999999999.000001", fake, None, org.now(), "U0PERSON"))
    intact = CliRunner().invoke(app, ["evidence", "verify", "--config", str(path), "--slack"])
    assert intact.exit_code == 0, intact.output
    assert "1 chain heads posted to Slack" in intact.output

    _rewrite_chain_and_anchor_file(load_settings(path, environ={}), changed_seq=120)
    local = CliRunner().invoke(app, ["evidence", "verify", "--config", str(path)])
    assert local.exit_code == 0, local.output  # the database and the anchor file agree with each other
    remote = CliRunner().invoke(app, ["evidence", "verify", "--config", str(path), "--slack"])
    assert remote.exit_code == TamperDetected.exit_code
    assert "okta record seq 300 differs from the chain head posted to Slack" in " ".join(remote.output.split())
