"""Slack messages holdfast sends, as Block Kit payloads built from the policy's templates. Pure, no I/O.

Never a secret: no reset link, token or password is ever passed in, and `_no_secrets` refuses text that looks
like one (defence in depth: a template edited to include a link would fail loudly, not leak).

Every payload ends with a context block whose `block_id` is the message's marker, derived from its outbox key
(incident, recipient, kind). Slack returns blocks with their block_id in conversations.history
(https://docs.slack.dev/reference/methods/conversations.history), so after a crash between chat.postMessage
and recording the outcome, the drainer can tell whether the message is already there before posting again.
(Slack's message metadata is the other documented carrier; block_id works on every message and the sandbox.)
Block Kit limits honoured: at most 50 blocks, section text at most 3000 characters
(https://docs.slack.dev/reference/block-kit/blocks).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from config.errors import ConfigError
from config.policy import TIER_ORDER, Templates

MAX_SECTION = 3000
MAX_LISTED = 40  # accounts listed by name in one IT message; the rest are counted
_SECRET_LIKE = re.compile(r"reset_password/|resetPasswordUrl|/welcome/|xox[abp]-|SSWS\s", re.IGNORECASE)


class Kind(StrEnum):
    """Outbox kinds. Per-account IT kinds carry the account's Okta id: '<kind>:<user id>[:<n>]'."""

    NOTICE = "notice"  # DM: your account is suspended as a precaution, book the call
    RELEASED = "released"  # DM: your account is active again
    IT_SUMMARY = "it_summary"  # IT channel: the incident in numbers
    IT_RELEASED = "it_released"  # IT channel: one hold released
    IT_RELOCK = "it_relock"  # IT channel: a held account was found unsuspended and suspended again
    IT_NO_SLACK = "it_no_slack"  # IT channel: a person found to have no Slack user after the summary went out


PERSON_KINDS = frozenset({Kind.NOTICE.value, Kind.RELEASED.value})


def kind_of(kind: str) -> Kind:
    return Kind(kind.split(":", 1)[0])


def marker(incident_id: str, recipient: str, kind: str) -> str:
    """The block_id that identifies this outbox message in Slack (stable, no personal data in clear)."""
    digest = hashlib.sha256(f"{incident_id}\n{recipient.lower()}\n{kind}".encode()).hexdigest()[:32]
    return f"holdfast-{digest}"


@dataclass(frozen=True)
class SlackPayload:
    text: str  # the notification / fallback text
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


@dataclass(frozen=True)
class IncidentSummary:
    """What the IT channel is told when containment ends (tiers of the contained accounts)."""

    incident_id: str
    contained_by_tier: Mapping[str, int]
    failed: int = 0
    manual: Sequence[tuple[str, str]] = ()  # (login, why) holdfast did not touch
    skipped: int = 0
    no_slack: Sequence[str] = ()  # logins with no Slack user: IT reaches them another way
    notices_waiting: int = 0  # notices not yet delivered (Slack errors): retried by the next drain

    @property
    def contained(self) -> int:
        return sum(self.contained_by_tier.values())


class _Params(dict[str, str]):
    def __missing__(self, key: str) -> str:
        raise ConfigError(
            f"policy templates: unknown placeholder {{{key}}}; use {', '.join('{' + k + '}' for k in self)}"
        )


def _fill(template: str, **params: str) -> str:
    try:
        return template.format_map(_Params(params))
    except (ValueError, IndexError) as err:
        raise ConfigError(f"policy templates: a template is malformed ({err})") from None


def _no_secrets(payload: SlackPayload) -> SlackPayload:
    if _SECRET_LIKE.search(payload.text) or any(_SECRET_LIKE.search(str(b)) for b in payload.blocks):
        raise ValueError("refusing to build a Slack message that looks like it carries a secret")
    return payload


def _section(text: str) -> dict[str, Any]:
    if len(text) > MAX_SECTION:
        text = text[: MAX_SECTION - 2] + " …"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}


def _footer(mark: str, incident_id: str) -> dict[str, Any]:
    return {
        "type": "context",
        "block_id": mark,
        "elements": [{"type": "mrkdwn", "text": f"holdfast · incident {incident_id}"}],
    }


def _listing(title: str, lines: Sequence[str]) -> dict[str, Any]:
    shown = [f"• {line}" for line in lines[:MAX_LISTED]]
    if len(lines) > MAX_LISTED:
        shown.append(f"… and {len(lines) - MAX_LISTED} more (`holdfast holds` lists them all)")
    return _section(f"*{title}*\n" + "\n".join(shown))


def counts_line(summary: IncidentSummary) -> str:
    """'12 accounts contained (critical 3, high 4, medium 5); 2 for manual handling; 1 failed'."""
    tiers = ", ".join(
        f"{tier.value} {summary.contained_by_tier[tier.value]}"
        for tier in TIER_ORDER
        if summary.contained_by_tier.get(tier.value)
    )
    parts = [f"{summary.contained} accounts contained" + (f" ({tiers})" if tiers else "")]
    if summary.manual:
        parts.append(f"{len(summary.manual)} for manual handling")
    if summary.failed:
        parts.append(f"{summary.failed} failed (`holdfast respond --resume {summary.incident_id}` retries)")
    if summary.skipped:
        parts.append(f"{summary.skipped} needed nothing (cannot sign in)")
    if summary.no_slack:
        parts.append(f"{len(summary.no_slack)} with no Slack user")
    return "; ".join(parts)


def person_notice(templates: Templates, *, first_name: str, incident_id: str, mark: str) -> SlackPayload:
    text = _fill(
        templates.person_notice, first_name=first_name, incident_id=incident_id, booking_url=templates.booking_url
    )
    return _no_secrets(
        SlackPayload(
            text=text,
            blocks=[
                _header("Your account is suspended as a precaution"),
                _section(text),
                _section(f"*Book your verification call:* <{templates.booking_url}|{templates.booking_url}>"),
                _footer(mark, incident_id),
            ],
        )
    )


def person_released(templates: Templates, *, first_name: str, incident_id: str, mark: str) -> SlackPayload:
    text = _fill(
        templates.person_released, first_name=first_name, incident_id=incident_id, booking_url=templates.booking_url
    )
    return _no_secrets(
        SlackPayload(
            text=text, blocks=[_header("Your account is active again"), _section(text), _footer(mark, incident_id)]
        )
    )


def it_summary(templates: Templates, summary: IncidentSummary, *, mark: str) -> SlackPayload:
    counts = counts_line(summary)
    text = _fill(
        templates.it_summary, incident_id=summary.incident_id, counts=counts, booking_url=templates.booking_url
    )
    blocks = [_header(f"holdfast: incident {summary.incident_id}"), _section(text)]
    if summary.manual:
        blocks.append(
            _listing("Manual handling (holdfast did not touch these)", [f"{a}: {w}" for a, w in summary.manual])
        )
    if summary.no_slack:
        blocks.append(_listing("No Slack user: reach these people another way", list(summary.no_slack)))
    if summary.notices_waiting:
        blocks.append(
            _section(f"{summary.notices_waiting} notices are waiting for Slack; holdfast keeps retrying them.")
        )
    blocks.append(
        _section("Each contained account stays suspended until IT records a verification: `holdfast holds` lists them.")
    )
    blocks.append(_footer(mark, summary.incident_id))
    return _no_secrets(SlackPayload(text=text, blocks=blocks))


def it_released(
    *, incident_id: str, login: str, verifiers: Sequence[str], method: str, ticket: str, open_holds: int, mark: str
) -> SlackPayload:
    who = " and ".join(verifiers)
    text = (
        f"Incident {incident_id}: {login} released after identity verification by {who} ({method}, ticket {ticket}). "
        f"{open_holds} holds still open."
    )
    return _no_secrets(SlackPayload(text=text, blocks=[_section(text), _footer(mark, incident_id)]))


def it_relock(*, incident_id: str, login: str, found: str, outcome: str, relocks: int, mark: str) -> SlackPayload:
    text = (
        f":rotating_light: Incident {incident_id}: held account {login} was {found} in Okta, outside holdfast. "
        f"{outcome} (re-lock #{relocks}). Find out who changed it: the Okta System Log has the actor."
    )
    return _no_secrets(SlackPayload(text=text, blocks=[_section(text), _footer(mark, incident_id)]))


def it_no_slack(*, incident_id: str, login: str, reason: str, mark: str) -> SlackPayload:
    text = (
        f"Incident {incident_id}: could not notify {login} on Slack ({reason}). "
        "Reach them another way to book the verification call."
    )
    return _no_secrets(SlackPayload(text=text, blocks=[_section(text), _footer(mark, incident_id)]))


def has_marker(message: Mapping[str, Any], mark: str) -> bool:
    """Is this message (as conversations.history returns it) the one carrying `mark`?"""
    blocks = message.get("blocks") or []
    return any(isinstance(b, dict) and b.get("block_id") == mark for b in blocks)


def first_name_of(real_name: str | None, first_name: str | None, login: str) -> str:
    """The greeting name: Slack's first name, else the first word of the real name, else the login's local part."""
    if first_name and first_name.strip():
        return first_name.strip()
    if real_name and real_name.strip():
        return real_name.strip().split()[0]
    return login.split("@", 1)[0]
