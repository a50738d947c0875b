"""SQLite checkpoints run on their own thread (store/checkpoint.py), not inside the writer's commits."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from pathlib import Path

from store.checkpoint import EVERY_BYTES
from store.db import checkpointer, make_engine, migrate
from store.ingest_page import store_page
from store.records import EvidenceRecord, okta_record

STAMP = "2026-12-04T10:00:00.000Z"


def _page(first: int, size: int) -> list[EvidenceRecord]:
    return [
        okta_record(
            {
                "uuid": f"00000000-0000-4000-8000-{n:012d}",
                "published": f"2026-12-04T10:{n // 60000 % 60:02d}:{n // 1000 % 60:02d}.{n % 1000:03d}Z",
                "eventType": "user.session.start",
                "actor": {"id": f"00u{n:017d}", "type": "User", "alternateId": f"person{n}@example.com"},
                "debugContext": {"debugData": {"padding": "x" * 2_000}},
            },
            ingested_at=STAMP,
        )
        for n in range(first, first + size)
    ]


def _wait(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_the_log_is_copied_into_the_database_by_the_thread_not_by_the_writers_commits(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    thread = checkpointer(engine)
    assert thread is not None and thread.running
    before = path.stat().st_size
    for number in range(20):  # about 25 MiB of log, well under the 256 MiB of the commit-time backstop
        records = _page(number * 500, 500)
        store_page(engine, tmp_path / "anchors", "okta", records, cursor=None, watermark=STAMP, now=STAMP)
    assert Path(f"{path}-wal").stat().st_size > EVERY_BYTES
    assert _wait(lambda: thread.checkpoints >= 1 and path.stat().st_size > before + EVERY_BYTES)
    engine.dispose()


def test_the_thread_ends_with_its_engine(tmp_path: Path) -> None:
    disposed = make_engine(f"sqlite:///{tmp_path / 'a.sqlite'}")
    dropped = make_engine(f"sqlite:///{tmp_path / 'b.sqlite'}")
    first, second = checkpointer(disposed), checkpointer(dropped)
    assert first is not None and second is not None
    disposed.dispose()
    del dropped
    gc.collect()
    assert _wait(lambda: not first.running and not second.running, seconds=2.0)
