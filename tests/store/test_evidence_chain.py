"""The evidence chain: append, de-duplicate, flag bad input, and detect every kind of tampering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select, update

from store.anchors import Anchor, read_anchors, write_anchor
from store.db import transaction
from store.evidence import append, chain_head, count
from store.records import okta_record, okta_records
from store.schema import evidence_events
from store.verify import verify_source

NOW = "2026-12-04T10:00:00.000Z"


def event(n: int, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "uuid": f"00000000-0000-4000-8000-{n:012d}",
        "published": f"2026-12-01T00:{n // 60 % 60:02d}:{n % 60:02d}.000Z",
        "eventType": "user.session.start",
        "actor": {"id": f"00u{n:017d}", "type": "User", "alternateId": f"user{n}@example.com"},
        "target": [{"id": f"00u{n:017d}", "type": "User", "alternateId": f"user{n}@example.com"}],
        "outcome": {"result": "SUCCESS", "reason": None},
        "client": {"ipAddress": "198.51.100.7", "geographicalContext": {"country": "Portugal", "city": "Lisbon"}},
        "transaction": {"type": "WEB", "id": f"tx{n}"},
    }
    body.update(overrides)
    return body


def ingest(engine: Engine, events: list[object], anchor_file: Path | None = None) -> None:
    with transaction(engine, write=True) as conn:
        first, _ = chain_head(conn, "okta")
        result = append(conn, "okta", [okta_record(e, ingested_at=NOW) for e in events], ingested_at=NOW)
    if anchor_file is not None and result.stored:
        write_anchor(anchor_file, Anchor(NOW, "okta", first + 1, result.head_seq, result.head_hash))


def verify(engine: Engine, anchor_file: Path) -> str | None:
    with transaction(engine) as conn:
        return verify_source(conn, "okta", read_anchors(anchor_file)).problem


def test_appended_events_form_a_chain_that_verifies(engine: Engine, tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.jsonl"
    ingest(engine, [event(i) for i in range(50)], anchors)
    ingest(engine, [event(i) for i in range(50, 80)], anchors)
    assert verify(engine, anchors) is None
    with transaction(engine) as conn:
        assert count(conn, "okta") == 80
        assert chain_head(conn, "okta")[0] == 80


def test_repeated_events_at_page_borders_are_stored_once(engine: Engine, tmp_path: Path) -> None:
    ingest(engine, [event(i) for i in range(10)])
    ingest(engine, [event(i) for i in range(8, 15)] + [event(14)])
    with transaction(engine) as conn:
        assert count(conn, "okta") == 15


def test_same_uuid_with_different_content_is_kept_and_flagged(engine: Engine) -> None:
    ingest(engine, [event(1)])
    ingest(engine, [event(1, eventType="user.account.reset_password")])
    with transaction(engine) as conn:
        rows = conn.execute(select(evidence_events.c.flags).order_by(evidence_events.c.seq)).all()
    assert [r.flags for r in rows] == ["", "uuid_conflict"]


@pytest.mark.parametrize(
    ("bad", "flag"),
    [
        ("not even an object", "malformed"),
        ({"eventType": "user.session.start"}, "malformed"),
        (event(3, published="yesterday"), "malformed"),
        (event(4, eventType=42), "malformed"),
        (event(5, eventType="Not A Type!"), "unknown_event_type"),
        (event(6, target="nobody"), "malformed"),
        (event(7, debugContext={"debugData": {"blob": "x" * 70_000}}), "oversize"),
    ],
)
def test_bad_events_are_stored_raw_and_flagged(engine: Engine, bad: object, flag: str) -> None:
    ingest(engine, [bad, event(100)])
    with transaction(engine) as conn:
        rows = conn.execute(
            select(evidence_events.c.raw, evidence_events.c.flags).order_by(evidence_events.c.seq)
        ).all()
    assert json.loads(rows[0].raw) == bad
    assert flag in rows[0].flags.split(",")
    assert rows[1].flags == ""


@pytest.mark.parametrize(
    "body",
    ["<html>gateway\x00error</html>", '[{"uuid":"u1"}\x00]', "\ud800 not UTF-8"],
    ids=["NUL in a proxy page", "NUL in a broken array", "lone surrogate"],
)
def test_a_page_no_database_text_can_hold_is_stored_escaped_flagged_and_recoverable(
    engine: Engine, tmp_path: Path, body: str
) -> None:
    """PostgreSQL text refuses NUL: stored as received, such a page would fail its transaction at every run
    and stop ingestion at that cursor for good."""
    records = okta_records(body, ingested_at=NOW)
    with transaction(engine, write=True) as conn:
        result = append(conn, "okta", [*records, okta_record(event(1), ingested_at=NOW)], ingested_at=NOW)
    write_anchor(tmp_path / "anchors", Anchor(NOW, "okta", 1, result.head_seq, result.head_hash))
    with transaction(engine) as conn:
        stored = conn.execute(
            select(evidence_events.c.raw, evidence_events.c.flags).order_by(evidence_events.c.seq)
        ).all()
    assert json.loads(stored[0].raw) == body  # exactly what was received
    assert {"raw_escaped", "malformed"} <= set(stored[0].flags.split(","))
    assert stored[1].flags == ""
    assert verify(engine, tmp_path / "anchors") is None


def _tamper_ids(engine: Engine) -> list[int]:
    with transaction(engine) as conn:
        return [r.id for r in conn.execute(select(evidence_events.c.id).order_by(evidence_events.c.id))]


def test_altering_any_column_of_a_record_is_named(engine: Engine, tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.jsonl"
    ingest(engine, [event(i) for i in range(20)], anchors)
    target = _tamper_ids(engine)[7]
    for column, value in [("event_type", "user.session.end"), ("raw", "{}"), ("outcome", "FAILURE")]:
        with transaction(engine, write=True) as conn:
            original = conn.execute(select(evidence_events.c[column]).where(evidence_events.c.id == target)).scalar()
            conn.execute(update(evidence_events).where(evidence_events.c.id == target).values({column: value}))
        problem = verify(engine, anchors)
        assert problem is not None and "seq 8 " in problem and "altered" in problem
        with transaction(engine, write=True) as conn:
            conn.execute(update(evidence_events).where(evidence_events.c.id == target).values({column: original}))
    assert verify(engine, anchors) is None


def test_deleting_a_record_is_named(engine: Engine, tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.jsonl"
    ingest(engine, [event(i) for i in range(20)], anchors)
    with transaction(engine, write=True) as conn:
        conn.execute(delete(evidence_events).where(evidence_events.c.seq == 5))
    problem = verify(engine, anchors)
    assert problem is not None and "seq 5 was deleted" in problem


def test_deleting_the_newest_records_is_caught_by_the_anchor(engine: Engine, tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.jsonl"
    ingest(engine, [event(i) for i in range(20)], anchors)
    with transaction(engine, write=True) as conn:
        conn.execute(delete(evidence_events).where(evidence_events.c.seq >= 18))
    problem = verify(engine, anchors)
    assert problem is not None and "seq 20" in problem and "deleted" in problem


def test_swapping_two_records_is_named_as_reordered(engine: Engine, tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.jsonl"
    ingest(engine, [event(i) for i in range(20)], anchors)
    with transaction(engine, write=True) as conn:
        conn.execute(update(evidence_events).where(evidence_events.c.seq == 9).values(seq=-1))
        conn.execute(update(evidence_events).where(evidence_events.c.seq == 10).values(seq=9))
        conn.execute(update(evidence_events).where(evidence_events.c.seq == -1).values(seq=10))
    problem = verify(engine, anchors)
    assert problem is not None and "seq 10" in problem and "reordered" in problem


def test_a_forged_record_with_a_valid_hash_is_caught_as_inserted(engine: Engine, tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.jsonl"
    ingest(engine, [event(i) for i in range(20)], anchors)
    ingest(engine, [event(999)])  # appended with a correct hash, but not by an anchored ingest
    problem = verify(engine, anchors)
    assert problem is not None and "seq 21..21" in problem and "inserted" in problem


def test_a_rewritten_chain_is_caught_by_the_anchor(engine: Engine, tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.jsonl"
    ingest(engine, [event(i) for i in range(20)], anchors)
    with transaction(engine, write=True) as conn:
        conn.execute(delete(evidence_events))
    ingest(engine, [event(i, eventType="user.session.end") for i in range(20)])  # a consistent new chain
    problem = verify(engine, anchors)
    assert problem is not None and "chain rewritten" in problem
