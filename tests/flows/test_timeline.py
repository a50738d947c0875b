"""The incident timeline from a real ledger: an alert, the respond playbook against the sandbox, then the
timeline flow (JSON and the Prefect artifact) and `holdfast timeline` / `holdfast incidents`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from typer.testing import CliRunner

import cli.ops_cmd  # noqa: F401 (registers the operations commands; cli/main.py imports it too)
from cli.main import app
from config.policy import load_policy
from config.settings import load_settings
from flows.alert import Alert, raise_alert
from flows.respond import RespondRequest, run_respond
from flows.timeline import timeline
from playbook.when import parse_when
from sandbox.server import SandboxServer
from store.db import make_engine, migrate
from tests.factories import settings_file
from tests.flows.ops_support import load_evidence, ops_policy, scenario_org

SOURCE = "public report: screenshots posted"


@dataclass
class Responded:
    config: Path
    incident_id: str
    result: dict[str, Any]


@pytest.fixture(scope="module")
def responded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Responded]:
    folder = tmp_path_factory.mktemp("timeline")
    org, truth = scenario_org(folder, seed=11)
    policy_path = ops_policy(folder, folder / "org" / "approved-keys.json")
    with SandboxServer(org) as server:
        config = settings_file(server, folder, HOLDFAST_POLICY_FILE=str(policy_path))
        settings = load_settings(config, environ={})
        policy = load_policy(policy_path)
        engine = make_engine(settings.store.url)
        migrate(engine)
        load_evidence(engine, org)
        sent: list[Alert] = []

        async def capture(alert: Alert) -> str:  # the event itself is test_alert.py's subject
            sent.append(alert)
            return "event-1"

        asyncio.run(
            raise_alert(settings, policy, engine, since=truth.cutoff, seeds=truth.seed_accounts, source=SOURCE,
                        emit=capture)
        )  # fmt: skip
        (alert,) = sent
        request = RespondRequest(
            cutoff=parse_when(alert.payload()["since"], datetime.now(UTC)), seeds=alert.seeds, execute=True,
            trigger="alert", source=alert.source,
        )  # fmt: skip
        result = asyncio.run(run_respond(settings, policy, engine, request)).as_dict()
        engine.dispose()
        yield Responded(config, result["incident_id"], result)
    org.close()


async def _artifact_text(key: str) -> str:
    async with get_client() as client:
        found = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    return str(found[0].data)


def test_the_timeline_tells_the_incident_from_the_alert_to_the_last_suspension(responded: Responded) -> None:
    data = asyncio.run(timeline(incident=responded.incident_id, config_file=str(responded.config)))
    whats = [e["what"] for e in data["entries"]]
    contained = responded.result["containment"]["contained"]
    found = len(responded.result["plan"]["accounts"]) + len(responded.result["plan"]["manual"])
    assert whats[0].startswith(f"Alert received from {SOURCE}: credential changes since ")
    assert whats[1].startswith(f"Incident opened on the alert ({SOURCE}); cutoff ")
    assert "First account suspended" in whats
    assert f"Last account suspended: {contained} accounts suspended" in whats
    assert f"Containment finished: {contained} accounts contained and held, nothing failed" in whats
    assert any(w.startswith("Audit finished: ") for w in whats)
    stamps = [e["at"] for e in data["entries"]]
    assert stamps == sorted(stamps)
    assert data["counts"]["holds"] == {"held": contained}
    assert data["counts"]["accounts_found"] >= found - len(responded.result["plan"]["manual"])
    assert data["counts"]["actions"]["suspend"] == {"done": contained}
    assert len(data["open_holds"]) == contained
    artifact = asyncio.run(_artifact_text("holdfast-timeline"))
    assert f"# Incident {responded.incident_id}: timeline" in artifact
    assert "| time (UTC) | what happened |" in artifact


def test_holdfast_timeline_writes_json_or_markdown(responded: Responded, tmp_path: Path) -> None:
    out = tmp_path / "timeline.json"
    cli = CliRunner()
    result = cli.invoke(
        app,
        ["timeline", responded.incident_id, "--format", "json", "--out", str(out), "--config", str(responded.config)],
    )
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert written["incident"]["id"] == responded.incident_id
    assert written["incident"]["trigger"] == "alert"
    result = cli.invoke(app, ["timeline", responded.incident_id, "--config", str(responded.config)])
    assert result.exit_code == 0, result.output
    assert "| time (UTC) | what happened |" in result.output
    assert f"## Open holds ({responded.result['containment']['contained']})" in result.output


def test_holdfast_timeline_names_an_unknown_incident(responded: Responded) -> None:
    result = CliRunner().invoke(app, ["timeline", "INC-nope", "--config", str(responded.config)])
    assert result.exit_code == 2
    assert "incident INC-nope is not in the ledger" in result.output


def test_holdfast_incidents_lists_the_incident_and_its_alert(responded: Responded) -> None:
    result = CliRunner().invoke(app, ["incidents", "--config", str(responded.config)])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert responded.incident_id in flat
    assert "Latest alerts" in flat and "accepted" in flat
