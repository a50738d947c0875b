"""Containment against the sandbox through the real okta SDK: order, exactly once, faults, refusals."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from prefect import flow
from sqlalchemy import Engine

from config.policy import Reason, Tier, load_policy
from config.settings import load_settings
from flows.contain import ContainSummary, run_containment
from playbook.models import Action, FactorFinding, Finding, Plan
from playbook.plan import build_plan
from sandbox.knobs import Knobs
from sandbox.org import Org, UserStatus
from sandbox.server import SandboxServer
from store import ledger
from store.db import make_engine, migrate, transaction
from store.ledger import ActionState
from tests.factories import add_people, settings_file


def finding(org: Org, user_id: str, tier: Tier = Tier.CRITICAL, *, bad_key: bool = True) -> Finding:
    user = org.users[user_id]
    key = next(f for f in org.factors[user_id] if f.factor_type == "webauthn")
    factors = (FactorFinding(factor_id=key.id, factor_type="webauthn", problem="unknown_hardware_key"),)
    return Finding(
        user_id=user_id, login=user.login, status=str(user.status), risk=tier,
        reasons=(Reason.PASSWORD_RESET,), factor_findings=factors if bad_key else (),
    )  # fmt: skip


def make_plan(org: Org, ids: list[str], incident: str, tier: Tier = Tier.CRITICAL) -> Plan:
    findings = [finding(org, uid, tier) for uid in ids]
    return build_plan(
        incident, findings, load_policy(), protected_by_group={}, org_domains=[org.domain], active_users=10_000
    )


def setup(sandbox: SandboxServer, tmp_path: Path, **extra: str) -> tuple[Engine, object, str]:
    config = settings_file(sandbox, tmp_path, **extra)
    settings = load_settings(config, environ={})
    engine = make_engine(settings.store.url)
    migrate(engine)
    return engine, settings.require_okta(), "INC-TEST-0001"


def contain(engine: Engine, okta: object, plan: Plan) -> ContainSummary:
    @flow(name="test-contain")
    async def run() -> ContainSummary:
        with transaction(engine, write=True) as conn:
            if not any(i.id == plan.incident_id for i in ledger.list_incidents(conn)):
                from datetime import UTC, datetime

                ledger.create_incident(
                    conn, incident_id=plan.incident_id, trigger="manual", source="test",
                    cutoff="2026-01-01T00:00:00.000Z", seeds=[], now=datetime.now(UTC),
                )  # fmt: skip
        return await run_containment(okta, engine, plan)  # type: ignore[arg-type]

    return asyncio.run(run())


def log_counts(org: Org) -> Counter[tuple[str, str]]:
    """(eventType, target id) of every successful change the fake logged."""
    counts: Counter[tuple[str, str]] = Counter()
    for stored in org.system_log.scan(limit=1_000_000):
        event = stored.as_dict()
        targets = event.get("target") or []
        outcome = (event.get("outcome") or {}).get("result")  # type: ignore[union-attr]
        if outcome == "SUCCESS" and targets:
            counts[(str(event["eventType"]), str(targets[0]["id"]))] += 1  # type: ignore[index]
    return counts


def test_containment_suspends_revokes_and_unenrols_then_holds_each_account(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    ids = add_people(org, 12)
    engine, okta, incident = setup(sandbox, tmp_path)
    plan = make_plan(org, ids, incident)
    summary = contain(engine, okta, plan)
    assert not summary.failed
    for uid in ids:
        user = org.users[uid]
        assert user.status is UserStatus.SUSPENDED
        assert user.sessions == 0 and user.oauth_tokens == 0
        assert [f.factor_type for f in org.factors[uid]] == ["push"]  # the unknown key is gone
    with transaction(engine) as conn:
        rows = ledger.actions_of(conn, incident)
        holds = ledger.list_holds(conn, incident)
    assert {r.state for (_, a), r in rows.items() if a == "suspend"} == {ActionState.DONE}
    assert {r.state for (_, a), r in rows.items() if a.endswith("_at_release")} == {ActionState.DEFERRED}
    assert all(r.okta_request_id for (_, a), r in rows.items() if a == "suspend")
    assert sorted(h.user_id for h in holds) == sorted(ids)


@pytest.mark.postgres
def test_containment_keeps_its_ledger_on_postgresql_too(
    org: Org, sandbox: SandboxServer, tmp_path: Path, pg_url: str
) -> None:
    ids = add_people(org, 8)
    engine, okta, incident = setup(sandbox, tmp_path, HOLDFAST_STORE__URL=pg_url)
    assert engine.dialect.name == "postgresql"
    plan = make_plan(org, ids, incident)
    contain(engine, okta, plan)
    contain(engine, okta, plan)  # the rerun finds everything done
    with transaction(engine) as conn:
        rows = ledger.actions_of(conn, incident)
        holds = ledger.list_holds(conn, incident)
    assert all(org.users[uid].status is UserStatus.SUSPENDED for uid in ids)
    assert {r.state for r in rows.values()} == {ActionState.DONE, ActionState.DEFERRED}
    assert all(r.attempts <= 1 for r in rows.values())
    assert len(holds) == 8


def test_every_account_is_suspended_before_any_session_is_revoked(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    ids = add_people(org, 30)
    engine, okta, incident = setup(sandbox, tmp_path)
    contain(engine, okta, make_plan(org, ids, incident))
    order = [e.as_dict()["eventType"] for e in org.system_log.scan(limit=10_000)]
    last_suspend = max(i for i, t in enumerate(order) if t == "user.lifecycle.suspend")
    first_clear = min(i for i, t in enumerate(order) if t == "user.session.clear")
    assert last_suspend < first_clear


def test_a_rerun_does_nothing_more_and_an_already_suspended_account_is_recognised(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    ids = add_people(org, 5)
    org.users[ids[0]].status = UserStatus.SUSPENDED
    engine, okta, incident = setup(sandbox, tmp_path)
    plan = make_plan(org, ids, incident)
    contain(engine, okta, plan)
    before = log_counts(org)
    contain(engine, okta, plan)
    assert log_counts(org) == before
    with transaction(engine) as conn:
        rows = ledger.actions_of(conn, incident)
    assert rows[(ids[0], "suspend")].state is ActionState.ALREADY_DONE
    assert all(r.attempts == 1 for r in rows.values() if r.state is not ActionState.DEFERRED)


def test_with_ten_percent_faults_everything_is_contained_and_nothing_is_done_twice(
    org: Org, knobs: Knobs, sandbox: SandboxServer, tmp_path: Path
) -> None:
    ids = add_people(org, 60)
    knobs.set("okta.users", fault_rate=0.10, faults=("500", "503", "drop", "drop_after", "timeout"), hang_seconds=3)
    engine, okta, incident = setup(sandbox, tmp_path, HOLDFAST_OKTA__REQUEST_TIMEOUT_S="1", HOLDFAST_OKTA__RETRIES="8")
    summary = contain(engine, okta, make_plan(org, ids, incident))
    assert not summary.failed
    assert sum(knobs.injected.values()) > 0
    logged = log_counts(org)
    for uid in ids:
        assert org.users[uid].status is UserStatus.SUSPENDED
        assert org.users[uid].sessions == 0
        assert logged[("user.lifecycle.suspend", uid)] == 1
        assert logged[("user.mfa.factor.deactivate", uid)] == 1


def test_an_okta_refusal_is_recorded_with_its_error_and_not_retried(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    ids = add_people(org, 3)
    engine, okta, incident = setup(sandbox, tmp_path)
    plan = make_plan(org, ids, incident)
    org.users[ids[1]].status = UserStatus.DEPROVISIONED  # deactivated between the audit and the execution
    summary = contain(engine, okta, plan)
    assert [f["login"] for f in summary.failed if f["action"] == "suspend"] == [org.users[ids[1]].login]
    with transaction(engine) as conn:
        row = ledger.actions_of(conn, incident)[(ids[1], Action.SUSPEND.value)]
    assert row.state is ActionState.FAILED
    assert row.error_code == "E0000001" and row.attempts == 1
    assert org.users[ids[0]].status is UserStatus.SUSPENDED
