"""The audit's query over 10,000,000 stored events: credential changes since a 52-day cutoff, < 200 ms.

The store is built once per size and engine and reused (SQLite file under /tmp/holdfast-bench/, PostgreSQL
database `holdfast_bench` on 127.0.0.1:5432): rows are precomputed from a few LogEvent templates and bulk
written (SQLite executemany, PostgreSQL COPY) with the secondary indexes built afterwards, rather than
through append(), which would take over ten minutes per engine for data whose chain this benchmark does
not read. hash/prev_hash are placeholders: this store is for timing reads, never for `evidence verify`.

Mix: a 10,000-person org, ~40,000 events a day over 250 days; 0.3% credential changes (the policy's
watched types), the rest sign-ins, SSO, MFA verifications, policy evaluations and sign-outs.
Timed: the audit's own call, `store.queries.events_of_types` with the policy's watched types and the
impersonation events, from 7 days before a 52-day cutoff to now, rows fetched with raw included; median of
5 warm runs against the bound, the first run on a fresh connection printed as cold (the OS page cache is not
dropped). The access picture (`access_rows`, 144 accounts, as the audit calls it) is timed too and
reported in the note.
Run: `.venv/bin/python -m bench audit_query` (first build ~10-20 min per engine on 2 cores; then seconds).
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text

from bench.common import Result
from config.policy import load_policy
from flows.audit import ACCESS_BASELINE, IMPERSONATION_LOOKBACK
from playbook.access import MFA, SIGN_IN
from playbook.detect import IMPERSONATION_EVENTS
from playbook.when import okta_time
from sandbox.records import Actor, ClientInfo, EventSpec, Target, okta_log_event
from store.db import make_engine, migrate, transaction
from store.queries import access_rows, events_of_types

SIZE = int(os.environ.get("HOLDFAST_BENCH_AUDIT_EVENTS", "10000000"))
BOUND_MS = 200.0
CACHE = Path("/tmp/holdfast-bench")
PG_ADMIN_URL = os.environ.get("PG_BENCH_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PG_DATABASE = "holdfast_bench"
SCHEMA_TAG = "r0005"  # bump when the schema or the generated data changes: the cached stores are rebuilt
NOW = datetime(2026, 12, 4, tzinfo=UTC)
DAYS = 250
PEOPLE = 10_000
CUTOFF_DAYS = 52
CREDENTIAL_SHARE = 0.003
ACCESS_ACCOUNTS = 144  # Cloudflare's list: everyone who reset a password or changed MFA in 52 days
CHUNK = 50_000

_NOISE = (  # (event type, weight, has a User target)
    ("user.session.start", 18, False),
    ("policy.evaluate_sign_on", 18, False),
    ("user.authentication.auth_via_mfa", 16, False),
    ("user.authentication.sso", 38, False),
    ("user.session.end", 10, False),
)
_COLUMNS = (
    "source", "seq", "ingested_at", "prev_hash", "hash", "uuid", "published", "event_type", "actor_id",
    "actor_alternate_id", "actor_type", "target_ids", "target_logins", "outcome", "client_ip", "country", "city",
    "user_agent", "transaction_id", "raw", "flags",
)  # fmt: skip
_INDEXES = (
    ("ix_evidence_type_published", "event_type, published"),
    ("ix_evidence_source_published_uuid", "source, published, uuid"),
    ("ix_evidence_published", "published"),
)
_MARK = "\x00{}\x00"


def _template(event_type: str, with_target: bool) -> tuple[str, list[str]]:
    """A LogEvent as Okta serves it, with %s where each row's values go (and their names, in order)."""
    names = ("uuid", "published", "actor_id", "login", "display", "ip", "txn")
    m = {n: _MARK.format(n) for n in names}
    user = Target(m["actor_id"], m["login"], m["display"])
    client = ClientInfo(
        ip=m["ip"], user_agent="Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15",
        os="Mac OS X", browser="SAFARI", city="Lisbon", state="Lisboa", country="Portugal", lat=38.7, lon=-9.1,
    )  # fmt: skip
    spec = EventSpec(
        event_type=event_type,
        published=NOW,
        actor=Actor(user.id, user.alternate_id, user.display_name),
        targets=(user,) if with_target else (),
        client=client,
        transaction_id=m["txn"],
        uuid=m["uuid"],
        display_message=event_type.replace(".", " "),
    )
    body = okta_log_event(spec)
    body["published"] = m["published"]
    encoded = json.dumps(body, separators=(",", ":")).replace("%", "%%")
    order: list[tuple[int, str]] = []
    for name in names:
        marker = json.dumps(m[name])[1:-1]
        start = 0
        while (found := encoded.find(marker, start)) >= 0:
            order.append((found, name))
            start = found + 1
        encoded = encoded.replace(marker, "%s")
    return encoded, [name for _, name in sorted(order)]


def _rows(size: int, watched: list[str]) -> Iterator[list[tuple[Any, ...]]]:
    """Chunks of evidence_events rows in seq order (published ascending), deterministic."""
    rng = random.Random(7)
    types = [(t, w, target) for t, w, target in _NOISE]
    templates = {t: _template(t, target) for t, _, target in types}
    templates.update({t: _template(t, True) for t in watched})
    noise_types = [t for t, _, _ in types]
    noise_weights = [w for _, w, _ in types]
    people = [(f"00u{n:06d}{rng.getrandbits(40):011x}"[:20], f"person{n}@example.com") for n in range(PEOPLE)]
    start_ms = int((NOW - timedelta(days=DAYS)).timestamp() * 1000)
    step_ms = DAYS * 86_400_000 / size
    last_second, prefix = -1, ""
    ingested = "2026-12-04T00:00:00.000Z"
    chunk: list[tuple[Any, ...]] = []
    for seq in range(1, size + 1):
        ms = start_ms + int(seq * step_ms)
        second, milli = divmod(ms, 1000)
        if second != last_second:
            last_second = second
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        published = f"{prefix}.{milli:03d}Z"
        if rng.random() < CREDENTIAL_SHARE:
            event_type = watched[rng.randrange(len(watched))]
        else:
            event_type = rng.choices(noise_types, noise_weights)[0]
        actor_id, login = people[rng.randrange(PEOPLE)]
        uuid = f"{rng.getrandbits(128):032x}"
        uuid = f"{uuid[:8]}-{uuid[8:12]}-4{uuid[13:16]}-8{uuid[17:20]}-{uuid[20:]}"
        ip = f"198.51.{seq % 200}.{seq % 250}"
        txn = f"{rng.getrandbits(96):024x}"
        template, order = templates[event_type]
        values = {"uuid": uuid, "published": published, "actor_id": actor_id, "login": login,
                  "display": login.split("@")[0], "ip": ip, "txn": txn}  # fmt: skip
        raw = template % tuple(values[name] for name in order)
        has_target = event_type in watched
        chunk.append(
            ("okta", seq, ingested, "-", f"{seq:064x}", uuid, published, event_type, actor_id, login, "User",
             actor_id if has_target else "", login if has_target else "", "SUCCESS", ip, "Portugal", "Lisbon",
             "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15", txn, raw, "")
        )  # fmt: skip
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _account_rows(chunk: list[tuple[Any, ...]]) -> list[tuple[str, str, str, int]]:
    """evidence_accounts rows as append writes them: actor id and login (the targets are the same user)."""
    return [(row[8], row[6], "okta", row[1]) for row in chunk] + [(row[9], row[6], "okta", row[1]) for row in chunk]


def _say(message: str) -> None:
    print(f"  audit_query: {message}", flush=True)


def build_sqlite(size: int, watched: list[str]) -> Path:
    path = CACHE / f"audit-{size}-{SCHEMA_TAG}.sqlite"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building")
    for leftover in CACHE.glob(building.name + "*"):
        leftover.unlink()
    engine = make_engine(f"sqlite:///{building}")
    migrate(engine)
    engine.dispose()
    started = time.perf_counter()
    db = sqlite3.connect(building, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")  # a throwaway build: no rollback journal, no fsync
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-1048576")
    for name, _ in _INDEXES:
        db.execute(f"DROP INDEX {name}")
    insert = f"INSERT INTO evidence_events ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
    accounts = "INSERT INTO evidence_accounts (account, published, source, seq) VALUES (?, ?, ?, ?)"
    written = 0
    for chunk in _rows(size, watched):
        db.execute("BEGIN")
        db.executemany(insert, chunk)
        db.executemany(accounts, _account_rows(chunk))
        db.execute("COMMIT")
        written += len(chunk)
        if written % 1_000_000 == 0:
            _say(f"sqlite: {written:,} rows in {time.perf_counter() - started:,.0f} s")
    for name, columns in _INDEXES:
        db.execute(f"CREATE INDEX {name} ON evidence_events ({columns})")
    db.close()
    building.rename(path)
    _say(f"sqlite: built {path} ({size:,} events) in {time.perf_counter() - started:,.0f} s")
    return path


def build_postgres(size: int, watched: list[str]) -> str:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_DATABASE}"
    key = f"{size}-{SCHEMA_TAG}"
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": PG_DATABASE}).first()
    if exists:
        probe = create_engine(url)
        try:
            with probe.connect() as conn:
                found = conn.execute(text("SELECT key FROM bench_meta")).scalar()
        except Exception:
            found = None
        probe.dispose()
        if found == key:
            admin.dispose()
            return url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{PG_DATABASE}"'))
    admin.dispose()
    engine = make_engine(url)
    migrate(engine)
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for name, _ in _INDEXES:
            cur.execute(f"DROP INDEX {name}")
        written = 0
        for chunk in _rows(size, watched):
            with cur.copy(f"COPY evidence_events ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
                for row in chunk:
                    copy.write_row(row)
            with cur.copy("COPY evidence_accounts (account, published, source, seq) FROM STDIN") as copy:
                for row in _account_rows(chunk):
                    copy.write_row(row)
            raw.commit()
            written += len(chunk)
            if written % 1_000_000 == 0:
                _say(f"postgres: {written:,} rows in {time.perf_counter() - started:,.0f} s")
        for name, columns in _INDEXES:
            cur.execute(f"CREATE INDEX {name} ON evidence_events ({columns})")
        cur.execute("CREATE TABLE bench_meta (key text)")
        cur.execute("INSERT INTO bench_meta VALUES (%s)", (key,))
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))  # what autovacuum does to a steady-state store
    engine.dispose()
    _say(f"postgres: built {PG_DATABASE} ({size:,} events) in {time.perf_counter() - started:,.0f} s")
    return url


def _time_ms(engine: Engine, query: Callable[[Any], list[Any]]) -> tuple[float, int]:
    with transaction(engine) as conn:
        started = time.perf_counter()
        rows = query(conn)
        elapsed = (time.perf_counter() - started) * 1000
    return elapsed, len(rows)


def measure(name: str, url: str, watched: list[str]) -> Result:
    """The two store reads of `holdfast audit`, called exactly as flows/audit.py calls them."""
    cutoff = NOW - timedelta(days=CUTOFF_DAYS)

    def audit(conn: Any) -> list[Any]:
        return events_of_types(
            conn,
            event_types=sorted(set(watched) | IMPERSONATION_EVENTS),
            since=okta_time(cutoff - IMPERSONATION_LOOKBACK),
            until=okta_time(NOW),
        )

    engine = make_engine(url)
    cold, count = _time_ms(engine, audit)
    warm = [_time_ms(engine, audit)[0] for _ in range(5)]
    accounts = sorted({r.actor_id for r in _sample(engine, audit)})[:ACCESS_ACCOUNTS]

    def access(conn: Any) -> list[Any]:
        return access_rows(
            conn, user_ids=accounts, sign_in_type=SIGN_IN, mfa_type=MFA, since=okta_time(cutoff - ACCESS_BASELINE),
            cutoff=okta_time(cutoff), until=okta_time(NOW),
        )  # fmt: skip

    access_cold, access_count = _time_ms(engine, access)
    access_warm = statistics.median(_time_ms(engine, access)[0] for _ in range(3))
    engine.dispose()
    median = statistics.median(warm)
    _say(f"{name}: cold {cold:,.1f} ms, warm {', '.join(f'{w:.1f}' for w in warm)} ms ({count:,} rows)")
    return Result(
        f"audit_query_{name}",
        median,
        BOUND_MS,
        "ms",
        note=(
            f"median of 5 warm runs; cold {cold:,.0f} ms; {count:,} credential and impersonation events of "
            f"{SIZE:,} since {CUTOFF_DAYS} d + 7 d look-back, raw included; access picture (sign-ins and MFA) "
            f"of {len(accounts)} accounts: {access_count:,} rows in {access_warm:,.0f} ms warm / "
            f"{access_cold:,.0f} ms cold"
        ),
    )


def _sample(engine: Engine, audit: Callable[[Any], list[Any]]) -> list[Any]:
    with transaction(engine) as conn:
        return audit(conn)


def run() -> list[Result]:
    watched = sorted(load_policy().watched)
    sqlite_path = build_sqlite(SIZE, watched)
    results = [measure("sqlite", f"sqlite:///{sqlite_path}", watched)]
    results.append(measure("postgres", build_postgres(SIZE, watched), watched))
    return results
