"""Builders shared by the notify / hold / release tests: a sandbox org with IT staff in the verifiers group,
Slack members, contained accounts, and settings pointing holdfast at it."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow
from sqlalchemy import Engine

from config.policy import DEFAULT_POLICY_FILE, Policy, Reason, Tier, load_policy
from config.settings import Settings, load_settings
from flows.contain import ContainSummary, run_containment
from playbook.models import Finding, Plan
from playbook.plan import build_plan
from sandbox.org import Group, Org, SlackMessage, SlackUser
from sandbox.records import Actor, ClientInfo, EventSpec, Target, okta_log_event
from sandbox.server import SLACK_IT_CHANNEL, SandboxServer
from store import ledger
from store.db import make_engine, migrate, transaction
from tests.factories import add_log_events, add_people, settings_file

VERIFIERS = "IT Identity Verifiers"
PROTECTED_GROUPS = ("Break Glass Admins", "Security Incident Responders")


@dataclass
class World:
    org: Org
    sandbox: SandboxServer
    config: Path
    settings: Settings
    policy: Policy
    engine: Engine
    it_staff: list[str]  # logins of ACTIVE verifiers

    def login(self, user_id: str) -> str:
        return self.org.users[user_id].login

    def it_messages(self) -> list[SlackMessage]:
        with self.org.lock:
            return [m for m in self.org.slack_messages if m.channel == SLACK_IT_CHANNEL]

    def dms(self, login: str) -> list[SlackMessage]:
        with self.org.lock:
            member = next((u for u in self.org.slack_users.values() if u.email == login), None)
            channel = self.org.slack_ims.get(member.id) if member else None
            return [m for m in self.org.slack_messages if channel is not None and m.channel == channel]


def write_policy(folder: Path, *, two_person: bool = False) -> Path:
    """The default policy with an (empty) approved-key registry in `folder`."""
    registry = folder / "approved-keys.json"
    registry.write_text(json.dumps({"keys": []}))
    text = DEFAULT_POLICY_FILE.read_text().replace('registry = "approved-keys.json"', f'registry = "{registry}"')
    if two_person:
        text = text.replace("two_person = false", "two_person = true")
    path = folder / "policy.toml"
    path.write_text(text)
    return path


def build_world(org: Org, sandbox: SandboxServer, folder: Path, *, two_person: bool = False, **extra: str) -> World:
    org.add_slack_channel(SLACK_IT_CHANNEL, "it-secops")
    staff = add_people(org, 3, with_key=False)
    org.add_group(Group(id="00g" + uuid.uuid4().hex[:17], name=VERIFIERS, members=set(staff)))
    for name in PROTECTED_GROUPS:
        org.add_group(Group(id="00g" + uuid.uuid4().hex[:17], name=name))
    give_slack(org, staff)
    policy_path = write_policy(folder, two_person=two_person)
    env = {"HOLDFAST_POLICY_FILE": str(policy_path), "HOLDFAST_ORG_DOMAINS": f'["{org.domain}"]', **extra}
    config = settings_file(sandbox, folder, google=False, **env)
    settings = load_settings(config, environ={})
    engine = make_engine(settings.store.url)
    migrate(engine)
    return World(org, sandbox, config, settings, load_policy(policy_path), engine, [org.users[s].login for s in staff])


def give_slack(org: Org, user_ids: Sequence[str]) -> None:
    for uid in user_ids:
        user = org.users[uid]
        org.add_slack_user(
            SlackUser(
                id="U" + uuid.uuid4().hex[:10].upper(),
                email=user.login,
                name=user.login.split("@")[0],
                real_name=f"{user.first_name} {user.last_name}",
            )
        )


def make_plan(world: World, ids: Sequence[str], incident: str, tier: Tier = Tier.CRITICAL) -> Plan:
    findings = [
        Finding(
            user_id=uid,
            login=world.org.users[uid].login,
            status=str(world.org.users[uid].status),
            risk=tier,
            reasons=(Reason.PASSWORD_RESET,),
        )
        for uid in ids
    ]
    return build_plan(
        incident, findings, world.policy, protected_by_group={}, org_domains=[world.org.domain], active_users=10_000
    )


def contain(world: World, ids: Sequence[str], incident: str = "INC-TEST-0001", tier: Tier = Tier.CRITICAL) -> Plan:
    """Open the incident and contain `ids` through the real containment (holds, deferred resets)."""
    plan = make_plan(world, ids, incident, tier)

    @flow(name="test-contain")
    async def run() -> ContainSummary:
        with transaction(world.engine, write=True) as conn:
            if not any(i.id == incident for i in ledger.list_incidents(conn)):
                ledger.create_incident(
                    conn, incident_id=incident, trigger="manual", source="test", cutoff="2026-01-01T00:00:00.000Z",
                    seeds=[], now=datetime.now(UTC),
                )  # fmt: skip
        return await run_containment(world.settings.require_okta(), world.engine, plan)

    summary = asyncio.run(run())
    assert not summary.failed
    return plan


def support_reset_events(org: Org, user_ids: Sequence[str], when: datetime) -> None:
    """Password resets by Okta support (the January 2022 fingerprint): critical findings for the audit."""
    support = Actor("0oa" + uuid.uuid4().hex[:17], "system@okta.com", "Okta System", type="SystemPrincipal")
    events: list[dict[str, Any]] = []
    for n, uid in enumerate(user_ids):
        user = org.users[uid]
        events.append(
            okta_log_event(
                EventSpec(
                    event_type="user.account.reset_password",
                    published=when + timedelta(minutes=n),
                    actor=support,
                    targets=(Target(uid, user.login, user.login),),
                    client=ClientInfo(device=None),
                    transaction_id="unknown",
                    uuid=str(uuid.uuid4()),
                )
            )
        )
    org.system_log.append_many(events)


def respond(world: World, *, accounts: int, since_days: int = 10) -> Any:
    """Ingest the fake System Log, then run the whole playbook with --execute (flows.respond.run_respond)."""
    from flows.ingest import ingest
    from flows.respond import RespondRequest, run_respond

    add_log_events(world.org, 1, start=datetime.now(UTC) - timedelta(days=20))  # evidence older than the cutoff
    asyncio.run(ingest(config_file=str(world.config), since="30d"))
    cutoff = datetime.now(UTC) - timedelta(days=since_days)
    request = RespondRequest(cutoff=cutoff, execute=True, confirm_count=accounts)  # a small org: over the cap

    @flow(name="test-respond")
    async def run() -> Any:
        return await run_respond(world.settings, world.policy, world.engine, request)

    return asyncio.run(run())


def age_factors(org: Org, user_ids: Sequence[str], days: int = 100) -> None:
    """Enrolled long before the cutoff, so the audit flags only what it should (unknown keys)."""
    when = datetime.now(UTC) - timedelta(days=days)
    with org.lock:
        for uid in user_ids:
            for factor in org.factors[uid]:
                factor.created = factor.last_updated = when
