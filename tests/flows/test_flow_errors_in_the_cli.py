"""A flow run from a command that ends in a HoldfastError (a refusal, bad input) shows no traceback: the
command prints the error in one line. Any other error keeps its traceback. Run in a child process, as the
`holdfast` command runs, because pytest replaces Prefect's console logging in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from prefect.settings import PREFECT_API_URL

SCRIPT = textwrap.dedent(
    """
    from prefect import flow

    from cli.ui import run_flow
    from config.errors import InputError


    @flow
    async def refused() -> None:
        raise InputError("over the blast-radius cap: 200 accounts, cap 100; rerun with --confirm-count 200")


    @flow
    async def broken() -> None:
        raise ValueError("a bug")


    for run in (refused, broken):
        print(f"=== {run.name}", flush=True)
        try:
            run_flow(run())
        except Exception as error:
            print(f"raised {type(error).__name__}", flush=True)
    """
)


def test_an_expected_refusal_shows_no_traceback_and_a_bug_still_does(tmp_path: Path) -> None:
    script = tmp_path / "flows_that_fail.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PYTHONPATH": str(Path.cwd())}
    done = subprocess.run(  # one pipe for both streams: the lines stay in the order they were written
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        timeout=120, check=True,
    )  # fmt: skip
    output = done.stdout
    refused, broken = output.split("=== broken")
    assert "raised InputError" in refused and "Finished in state Failed" in refused
    assert "Traceback" not in refused
    assert "raised ValueError" in broken and "Traceback" in broken
