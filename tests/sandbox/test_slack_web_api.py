"""The fake Slack Web API, exercised through slack_sdk.WebClient over the sandbox CA."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.models.blocks import DividerBlock, SectionBlock

from sandbox.knobs import Knobs
from sandbox.org import Org
from sandbox.server import SLACK_IT_CHANNEL, SandboxServer
from tests.sandbox.google_slack_helpers import add_slack_person, slack_client


@pytest.fixture
def workspace(org: Org) -> Org:
    add_slack_person(org, "U0ALICE0001", "alice")
    add_slack_person(org, "U0BOB000001", "bob")
    add_slack_person(org, "U0GONE00001", "gone", deleted=True)
    org.add_slack_channel(SLACK_IT_CHANNEL, "it-secops")
    org.add_slack_channel("C0GENERAL01", "general", bot_member=False)
    return org


def slack_error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value


def test_auth_test_names_the_bot_and_the_workspace(workspace: Org, sandbox: SandboxServer) -> None:
    identity = slack_client(sandbox).auth_test()
    assert identity["ok"] is True
    assert identity["team"] == "holdfast sandbox"
    assert identity["user"] == "holdfast"
    assert identity["user_id"] == workspace.slack_bot_user_id
    assert identity["bot_id"] == workspace.slack_bot_id


def test_a_missing_token_is_not_authed_and_a_wrong_one_is_invalid(sandbox: SandboxServer) -> None:
    assert slack_error(slack_client(sandbox, token=None).auth_test).response["error"] == "not_authed"
    wrong = slack_client(sandbox, token="xoxb-not-the-one")
    error = slack_error(wrong.auth_test)
    assert error.response.status_code == 200
    assert error.response["error"] == "invalid_auth"


def test_users_are_found_by_email_case_insensitively(workspace: Org, sandbox: SandboxServer) -> None:
    client = slack_client(sandbox)
    found = client.users_lookupByEmail(email="Alice@Example.com")
    assert found["user"]["id"] == "U0ALICE0001"
    assert found["user"]["profile"]["email"] == "alice@example.com"
    missing = slack_error(lambda: client.users_lookupByEmail(email="nobody@example.com"))
    assert missing.response["error"] == "users_not_found"


def test_conversations_open_gives_one_stable_dm_channel_per_user(workspace: Org, sandbox: SandboxServer) -> None:
    client = slack_client(sandbox)
    first = client.conversations_open(users="U0ALICE0001")
    channel = first["channel"]["id"]
    assert channel.startswith("D")
    assert "already_open" not in first.data
    again = client.conversations_open(users=["U0ALICE0001"], return_im=True)
    assert again["channel"]["id"] == channel
    assert again["channel"]["is_im"] is True
    assert again["already_open"] is True
    assert workspace.slack_ims["U0ALICE0001"] == channel


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"users": "U0NOBODY001"}, "user_not_found"),
        ({"users": "U0GONE00001"}, "user_disabled"),
        ({}, "users_list_not_supplied"),
        ({"channel": "D0NOTOPEN01"}, "channel_not_found"),
    ],
)
def test_conversations_open_errors(workspace: Org, sandbox: SandboxServer, kwargs: dict[str, Any], error: str) -> None:
    client = slack_client(sandbox)

    def call() -> object:
        if kwargs:
            return client.conversations_open(**kwargs)
        # slack_sdk refuses to send this one itself; send it raw to see Slack's answer
        return client.api_call("conversations.open")

    assert slack_error(call).response["error"] == error


def test_a_dm_is_posted_stored_and_read_back(workspace: Org, sandbox: SandboxServer) -> None:
    client = slack_client(sandbox)
    dm = client.conversations_open(users="U0ALICE0001")["channel"]["id"]
    posted = client.chat_postMessage(
        channel=dm,
        text="Your account is on hold",
        blocks=[SectionBlock(text="*Your account is on hold*"), DividerBlock()],
    )
    assert posted["channel"] == dm
    assert posted["message"]["text"] == "Your account is on hold"
    assert posted["message"]["bot_id"] == workspace.slack_bot_id
    assert [b["type"] for b in posted["message"]["blocks"]] == ["section", "divider"]
    stored = workspace.slack_messages[-1]
    assert (stored.channel, stored.ts, stored.text) == (dm, posted["ts"], "Your account is on hold")
    history = client.conversations_history(channel=dm)
    assert [m["ts"] for m in history["messages"]] == [posted["ts"]]
    assert history["has_more"] is False


def test_posting_to_a_user_id_goes_to_the_bots_dm_with_them(workspace: Org, sandbox: SandboxServer) -> None:
    client = slack_client(sandbox)
    posted = client.chat_postMessage(channel="U0BOB000001", text="hello")
    assert posted["channel"] == workspace.slack_ims["U0BOB000001"]


def test_the_it_channel_takes_posts_by_id_or_name(workspace: Org, sandbox: SandboxServer) -> None:
    client = slack_client(sandbox)
    by_id = client.chat_postMessage(channel=SLACK_IT_CHANNEL, text="contained 3 accounts")
    by_name = client.chat_postMessage(channel="#it-secops", text="contained 4 accounts")
    assert by_id["channel"] == by_name["channel"] == SLACK_IT_CHANNEL
    assert float(by_name["ts"]) > float(by_id["ts"])


def test_history_pages_newest_first_with_a_cursor(workspace: Org, sandbox: SandboxServer) -> None:
    workspace.slack_limits.enabled = False
    client = slack_client(sandbox)
    posted = [client.chat_postMessage(channel=SLACK_IT_CHANNEL, text=f"update {n}")["ts"] for n in range(7)]
    seen: list[str] = []
    pages = 0
    for page in client.conversations_history(channel=SLACK_IT_CHANNEL, limit=3):
        pages += 1
        seen.extend(m["ts"] for m in page["messages"])
    assert pages == 3
    assert seen == list(reversed(posted))
    bad = slack_error(lambda: client.conversations_history(channel=SLACK_IT_CHANNEL, cursor="bm90IGEgY3Vyc29y"))
    assert bad.response["error"] == "invalid_cursor"


def test_chat_update_rewrites_a_posted_message(workspace: Org, sandbox: SandboxServer) -> None:
    client = slack_client(sandbox)
    posted = client.chat_postMessage(channel=SLACK_IT_CHANNEL, text="holding alice")
    updated = client.chat_update(channel=SLACK_IT_CHANNEL, ts=posted["ts"], text="released alice")
    assert updated["text"] == "released alice"
    assert workspace.slack_messages[-1].text == "released alice"
    missing = slack_error(lambda: client.chat_update(channel=SLACK_IT_CHANNEL, ts="1.000001", text="x"))
    assert missing.response["error"] == "message_not_found"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": "C0NOWHERE01", "text": "hi"}, "channel_not_found"),
        ({"channel": "#no-such-channel", "text": "hi"}, "channel_not_found"),
        ({"channel": "C0GENERAL01", "text": "hi"}, "not_in_channel"),
        ({"channel": SLACK_IT_CHANNEL}, "no_text"),
        ({"channel": SLACK_IT_CHANNEL, "text": ""}, "no_text"),
        ({"channel": SLACK_IT_CHANNEL, "text": "x" * 40_001}, "msg_too_long"),
        ({"channel": SLACK_IT_CHANNEL, "blocks": [{"type": "carousel"}]}, "invalid_blocks"),
        ({"channel": SLACK_IT_CHANNEL, "blocks": ["divider"]}, "invalid_blocks"),
        ({"channel": SLACK_IT_CHANNEL, "blocks": [{"type": "divider"}] * 51}, "invalid_blocks"),
        (
            {"channel": SLACK_IT_CHANNEL, "blocks": [{"type": "section", "text": {"type": "html", "text": "x"}}]},
            "invalid_blocks",
        ),
        ({"channel": SLACK_IT_CHANNEL, "blocks": {"type": "divider"}}, "invalid_blocks_format"),
    ],
)
@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing:UserWarning")
def test_post_message_errors(workspace: Org, sandbox: SandboxServer, kwargs: dict[str, Any], error: str) -> None:
    client = slack_client(sandbox)
    before = len(workspace.slack_messages)
    caught = slack_error(lambda: client.chat_postMessage(**kwargs))
    assert caught.response.status_code == 200
    assert caught.response["ok"] is False
    assert caught.response["error"] == error
    assert len(workspace.slack_messages) == before


def test_a_tier_limit_answers_429_with_retry_after(workspace: Org, sandbox: SandboxServer) -> None:
    workspace.slack_limits.method_per_minute["conversations.open"] = 2
    client = slack_client(sandbox)
    client.conversations_open(users="U0ALICE0001")
    client.conversations_open(users="U0BOB000001")
    limited = slack_error(lambda: client.conversations_open(users="U0ALICE0001"))
    assert limited.response.status_code == 429
    assert limited.response["error"] == "ratelimited"
    assert 1 <= int(limited.response.headers["Retry-After"]) <= 30
    # Other methods have their own buckets.
    assert client.users_lookupByEmail(email="bob@example.com")["ok"] is True


def test_post_message_is_limited_per_channel_and_the_sdk_retry_handler_recovers(
    workspace: Org, sandbox: SandboxServer
) -> None:
    workspace.slack_limits.post_message_burst = 1
    plain = slack_client(sandbox)
    plain.chat_postMessage(channel=SLACK_IT_CHANNEL, text="first")
    limited = slack_error(lambda: plain.chat_postMessage(channel=SLACK_IT_CHANNEL, text="second"))
    assert limited.response.status_code == 429
    assert limited.response.headers["Retry-After"] == "1"
    # Another channel is not held back by this one.
    assert plain.chat_postMessage(channel="U0ALICE0001", text="to alice")["ok"] is True
    patient = slack_client(sandbox, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])
    assert patient.chat_postMessage(channel=SLACK_IT_CHANNEL, text="second, after waiting")["ok"] is True
    assert [m.text for m in workspace.slack_messages if m.channel == SLACK_IT_CHANNEL] == [
        "first",
        "second, after waiting",
    ]


def test_a_workspace_wide_post_limit_can_be_switched_on(workspace: Org, sandbox: SandboxServer) -> None:
    workspace.slack_limits.post_message_workspace_per_minute = 2
    client = slack_client(sandbox)
    client.chat_postMessage(channel="U0ALICE0001", text="one")
    client.chat_postMessage(channel="U0BOB000001", text="two")
    limited = slack_error(lambda: client.chat_postMessage(channel=SLACK_IT_CHANNEL, text="three"))
    assert limited.response.status_code == 429


def test_injected_server_errors_reach_the_client_as_5xx(workspace: Org, sandbox: SandboxServer, knobs: Knobs) -> None:
    knobs.set("slack.chat.postMessage", fault_rate=1.0, faults=("500",))
    client = slack_client(sandbox)
    failed = slack_error(lambda: client.chat_postMessage(channel=SLACK_IT_CHANNEL, text="lost"))
    assert failed.response.status_code == 500
    assert failed.response["error"] == "internal_error"
    assert workspace.slack_messages == []
    assert client.auth_test()["ok"] is True  # other routes unaffected
    knobs.clear()
    assert client.chat_postMessage(channel=SLACK_IT_CHANNEL, text="delivered")["ok"] is True


def test_unknown_methods_are_reported(sandbox: SandboxServer) -> None:
    error = slack_error(lambda: slack_client(sandbox).api_call("chat.postTelegram"))
    assert error.response["error"] == "unknown_method"
