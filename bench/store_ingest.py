"""Store throughput: System Log pages -> evidence records -> hash-chained rows in SQLite, pages of 1,000.

Each page goes through what the ingest flow does with it once Okta has answered: store.records.okta_records
(cut the page into events, parse, derive columns, flag) and store.ingest_page.store_page (append to the
chain with hashing, move the cursor, commit, anchor the head in a file with fsync).
Event uuids are random, as Okta's are: an index keyed by them takes every insert at a random place.
Bound: Okta serves at most ~2,000 events/s (120 requests/min x 1,000 events); the store must never be the
bottleneck, so it must sustain at least 20,000 events/s with parsing, hashing and commits included.
Run: `make bench` or `.venv/bin/python -m bench store_ingest`.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
import uuid as uuidlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import Result
from sandbox.records import Actor, ClientInfo, EventSpec, Target, okta_log_event
from store.db import make_engine, migrate
from store.ingest_page import store_page
from store.records import okta_records

EVENTS = 200_000
PAGE = 1_000
BOUND_EVENTS_PER_S = 20_000.0


def _pages(count: int) -> list[str]:
    """Pages of 1,000 events as the JSON text Okta sends."""
    events = _events(count)
    return [json.dumps(events[i : i + PAGE]) for i in range(0, count, PAGE)]


def _events(count: int) -> list[object]:
    start = datetime(2026, 9, 1, tzinfo=UTC)
    client = ClientInfo(
        ip="203.0.113.9",
        user_agent="Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15",
        os="Mac OS X",
        browser="SAFARI",
        city="Lisbon",
        state="Lisboa",
        country="Portugal",
        lat=38.7,
        lon=-9.1,
    )
    events: list[object] = []
    draw = random.Random(7)
    for n in range(count):
        who = f"00u{n % 10_000:017d}"
        login = f"person{n % 10_000}@example.com"
        spec = EventSpec(
            event_type="user.authentication.auth_via_mfa" if n % 3 else "user.session.start",
            published=start + timedelta(milliseconds=137 * n),
            actor=Actor(who, login, f"Person {n % 10_000}"),
            targets=(Target(who, login, f"Person {n % 10_000}"),),
            client=client,
            uuid=str(uuidlib.UUID(int=draw.getrandbits(128), version=4)),  # random, as Okta's are
        )
        # Round-trip through JSON text, as events arrive from the wire.
        events.append(json.loads(json.dumps(okta_log_event(spec))))
    return events


def measure(url: str, pages: list[str], anchor_file: Path) -> float:
    """Events/s from page text to committed, anchored rows."""
    engine = make_engine(url)
    migrate(engine)
    stamp = "2026-12-04T00:00:00.000Z"
    stored = 0
    started = time.perf_counter()
    for number, page in enumerate(pages):
        records = okta_records(page, ingested_at=stamp)
        watermark = max(r.published for r in records)
        cursor = f"/api/v1/logs?after={number + 1}"
        stored += store_page(engine, anchor_file, "okta", records, cursor=cursor, watermark=watermark, now=stamp).stored
    elapsed = time.perf_counter() - started
    engine.dispose()
    return stored / elapsed


def run() -> list[Result]:
    pages = _pages(EVENTS)
    with tempfile.TemporaryDirectory() as folder:
        rate = measure(f"sqlite:///{Path(folder) / 'bench.sqlite'}", pages, Path(folder) / "anchors.jsonl")
    size = len(pages[0]) / PAGE
    return [
        Result(
            "store_ingest_sqlite",
            rate,
            BOUND_EVENTS_PER_S,
            "events/s",
            kind="min",
            note=f"{EVENTS:,} events of ~{size:,.0f} bytes, pages of {PAGE:,}: parse, columns, hash, insert, cursor, "
            "commit, anchor",
        )
    ]
