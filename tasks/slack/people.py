"""Finding a person on Slack and opening the bot's direct-message conversation with them.

- users.lookupByEmail (https://docs.slack.dev/reference/methods/users.lookupByEmail): `users_not_found`
  means the workspace has no member with that address: the person cannot be notified on Slack (None).
- conversations.open (https://docs.slack.dev/reference/methods/conversations.open) with `users=<id>`: the
  1:1 DM channel, the same one every time; `user_not_found` / `user_disabled` (deactivated member): None.
Every other error is a ProviderError (tasks.slack.messages.slack_call), retryable or not by its type.
Scopes: users:read.email, im:write, chat:write; the outbox's history check reads im:history and
channels:history (groups:history for a private IT channel).
"""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk import WebClient

from config.errors import ProviderError
from tasks.slack.messages import slack_call

NO_USER = frozenset({"users_not_found", "user_not_found"})
NO_DM = frozenset({"user_not_found", "user_disabled"})


@dataclass(frozen=True)
class SlackPerson:
    user_id: str
    real_name: str | None
    first_name: str | None
    deleted: bool


def lookup_by_email(client: WebClient, email: str) -> SlackPerson | None:
    """The workspace member with this email address, or None if there is none."""
    try:
        response = slack_call("users.lookupByEmail", lambda: client.users_lookupByEmail(email=email))
    except ProviderError as err:
        if err.code in NO_USER:
            return None
        raise
    user = response["user"]
    profile = user.get("profile") or {}
    return SlackPerson(
        user_id=str(user["id"]),
        real_name=profile.get("real_name") or user.get("real_name"),
        first_name=profile.get("first_name"),
        deleted=bool(user.get("deleted")),
    )


def open_dm(client: WebClient, user_id: str) -> str | None:
    """The bot's DM channel id with the member, or None if the member is gone or deactivated."""
    try:
        response = slack_call("conversations.open", lambda: client.conversations_open(users=user_id))
    except ProviderError as err:
        if err.code in NO_DM:
            return None
        raise
    return str(response["channel"]["id"])
