"""`holdfast respond`: audit, plan, and (with --execute) contain. Without --execute nothing changes in Okta."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from cli.main import ConfigOption, app, one_line_errors
from cli.ui import console, progress_bars, run_flow
from config.errors import InputError
from playbook.models import Plan
from playbook.plan_view import plan_rows
from playbook.when import parse_when

LEDGER_STATES = ("done", "already_done", "failed", "deferred", "intent")


def plan_table(plan: Plan, *, limit: int = 40) -> Table:
    counts = plan.counts_by_tier()
    title = (
        f"Plan {plan.incident_id}: {len(plan.accounts)} accounts ("
        + ", ".join(f"{tier} {n}" for tier, n in counts.items())
        + f"), cap {plan.cap}"
    )
    table = Table(title=title)
    for column in ("account", "tier", "status", "actions"):
        table.add_column(column)
    for login, tier, status, actions in plan_rows(plan)[:limit]:
        style = {"critical": "bold red", "high": "red", "medium": "yellow"}.get(tier, "")
        table.add_row(login, f"[{style}]{tier}[/]" if style else tier, status, actions)
    if len(plan.accounts) > limit:
        table.add_row(f"... and {len(plan.accounts) - limit} more", "", "", "")
    return table


def manual_table(plan: Plan) -> Table | None:
    if not plan.manual and not plan.skipped:
        return None
    table = Table(title="Not touched by holdfast")
    for column in ("account", "tier", "why"):
        table.add_column(column)
    for case in (*plan.manual, *plan.skipped):
        table.add_row(case.login, case.risk.value, case.why)
    return table


def ledger_table(summary: dict[str, Any]) -> Table:
    table = Table(
        title=f"Ledger: {summary['incident_id']} ({summary['elapsed_s']} s, rate-limit waits {summary['waited_s']} s)"
    )
    table.add_column("action")
    for state in ("done", "already_done", "failed", "deferred", "intent"):
        table.add_column(state, justify="right")
    for action, states in sorted(summary["counts"].items()):
        table.add_row(
            action, *(str(states.get(s, 0)) for s in ("done", "already_done", "failed", "deferred", "intent"))
        )
    return table


@app.command()
@one_line_errors
def respond(
    since: Annotated[
        str | None, typer.Option(help="Cutoff: every credential change since then (2021-12-01, 52d).")
    ] = None,
    seed: Annotated[list[str] | None, typer.Option(help="An account named in the alert (repeatable).")] = None,
    execute: Annotated[
        bool, typer.Option(help="Contain for real. Without it: print the plan, change nothing.")
    ] = False,
    confirm_count: Annotated[
        int | None, typer.Option(help="Required over the blast-radius cap: the plan's exact count.")
    ] = None,
    resume: Annotated[str | None, typer.Option(help="Finish an incident's containment (retries what failed).")] = None,
    config: ConfigOption = None,
) -> dict[str, Any]:
    """Run the playbook: audit since the cutoff, plan, and contain with --execute."""
    if since is None and resume is None:
        raise InputError("--since is required (or --resume INCIDENT)")
    if since is not None:
        try:
            parse_when(since, datetime.now(UTC))
        except ValueError as err:
            raise InputError(f"--since: {err}") from None
    from flows.respond import respond as respond_flow

    with progress_bars():
        result = run_flow(
            respond_flow(
                since=since, seeds=seed or [], execute=execute or resume is not None, confirm_count=confirm_count,
                resume=resume, config_file=str(config) if config else None,
            )
        )  # fmt: skip
    plan = Plan.model_validate(result["plan"])
    console.print(plan_table(plan))
    manual = manual_table(plan)
    if manual is not None:
        console.print(manual)
    for seed_name in result["unknown_seeds"]:
        console.print(f"[yellow]seed {seed_name!r} is not an Okta user: check the spelling[/]")
    for note in result["notes"]:
        console.print(f"[yellow]note:[/] {note}")
    if result["seeds_contained"]:
        console.print(ledger_table(result["seeds_contained"]))
    if result["containment"]:
        console.print(ledger_table(result["containment"]))
        if result["containment"]["failed"]:
            console.print(
                f"[red]{len(result['containment']['failed'])} actions failed[/]: "
                f"`holdfast respond --resume {result['incident_id']}` retries them"
            )
            raise typer.Exit(1)
    elif not result["executed"]:
        console.print(
            f"dry run: nothing changed. Execute with `holdfast respond --resume {result['incident_id']}` "
            f"or rerun with --execute."
        )
    return result  # typer ignores it; the demo reads the plan from it
