"""Terminal output: one rich Console, progress bars bound to the flows' progress sink, error lines, and
flow runs whose expected errors stay one line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from config.errors import HoldfastError
from flows.progress import reporting_to

T = TypeVar("T")

console = Console()
errors = Console(stderr=True)


class RichSink:
    """Implements flows.progress.ProgressSink on a rich Progress display."""

    def __init__(self, bars: Progress) -> None:
        self._bars = bars
        self._tasks: dict[str, TaskID] = {}

    def start(self, key: str, description: str, total: float | None) -> None:
        self._tasks[key] = self._bars.add_task(description, total=total)

    def advance(self, key: str, amount: float = 1, description: str | None = None) -> None:
        task = self._tasks.get(key)
        if task is not None:
            self._bars.update(task, advance=amount, description=description or None)

    def finish(self, key: str, description: str | None = None) -> None:
        task = self._tasks.get(key)
        if task is not None:
            total = self._bars.tasks[task].completed
            self._bars.update(task, total=total or 1, completed=total or 1, description=description or None)


@contextmanager
def progress_bars() -> Iterator[None]:
    bars = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    with bars, reporting_to(RichSink(bars)):
        yield


class _WithoutHoldfastTracebacks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, HoldfastError)


def run_flow(flow_run: Coroutine[Any, Any, T]) -> T:
    """Run a flow to its end from a command. A flow that raises a HoldfastError (a refusal, bad input) is
    reported by the command in one line (cli.main.one_line_errors), so Prefect's console copy of that error
    with its traceback is left out; the flow run's own log keeps it. Other errors keep their traceback."""
    from prefect.logging.handlers import PrefectConsoleHandler  # the flow's import has configured it

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler) and not any(
            isinstance(f, _WithoutHoldfastTracebacks) for f in handler.filters
        ):
            handler.addFilter(_WithoutHoldfastTracebacks())
    return asyncio.run(flow_run)
