"""Messages holdfast posts to Slack. Every Web API call goes through `_call`, the one place where
slack_sdk's SlackApiError (and a connection that stays down after the client's retries) becomes
config.errors.ProviderError.

The evidence anchor: on schedule the ingest posts each source's chain head (seq and hash) to the IT
channel, a record outside the database and outside holdfast's host that a database administrator cannot
rewrite (https://docs.slack.dev/reference/methods/chat.postMessage).
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from config.errors import ProviderError
from store.anchors import Anchor

T = TypeVar("T")


def _call(method: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except SlackApiError as err:
        response: Any = err.response
        code = str(response.get("error") or "error") if response is not None else "error"
        status = int(response.status_code) if response is not None else None
        raise ProviderError(
            "slack", f"{method} failed", status=status, code=code, retryable=status == 429 or (status or 0) >= 500
        ) from None
    except OSError as err:  # URLError, timeouts, resets: slack_sdk's own retries are spent by now
        raise ProviderError("slack", f"{method}: connection failed ({type(err).__name__})", retryable=True) from None


def anchor_text(heads: Mapping[str, tuple[int, str]], at: str) -> str:
    """One line per source, `source seq=<n> sha256=<hash>`, in a code block so nothing reformats it."""
    lines = [f"{source} seq={seq} sha256={digest}" for source, (seq, digest) in sorted(heads.items())]
    return (
        f"holdfast evidence anchor {at}: the evidence chain heads as of this ingest. "
        "`holdfast evidence verify` checks the store against them.\n```\n" + "\n".join(lines) + "\n```"
    )


def post_anchor(client: WebClient, channel: str, heads: Mapping[str, tuple[int, str]], *, at: str = "") -> str:
    """Post the chain heads (source -> (seq, hash)) to `channel`; returns the message ts."""
    text = anchor_text(heads, at)
    response = _call("chat.postMessage", lambda: client.chat_postMessage(channel=channel, text=text, mrkdwn=True))
    return str(response["ts"])


_ANCHOR_MESSAGE = re.compile(r"holdfast evidence anchor (\S*): ")
_ANCHOR_LINE = re.compile(r"^(\S+) seq=(\d+) sha256=([0-9a-f]{64})$", re.MULTILINE)


def posted_anchors(client: WebClient, channel: str) -> list[Anchor]:
    """The chain heads holdfast's own bot posted to `channel` (post_anchor), oldest first, as anchors of kind
    "slack". Messages by anyone else are ignored: only the bot's count as its record."""
    me = _call("auth.test", client.auth_test).get("user_id")
    found: list[Anchor] = []
    for message in history(client, channel):
        text = str(message.get("text") or "")
        head = _ANCHOR_MESSAGE.match(text)
        if message.get("user") != me or head is None:
            continue
        at = head.group(1) or str(message.get("ts"))
        found.extend(
            Anchor(at, s, int(seq), int(seq), digest, "slack") for s, seq, digest in _ANCHOR_LINE.findall(text)
        )
    return found[::-1]


# --- outbox delivery (notify, hold, release) ---------------------------------------------------------------
# Added for the Slack outbox (flows/notify.py); post_anchor above is unchanged.


def slack_call(method: str, fn: Callable[[], T]) -> T:
    """Run one Web API call, turning slack_sdk's errors into ProviderError (public use of `_call`)."""
    return _call(method, fn)


def posting_client(client: WebClient) -> WebClient:
    """`client` without blind retries for chat.postMessage: only 429 (Slack did not take the message) is
    retried by the SDK. A dropped connection or a 5xx may come after Slack stored the message, so the outbox
    decides (history check first) instead of the SDK reposting (https://docs.slack.dev/tools/python-slack-sdk/web#retries).
    """
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    clone = copy.copy(client)
    clone.retry_handlers = [h for h in client.retry_handlers if isinstance(h, RateLimitErrorRetryHandler)]
    return clone


def post_message(client: WebClient, channel: str, text: str, blocks: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """chat.postMessage with Block Kit; returns (channel id, ts) (https://docs.slack.dev/reference/methods/chat.postMessage)."""
    response = _call(
        "chat.postMessage",
        lambda: client.chat_postMessage(channel=channel, text=text, blocks=[dict(b) for b in blocks]),
    )
    return str(response["channel"]), str(response["ts"])


def history(
    client: WebClient, channel: str, *, oldest: float | None = None, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """Messages of a conversation, newest first, following next_cursor
    (https://docs.slack.dev/reference/methods/conversations.history); stops after `limit` messages."""
    cursor: str | None = None
    seen = 0
    while True:
        kwargs: dict[str, Any] = {"channel": channel, "limit": 200}
        if oldest is not None:
            kwargs["oldest"] = f"{oldest:.6f}"
        if cursor:
            kwargs["cursor"] = cursor
        response = _call("conversations.history", functools.partial(client.conversations_history, **kwargs))
        for message in response.get("messages") or []:
            yield message
            seen += 1
            if limit is not None and seen >= limit:
                return
        cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        if not response.get("has_more") or not cursor:
            return


def find_message(client: WebClient, channel: str, block_id: str, *, oldest: float) -> str | None:
    """The ts of the message in `channel` since `oldest` (epoch seconds) carrying a block with `block_id`."""
    for message in history(client, channel, oldest=oldest):
        blocks = message.get("blocks") or []
        if any(isinstance(b, dict) and b.get("block_id") == block_id for b in blocks):
            return str(message["ts"])
    return None


# --- the scheduled re-audit's summary (flows/reaudit.py) -----------------------------------------------------


def post_summary(client: WebClient, channel: str, text: str) -> str:
    """Post a plain mrkdwn summary to `channel` (the daily re-audit); returns the message ts
    (https://docs.slack.dev/reference/methods/chat.postMessage)."""
    response = _call("chat.postMessage", lambda: client.chat_postMessage(channel=channel, text=text, mrkdwn=True))
    return str(response["ts"])
