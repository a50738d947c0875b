"""Chain heads anchored in the IT Slack channel on schedule, through the real slack_sdk against the fake."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from config.errors import ProviderError
from config.settings import load_settings
from flows.ingest import ingest
from sandbox.org import Org
from sandbox.server import SLACK_IT_CHANNEL, SandboxServer
from store.anchors import read_anchors
from store.db import make_engine, transaction
from store.evidence import chain_head
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
