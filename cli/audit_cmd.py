"""`holdfast audit`: every account whose credentials changed since a cutoff, as a table, JSON or CSV.

    holdfast audit --since 2021-12-01 --seed ana.silva@acme.com            # rich table
    holdfast audit --since 52d --format json --out audit.json               # documented schema (README)
    holdfast audit --since 30d --source okta --format csv                   # no store yet: live System Log

Thin: checks the inputs, runs the `audit` flow, renders its AuditResult. Errors are one line and an exit code.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cli.main import ConfigOption, app, one_line_errors
from cli.ui import console, progress_bars, run_flow
from config.errors import InputError
from config.policy import TIER_ORDER, load_policy
from config.settings import load_settings
from playbook.models import AuditResult
from playbook.report import summary_line, to_csv, to_json

_TIER_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "dim"}


class Source(StrEnum):
    store = "store"
    okta = "okta"


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def _table(result: AuditResult) -> Table:
    table = Table(title=f"holdfast audit since {result.cutoff}: {summary_line(result)}")
    for column in ("risk", "login", "status", "reasons", "who", "corroboration", "factors", "failed", "new agents"):
        table.add_column(column, justify="right" if column in ("failed", "new agents") else "left")
    order = {tier: n for n, tier in enumerate(TIER_ORDER)}
    for f in sorted(result.findings, key=lambda f: (order[f.risk], f.login)):
        table.add_row(
            f"[{_TIER_STYLE[f.risk.value]}]{f.risk.value}[/]",
            escape(f.login) + (" [bold](seed)[/]" if f.seed else ""),
            escape(f.status or ""),
            ", ".join(r.value for r in f.reasons),
            ", ".join(k.value for k in f.actor_kinds),
            f.corroboration.value,
            ", ".join(sorted({p.problem for p in f.factor_findings})),
            str(f.failed_attempts),
            str(len(f.access.new_user_agents)),
        )
    return table


@app.command("audit")
@one_line_errors
def audit(
    since: Annotated[str, typer.Option("--since", help="Cutoff: 2021-12-01, 2022-01-21T03:30:00Z or 52d.")],
    seed: Annotated[
        list[str] | None, typer.Option("--seed", help="Account named in the alert (login or id); repeatable.")
    ] = None,
    source: Annotated[
        Source, typer.Option(help="store (default) or okta: the live System Log, 90 days.")
    ] = Source.store,
    output_format: Annotated[Format, typer.Option("--format", help="table, json or csv.")] = Format.table,
    out: Annotated[Path | None, typer.Option("--out", help="Write json/csv to this file instead of stdout.")] = None,
    config: ConfigOption = None,
) -> None:
    """Audit password and MFA changes since a cutoff: who made them, does Google agree, which keys are unknown."""
    from playbook.when import parse_when

    settings = load_settings(config)  # fail fast, before Prefect starts, on bad settings or policy
    load_policy(settings.policy_file)
    settings.require_okta()
    now = datetime.now(UTC)
    try:
        cutoff = parse_when(since, now)
    except ValueError as err:
        raise InputError(f"--since: {err}") from None
    if cutoff > now:
        raise InputError(f"--since: {since} is in the future: the audit looks back from now")
    from flows.audit import audit as audit_flow

    run = audit_flow(
        since=since, seeds=list(seed or []), source=source.value, config_file=str(config) if config else None
    )
    if output_format is Format.table or out is not None:
        with progress_bars():
            body = run_flow(run)
    else:
        body = run_flow(run)  # stdout carries the document only
    result = AuditResult.model_validate(body)
    if output_format is Format.table:
        console.print(_table(result))
        for note in (*result.notes, *(f"unknown seed account: {s}" for s in result.unknown_seeds)):
            console.print(f"[yellow]note:[/] {escape(note)}")
        if out is not None:
            out.write_text(to_json(result))
        return
    text = to_json(result) if output_format is Format.json else to_csv(result)
    if out is not None:
        out.write_text(text)
        console.print(f"{summary_line(result)}: written to {escape(str(out))}")
    else:
        sys.stdout.write(text)
