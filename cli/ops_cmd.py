"""Operations commands: `holdfast alert`, `serve`, `timeline`, `incidents` and `rate-limits`.

- `alert` validates an alert, records it in the ledger and emits the `holdfast.alert` event that starts the
  respond playbook on the server (`holdfast serve`, or the workers of a Prefect server).
- `serve` registers the deployments of flows/deployments.py and runs them on this machine (the embedded
  default). Without PREFECT_API_URL it starts a local Prefect server first: Prefect's ephemeral API runs
  neither schedules nor one API that other commands can reach.
- `timeline` writes an incident's timeline (Markdown or JSON) and publishes it as a Prefect artifact.
- `incidents` lists the ledger's incidents and the latest alerts.
- `rate-limits` creates the Okta budgets shared by workers (Prefect global concurrency limits).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from cli.main import ConfigOption, _settings, app, one_line_errors
from cli.ui import console, run_flow
from config.errors import ConfigError, InputError, ProviderError

DEFAULT_PORT = 4200  # Prefect's own default, so `prefect` commands on this machine find `holdfast serve`
LOCAL_API = "http://127.0.0.1:{port}/api"
SERVER_START_TIMEOUT_S = 120.0


def _healthy(api_url: str, timeout: float = 2.0) -> bool:
    import httpx

    try:
        return httpx.get(f"{api_url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def _configured_api() -> str | None:
    from prefect.settings import PREFECT_API_URL

    value = PREFECT_API_URL.value()
    return str(value).rstrip("/") if value else None


@contextlib.contextmanager
def _using_api(api_url: str) -> Iterator[None]:
    """Point this process, and every flow-run process it starts, at `api_url`."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = api_url
    try:
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            yield
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous


@contextlib.contextmanager
def local_prefect_server(port: int, log_file: Path) -> Iterator[str]:
    """`prefect server start` on 127.0.0.1:`port` (its SQLite database in PREFECT_HOME), stopped on exit."""
    api_url = LOCAL_API.format(port=port)
    if _healthy(api_url):
        raise ConfigError(
            f"a Prefect server already answers on {api_url}: set PREFECT_API_URL={api_url} to use it, "
            "or pick another --port"
        )
    log_file.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with log_file.open("ab") as log:
        # Its own session: Ctrl-C reaches `holdfast serve` only, which stops its runner (pausing the schedules
        # through this server) before it stops the server.
        process = subprocess.Popen(  # noqa: S603 (fixed argv)
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not _healthy(api_url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise ConfigError(f"the local Prefect server did not start: see {log_file}")
            time.sleep(0.5)
        yield api_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ------------------------------------------------------------------------------------------------------ alert


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _default_source() -> str:
    return f"holdfast alert by {getpass.getuser()}@{socket.gethostname()}"


@app.command()
@one_line_errors
def alert(
    since: Annotated[
        str | None, typer.Option(help="Cutoff: when the compromise may have begun (2021-12-01, 52d).")
    ] = None,
    seed: Annotated[list[str] | None, typer.Option(help="An account named in the alert (repeatable).")] = None,
    source: Annotated[str | None, typer.Option(help="Who raised it: SIEM rule, responder, public report.")] = None,
    config: ConfigOption = None,
) -> None:
    """Raise an alert: validated, recorded in the ledger, and sent to Prefect as the `holdfast.alert` event."""
    from config.policy import load_policy
    from flows.alert import Alert, emit_alert_event, raise_alert
    from store.db import make_engine, migrate

    settings = _settings(config)
    policy = load_policy(settings.policy_file)
    api_url = _configured_api()
    if api_url is None and _healthy(LOCAL_API.format(port=DEFAULT_PORT)):
        api_url = LOCAL_API.format(port=DEFAULT_PORT)  # `holdfast serve` on this machine

    async def emit(accepted: Alert) -> str:
        if api_url is None:
            raise ProviderError(
                "prefect",
                "no Prefect API to deliver the alert to: run `holdfast serve` on this machine, or set "
                "PREFECT_API_URL to the Prefect server",
            )
        with _using_api(api_url):
            return await emit_alert_event(accepted)

    engine = make_engine(settings.store.url)
    try:
        migrate(engine)
        outcome = asyncio.run(
            raise_alert(settings, policy, engine, since=since, seeds=seed or [], source=source or _default_source(),
                        emit=emit)
        )  # fmt: skip
    finally:
        engine.dispose()
    assert outcome.alert is not None
    payload = outcome.alert.payload()
    mode = "contain (policy alerts.execute = true)" if payload["execute"] else "dry run (policy alerts.execute = false)"
    console.print(
        f"alert {outcome.alert_id} accepted and sent to {api_url} (event {outcome.event_id}): the respond playbook "
        f"runs for changes since {payload['since']}, seeds {', '.join(payload['seeds'])}, {mode}. "
        "Follow it with `holdfast incidents`.",
        markup=False,  # the source is the alert's own text
        highlight=False,
    )


# ------------------------------------------------------------------------------------------------------ serve


async def _serve(config: Path | None, with_slack_anchor: bool, shared_budget: bool) -> None:
    from prefect import aserve

    from flows.deployments import ensure_shared_budgets, okta_budgets, runner_deployments

    if shared_budget:
        await ensure_shared_budgets(okta_budgets())
    deployments = await runner_deployments(
        config_file=str(config.resolve()) if config else None, with_slack_anchor=with_slack_anchor
    )
    await aserve(*deployments, print_starting_message=False)


@app.command()
@one_line_errors
def serve(
    port: Annotated[
        int, typer.Option(help="Port of the local Prefect server started when PREFECT_API_URL is unset.")
    ] = DEFAULT_PORT,
    config: ConfigOption = None,
) -> None:
    """Register holdfast's deployments (schedules, the alert trigger) and run them here until Ctrl-C."""
    from prefect.settings import PREFECT_HOME

    from config.policy import load_policy
    from flows.deployments import DEPLOYMENTS

    settings = _settings(config)
    settings.require_okta()
    load_policy(settings.policy_file)  # a bad policy stops here, not in the first scheduled run
    shared = settings.okta is not None and settings.okta.shared_rate_limits
    # SIGTERM (systemd, a test) stops serve like Ctrl-C, so the local server is always stopped with it;
    # Prefect's runner installs its own graceful SIGTERM handler once it runs.
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt), contextlib.ExitStack() as stack:
        api_url = _configured_api()
        if api_url is None:
            log = Path(PREFECT_HOME.value()) / "holdfast-serve-server.log"
            with console.status(f"starting a local Prefect server on 127.0.0.1:{port} ..."):
                api_url = stack.enter_context(local_prefect_server(port, log))
        elif not _healthy(api_url):
            raise ConfigError(f"PREFECT_API_URL {api_url} does not answer: start the Prefect server first")
        stack.enter_context(_using_api(api_url))
        table = Table(title=f"holdfast deployments on {api_url}")
        for column in ("deployment", "runs"):
            table.add_column(column)
        for spec in DEPLOYMENTS:
            when = "on every holdfast.alert event" if spec.on_alert else ", ".join(s.cron for s in spec.schedules)
            table.add_row(f"{spec.flow_name}/{spec.name}", f"{when} (UTC)" if spec.schedules else when)
        console.print(table)
        console.print(f"other shells: export PREFECT_API_URL={api_url}   (then `holdfast alert ...`)")
        asyncio.run(_serve(config, settings.slack is not None, shared))


# --------------------------------------------------------------------------------------------------- timeline


@app.command()
@one_line_errors
def timeline(
    incident: Annotated[str, typer.Argument(help="Incident id (see `holdfast incidents`).")],
    format: Annotated[Literal["md", "json"], typer.Option("--format", help="Markdown or JSON.")] = "md",
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of the terminal.")] = None,
    config: ConfigOption = None,
) -> None:
    """An incident's timeline from the ledger (post-mortem style), also published as a Prefect artifact."""
    from flows.timeline import timeline as timeline_flow
    from playbook.timeline import from_dict, to_markdown

    _settings(config)
    data = run_flow(timeline_flow(incident=incident, config_file=str(config) if config else None))
    text = json.dumps(data, indent=2, sort_keys=True) + "\n" if format == "json" else to_markdown(from_dict(data))
    if out is not None:
        out.write_text(text)
        console.print(f"timeline of {incident} written to {out}")
    else:
        console.out(text, highlight=False)


# -------------------------------------------------------------------------------------------------- incidents


@app.command()
@one_line_errors
def incidents(
    config: ConfigOption = None,
    alerts: Annotated[int, typer.Option(help="How many of the latest alerts to list.")] = 10,
) -> None:
    """The ledger's incidents, newest first, with their open holds; then the latest alerts."""
    from sqlalchemy import func, select

    from flows.alert import alert_rows
    from store import ledger
    from store.db import make_engine, migrate, transaction
    from store.schema import findings, holds

    settings = _settings(config)
    engine = make_engine(settings.store.url)
    try:
        migrate(engine)
        with transaction(engine) as conn:
            rows = ledger.list_incidents(conn)
            per_incident = select(findings.c.incident_id, func.count()).group_by(findings.c.incident_id)
            found: dict[str, int] = {str(i): int(n) for i, n in conn.execute(per_incident)}
            held = (
                select(holds.c.incident_id, func.count())
                .where(holds.c.state.in_(["held", "verified"]))
                .group_by(holds.c.incident_id)
            )
            open_holds: dict[str, int] = {str(i): int(n) for i, n in conn.execute(held)}
            recent = alert_rows(conn, ["alert.accepted", "alert.refused", "alert.undelivered"])[-alerts:]
    finally:
        engine.dispose()
    # Sources and refusal reasons are alert text: escaped, never read as rich markup.
    table = Table(title=f"Incidents ({len(rows)})")
    table.add_column("incident", no_wrap=True)  # ids are copied from here: never cut
    for column in ("opened (UTC)", "trigger", "source", "cutoff", "status", "accounts", "open holds"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(
            r.id, r.created_at[:19].replace("T", " "), r.trigger, escape(r.source or ""),
            r.cutoff[:19].replace("T", " "), r.status, str(found.get(r.id, 0)), str(open_holds.get(r.id, 0)),
        )  # fmt: skip
    console.print(table)
    if recent:
        table = Table(title="Latest alerts")
        table.add_column("alert", no_wrap=True)
        for column in ("received (UTC)", "outcome", "source", "detail"):
            table.add_column(column, overflow="fold")
        for r in reversed(recent):
            detail = json.loads(r.detail or "{}")
            outcome = r.kind.removeprefix("alert.")
            what = (
                "; ".join(detail.get("reasons") or [])
                or detail.get("error")
                or (f"since {detail.get('since')}, seeds {', '.join(detail.get('seeds') or [])}")
            )
            table.add_row(
                r.incident_id.removeprefix("alert:")[:8], r.at[:19].replace("T", " "), outcome,
                escape(str(detail.get("source") or "")), escape(str(what)),
            )  # fmt: skip
        console.print(table)


# ------------------------------------------------------------------------------------------------ rate-limits


@app.command("rate-limits")
@one_line_errors
def rate_limits(
    limit: Annotated[
        list[str] | None,
        typer.Option(help="Override Okta's default per-minute limit of a bucket: BUCKET=N (repeatable)."),
    ] = None,
) -> None:
    """Create or update the Okta budgets all workers share (Prefect global concurrency limits, slot decay)."""
    from flows.deployments import OKTA_BUCKET_LIMITS, ensure_shared_budgets, okta_budgets

    overrides: dict[str, int] = {}
    for item in limit or []:
        bucket, _, number = item.partition("=")
        if bucket not in OKTA_BUCKET_LIMITS or not number.isdigit() or int(number) < 2:
            raise InputError(
                f"--limit {item!r}: use BUCKET=N with N >= 2 and BUCKET one of {sorted(OKTA_BUCKET_LIMITS)}"
            )
        overrides[bucket] = int(number)
    api_url = _configured_api()
    if api_url is None:
        raise ConfigError("PREFECT_API_URL is not set: the shared budgets live on the Prefect server the workers use")
    budgets = asyncio.run(ensure_shared_budgets(okta_budgets(overrides)))
    table = Table(title=f"Okta budgets shared by every worker of {api_url}")
    table.add_column("limit", no_wrap=True)
    for column in ("Okta per minute", "burst slots", "slots freed per second", "most per minute"):
        table.add_column(column, overflow="fold")
    for b in budgets:
        table.add_row(b.name, str(b.per_window), str(b.capacity), f"{b.decay_per_s:.2f}", f"{b.most_per_window:.0f}")
    console.print(table)
    console.print("set HOLDFAST_OKTA__SHARED_RATE_LIMITS=true on every worker to use them")
