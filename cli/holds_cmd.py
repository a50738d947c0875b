"""`holdfast holds`, `holdfast verify`, `holdfast notify`: the hold, verify and release part of the playbook.

`verify` runs without a Prefect flow run on purpose: it hands the one-time reset link to the terminal once,
and nothing of it should pass through Prefect's state machinery (flows/release.py). The ledger is the record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from slack_sdk import WebClient

from cli.main import ConfigOption, app, one_line_errors
from cli.ui import console, run_flow
from config.errors import ProviderError
from config.policy import load_policy
from config.settings import load_settings
from store.holds import Hold, HoldState, format_age

STATE_STYLE = {HoldState.HELD: "bold red", HoldState.VERIFIED: "yellow", HoldState.RELEASED: "green"}


def holds_table(holds: Iterable[Hold], now: datetime, *, title: str = "Holds") -> Table:
    table = Table(title=title)
    for column in ("account", "incident", "state", "held for", "since", "verified", "released", "re-locks"):
        table.add_column(column, justify="right" if column == "re-locks" else "left")
    for hold in holds:
        style = STATE_STYLE[hold.state]
        table.add_row(
            hold.login,
            hold.incident_id,
            f"[{style}]{hold.state.value}[/]",
            format_age(hold.held_for(now)),
            hold.created_at[:16].replace("T", " "),
            (hold.verified_at or "")[:16].replace("T", " "),
            (hold.released_at or "")[:16].replace("T", " "),
            str(hold.relocks) if hold.relocks else "",
        )
    return table


def _ts_time(ts: str) -> str:
    return datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M:%S")


def channel_lines(messages: Iterable[Mapping[str, Any]]) -> list[str]:
    """Plain lines, oldest first: '<time>  <text>' (the notification text of each message)."""
    ordered = sorted(messages, key=lambda m: float(str(m["ts"])))
    return [f"{_ts_time(str(m['ts']))}  {m.get('text') or ''}" for m in ordered]


def channel_table(messages: Iterable[Mapping[str, Any]], *, title: str) -> Table:
    """The channel's messages as a rich table, oldest first."""
    table = Table(title=title, show_lines=True)
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("message")
    for message in sorted(messages, key=lambda m: float(str(m["ts"]))):
        table.add_row(_ts_time(str(message["ts"])), escape(str(message.get("text") or "")))
    return table


def it_channel_messages(client: WebClient, channel: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """The IT channel's latest messages through conversations.history (the sandbox's fake or real Slack)."""
    from tasks.slack.messages import history

    return list(history(client, channel, limit=limit))


def show_it_channel(settings_config: Path | None = None, *, limit: int = 100) -> None:
    """For the demo: print the IT channel's messages (settings from the environment or a config file)."""
    from tasks.slack.clients import slack_client

    settings = load_settings(settings_config)
    slack = settings.require_slack()
    messages = it_channel_messages(slack_client(slack), slack.it_channel, limit=limit)
    console.print(channel_table(messages, title=f"Slack IT channel {slack.it_channel} ({len(messages)} messages)"))


@app.command()
@one_line_errors
def holds(
    incident: Annotated[str | None, typer.Option(help="Only this incident's holds.")] = None,
    config: ConfigOption = None,
) -> None:
    """List holds with their age and state (held until IT verifies the person)."""
    from store import holds as store_holds
    from store import ledger
    from store.db import make_engine, migrate, transaction

    settings = load_settings(config)
    engine = make_engine(settings.store.url)
    migrate(engine)
    with transaction(engine) as conn:
        if incident is not None:
            ledger.get_incident(conn, incident)  # unknown incident: one clear line
        rows = store_holds.list_holds(conn, incident)
    now = datetime.now(UTC)
    if not rows:
        console.print("no holds" + (f" in {incident}" if incident else "") + ": nothing is waiting for verification")
        return
    counts = {s: sum(h.state is s for h in rows) for s in HoldState}
    title = f"Holds{' in ' + incident if incident else ''}: " + ", ".join(f"{s.value} {n}" for s, n in counts.items())
    console.print(holds_table(rows, now, title=title))


@app.command()
@one_line_errors
def verify(
    account: Annotated[str, typer.Argument(help="The held account (Okta login or user id).")],
    by: Annotated[str, typer.Option("--by", help="Your Okta login (an ACTIVE member of the verifiers group).")],
    method: Annotated[str, typer.Option(help="How you verified the person: video-call or in-person.")],
    ticket: Annotated[str, typer.Option(help="The ticket that records this verification.")],
    note: Annotated[str | None, typer.Option(help="Optional note for the record.")] = None,
    config: ConfigOption = None,
) -> None:
    """Record identity verification (authorised live against Okta) and release the account."""
    from flows.release import record_verification, run_release
    from playbook.verify import Channel, VerificationRequest
    from store.db import make_engine, migrate

    settings = load_settings(config)
    policy = load_policy(settings.policy_file)
    engine = make_engine(settings.store.url)
    migrate(engine)
    request = VerificationRequest(
        account=account, verifier=by, method=method, ticket=ticket, note=note, channel=Channel.CLI
    )

    def hand_over(link: str) -> None:
        # Printed once, to this terminal only; never logged or stored (flows/release.py).
        console.print(
            Panel(
                f"[bold]{escape(link)}[/]\n\nRead it to the person now, during the call. It works once; holdfast "
                "does not keep it and cannot show it again.",
                title=f"One-time password link for {escape(account)}",
                border_style="red",
            )
        )

    outcome = asyncio.run(record_verification(settings, policy, engine, request))
    released = None
    if outcome.complete:
        try:
            released = asyncio.run(
                run_release(settings, policy, engine, outcome.user_id, verification=outcome, hand_over=hand_over)
            )
        except ProviderError:
            console.print(
                "[yellow]the verification is recorded but the release did not finish (the hold stays open); "
                "run the same command again to finish it[/]"
            )
            raise
    who = ", ".join(outcome.verifiers)
    if released is None:
        console.print(
            f"verification of {outcome.login} by {outcome.verifier} recorded ({outcome.method}, ticket "
            f"{outcome.ticket}); the two-person rule needs a second, different verifier before the release"
        )
        return
    if released.already_released:
        console.print(f"{released.login} was already released: nothing done")
        return
    steps = ", ".join(f"{k} {v}" for k, v in released.steps.items()) or "nothing left to do"
    console.print(f"[green]{released.login} released[/] (verified by {who}): {steps}")
    if released.notify is not None:
        console.print(released.notify.line())


@app.command()
@one_line_errors
def notify(
    incident: Annotated[str | None, typer.Option(help="Only this incident's messages.")] = None,
    config: ConfigOption = None,
) -> None:
    """Send what the Slack outbox holds (each message exactly once; safe to run any time)."""
    from flows.notify import DrainSummary
    from flows.notify import notify as notify_flow

    load_settings(config).require_slack()  # fail fast, before Prefect starts
    result = run_flow(notify_flow(incident=incident, config_file=str(config) if config else None))
    summary = DrainSummary(**result)
    console.print(summary.line())
    for error in summary.errors:
        console.print(f"[yellow]not sent:[/] {escape(error)}")
    if summary.stopped:
        raise typer.Exit(1)
