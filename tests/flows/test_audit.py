"""The audit against the sandbox's January-2022 scenario, ingested once through the ingest flow.

Ground truth comes from the generator's own bookkeeping (sandbox/scenario/truth.py), never from the events:
the audit must find exactly its accounts, reasons, tiers, actor kinds and corroboration. Okta is read through
the real okta SDK, Google through googleapiclient, both against the sandbox.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from typer.testing import CliRunner

import cli.audit_cmd  # noqa: F401 (registers `holdfast audit`; cli/main.py imports it too)
from cli.main import app
from config.errors import InputError
from config.policy import Policy, load_policy
from config.settings import Settings, load_settings
from flows.audit import audit, run_audit
from flows.ingest import ingest
from playbook.models import AuditResult, Corroboration
from playbook.report import from_json, to_json
from playbook.when import okta_time
from sandbox.org import Org
from sandbox.scenario import GroundTruth, build_org, load_spec
from sandbox.server import SandboxServer
from store.db import make_engine, migrate, transaction
from store.evidence import append
from store.ingest_state import RunCounts, finish_run, start_run
from store.records import google_record, okta_record
from tasks.google.reports import APPLICATIONS
from tests.factories import settings_file

SCENARIOS = Path(__file__).parents[1] / "data" / "scenarios"
PEOPLE, DAYS = 150, 30


@dataclass
class Audited:
    org: Org
    truth: GroundTruth
    server: SandboxServer
    config: Path
    settings: Settings
    policy: Policy
    folder: Path

    @property
    def cutoff(self) -> datetime:
        return datetime.fromisoformat(self.truth.cutoff.replace("Z", "+00:00"))

    @property
    def end(self) -> datetime:
        return datetime.fromisoformat(self.truth.end.replace("Z", "+00:00"))

    def audit(self, **kw: Any) -> AuditResult:
        engine = make_engine(self.settings.store.url)
        try:
            options: dict[str, Any] = {"cutoff": self.cutoff, "seeds": self.truth.seed_accounts, **kw}
            return asyncio.run(run_audit(self.settings, self.policy, engine, **options))
        finally:
            engine.dispose()


def policy_file(folder: Path, registry: Path) -> Path:
    """The default policy, pointing at the scenario's approved-key registry (as an operator would edit it)."""
    text = (Path(__file__).parents[2] / "config" / "policy.toml").read_text()
    text = text.replace('registry = "approved-keys.json"', f'registry = "{registry}"')
    path = folder / "policy.toml"
    path.write_text(text)
    return path


def load_directly(org: Org, settings: Settings) -> None:
    """The ingest flow's transform and load without its HTTP paging and Prefect task runs (which cost ~30 s
    per org here): every System Log event and Reports activity, appended as ingest appends them."""
    engine = make_engine(settings.store.url)
    migrate(engine)
    stamp = okta_time(datetime.now(UTC))
    after: tuple[str, int] | None = None
    while page := org.system_log.scan(after=after, limit=5_000):
        with transaction(engine, write=True) as conn:
            append(
                conn, "okta", [okta_record(e.as_dict(), raw=e.body, ingested_at=stamp) for e in page], ingested_at=stamp
            )
        after = (page[-1].published, page[-1].seq)
    for application in APPLICATIONS:
        activities, before = [], None
        while page := org.reports.scan(application, before=before, limit=5_000):
            activities.extend(page)
            before = (page[-1].time, page[-1].seq)
        activities.sort(key=lambda a: (a.time, a.seq))
        with transaction(engine, write=True) as conn:
            run = start_run(conn, f"google:{application}", stamp)
            records = [google_record(a.as_dict(), raw=a.body, ingested_at=stamp) for a in activities]
            append(conn, f"google:{application}", records, ingested_at=stamp)
            finish_run(conn, run, RunCounts(), "ok", stamp, None)
    engine.dispose()


def prepare(folder: Path, scenario: Path | None, seed: int | None, *, via_flow: bool = True) -> Iterator[Audited]:
    spec = load_spec(scenario, seed=seed, people=PEOPLE, days=DAYS)
    org, truth = build_org(spec, folder / "org")
    policy_path = policy_file(folder, folder / "org" / "approved-keys.json")
    with SandboxServer(org) as server:
        config = settings_file(server, folder, google=True, HOLDFAST_POLICY_FILE=str(policy_path))
        settings = load_settings(config, environ={})
        if via_flow:
            since = (spec.start - timedelta(minutes=1)).isoformat()
            summary = asyncio.run(ingest(since=since, config_file=str(config)))
            assert summary["ok"], summary
        else:
            load_directly(org, settings)
        yield Audited(org, truth, server, config, settings, load_policy(policy_path), folder)
    org.close()


@pytest.fixture(scope="module")
def january(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audited]:
    yield from prepare(tmp_path_factory.mktemp("january"), None, 7)


Row = tuple[tuple[str, ...], str, tuple[str, ...], str]


def found_rows(result: AuditResult) -> dict[str, Row]:
    return {
        f.login: (
            tuple(r.value for r in f.reasons),
            f.risk.value,
            tuple(k.value for k in f.actor_kinds),
            f.corroboration.value,
        )
        for f in result.findings
    }


def truth_rows(truth: GroundTruth) -> dict[str, Row]:
    return {
        a.login: (
            tuple(r.value for r in a.reasons),
            a.tier.value,
            tuple(k.value for k in a.actor_kinds),
            a.corroboration.value,
        )
        for a in truth.accounts
    }


def assert_matches_truth(result: AuditResult, truth: GroundTruth) -> None:
    got, want = found_rows(result), truth_rows(truth)
    true_positives = set(got) & set(want)
    precision = len(true_positives) / len(got) if got else 1.0
    recall = len(true_positives) / len(want) if want else 1.0
    assert (precision, recall) == (1.0, 1.0), (set(got) - set(want), set(want) - set(got))
    assert got == want
    ids = {f.login: f.user_id for f in result.findings}
    assert ids == {a.login: a.user_id for a in truth.accounts}


def test_the_audit_flow_finds_exactly_the_ground_truth_and_publishes_an_artifact(january: Audited) -> None:
    since = january.truth.cutoff
    body = asyncio.run(audit(since=since, seeds=january.truth.seed_accounts, config_file=str(january.config)))
    result = AuditResult.model_validate(body)
    assert result.cutoff == january.truth.cutoff and result.source == "store"
    assert result.corroboration_available and result.unknown_seeds == ()
    assert_matches_truth(result, january.truth)
    assert any(f.risk.value == "critical" for f in result.findings)

    async def artifact() -> str:
        async with get_client() as client:
            found = await client.read_latest_artifacts()
            return next(str(a.data) for a in found if a.key == "holdfast-audit")

    markdown = asyncio.run(artifact())
    assert "# holdfast audit" in markdown
    assert all(login in markdown for login in truth_rows(january.truth))


def test_decoys_before_the_cutoff_are_not_found_and_protected_accounts_still_are(january: Audited) -> None:
    result = january.audit()
    logins = {f.login for f in result.findings}
    assert january.truth.decoys and not logins & {d.login for d in january.truth.decoys}
    responder_change = {p.login for p in january.truth.protected} & set(truth_rows(january.truth))
    assert responder_change and responder_change <= logins  # containment skips them; the audit reports them


def test_findings_carry_the_evidence_failed_attempts_factors_and_access_picture(january: Audited) -> None:
    result = january.audit()
    by_login = {f.login: f for f in result.findings}
    bypass = [f for f in result.findings if "mfa_bypass_attempt" in {r.value for r in f.reasons}]
    assert any(f.failed_attempts == 1 and f.failed_evidence for f in bypass)
    assert any(f.failed_attempts == 0 for f in bypass)  # the successful one
    swapped = [f for f in result.findings if "unknown_hardware_key" in {r.value for r in f.reasons}]
    assert swapped and all(
        any(x.problem == "unknown_hardware_key" and x.credential_id for x in f.factor_findings) for f in swapped
    )
    google_only = [f for f in result.findings if f.corroboration is Corroboration.GOOGLE_ONLY]
    assert google_only and all(f.evidence and not f.actor_kinds for f in google_only)
    attacked = [
        f
        for f in result.findings
        if "192.0.2.15" in f.access.ips or "192.0.2.77" in f.access.ips or "192.0.2.140" in f.access.ips
    ]
    assert attacked and all(f.access.new_user_agents for f in attacked)
    seed = by_login[january.truth.seed_accounts[0]]
    assert seed.seed and seed.access.sign_ins > 0 and seed.status == "ACTIVE"


def test_the_same_inputs_give_byte_identical_json(january: Audited) -> None:
    fixed = january.end + timedelta(minutes=30)
    first = to_json(january.audit(clock=lambda: fixed))
    second = to_json(january.audit(clock=lambda: fixed, seeds=list(reversed(january.truth.seed_accounts))))
    assert first == second
    assert to_json(from_json(first)) == first


def test_an_unknown_seed_is_reported_and_an_untouched_seed_is_investigated_at_low_risk(january: Audited) -> None:
    untouched = next(
        u.login
        for u in january.org.users.values()
        if u.login not in truth_rows(january.truth) and u.status.value == "ACTIVE" and "." in u.login.split("@")[0]
    )
    result = january.audit(seeds=["ghost.person@example.com", untouched.upper()])
    assert result.unknown_seeds == ("ghost.person@example.com",)
    finding = next(f for f in result.findings if f.login == untouched)
    assert [r.value for r in finding.reasons] == ["seed"] and finding.risk.value == "low"


def test_a_cutoff_in_the_future_or_before_the_stored_evidence_is_refused(january: Audited) -> None:
    with pytest.raises(InputError, match="is in the future"):
        january.audit(cutoff=datetime.now(UTC) + timedelta(hours=1))
    with pytest.raises(InputError, match="older than the oldest stored evidence"):
        january.audit(cutoff=january.cutoff - timedelta(days=DAYS))


def test_the_live_okta_source_refuses_a_cutoff_beyond_okta_s_90_days(january: Audited) -> None:
    with pytest.raises(InputError, match="keeps only 90 days"):
        january.audit(source="okta", cutoff=datetime.now(UTC) - timedelta(days=91))


def test_the_live_okta_source_finds_the_same_accounts(january: Audited) -> None:
    result = january.audit(source="okta")
    assert result.source == "okta" and result.corroboration_available
    assert_matches_truth(result, january.truth)


def test_google_not_ingested_completes_the_audit_marked_unavailable(january: Audited, tmp_path: Path) -> None:
    # A store whose Google ingest never succeeded: evidence untouched, only the run records say "failed".
    copy = tmp_path / "no-google.sqlite"
    with sqlite3.connect(january.settings.store.url.removeprefix("sqlite:///")) as source, sqlite3.connect(copy) as db:
        source.backup(db)  # the WAL's committed pages included
        db.execute("UPDATE ingest_runs SET status = 'failed' WHERE source LIKE 'google:%'")
    settings = january.settings.model_copy(
        update={"store": january.settings.store.model_copy(update={"url": f"sqlite:///{copy}"})}
    )
    engine = make_engine(settings.store.url)
    result = asyncio.run(run_audit(settings, january.policy, engine, cutoff=january.cutoff))
    engine.dispose()
    assert not result.corroboration_available
    assert any("corroboration unavailable" in note for note in result.notes)
    want = truth_rows(january.truth)
    for f in result.findings:
        expected = want[f.login]
        if expected[3] in ("confirmed", "okta_only"):
            assert f.corroboration is Corroboration.UNAVAILABLE
        elif expected[3] == "not_applicable":
            assert f.corroboration is Corroboration.NOT_APPLICABLE
    # The Google-only reset cannot be seen without Google: every other account is still found.
    assert {f.login for f in result.findings} == {login for login, row in want.items() if row[3] != "google_only"}


def test_google_refusing_access_completes_a_live_audit_marked_unavailable(january: Audited) -> None:
    scopes = january.org.credentials.google_delegated_scopes
    january.org.credentials.google_delegated_scopes = frozenset()
    january.org.credentials.google_access_tokens.clear()
    try:
        result = january.audit(source="okta")
    finally:
        january.org.credentials.google_delegated_scopes = scopes
    assert not result.corroboration_available
    assert any(note.startswith("Google Workspace unavailable") for note in result.notes)
    assert {f.login for f in result.findings} >= {a.login for a in january.truth.accounts if a.evidence_in_log}


def test_the_cli_writes_the_json_schema_and_csv(january: Audited, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "audit.json"
    args = ["audit", "--since", january.truth.cutoff, "--config", str(january.config), "--format", "json"]
    seeds = [x for s in january.truth.seed_accounts for x in ("--seed", s)]
    result = runner.invoke(app, [*args, *seeds, "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert {"cutoff", "until", "source", "findings", "unknown_seeds", "corroboration_available", "counts"} <= set(
        document
    )
    first = document["findings"][0]
    assert {
        "user_id",
        "login",
        "reasons",
        "actor_kinds",
        "risk",
        "corroboration",
        "factor_findings",
        "evidence",
    } <= set(first)
    assert found_rows(from_json(out.read_text())) == truth_rows(january.truth)
    csv_out = runner.invoke(
        app, ["audit", "--since", january.truth.cutoff, "--config", str(january.config), "--format", "csv"]
    )
    assert csv_out.exit_code == 0, csv_out.output
    assert csv_out.output.splitlines()[0].startswith("login,user_id,status,risk,reasons")
    assert len(csv_out.output.splitlines()) == 1 + len(january.truth.accounts)


@pytest.fixture(scope="module", params=sorted(p.name for p in SCENARIOS.glob("*.json")))
def scenario_file(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audited]:
    folder = tmp_path_factory.mktemp(request.param.removesuffix(".json"))
    yield from prepare(folder, SCENARIOS / request.param, None, via_flow=False)


def test_other_scenarios_are_found_exactly_too(scenario_file: Audited) -> None:
    result = scenario_file.audit()
    assert_matches_truth(result, scenario_file.truth)
    if scenario_file.truth.scenario == "quiet-org":
        assert not any(f.risk.value == "critical" for f in result.findings)


def test_reading_only_the_findings_factors_misses_the_silent_key_swap_and_says_so(january: Audited) -> None:
    result = january.audit(factor_scope="findings")
    silent = {
        a.login for a in january.truth.accounts if not a.evidence_in_log and a.corroboration.value != "google_only"
    }
    assert silent and not silent & {f.login for f in result.findings}
    assert any(note.startswith("factor check scope: findings") for note in result.notes)
