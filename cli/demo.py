"""`holdfast demo` (`make demo`): rehearse the playbook end to end on a generated sandbox org.

Everything stays on this machine: the fake Okta / Google / Slack listen on 127.0.0.1 over HTTPS with a
throw-away CA; Prefect runs on its ephemeral API with its database inside the demo folder; the evidence
store is a SQLite file there too. The folder is kept afterwards for inspection.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.table import Table

from cli.main import app, evidence_verify, one_line_errors
from cli.ui import console, progress_bars, run_flow

DEMO_FOLDER = Path("var/demo")


def _policy_for(org_folder: Path, domain: str, policy_out: Path) -> Path:
    """The default policy, pointed at the sandbox's approved-key registry and its service account."""
    from config.policy import DEFAULT_POLICY_FILE

    text = DEFAULT_POLICY_FILE.read_text()
    text = text.replace('registry = "approved-keys.json"', f'registry = "{org_folder / "approved-keys.json"}"')
    text = text.replace("svc-holdfast@example.com", f"svc-holdfast@{domain}")
    policy_out.write_text(text)
    return policy_out


def _org_table(org: Any, endpoints: Any, seconds: float) -> Table:
    table = Table(title=f"Sandbox org {org.domain} (generated in {seconds:.1f} s)", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    statuses = Counter(str(u.status) for u in org.users.values())
    factors = Counter(f.factor_type for fs in org.factors.values() for f in fs)
    table.add_row("people", f"{len(org.users):,}  " + ", ".join(f"{k} {v:,}" for k, v in statuses.most_common()))
    table.add_row("groups", ", ".join(sorted(g.name for g in org.groups.values())))
    table.add_row("factors", ", ".join(f"{k} {v:,}" for k, v in factors.most_common()))
    table.add_row("Okta System Log", f"{org.system_log.count():,} events")
    table.add_row("Google Reports", f"{org.reports.count():,} activities")
    table.add_row("Slack", f"{len(org.slack_users):,} people, IT channel {', '.join(org.slack_channels.values())}")
    table.add_row("Okta API", endpoints.okta_url)
    table.add_row("Google API", endpoints.google_url)
    table.add_row("Slack API", endpoints.slack_url)
    return table


@app.command()
@one_line_errors
def demo(
    people: Annotated[int, typer.Option(min=50, max=100_000)] = 400,
    days: Annotated[int, typer.Option(min=1, max=180)] = 60,
    seed: int = 2022,
    folder: Annotated[Path, typer.Option(help="Where the demo's files go (wiped first).")] = DEMO_FOLDER,
) -> None:
    """Rehearse holdfast on a generated sandbox org: ingest, verify evidence, (and more as it grows)."""
    folder = folder.resolve()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    # Prefect reads its settings at import: isolate its home in the demo folder before importing flows.
    os.environ["PREFECT_HOME"] = str(folder / "prefect")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

    from sandbox.scenario import build_org, load_spec
    from sandbox.server import SandboxServer

    console.print(
        Panel(
            "holdfast rehearses the response to an identity-provider compromise (Okta, January 2022) on a "
            "sandbox org: faithful fakes of Okta, Google Workspace and Slack on 127.0.0.1, driven through the "
            "real SDKs.",
            title="holdfast demo",
        )
    )
    started = time.perf_counter()
    spec = load_spec(None, seed=seed, people=people, days=days)
    with console.status(f"generating {people:,} people and {days} days of history ..."):
        org, truth = build_org(spec, folder / "org")
    generated = time.perf_counter() - started

    with SandboxServer(org) as server:
        console.print(_org_table(org, server.endpoints, generated))
        env = server.env()
        env["HOLDFAST_STORE__URL"] = f"sqlite:///{folder / 'holdfast.sqlite'}"
        env["HOLDFAST_STORE__ANCHOR_FILE"] = str(folder / "anchors.jsonl")
        env["HOLDFAST_POLICY_FILE"] = str(_policy_for(folder / "org", org.domain, folder / "policy.toml"))
        os.environ.update(env)

        console.rule("1. Ingest: Okta System Log and Google Workspace Reports into the evidence store")
        pages = org.system_log.count() // 1000 + 1
        console.print(
            f"Okta serves /api/v1/logs at 120 requests a minute, 1,000 events each: {pages} pages, so about "
            f"{max(pages - 120, 0) / 2:.0f} s of waiting for the rate limit is the physical floor here."
        )
        from cli.main import _summary_table
        from flows.ingest import ingest, summary_markdown

        with progress_bars():
            summary = run_flow(ingest(since=f"{days}d"))
        console.print(_summary_table(summary_markdown(summary)))

        console.rule("2. Evidence: recompute every hash chain and check the anchors")
        evidence_verify(config=None)

        from cli.holds_cmd import holds, show_it_channel, verify
        from cli.respond_cmd import respond

        alert_account = truth.seed_accounts[0]
        cutoff = truth.cutoff
        console.rule(f"3. Plan (dry run): credential changes since {cutoff}, alert names {alert_account}")
        dry_run = respond(
            since=cutoff, seed=[alert_account], execute=False, confirm_count=None, resume=None, config=None
        )
        plan = dry_run["plan"]
        count = len(plan["accounts"])
        if plan["over_cap"]:
            console.print(
                f"{count} accounts exceed the blast-radius cap of {plan['cap']} (10% of active users in this small "
                f"org): the responder reviews the plan and confirms the exact count (--confirm-count {count})."
            )

        console.rule("4. Execute: the seed first, then everyone in the plan; people notified on Slack")
        respond(since=cutoff, seed=[alert_account], execute=True, confirm_count=count, resume=None, config=None)

        console.rule("5. Holds: each account stays suspended until IT verifies the person")
        holds(incident=None, config=None)

        verifier = truth.verifiers[0]
        console.rule(f"6. IT verifies {alert_account} on a video call ({verifier}) and releases the account")
        verify(account=alert_account, by=verifier, method="video-call", ticket="IT-4711", note="demo", config=None)
        holds(incident=None, config=None)

        console.rule("7. The IT channel")
        show_it_channel(None)

    console.print(
        f"\ndemo files kept in {folder} (ground truth: {folder / 'org' / 'ground-truth.json'}, "
        f"{len(truth.accounts)} accounts to find)"
    )
