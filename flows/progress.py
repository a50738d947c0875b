"""A place for flows to report progress that the CLI turns into rich progress bars.

Flows must stay runnable from a deployment (no callable parameters), so the CLI installs a sink for the
duration of a call instead; with no sink installed, progress goes nowhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class ProgressSink(Protocol):
    def start(self, key: str, description: str, total: float | None) -> None: ...

    def advance(self, key: str, amount: float = 1, description: str | None = None) -> None: ...

    def finish(self, key: str, description: str | None = None) -> None: ...


class _Null:
    def start(self, key: str, description: str, total: float | None) -> None:
        pass

    def advance(self, key: str, amount: float = 1, description: str | None = None) -> None:
        pass

    def finish(self, key: str, description: str | None = None) -> None:
        pass


_sink: ProgressSink = _Null()


def progress() -> ProgressSink:
    return _sink


@contextmanager
def reporting_to(sink: ProgressSink) -> Iterator[None]:
    global _sink
    previous, _sink = _sink, sink
    try:
        yield
    finally:
        _sink = previous
