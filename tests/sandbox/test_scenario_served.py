"""A generated org served by the sandbox and read through the real SDKs: the evidence an audit needs is there."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from okta.models import UserFactorWebAuthn
from slack_sdk.errors import SlackApiError

from sandbox.knobs import Knobs
from sandbox.scenario import (
    APPROVED_KEYS_FILE,
    IT_CHANNEL_ID,
    SUBJECT_ADMIN_RESET,
    SUBJECT_SELF_RESET,
    GroundTruth,
    ScenarioSpec,
    build_org,
    read_registry,
)
from sandbox.server import SandboxServer
from tests.sandbox.google_slack_helpers import reports_service, slack_client
from tests.sandbox.test_okta_helpers import close, next_after, sdk_client

END = datetime(2022, 1, 21, 3, 30, tzinfo=UTC)
SPEC = ScenarioSpec(seed=8, people=150, days=20, cutoff_days_before_end=12, end=END)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[SandboxServer, GroundTruth]]:
    org, truth = build_org(SPEC, tmp_path / "org")
    org.clock = lambda: END  # the alert arrives when the history ends
    try:
        with SandboxServer(org, Knobs(seed=7)) as server:
            yield server, truth
    finally:
        org.close()


async def _support_events(server: SandboxServer, since: str) -> list[Any]:
    client = sdk_client(server)
    events: list[Any] = []
    after: str | None = None
    while True:
        page, resp, err = await client.list_log_events(
            since=since,
            until="2022-01-21T03:30:00.000Z",
            filter='actor.alternateId eq "system@okta.com"',
            limit=1000,
            after=after,
        )
        assert err is None, err
        events.extend(page)
        after = next_after(resp)
        if after is None or not page:
            break
    await close(client)
    return events


def test_support_actions_since_the_cutoff_are_served_with_their_fingerprint(
    served: tuple[SandboxServer, GroundTruth],
) -> None:
    server, truth = served
    events = asyncio.run(_support_events(server, truth.cutoff))
    assert events
    assert {e.transaction.id for e in events} == {"unknown"}
    assert all(e.client.geographical_context is None and e.client.user_agent is None for e in events)
    targets = {t.id for e in events for t in e.target}
    support_accounts = {a.user_id for a in truth.accounts if "okta_support" in a.actor_kinds}
    assert support_accounts <= targets


def test_the_swapped_keys_are_served_as_webauthn_factors_outside_the_registry(
    served: tuple[SandboxServer, GroundTruth],
) -> None:
    server, truth = served
    approved = read_registry(server.org.workdir / APPROVED_KEYS_FILE).credential_ids()
    swapped = [a for a in truth.accounts if "unknown_hardware_key" in a.reasons]

    async def keys(user_id: str) -> list[Any]:
        client = sdk_client(server)
        factors, _, err = await client.list_factors(user_id)
        await close(client)
        assert err is None, err
        return [f for f in factors if isinstance(f, UserFactorWebAuthn)]

    for account in swapped:
        served_keys = asyncio.run(keys(account.user_id))
        assert any(k.profile.credential_id not in approved for k in served_keys), account.login


def test_gmail_corroborates_resets_as_the_truth_says_through_googleapiclient(
    served: tuple[SandboxServer, GroundTruth],
) -> None:
    server, truth = served
    service = reports_service(server)
    window = {"startTime": truth.cutoff, "endTime": truth.end}

    def reset_mails(login: str) -> int:
        found = (
            service.activities()
            .list(userKey=login, applicationName="gmail", eventName="delivery", **window)
            .execute()
            .get("items", [])
        )
        subjects = [
            p["value"]
            for item in found
            for param in item["events"][0]["parameters"]
            if param["name"] == "message_info"
            for p in param["messageValue"]["parameter"]
            if p["name"] == "subject"
        ]
        return sum(s in (SUBJECT_ADMIN_RESET, SUBJECT_SELF_RESET) for s in subjects)

    by_kind = {
        c: [a for a in truth.accounts if a.corroboration == c] for c in ("confirmed", "okta_only", "google_only")
    }
    assert all(by_kind.values())
    assert all(reset_mails(a.login) for a in by_kind["confirmed"] + by_kind["google_only"])
    support_okta_only = [a for a in by_kind["okta_only"] if "okta_support" in a.actor_kinds]
    assert support_okta_only and all(reset_mails(a.login) == 0 for a in support_okta_only)


def test_slack_finds_the_people_to_notify_except_those_without_an_account(
    served: tuple[SandboxServer, GroundTruth],
) -> None:
    server, truth = served
    client = slack_client(server)
    seed = client.users_lookupByEmail(email=truth.seed_accounts[0])
    assert seed["ok"] and seed["user"]["profile"]["email"] == truth.seed_accounts[0]
    for login in truth.slack_missing:
        with pytest.raises(SlackApiError) as err:
            client.users_lookupByEmail(email=login)
        assert err.value.response["error"] == "users_not_found"
    assert client.chat_postMessage(channel=IT_CHANNEL_ID, text="audit finished")["ok"]
