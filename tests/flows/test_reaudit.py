"""The scheduled re-audit on the embedded default: after an incident has been contained, a new credential
change, an unapproved hardware key and a held account unsuspended outside holdfast are all caught, the held
account is suspended again, and the IT channel gets the summary."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from config.policy import Policy, load_policy
from config.settings import Settings, load_settings
from flows.reaudit import ReauditSummary, reaudit, run_reaudit
from flows.respond import RespondRequest, run_respond
from playbook.when import okta_time, parse_when
from sandbox.org import Factor, Org, UserStatus
from sandbox.records import Actor, EventSpec, Target, okta_log_event
from sandbox.scenario import GroundTruth
from sandbox.server import SLACK_IT_CHANNEL, SandboxServer
from store import ledger
from store.db import make_engine, migrate, transaction
from tests.factories import settings_file
from tests.flows.ops_support import bystanders, load_evidence, ops_policy, scenario_org


@dataclass
class Reaudited:
    org: Org
    truth: GroundTruth
    config: Path
    settings: Settings
    policy: Policy
    changed: str  # login of a bystander whose password an admin reset after the incident
    keyed: str  # login of a bystander who now has an unapproved hardware key
    key_id: str
    unlocked: str  # login of a held account someone unsuspended in Okta
    audit_end: str  # when the incident's audit finished
    summary: dict[str, Any]


def _reset_password_event(org: Org, admin_login: str, login: str) -> dict[str, Any]:
    admin = org.user_by_login(admin_login)
    user = org.user_by_login(login)
    assert admin is not None and user is not None
    return okta_log_event(
        EventSpec(
            event_type="user.account.reset_password",
            published=datetime.now(UTC),
            actor=Actor(admin.id, admin.login, "An Admin"),
            targets=(Target(user.id, user.login, "A Person"),),
            display_message="Fires when an admin resets a user's password",
        )
    )


@pytest.fixture(scope="module")
def reaudited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reaudited]:
    folder = tmp_path_factory.mktemp("reaudit")
    org, truth = scenario_org(folder, seed=5)
    policy_path = ops_policy(folder, folder / "org" / "approved-keys.json")
    with SandboxServer(org) as server:
        config = settings_file(server, folder, HOLDFAST_POLICY_FILE=str(policy_path))
        settings = load_settings(config, environ={})
        policy = load_policy(policy_path)
        engine = make_engine(settings.store.url)
        migrate(engine)
        load_evidence(engine, org)
        # An incident, contained: holds, and an audit that ended now.
        request = RespondRequest(
            cutoff=parse_when(truth.cutoff, datetime.now(UTC)), seeds=tuple(truth.seed_accounts), execute=True
        )
        result = asyncio.run(run_respond(settings, policy, engine, request))
        with transaction(engine) as conn:
            story = ledger.incident_story(conn, result.incident_id)
        audit_end = next(r.at for r in story if r.kind == "audit.finished")
        # After it: an admin resets a bystander's password; another gets an unapproved key; a held account is
        # unsuspended in the admin console.
        changed_id, keyed_id = bystanders(org, truth, 2)
        changed, keyed = org.users[changed_id].login, org.users[keyed_id].login
        org.system_log.append(_reset_password_event(org, truth.verifiers[0], changed))
        load_evidence(engine, org)
        key_id = f"fwf{uuid.uuid4().hex[:17]}"
        now = datetime.now(UTC)
        org.add_factor(
            Factor(id=key_id, user_id=keyed_id, factor_type="webauthn", provider="FIDO", status="ACTIVE",
                   created=now, last_updated=now,
                   profile={"credentialId": "unapproved-" + uuid.uuid4().hex, "authenticatorName": "YubiKey 5C"})
        )  # fmt: skip
        unlocked = result.containment.contained[-1][1] if result.containment else ""
        user = org.user_by_login(unlocked)
        assert user is not None
        with org.lock:
            user.status = UserStatus.ACTIVE
        engine.dispose()
        summary = asyncio.run(reaudit(config_file=str(config)))
        yield Reaudited(org, truth, config, settings, policy, changed, keyed, key_id, unlocked, audit_end, summary)
    org.close()


def test_the_window_starts_where_the_incident_audit_ended_less_an_hour_for_late_evidence(reaudited: Reaudited) -> None:
    s = reaudited.summary
    assert s["window_from"] == "the end of the last incident's audit"
    expected = parse_when(reaudited.audit_end, datetime.now(UTC)) - timedelta(hours=1)
    assert s["since"] == okta_time(expected)


def test_a_credential_change_since_the_last_audit_is_reported(reaudited: Reaudited) -> None:
    changes = {a["login"]: a for a in reaudited.summary["changes"]}
    assert changes[reaudited.changed]["reasons"] == ["password_reset"]
    assert changes[reaudited.changed]["already_held"] is False


def test_an_unapproved_hardware_key_is_reported(reaudited: Reaudited) -> None:
    keys = {a["login"]: a for a in reaudited.summary["unknown_keys"]}
    assert reaudited.keyed in keys
    assert keys[reaudited.keyed]["keys"][0].startswith("unapproved-")


def test_a_held_account_unsuspended_outside_holdfast_is_suspended_again(reaudited: Reaudited) -> None:
    holds = reaudited.summary["holds"]
    assert holds["relocked"] == [reaudited.unlocked]
    assert holds["still_suspended"] == holds["checked"] - 1
    user = reaudited.org.user_by_login(reaudited.unlocked)
    assert user is not None and user.status is UserStatus.SUSPENDED


def test_the_it_channel_gets_the_summary(reaudited: Reaudited) -> None:
    assert reaudited.summary["slack"]["error"] is None
    (message,) = [m for m in reaudited.org.slack_messages if m.ts == reaudited.summary["slack"]["ts"]]
    assert message.channel == SLACK_IT_CHANNEL
    lines = message.text.splitlines()
    assert lines[0].startswith("*holdfast daily re-audit*")
    assert lines[1].startswith("• Credential changes: ") and reaudited.changed in lines[1]
    assert lines[2].startswith("• Unknown hardware keys: ") and reaudited.keyed in lines[2]
    assert f"1 found unsuspended and suspended again ({reaudited.unlocked})" in lines[3]
    assert "`holdfast respond --since " in message.text


def test_the_next_reaudit_starts_where_this_one_ended(reaudited: Reaudited) -> None:
    engine = make_engine(reaudited.settings.store.url)
    try:
        with transaction(engine) as conn:
            rows = [r for r in ledger.incident_story(conn, f"reaudit:{reaudited.summary['run_id']}")]
        assert [(r.kind, json.loads(r.detail)["until"]) for r in rows] == [
            ("reaudit.finished", reaudited.summary["until"])
        ]
        second: ReauditSummary = asyncio.run(
            run_reaudit(reaudited.settings, reaudited.policy, engine, factor_scope="none")
        )
    finally:
        engine.dispose()
    assert second.window_from == "the end of the previous re-audit"
    assert second.since == okta_time(parse_when(reaudited.summary["until"], datetime.now(UTC)) - timedelta(hours=1))
    assert second.holds["relocked"] == []  # nothing was unsuspended since
