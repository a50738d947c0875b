"""Scale-out for real: `prefect server start` on PostgreSQL, the deployment of prefect.yaml on a process work
pool, a `prefect worker start` process, and `holdfast alert` emitting the event that makes the worker run the
respond playbook to the end against a sandbox org served by this test process; the ledger on the same
PostgreSQL server. Beside it, two more worker-like processes spend the same Okta bucket: with
okta.shared_rate_limits on, all of them together stay within the bucket's budget (no 429 from the fake Okta).

The embedded default gets the same end-to-end check: `holdfast serve` on one machine, SQLite everywhere.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId, LogFilter, LogFilterFlowRunId
from prefect.client.schemas.objects import FlowRun
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.workers.process import ProcessWorker
from sqlalchemy import Engine, create_engine, text

from flows.alert import alert_rows
from flows.deployments import ensure_shared_budgets, okta_budgets, shared_budget
from flows.timeline import load_timeline
from sandbox.okta.ratelimit import Bucket
from sandbox.org import Org, UserStatus
from sandbox.scenario import GroundTruth
from sandbox.server import SandboxServer
from store import ledger
from store.db import make_engine, migrate, transaction
from tests.conftest import PG_ADMIN_URL
from tests.distributed.cluster import PYTHON, REPO, Procs, clean_env, cli_argv, free_port, wait_healthy
from tests.flows.ops_support import bystanders, load_evidence, ops_policy, scenario_org

pytestmark = [pytest.mark.distributed, pytest.mark.postgres, pytest.mark.timeout(900)]

# The fake Okta's users_write bucket, squeezed from 600 a minute to 30 per 3 s so a short test spends it.
WRITE_LIMIT, WRITE_WINDOW_S = 30, 3.0
BURST = 30  # accounts each of the two extra processes suspends
SOURCE = "distributed test: SIEM rule 42"


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    """Two fresh databases on the PostgreSQL server, Prefect's and holdfast's ledger (each has its own
    Alembic history, so they do not share one database), dropped at the end."""
    suffix = uuid.uuid4().hex[:10]
    names = (f"hf_prefect_{suffix}", f"hf_ledger_{suffix}")
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield base.replace("+psycopg", "+asyncpg") + f"/{names[0]}", f"{base}/{names[1]}"
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Scenario:
    org: Org
    truth: GroundTruth
    engine: Engine
    policy: Path

    def settings_env(self, sandbox: SandboxServer, store_url: str, folder: Path, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in sandbox.env().items() if not k.startswith("HOLDFAST_GOOGLE__")}
        env.update(
            HOLDFAST_STORE__URL=store_url,
            HOLDFAST_STORE__ANCHOR_FILE=str(folder / "anchors.jsonl"),
            HOLDFAST_POLICY_FILE=str(self.policy),
            **extra,
        )
        return env


def prepare(folder: Path, store_url: str, people: int) -> Scenario:
    org, truth = scenario_org(folder, people=people)
    engine = make_engine(store_url)
    migrate(engine)
    load_evidence(engine, org)
    return Scenario(org, truth, engine, ops_policy(folder, folder / "org" / "approved-keys.json"))


async def _flow_run_of(deployment: str, deadline: float, watch: Procs) -> FlowRun:
    """The one run of `deployment`, once it is in a final state."""
    async with get_client() as client:
        while time.monotonic() < deadline:
            try:
                found = await client.read_deployment_by_name(deployment)
            except Exception:
                await asyncio.sleep(0.5)
                continue
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[found.id]))
            )
            if runs and runs[0].state is not None and runs[0].state.is_final():
                run = runs[0]
                if not run.state or not run.state.is_completed():
                    logs = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
                    text_logs = "\n".join(entry.message for entry in logs[-40:])
                    raise AssertionError(f"{deployment} run ended {run.state}\n{text_logs}\n{watch.tails()}")
                return run
            await asyncio.sleep(0.5)
    raise AssertionError(f"no finished run of {deployment} in time\n{watch.tails()}")


def finished_run(api: str, deployment: str, watch: Procs, timeout: float = 300.0) -> FlowRun:
    with temporary_settings(updates={PREFECT_API_URL: api}):
        return asyncio.run(_flow_run_of(deployment, time.monotonic() + timeout, watch))


def assert_playbook_ran(scenario: Scenario, run: FlowRun) -> str:
    """The worker's run started from the alert's payload and contained the accounts; returns the incident."""
    truth, seed = scenario.truth, scenario.truth.seed_accounts[0]
    assert run.parameters["since"] == truth.cutoff
    assert run.parameters["seeds"] == [seed]
    assert (run.parameters["trigger"], run.parameters["source"], run.parameters["execute"]) == ("alert", SOURCE, True)
    with transaction(scenario.engine) as conn:
        incidents = [i for i in ledger.list_incidents(conn) if i.trigger == "alert"]
        assert len(incidents) == 1
        incident = incidents[0]
        held = {h.login: h for h in ledger.list_holds(conn, incident.id)}
        kinds = [r.kind for r in alert_rows(conn)]
    assert (incident.source, incident.cutoff, incident.status) == (SOURCE, truth.cutoff, "contained")
    assert kinds == ["alert.accepted", "alert.emitted"]
    assert seed in held
    found = {a.login for a in truth.accounts}
    assert set(held) <= found and len(held) >= len(found) - len(truth.protected)
    for login in held:  # the Okta side: every held account is suspended in the sandbox org
        user = scenario.org.user_by_login(login)
        assert user is not None and user.status is UserStatus.SUSPENDED, login
    story = load_timeline(scenario.engine, incident.id)
    whats = [e.what for e in story.entries]
    assert whats[0].startswith(f"Alert received from {SOURCE}")
    assert any(w.startswith("Last account suspended") for w in whats)
    assert len(story.open_holds) == len(held)
    return str(incident.id)


def start_bursts(
    procs: Procs, folder: Path, label: str, ids: list[str], env: dict[str, str], lead_s: float
) -> list[Any]:
    """Two worker-like processes, each suspending BURST of `ids`, both starting `lead_s` from now."""
    start_at = time.time() + lead_s
    started = []
    for n in range(2):
        chunk = folder / f"{label}-{n}.json"
        chunk.write_text(json.dumps(ids[n * BURST : (n + 1) * BURST]))
        argv = [PYTHON, str(REPO / "tests/distributed/okta_burst.py"), str(chunk), f"{start_at:.3f}"]
        started.append(procs.start(f"{label}-{n}", argv, {**env, "PREFECT_HOME": str(folder / f"{label}-{n}")}))
    return started


def assert_bursts_done(bursts: list[Any]) -> None:
    for burst in bursts:
        assert burst.wait(180) == 0, burst.tail()
        printed = [line for line in burst.log.read_text().splitlines() if line.startswith("{")]  # Prefect logs too
        assert [json.loads(line) for line in printed] == [{"done": BURST, "already_done": 0}]


async def _prepare_prefect(api: str) -> None:
    """The work pool, and the Okta budgets (users_write squeezed like the fake's bucket)."""
    async with get_client() as client:
        await client.create_work_pool(
            WorkPoolCreate(
                name="holdfast", type="process", base_job_template=ProcessWorker.get_default_base_job_template()
            )
        )
    budgets = [b for b in okta_budgets() if b.bucket != "users_write"]
    await ensure_shared_budgets([*budgets, shared_budget("users_write", WRITE_LIMIT, window_s=WRITE_WINDOW_S)])


def test_a_worker_runs_the_playbook_on_an_alert_and_all_workers_stay_within_the_okta_budget(
    tmp_path: Path, databases: tuple[str, str], procs: Procs
) -> None:
    prefect_db, ledger_url = databases
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    # 1. The Prefect server on PostgreSQL starts first (its migrations take the longest) ...
    server = procs.start(
        "prefect-server",
        [PYTHON, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        clean_env(PREFECT_HOME=str(tmp_path / "server"), PREFECT_SERVER_DATABASE_CONNECTION_URL=prefect_db),
    )
    # ... while this process builds the sandbox org and loads its evidence into the ledger on PostgreSQL.
    scenario = prepare(tmp_path, ledger_url, people=300)
    scenario.org.okta_rate_limits.users_write = Bucket(WRITE_LIMIT, WRITE_WINDOW_S)
    ids = bystanders(scenario.org, scenario.truth, 4 * BURST)
    try:
        with SandboxServer(scenario.org) as sandbox:
            settings = scenario.settings_env(sandbox, ledger_url, tmp_path, HOLDFAST_OKTA__MAX_CONCURRENCY="20")
            # The control, while the server starts: each process's own limiter alone lets two processes
            # overrun the bucket together (both spend what each believes is left).
            control = start_bursts(procs, tmp_path, "unshared", ids[: 2 * BURST], clean_env(**settings), lead_s=8)
            assert_bursts_done(control)
            assert scenario.org.okta_rate_limits.rejections.get("users_write", 0) > 0
            scenario.org.okta_rate_limits.rejections.clear()
            settings["HOLDFAST_OKTA__SHARED_RATE_LIMITS"] = "true"
            wait_healthy(api, server)
            with temporary_settings(updates={PREFECT_API_URL: api}):
                asyncio.run(_prepare_prefect(api))
            # 2. Deploy prefect.yaml's respond/on-alert, and start a worker, in parallel.
            deploy = procs.start(
                "deploy",
                [PYTHON, "-m", "prefect", "--no-prompt", "deploy", "--name", "on-alert"],
                clean_env(PREFECT_API_URL=api, PREFECT_HOME=str(tmp_path / "deployer")),
                cwd=REPO,
            )
            worker_env = clean_env(
                PREFECT_API_URL=api, PREFECT_HOME=str(tmp_path / "worker"), PREFECT_WORKER_QUERY_SECONDS="1", **settings
            )
            procs.start("worker", [PYTHON, "-m", "prefect", "worker", "start", "--pool", "holdfast"], worker_env)
            assert deploy.wait(180) == 0, deploy.tail()
            # 3. The alert, and two more processes spending users_write at the same time, sharing the budget.
            shared = start_bursts(
                procs, tmp_path, "shared", ids[2 * BURST :], clean_env(PREFECT_API_URL=api, **settings), lead_s=6
            )
            seed = scenario.truth.seed_accounts[0]
            alert = procs.start(
                "alert",
                cli_argv("alert", "--since", scenario.truth.cutoff, "--seed", seed, "--source", SOURCE),
                clean_env(PREFECT_API_URL=api, PREFECT_HOME=str(tmp_path / "alert"), **settings),
            )
            assert alert.wait(120) == 0, alert.tail()
            # 4. The worker ran the playbook to the end.
            run = finished_run(api, "respond/on-alert", procs)
            assert run.work_pool_name == "holdfast"
            assert_playbook_ran(scenario, run)
            assert_bursts_done(shared)
            # 5. Together the three processes never went over the bucket: the fake Okta answered no 429.
            assert all(scenario.org.users[i].status is UserStatus.SUSPENDED for i in ids)
            assert scenario.org.okta_rate_limits.rejections == {}, scenario.org.okta_rate_limits.rejections
    finally:
        scenario.engine.dispose()
        scenario.org.close()


def test_holdfast_serve_runs_the_playbook_on_an_alert_on_one_machine(tmp_path: Path, procs: Procs) -> None:
    store_url = f"sqlite:///{tmp_path / 'holdfast.sqlite'}"
    scenario = prepare(tmp_path, store_url, people=150)
    try:
        with SandboxServer(scenario.org) as sandbox:
            settings = scenario.settings_env(sandbox, store_url, tmp_path)
            port = free_port()
            api = f"http://127.0.0.1:{port}/api"
            home = str(tmp_path / "prefect")  # `holdfast serve`'s Prefect server keeps its SQLite database here
            serve = procs.start(
                "serve", cli_argv("serve", "--port", str(port)), clean_env(PREFECT_HOME=home, **settings)
            )
            wait_healthy(api, serve)
            with temporary_settings(updates={PREFECT_API_URL: api}):
                registered = asyncio.run(_registered(api, time.monotonic() + 120, procs))
            assert registered == {
                "ingest/every-5-minutes": ["0 * * * *", "5-55/5 * * * *"],
                "reaudit/daily": ["0 6 * * *"],
                "retention/daily": ["30 3 * * *"],
                "respond/on-alert": [],
            }
            seed = scenario.truth.seed_accounts[0]
            alert = procs.start(
                "alert",
                cli_argv("alert", "--since", scenario.truth.cutoff, "--seed", seed, "--source", SOURCE),
                clean_env(PREFECT_API_URL=api, PREFECT_HOME=home, **settings),
            )
            assert alert.wait(120) == 0, alert.tail()
            assert_playbook_ran(scenario, finished_run(api, "respond/on-alert", procs))
    finally:
        scenario.engine.dispose()
        scenario.org.close()


async def _registered(api: str, deadline: float, watch: Procs) -> dict[str, Any]:
    """Deployment name -> its cron schedules, once `holdfast serve` has registered all four."""
    names = ("ingest/every-5-minutes", "reaudit/daily", "retention/daily", "respond/on-alert")
    async with get_client() as client:
        while time.monotonic() < deadline:
            found = {}
            for name in names:
                try:
                    found[name] = await client.read_deployment_by_name(name)
                except Exception:
                    break
            if len(found) == len(names):
                return {n: sorted(str(getattr(s.schedule, "cron", "")) for s in d.schedules) for n, d in found.items()}
            await asyncio.sleep(0.5)
    raise AssertionError(f"holdfast serve did not register its deployments\n{watch.tails()}")
