"""The deployments (schedules, the alert trigger) and the Okta budget shared by workers.

flows/deployments.py is the source of truth; prefect.yaml (scale-out) must say the same thing. The shared budget
is checked against the Prefect API of the session's test harness, through holdfast's own Okta client and the
fake Okta.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.orchestration import get_client

from config.errors import ConfigError
from flows.deployments import (
    ALERT_PARAMETERS,
    DEPLOYMENTS,
    OKTA_BUCKET_LIMITS,
    ensure_shared_budgets,
    okta_budgets,
    runner_deployments,
    shared_budget,
)
from sandbox.org import Org, UserStatus
from sandbox.server import SandboxServer
from tasks.okta.calls import shared_limit_name
from tasks.okta.clients import okta_client
from tasks.okta.lifecycle import suspend
from tasks.okta.ratelimit import RateLimiter
from tests.factories import add_people, sandbox_settings

PREFECT_YAML = Path(__file__).parents[2] / "prefect.yaml"


def _yaml_deployments() -> dict[tuple[str, str], dict[str, Any]]:
    data = yaml.safe_load(PREFECT_YAML.read_text())
    assert data["pull"] == [] and data["build"] is None and data["push"] is None
    return {(d["entrypoint"], d["name"]): d for d in data["deployments"]}


def test_prefect_yaml_declares_exactly_the_deployments_holdfast_serve_runs() -> None:
    declared = _yaml_deployments()
    assert set(declared) == {(s.entrypoint, s.name) for s in DEPLOYMENTS}
    for spec in DEPLOYMENTS:
        d = declared[(spec.entrypoint, spec.name)]
        assert d["work_pool"]["name"] == "holdfast"
        assert d["tags"] == ["holdfast"]
        assert d["description"] == spec.description
        schedules = [(s["cron"], s["timezone"], s.get("parameters", {}), s["slug"]) for s in d.get("schedules", [])]
        assert schedules == [(s.cron, "UTC", dict(s.parameters), s.slug) for s in spec.schedules]
        if spec.on_alert:
            (trigger,) = d["triggers"]
            assert trigger["expect"] == ["holdfast.alert"]
            assert trigger["match"] == {"prefect.resource.id": "holdfast.alert.*"}
            assert trigger["parameters"] == ALERT_PARAMETERS
        else:
            assert "triggers" not in d


def test_the_served_deployments_carry_the_schedules_and_the_alert_trigger() -> None:
    served = {f"{d.flow_name}/{d.name}": d for d in asyncio.run(runner_deployments(config_file="/etc/hf.toml"))}
    crons = {name: sorted(s.schedule.cron for s in d.schedules) for name, d in served.items()}  # type: ignore[union-attr]
    assert crons == {
        "ingest/every-5-minutes": ["0 * * * *", "5-55/5 * * * *"],  # every 5 minutes, anchored hourly
        "reaudit/daily": ["0 6 * * *"],
        "retention/daily": ["30 3 * * *"],
        "respond/on-alert": [],
    }
    hourly = next(s for s in served["ingest/every-5-minutes"].schedules if s.schedule.cron == "0 * * * *")  # type: ignore[union-attr]
    assert hourly.parameters == {"post_anchor_to_slack": True}
    assert served["respond/on-alert"].entrypoint == "flows.respond.respond"
    (trigger,) = served["respond/on-alert"].triggers
    assert trigger.expect == {"holdfast.alert"}
    assert trigger.parameters == ALERT_PARAMETERS
    assert all(d.parameters == {"config_file": "/etc/hf.toml"} for d in served.values())


def test_without_slack_the_hourly_anchor_schedule_is_left_out() -> None:
    served = asyncio.run(runner_deployments(with_slack_anchor=False))
    ingest = next(d for d in served if d.flow_name == "ingest")
    assert [s.schedule.cron for s in ingest.schedules] == ["5-55/5 * * * *"]  # type: ignore[union-attr]
    assert ingest.parameters == {}


@pytest.mark.parametrize("bucket", sorted(OKTA_BUCKET_LIMITS))
def test_a_shared_budget_never_admits_more_than_nine_tenths_of_an_okta_window(bucket: str) -> None:
    budget = shared_budget(bucket, OKTA_BUCKET_LIMITS[bucket])
    assert budget.name == f"okta-{bucket}"
    assert budget.capacity >= 1 and budget.decay_per_s > 0
    assert budget.most_per_window <= 0.9 * OKTA_BUCKET_LIMITS[bucket] + 1e-9
    assert budget.most_per_window >= 0.89 * OKTA_BUCKET_LIMITS[bucket]


def test_a_squeezed_window_keeps_the_same_bound() -> None:
    budget = shared_budget("users_write", 30, window_s=3.0)
    assert (budget.capacity, budget.most_per_window) == (2, 27.0)
    assert {b.bucket for b in okta_budgets({"users_write": 1200})} == set(OKTA_BUCKET_LIMITS)
    assert next(b for b in okta_budgets({"users_write": 1200}) if b.bucket == "users_write").per_window == 1200


async def _delete_budgets() -> None:
    async with get_client() as client:
        for bucket in OKTA_BUCKET_LIMITS:
            try:
                await client.delete_global_concurrency_limit_by_name(shared_limit_name(bucket))
            except Exception:  # not there: nothing to clean up
                continue


async def _suspend(sandbox: SandboxServer, folder: Path, user_id: str) -> str:
    settings = sandbox_settings(sandbox, folder, HOLDFAST_OKTA__SHARED_RATE_LIMITS="true")
    async with okta_client(settings.require_okta()) as client:
        return (await suspend(client, RateLimiter(), user_id)).outcome


def test_with_shared_rate_limits_on_a_call_takes_a_slot_and_a_missing_limit_fails_loudly(
    org: Org, sandbox: SandboxServer, tmp_path: Path
) -> None:
    (user_id,) = add_people(org, 1, with_key=False)
    asyncio.run(_delete_budgets())
    try:
        with pytest.raises(ConfigError, match="okta-users_write"):
            asyncio.run(_suspend(sandbox, tmp_path, user_id))
        assert org.users[user_id].status is UserStatus.ACTIVE  # nothing was sent unshared
        asyncio.run(ensure_shared_budgets(okta_budgets()))
        assert asyncio.run(_suspend(sandbox, tmp_path, user_id)) == "done"
        assert org.users[user_id].status is UserStatus.SUSPENDED
    finally:
        asyncio.run(_delete_budgets())


def test_holdfast_rate_limits_creates_the_budgets_on_the_prefect_api() -> None:
    from typer.testing import CliRunner

    import cli.ops_cmd  # noqa: F401 (registers the command; cli/main.py imports it too)
    from cli.main import app

    try:
        result = CliRunner().invoke(app, ["rate-limits", "--limit", "users_write=1200"])
        assert result.exit_code == 0, result.output
        assert "okta-users_write" in result.output and "1200" in result.output
        refused = CliRunner().invoke(app, ["rate-limits", "--limit", "users=5"])
        assert refused.exit_code == 2
        assert "use BUCKET=N" in " ".join(refused.output.split())
    finally:
        asyncio.run(_delete_budgets())


def test_holdfast_serve_stops_at_once_without_okta_settings(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import cli.ops_cmd  # noqa: F401
    from cli.main import app

    config = tmp_path / "holdfast.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "h.sqlite"}"\n')
    result = CliRunner().invoke(app, ["serve", "--config", str(config)])
    assert result.exit_code == 2
    assert "okta: not configured" in result.output
