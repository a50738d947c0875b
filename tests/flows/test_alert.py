"""The alert way in, on the embedded default: validate, record, emit `holdfast.alert`; the respond deployment's
trigger starts the playbook with the payload as parameters, and the playbook contains the accounts.

The sandbox org is a small January-2022 scenario; Okta is reached through holdfast's own client and the fake.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from typer.testing import CliRunner

import cli.ops_cmd  # noqa: F401 (registers `holdfast alert`; cli/main.py imports it too)
from cli.main import app
from config.errors import InputError, ProviderError
from config.policy import Policy, load_policy
from config.settings import Settings, load_settings
from flows.alert import Alert, alert_rows, raise_alert, validate_alert
from flows.deployments import DEPLOYMENTS, runner_deployments
from flows.respond import respond
from flows.timeline import load_timeline
from sandbox.org import Org, UserStatus
from sandbox.scenario import GroundTruth
from sandbox.server import SandboxServer
from store import ledger
from store.db import make_engine, migrate, transaction
from tests.factories import settings_file
from tests.flows.ops_support import load_evidence, ops_policy, scenario_org

NOW = datetime(2022, 1, 21, 3, 30, tzinfo=UTC)


@dataclass
class Alerting:
    org: Org
    truth: GroundTruth
    config: Path
    settings: Settings
    policy: Policy

    def engine(self) -> Any:
        return make_engine(self.settings.store.url)

    def rows(self) -> list[tuple[str, str, dict[str, Any]]]:
        engine = self.engine()
        try:
            with transaction(engine) as conn:
                return [(r.incident_id, r.kind, json.loads(r.detail)) for r in alert_rows(conn)]
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def alerting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alerting]:
    folder = tmp_path_factory.mktemp("alert")
    org, truth = scenario_org(folder)
    policy = ops_policy(folder, folder / "org" / "approved-keys.json")
    with SandboxServer(org) as server:
        config = settings_file(server, folder, HOLDFAST_POLICY_FILE=str(policy))
        settings = load_settings(config, environ={})
        engine = make_engine(settings.store.url)
        migrate(engine)
        load_evidence(engine, org)
        engine.dispose()
        yield Alerting(org, truth, config, settings, load_policy(policy))
    org.close()


# ------------------------------------------------------------------------------------------------ validation


def test_a_valid_alert_has_its_seeds_cleaned_and_its_cutoff_in_okta_time() -> None:
    alert, reasons = validate_alert(
        "2021-12-01", [" Ana@Acme.com ", "ana@acme.com", "00u1234567890abcdefg"], "SIEM rule 42", now=NOW,
        org_domains=["acme.com"],
    )  # fmt: skip
    assert reasons == []
    assert alert is not None
    assert alert.seeds == ("ana@acme.com", "00u1234567890abcdefg")
    assert alert.payload()["since"] == "2021-12-01T00:00:00.000Z"
    assert (alert.source, alert.execute) == ("SIEM rule 42", True)
    assert validate_alert("52d", ["a@b.co"], None, now=NOW)[0] is not None  # relative cutoffs, no source
    assert validate_alert("52d", ["a@b.co"], None, now=NOW)[0].source == "unspecified"  # type: ignore[union-attr]


def test_a_malformed_alert_is_refused_with_every_reason_named() -> None:
    alert, reasons = validate_alert(
        "next tuesday", ["bob", "x@elsewhere.org", "a" * 95 + "@acme.com", "ok@acme.com\n"], "rule\x07",
        now=NOW, org_domains=["acme.com"],
    )  # fmt: skip
    assert alert is None
    assert reasons[0].startswith("cutoff: 'next tuesday' is not a time")
    assert "seed 'bob' is not an Okta login (name@domain) or user id (00u...)" in reasons
    assert "seed 'x@elsewhere.org' is outside the org's domains (acme.com)" in reasons
    assert any("longer than an Okta login (100 characters)" in r for r in reasons)
    assert "source contains control characters" in reasons
    assert len(reasons) == 5  # the trailing newline is stripped, so that seed is fine


@pytest.mark.parametrize(
    ("since", "seeds", "source", "reason"),
    [
        ("2022-02-01", ["a@b.co"], None, "is in the future"),
        (None, ["a@b.co"], None, "no cutoff"),
        ("1d", [], None, "no seed account"),
        ("1d", ["a@b.co"] * 1001, None, "at most 1000 accounts"),
        ("1d", ["a@b.co"], "x" * 201, "at most 200"),
    ],
)
def test_each_rule_refuses_on_its_own(since: str | None, seeds: list[str], source: str | None, reason: str) -> None:
    alert, reasons = validate_alert(since, seeds, source, now=NOW)
    assert alert is None
    assert len(reasons) == 1 and reason in reasons[0]


# ---------------------------------------------------------------------------------------- recorded, emitted


def test_a_refused_alert_is_recorded_with_what_was_received_and_why(alerting: Alerting) -> None:
    engine = alerting.engine()
    try:
        with pytest.raises(InputError, match="refused: cutoff") as refused:
            asyncio.run(
                raise_alert(alerting.settings, alerting.policy, engine, since="soon", seeds=["bob"], source="rule 7")
            )
    finally:
        engine.dispose()
    alert_id = str(refused.value).split()[1]
    rows = [r for r in alerting.rows() if r[0] == f"alert:{alert_id}"]
    assert [(kind, detail["since"], detail["seeds"], detail["source"]) for _, kind, detail in rows] == [
        ("alert.refused", "soon", ["bob"], "rule 7")
    ]
    assert len(rows[0][2]["reasons"]) == 2


def test_an_undelivered_alert_is_recorded_and_fails_loudly(alerting: Alerting) -> None:
    async def down(alert: Alert) -> str:
        raise ProviderError("prefect", "the alert event was not delivered (ConnectError)")

    engine = alerting.engine()
    try:
        with pytest.raises(ProviderError, match="not delivered"):
            asyncio.run(
                raise_alert(
                    alerting.settings, alerting.policy, engine, since=alerting.truth.cutoff,
                    seeds=alerting.truth.seed_accounts, source="rule 8", emit=down,
                )
            )  # fmt: skip
    finally:
        engine.dispose()
    latest = [r for r in alerting.rows() if r[2].get("source") == "rule 8" or r[1] == "alert.undelivered"]
    assert [kind for _, kind, _ in latest] == ["alert.accepted", "alert.undelivered"]
    assert latest[0][0] == latest[1][0]


async def _triggered_run(deployment_id: Any, deadline: float) -> Any:
    async with get_client() as client:
        while time.monotonic() < deadline:
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            )
            if runs:
                return runs[0]
            await asyncio.sleep(0.25)
    raise AssertionError("the holdfast.alert event started no run of respond/on-alert")


async def _alert_and_wait(alerting: Alerting, seed: str) -> tuple[Any, Any]:
    spec = next(s for s in DEPLOYMENTS if s.on_alert)
    (deployment,) = await runner_deployments([spec], config_file=str(alerting.config))
    deployment_id = await deployment.aapply()
    engine = alerting.engine()
    try:
        outcome = await raise_alert(
            alerting.settings, alerting.policy, engine, since=alerting.truth.cutoff, seeds=[seed.upper()],
            source="SIEM rule 42",
        )  # fmt: skip
    finally:
        engine.dispose()
    try:
        run = await _triggered_run(deployment_id, time.monotonic() + 60)
    finally:
        async with get_client() as client:  # leave the session's Prefect API as it was: no trigger, no run
            await client.delete_deployment(deployment_id)
    return outcome, run


def test_an_alert_starts_the_respond_deployment_and_the_playbook_contains_the_accounts(alerting: Alerting) -> None:
    seed = alerting.truth.seed_accounts[0]
    outcome, run = asyncio.run(_alert_and_wait(alerting, seed))
    # The trigger turned the event's payload into the run's parameters.
    assert run.parameters == {
        "since": alerting.truth.cutoff,
        "seeds": [seed],
        "source": "SIEM rule 42",
        "execute": True,  # the policy's [alerts] execute
        "trigger": "alert",
        "config_file": str(alerting.config),
    }
    assert [k for i, k, _ in alerting.rows() if i == f"alert:{outcome.alert_id}"] == ["alert.accepted", "alert.emitted"]
    # The playbook with exactly those parameters (here, in this process: the distributed tests run it on a
    # worker and under `holdfast serve`).
    result = asyncio.run(respond(**run.parameters))
    assert result["executed"] and result["containment"]["failed"] == []
    assert alerting.org.user_by_login(seed).status is UserStatus.SUSPENDED  # type: ignore[union-attr]
    engine = alerting.engine()
    try:
        with transaction(engine) as conn:
            incident = ledger.get_incident(conn, result["incident_id"])
            held = {h.login for h in ledger.list_holds(conn, incident.id)}
        story = load_timeline(engine, incident.id)
    finally:
        engine.dispose()
    assert (incident.trigger, incident.source, incident.status) == ("alert", "SIEM rule 42", "contained")
    assert seed in held and len(held) == result["containment"]["contained"]
    assert story.entries[0].kind == "alert.accepted"


# ----------------------------------------------------------------------------------------------------- CLI


def test_holdfast_alert_refuses_a_malformed_alert_with_exit_code_2(alerting: Alerting) -> None:
    result = CliRunner().invoke(
        app, ["alert", "--since", "2999-01-01", "--seed", "bob", "--config", str(alerting.config)]
    )
    assert result.exit_code == 2, result.output
    assert "refused: cutoff 2999-01-01T00:00:00.000Z is in the future" in " ".join(result.output.split())
    assert "seed 'bob' is not an Okta login" in " ".join(result.output.split())


def test_holdfast_alert_sends_the_event_to_the_prefect_api(alerting: Alerting) -> None:
    since = (datetime.now(UTC) - timedelta(days=3)).date().isoformat()
    seed = alerting.truth.seed_accounts[0]
    result = CliRunner().invoke(
        app, ["alert", "--since", since, "--seed", seed, "--source", "responder", "--config", str(alerting.config)]
    )
    assert result.exit_code == 0, result.output
    assert " accepted and sent to http://127.0.0.1:" in " ".join(result.output.split())
    accepted = [d for _, k, d in alerting.rows() if k == "alert.accepted" and d["source"] == "responder"]
    assert accepted and accepted[-1]["since"] == f"{since}T00:00:00.000Z"
