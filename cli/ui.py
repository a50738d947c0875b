"""Terminal output: one rich Console, progress bars bound to the flows' progress sink, error lines."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from flows.progress import reporting_to

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
