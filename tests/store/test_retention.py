"""Retention removes only an expired prefix of each chain, records what it removed, and hides nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select, update

from config.errors import TamperDetected
from config.settings import load_settings
from flows.retention import retention_markdown, run_retention
from store.anchors import Anchor, read_anchors, write_anchor
from store.db import transaction
from store.evidence import append, chain_head, count
from store.records import okta_record
from store.retention import RetentionResult, apply_retention
from store.schema import evidence_accounts, evidence_events, evidence_retention
from store.verify import verify_all, verify_source

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
STAMP = "2026-12-04T10:00:00.000Z"
KEEP = 400


def event(n: int, age_days: float, source_tag: str = "") -> dict[str, object]:
    published = NOW - timedelta(days=age_days)
    who = f"00u{n:017d}"
    return {
        "uuid": f"{source_tag}00000000-0000-4000-8000-{n:012d}",
        "published": published.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "eventType": "user.session.start",
        "actor": {"id": who, "type": "User", "alternateId": f"user{n}@example.com"},
        "target": [],
        "outcome": {"result": "SUCCESS"},
    }


def ingest(engine: Engine, anchors: Path, events: list[dict[str, object]], source: str = "okta") -> None:
    """One anchored ingest, as flows/ingest.py does it."""
    with transaction(engine, write=True) as conn:
        first = chain_head(conn, source)[0] + 1
        result = append(conn, source, [okta_record(e, ingested_at=STAMP) for e in events], ingested_at=STAMP)
    if result.stored:
        write_anchor(anchors, Anchor(STAMP, source, first, result.head_seq, result.head_hash))


def problems(engine: Engine, anchors: Path) -> list[str]:
    with transaction(engine) as conn:
        return [r.problem for r in verify_all(conn, read_anchors(anchors)) if r.problem]


def retain(engine: Engine, anchors: Path, keep_days: int = KEEP) -> list[RetentionResult]:
    with transaction(engine, write=True) as conn:
        return apply_retention(conn, keep_days=keep_days, now=NOW, anchor_file=anchors)


def seqs(engine: Engine, source: str = "okta") -> list[int]:
    with transaction(engine) as conn:
        query = select(evidence_events.c.seq).where(evidence_events.c.source == source).order_by(evidence_events.c.seq)
        return [r.seq for r in conn.execute(query)]


@pytest.fixture
def anchors(tmp_path: Path) -> Path:
    return tmp_path / "anchors.jsonl"


def test_expired_records_are_removed_counted_recorded_and_the_chain_still_verifies(
    engine: Engine, anchors: Path
) -> None:
    ingest(engine, anchors, [event(n, age_days=500 - n) for n in range(30)])  # ages 500..471: all expired
    ingest(engine, anchors, [event(n, age_days=440 - n) for n in range(30, 60)])  # 410..381: 10 expired
    [result] = retain(engine, anchors)
    assert result.removed == 40
    assert result.last_removed_seq == 40
    assert seqs(engine) == list(range(41, 61))
    with transaction(engine) as conn:
        recorded = conn.execute(select(evidence_retention)).one()
        index_rows = conn.execute(select(func.count()).select_from(evidence_accounts)).scalar_one()
    assert (recorded.source, recorded.removed, recorded.last_removed_seq) == ("okta", 40, 40)
    assert recorded.cutoff == "2025-10-30T10:00:00.000Z"
    assert recorded.last_removed_hash == result.last_removed_hash
    assert index_rows == 2 * 20  # id and login of each kept record: the removed records' rows went with them
    assert problems(engine, anchors) == []
    # New records chain on from the kept ones and still verify.
    ingest(engine, anchors, [event(n, age_days=1) for n in range(60, 70)])
    assert problems(engine, anchors) == []


def test_only_a_prefix_is_removed_even_when_later_records_are_older(engine: Engine, anchors: Path) -> None:
    ages = [500, 499, 10, 498, 497]  # a late-arriving old record after a recent one
    ingest(engine, anchors, [event(n, age_days=a) for n, a in enumerate(ages)])
    [result] = retain(engine, anchors)
    assert result.removed == 2
    assert result.oldest_kept.startswith("2026-11-24")
    assert seqs(engine) == [3, 4, 5]
    assert problems(engine, anchors) == []


def test_a_second_run_with_nothing_expired_removes_and_records_nothing(engine: Engine, anchors: Path) -> None:
    ingest(engine, anchors, [event(n, age_days=450 - n * 20) for n in range(5)])
    assert [r.removed for r in retain(engine, anchors)] == [3]
    assert [r.removed for r in retain(engine, anchors)] == [0]
    with transaction(engine) as conn:
        assert conn.execute(select(func.count()).select_from(evidence_retention)).scalar_one() == 1
    assert problems(engine, anchors) == []


def test_each_source_is_retained_on_its_own_chain(engine: Engine, anchors: Path) -> None:
    ingest(engine, anchors, [event(n, age_days=500 - n) for n in range(4)], source="okta")
    ingest(engine, anchors, [event(n, age_days=10, source_tag="g") for n in range(3)], source="google:login")
    results = {r.source: r.removed for r in retain(engine, anchors)}
    assert results == {"google:login": 0, "okta": 4}
    assert seqs(engine, "google:login") == [1, 2, 3]
    assert problems(engine, anchors) == []


def test_tampering_with_kept_records_after_retention_is_still_named(engine: Engine, anchors: Path) -> None:
    ingest(engine, anchors, [event(n, age_days=420 - n) for n in range(40)])  # seq 1..20 expire
    retain(engine, anchors)
    with transaction(engine, write=True) as conn:
        conn.execute(update(evidence_events).where(evidence_events.c.seq == 30).values(outcome="FAILURE"))
    [problem] = problems(engine, anchors)
    assert "seq 30 " in problem and "altered" in problem


def test_deleting_the_first_kept_record_after_retention_is_named(engine: Engine, anchors: Path) -> None:
    ingest(engine, anchors, [event(n, age_days=420 - n) for n in range(40)])
    retain(engine, anchors)
    with transaction(engine, write=True) as conn:
        conn.execute(delete(evidence_events).where(evidence_events.c.seq == 21))
    [problem] = problems(engine, anchors)
    assert "seq 21 was deleted" in problem


def test_retention_refuses_to_launder_a_deletion_inside_the_expired_prefix(engine: Engine, anchors: Path) -> None:
    ingest(engine, anchors, [event(n, age_days=500 - n) for n in range(30)])
    with transaction(engine, write=True) as conn:
        conn.execute(delete(evidence_events).where(evidence_events.c.seq == 5))
    with pytest.raises(TamperDetected, match="seq 5 is missing"):
        retain(engine, anchors)
    # Nothing was removed or recorded; verify still names the deletion.
    assert len(seqs(engine)) == 29
    with transaction(engine) as conn:
        assert conn.execute(select(func.count()).select_from(evidence_retention)).scalar_one() == 0
    [problem] = problems(engine, anchors)
    assert "seq 5 was deleted" in problem


def test_a_deletion_in_the_middle_of_the_kept_records_survives_retention_and_is_named(
    engine: Engine, anchors: Path
) -> None:
    ingest(engine, anchors, [event(n, age_days=420 - n) for n in range(40)])
    with transaction(engine, write=True) as conn:
        conn.execute(delete(evidence_events).where(evidence_events.c.seq == 33))
    [result] = retain(engine, anchors)
    assert result.removed == 20
    [problem] = problems(engine, anchors)
    assert "seq 33 was deleted" in problem


def test_retention_refuses_an_altered_expired_record(engine: Engine, anchors: Path) -> None:
    ingest(engine, anchors, [event(n, age_days=500 - n) for n in range(10)])
    with transaction(engine, write=True) as conn:
        conn.execute(update(evidence_events).where(evidence_events.c.seq == 7).values(client_ip="203.0.113.66"))
    with pytest.raises(TamperDetected, match=r"seq 7 .*altered"):
        retain(engine, anchors)
    assert len(seqs(engine)) == 10


def test_retention_refuses_a_rewritten_expired_chain_that_its_anchors_contradict(engine: Engine, anchors: Path) -> None:
    ingest(engine, anchors, [event(n, age_days=500 - n) for n in range(10)])
    with transaction(engine, write=True) as conn:
        conn.execute(delete(evidence_events))
    # Someone with database access writes a self-consistent chain in its place.
    forged = [event(0, age_days=500) | {"eventType": "user.session.end"}] + [event(n, 500 - n) for n in range(1, 10)]
    with transaction(engine, write=True) as conn:
        append(conn, "okta", [okta_record(e, ingested_at=STAMP) for e in forged], ingested_at=STAMP)
    with pytest.raises(TamperDetected, match="anchor"):
        retain(engine, anchors)


def test_the_retention_flow_takes_its_days_from_the_policy(engine: Engine, anchors: Path, tmp_path: Path) -> None:
    ingest(engine, anchors, [event(n, age_days=a) for n, a in enumerate([401, 399, 1])])
    policy = tmp_path / "policy.toml"
    default = Path(__file__).parents[2] / "config" / "policy.toml"
    policy.write_text(default.read_text().replace("days = 400", "days = 398"))
    settings = load_settings(
        environ={
            "HOLDFAST_STORE__URL": "sqlite:///unused.sqlite",  # the engine below is the one used
            "HOLDFAST_STORE__ANCHOR_FILE": str(anchors),
            "HOLDFAST_POLICY_FILE": str(policy),
        }
    )
    [result] = run_retention(settings, clock=lambda: NOW, engine=engine)
    assert (result.removed, result.cutoff) == (2, "2025-11-01T10:00:00.000Z")
    assert "| okta | 2025-11-01T10:00:00.000Z | 2 | 2 |" in retention_markdown([result])
    with transaction(engine) as conn:
        assert count(conn, "okta") == 1
        assert verify_source(conn, "okta", read_anchors(anchors)).ok


def test_each_retention_run_is_anchored_outside_the_database(engine: Engine, anchors: Path) -> None:
    ingest(engine, anchors, [event(n, age_days=420 - n) for n in range(40)])  # seq 1..20 expire
    [first] = retain(engine, anchors)
    ingest(engine, anchors, [event(n, age_days=380 - n) for n in range(40, 45)])
    [second] = retain(engine, anchors, keep_days=360)  # seq 21..40 expire now
    retention = [a for a in read_anchors(anchors) if a.kind == "retention"]
    assert [(a.source, a.first_seq, a.last_seq, a.head_hash) for a in retention] == [
        ("okta", 1, 20, first.last_removed_hash),
        ("okta", 21, 40, second.last_removed_hash),
    ]
    assert problems(engine, anchors) == []


def _forge_retention(engine: Engine, through_seq: int) -> None:
    """What someone with database access would do to pass off a deletion as retention."""
    with transaction(engine, write=True) as conn:
        last = conn.execute(select(evidence_events.c.hash).where(evidence_events.c.seq == through_seq)).scalar_one()
        conn.execute(delete(evidence_events).where(evidence_events.c.seq <= through_seq))
        conn.execute(
            evidence_retention.insert().values(
                source="okta", ran_at=STAMP, cutoff=STAMP, removed=through_seq, last_removed_seq=through_seq,
                last_removed_hash=last,
            )
        )  # fmt: skip


def test_a_deletion_passed_off_as_retention_is_named(engine: Engine, anchors: Path) -> None:
    ingest(engine, anchors, [event(n, age_days=30 - n) for n in range(20)])  # nothing is due for years
    _forge_retention(engine, through_seq=12)
    [problem] = problems(engine, anchors)
    assert "retention record" in problem and "seq 1..12" in problem and "no retention anchor" in problem


def test_retention_refuses_to_build_on_a_forged_floor(engine: Engine, anchors: Path) -> None:
    ingest(engine, anchors, [event(n, age_days=420 - n) for n in range(40)])
    _forge_retention(engine, through_seq=5)
    with pytest.raises(TamperDetected, match="no retention anchor"):
        retain(engine, anchors)
    assert seqs(engine) == list(range(6, 41))  # nothing more removed


def test_an_altered_retention_record_is_named(engine: Engine, anchors: Path) -> None:
    ingest(engine, anchors, [event(n, age_days=420 - n) for n in range(40)])
    retain(engine, anchors)  # removes seq 1..20, anchored
    with transaction(engine, write=True) as conn:  # widen the floor to hide seq 21..25 as "retention"
        conn.execute(delete(evidence_events).where(evidence_events.c.seq <= 25))
        conn.execute(update(evidence_retention).values(removed=25, last_removed_seq=25))
    [problem] = problems(engine, anchors)
    assert "no retention anchor" in problem
