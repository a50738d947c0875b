"""Retention: remove evidence older than the policy's `retention.days`, as a scheduled Prefect flow.

The only thing that removes evidence (store/retention.py): per source, an expired prefix of the chain,
re-verified against the chain and the anchor file before removal, and recorded in `evidence_retention`
and in the anchor file.
A deployment runs it daily; `holdfast evidence retention` runs it by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from sqlalchemy import Engine

from config.policy import load_policy
from config.settings import Settings, load_settings
from store.db import make_engine, migrate, transaction
from store.retention import RetentionResult, apply_retention


def run_retention(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    engine: Engine | None = None,
) -> list[RetentionResult]:
    """Apply the policy's retention to every source in one write transaction."""
    policy = load_policy(settings.policy_file)
    anchor_file = settings.store.resolved_anchor_file()
    engine = engine or make_engine(settings.store.url)
    migrate(engine)
    with transaction(engine, write=True) as conn:
        return apply_retention(conn, keep_days=policy.retention.days, now=clock(), anchor_file=anchor_file)


def retention_markdown(results: list[RetentionResult]) -> str:
    lines = [
        "# holdfast evidence retention",
        "",
        "| source | cutoff | removed | chain floor (seq) | oldest kept |",
        "|---|---|---:|---:|---|",
    ]
    lines += [
        f"| {r.source} | {r.cutoff} | {r.removed:,} | {r.last_removed_seq} | {r.oldest_kept or '(none)'} |"
        for r in results
    ]
    return "\n".join(lines)


@flow(name="retention")
def retention(config_file: str | None = None) -> list[dict[str, Any]]:
    """Deployment entry point: settings from the worker's environment (or `config_file`)."""
    settings = load_settings(Path(config_file) if config_file else None)
    results = run_retention(settings)
    create_markdown_artifact(markdown=retention_markdown(results), key="holdfast-retention")
    return [asdict(r) for r in results]
