"""The `holdfast` command: thin wrappers that build settings, call flows, and turn errors into exit codes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from cli.ui import console, errors, progress_bars, run_flow
from config.errors import HoldfastError, InputError
from config.policy import load_policy
from config.settings import Settings, load_settings, redacted

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    name="holdfast",
    help="Identity-compromise response: ingest evidence, audit credential changes, contain, notify, hold.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
evidence_app = typer.Typer(help="The tamper-evident evidence store.", no_args_is_help=True)
config_app = typer.Typer(help="Settings and policy.", no_args_is_help=True)
app.add_typer(evidence_app, name="evidence")
app.add_typer(config_app, name="config")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML settings file (default: $HOLDFAST_CONFIG, then env only)."),
]


def one_line_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """HoldfastError -> 'error: <one line>' on stderr and its exit code; nothing else is swallowed."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except HoldfastError as err:
            errors.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
            raise typer.Exit(err.exit_code) from None

    return wrapper


def _settings(config: Path | None) -> Settings:
    return load_settings(config)


@config_app.command("check")
@one_line_errors
def config_check(config: ConfigOption = None) -> None:
    """Validate settings and policy; print them with secrets redacted."""
    settings = _settings(config)
    policy = load_policy(settings.policy_file)
    table = Table(title="holdfast settings (secrets redacted)")
    table.add_column("setting")
    table.add_column("value")
    for section, values in redacted(settings).items():
        if isinstance(values, dict):
            for key, value in values.items():
                table.add_row(f"{section}.{key}", str(value))
        else:
            table.add_row(section, str(values))
    console.print(table)
    console.print(
        f"policy: {len(policy.watched)} watched event types, protected groups "
        f"{sorted(policy.protected.groups)}, verifiers group {policy.verification.group!r}"
    )


@app.command()
@one_line_errors
def ingest(
    config: ConfigOption = None,
    since: Annotated[
        str | None, typer.Option(help="Backfill start for sources with no cursor yet: 90d, 2021-12-01 ...")
    ] = None,
) -> None:
    """Pull Okta System Log and Google Reports into the evidence store (resumes from the stored cursor)."""
    from playbook.when import parse_when

    _settings(config)  # fail fast, before Prefect starts, on bad settings
    if since is not None:
        try:
            parse_when(since, datetime.now(UTC))
        except ValueError as err:
            raise InputError(f"--since: {err}") from None
    from flows.ingest import ingest as ingest_flow
    from flows.ingest import summary_markdown

    with progress_bars():
        summary = run_flow(ingest_flow(since=since, config_file=str(config) if config else None))
    console.print(_summary_table(summary_markdown(summary)))
    if not summary["ok"]:
        raise typer.Exit(1)


def _summary_table(markdown: str) -> Table:
    """Render the flow's markdown summary table as a rich table (one source of truth for both)."""
    rows = [line.strip("|").split("|") for line in markdown.splitlines() if line.startswith("|")]
    table = Table(title=next((line[2:] for line in markdown.splitlines() if line.startswith("# ")), None))
    header, body = rows[0], rows[2:]
    for name in header:
        table.add_column(name.strip(), justify="right" if name.strip() not in ("source", "status") else "left")
    for row in body:
        table.add_row(*(cell.strip() for cell in row))
    return table


@evidence_app.command("verify")
@one_line_errors
def evidence_verify(
    config: ConfigOption = None,
    slack: Annotated[
        bool, typer.Option("--slack", help="Also check the chain heads posted to the IT Slack channel (off this host).")
    ] = False,
) -> None:
    """Recompute every evidence chain; name the first altered, deleted, reordered or inserted record."""
    from store.anchors import read_anchors
    from store.db import make_engine, migrate, transaction
    from store.verify import verify_all

    settings = _settings(config)
    engine = make_engine(settings.store.url)
    migrate(engine)
    anchors = read_anchors(settings.store.resolved_anchor_file())
    if slack:
        from tasks.slack.clients import slack_client
        from tasks.slack.messages import posted_anchors

        slack_settings = settings.require_slack()
        posted = posted_anchors(slack_client(slack_settings), slack_settings.it_channel)
        console.print(f"{len(posted):,} chain heads posted to Slack {slack_settings.it_channel} read back")
        anchors += posted
    with transaction(engine) as conn:
        reports = verify_all(conn, anchors)
    table = Table(title="evidence chains")
    for column in ("source", "records", "head seq", "head hash", "result"):
        table.add_column(column)
    for report in reports:
        table.add_row(
            report.source,
            f"{report.checked:,}",
            str(report.head_seq),
            report.head_hash[:16],
            "[green]intact[/]" if report.ok else f"[red]{report.problem}[/]",
        )
    console.print(table)
    bad = [r for r in reports if not r.ok]
    if bad:
        from config.errors import TamperDetected

        raise TamperDetected(str(bad[0].problem))
    if not reports:
        console.print("no evidence stored yet: run `holdfast ingest` first")


def main() -> None:
    app()


# Subcommand groups that live in their own modules register themselves on import.
from cli import audit_cmd, demo, holds_cmd, ops_cmd, respond_cmd, sandbox_cmd  # noqa: E402,F401
