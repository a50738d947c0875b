"""One page of provider records into the store: appended to the source's chain and the source's cursor
moved in one transaction, then the new chain head anchored outside the database.

A crash before the commit loses nothing (the cursor did not move; the next run fetches the page again) and a
crash between the commit and the anchor leaves records no anchor covers, which verify names. flows/ingest.py
stores every page through here; bench/store_ingest.py times it.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from store.anchors import Anchor, write_anchor
from store.db import transaction
from store.evidence import AppendResult, append
from store.ingest_state import save_cursor
from store.records import EvidenceRecord


def store_page(
    engine: Engine,
    anchor_file: Path,
    source: str,
    records: list[EvidenceRecord],
    *,
    cursor: str | None,
    watermark: str,
    now: str,
) -> AppendResult:
    """Append `records`, move `source`'s cursor to (cursor, watermark), commit, anchor the new head."""
    with transaction(engine, write=True) as conn:
        result = append(conn, source, records, ingested_at=now)
        save_cursor(conn, source, cursor, watermark, now)
    if result.stored:
        first_seq = result.head_seq - result.stored + 1
        write_anchor(anchor_file, Anchor(now, source, first_seq, result.head_seq, result.head_hash))
    return result


__all__ = ["store_page"]
