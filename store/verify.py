"""Recompute the evidence hash chains and name the first record that was altered, deleted, reordered or
inserted. Used by `holdfast evidence verify` and after every ingest in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from store.anchors import Anchor
from store.evidence import _record_from_row, iter_chain, record_hash, sources
from store.retention import anchored_floor
from store.schema import evidence_events


@dataclass(frozen=True)
class ChainReport:
    source: str
    checked: int
    head_seq: int
    head_hash: str
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _exists(conn: Connection, source: str, seq: int) -> bool:
    query = select(evidence_events.c.id).where(evidence_events.c.source == source, evidence_events.c.seq == seq)
    return conn.execute(query).first() is not None


def verify_source(conn: Connection, source: str, anchors: list[Anchor]) -> ChainReport:
    floor_seq, prev, retention_problem = anchored_floor(conn, source, anchors)
    expected = floor_seq + 1
    checked = 0
    hashes: dict[int, str] = {}

    def report(problem: str | None) -> ChainReport:
        return ChainReport(source, checked, expected - 1, prev, problem)

    if retention_problem:
        return report(retention_problem)

    for row in iter_chain(conn, source):
        where = f"{source} record seq {row.seq} (uuid {row.uuid}, id {row.id})"
        if row.seq > expected:
            if _exists(conn, source, expected):
                return report(f"{where} is out of order (seq {expected} is stored after it): reordered")
            return report(f"{source} record seq {expected} was deleted (the chain jumps to seq {row.seq})")
        if row.seq < expected:
            return report(f"{where} is out of order: reordered or inserted")
        if row.prev_hash != prev:
            return report(f"{where} does not link to the record before it: inserted or reordered")
        if record_hash(prev, source, row.seq, row.ingested_at, _record_from_row(row)) != row.hash:
            return report(f"{where} was altered: its content no longer matches its hash")
        prev = row.hash
        hashes[row.seq] = row.hash
        checked += 1
        expected += 1
    return report(_check_anchors(source, anchors, hashes, floor_seq, expected - 1))


def _check_anchors(
    source: str, anchors: list[Anchor], hashes: dict[int, str], floor_seq: int, head_seq: int
) -> str | None:
    """Every stored record must be covered by an anchor, and every anchored head must still match."""
    covered_to = floor_seq
    for anchor in (a for a in anchors if a.source == source and a.kind == "ingest"):
        if anchor.last_seq <= floor_seq:
            covered_to = max(covered_to, anchor.last_seq)
            continue  # removed by retention, which records what it removed
        if anchor.first_seq > covered_to + 1:
            return (
                f"{source} records seq {covered_to + 1}..{anchor.first_seq - 1} were not written by an "
                "anchored ingest: inserted"
            )
        stored = hashes.get(anchor.last_seq)
        if stored is None:
            return f"{source} anchored record seq {anchor.last_seq} is missing: deleted (anchored at {anchor.at})"
        if stored != anchor.head_hash:
            return f"{source} record seq {anchor.last_seq} differs from its anchor of {anchor.at}: chain rewritten"
        covered_to = max(covered_to, anchor.last_seq)
    if head_seq > covered_to:
        return f"{source} records seq {covered_to + 1}..{head_seq} are not covered by any anchor: inserted"
    return _check_posted_heads(source, anchors, hashes, floor_seq)


def _check_posted_heads(source: str, anchors: list[Anchor], hashes: dict[int, str], floor_seq: int) -> str | None:
    """Heads posted to Slack (kind "slack"), a copy off this host: they catch a chain rewritten together
    with the anchor file. Heads at or below the retention floor are covered by the retention anchors."""
    for anchor in (a for a in anchors if a.source == source and a.kind == "slack" and a.last_seq > floor_seq):
        stored = hashes.get(anchor.last_seq)
        posted = f"the chain head posted to Slack at {anchor.at}"
        if stored is None:
            return f"{source} record seq {anchor.last_seq}, {posted}, is missing: deleted"
        if stored != anchor.head_hash:
            return f"{source} record seq {anchor.last_seq} differs from {posted}: chain rewritten"
    return None


def verify_all(conn: Connection, anchors: list[Anchor]) -> list[ChainReport]:
    return [verify_source(conn, source, anchors) for source in sources(conn)]
