"""Chain heads written outside the database at every ingest, so that a rewrite of the whole chain, or
records slipped in between two ingests, is caught even by someone with full access to the database.

The anchor file is append-only JSON lines: {"at", "source", "first_seq", "last_seq", "head_hash", "kind"}.
kind "ingest" (the default, and what older lines without a kind are): records first_seq..last_seq were
appended and last_seq's hash is head_hash. kind "retention": the retention job removed first_seq..last_seq
and the last removed record's hash was head_hash; without it a forged retention record in the database
could pass off a deletion as retention. Keep the file on storage the database administrators cannot write
(a WORM bucket, another host); the scheduled ingest also posts heads to the IT Slack channel.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from config.errors import StoreError


@dataclass(frozen=True)
class Anchor:
    at: str
    source: str
    first_seq: int
    last_seq: int
    head_hash: str
    kind: str = "ingest"  # or "retention"; "slack" for heads read back from the IT channel (never in the file)


def write_anchor(path: Path, anchor: Anchor) -> None:
    """Append one anchor line and fsync it: it is evidence too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(asdict(anchor), sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_anchors(path: Path) -> list[Anchor]:
    if not path.exists():
        return []
    anchors: list[Anchor] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            anchors.append(Anchor(**json.loads(line)))
        except (ValueError, TypeError):
            raise StoreError(f"anchor file {path} line {number} is not a valid anchor: it was altered") from None
    return anchors
