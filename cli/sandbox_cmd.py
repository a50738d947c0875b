"""`holdfast sandbox serve`: the fake Okta / Google Workspace / Slack org, standalone, for rehearsals.

Prints `export HOLDFAST_...=...` lines that point holdfast at it (eval them in another shell), then serves
until interrupted. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import tempfile
import threading
from pathlib import Path
from typing import Annotated

import typer

from cli.main import app, one_line_errors
from cli.ui import console, errors
from config.errors import InputError

sandbox_app = typer.Typer(help="The sandbox org: faithful fakes of Okta, Google Workspace and Slack.")
app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.command("serve")
@one_line_errors
def serve(
    seed: Annotated[int, typer.Option(help="Scenario seed: same seed, same org.")] = 1,
    people: Annotated[int, typer.Option(min=10, max=100_000, help="People in the org.")] = 2000,
    days: Annotated[int, typer.Option(min=1, max=400, help="Days of System Log history.")] = 90,
    scenario: Annotated[Path | None, typer.Option(help="Scenario JSON file (overrides the options above).")] = None,
    workdir: Annotated[Path | None, typer.Option(help="Where the org's files go (default: a temp dir).")] = None,
    okta_port: Annotated[int, typer.Option(help="0 picks a free port.")] = 0,
    google_port: int = 0,
    slack_port: int = 0,
) -> None:
    """Generate the sandbox org and serve it until Ctrl-C."""
    from sandbox.scenario import ScenarioError, build_org, load_spec
    from sandbox.server import SandboxServer

    try:
        spec = load_spec(scenario, seed=seed, people=people, days=days)
    except ScenarioError as err:
        raise InputError(str(err)) from None
    folder = workdir or Path(tempfile.mkdtemp(prefix="holdfast-sandbox-"))
    with console.status(f"generating {spec.people:,} people, {spec.days} days of history ..."):
        org, truth = build_org(spec, folder)
    server = SandboxServer(org, okta_port=okta_port, google_port=google_port, slack_port=slack_port)
    with server:
        for key, value in sorted(server.env().items()):
            print(f"export {key}={shlex.quote(value)}", flush=True)
        store_url = f"sqlite:///{folder / 'holdfast.sqlite'}"
        print(f"export HOLDFAST_STORE__URL={shlex.quote(store_url)}", flush=True)
        errors.print(
            f"sandbox org {org.domain}: {len(org.users):,} users, {org.system_log.count():,} log events; "
            f"ground truth {folder / 'ground-truth.json'} ({len(truth.accounts)} accounts). Ctrl-C stops it."
        )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    org.close()
