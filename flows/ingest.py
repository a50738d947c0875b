"""Ingest: Okta System Log and Google Workspace Reports into the tamper-evident evidence store.

Runs every 5 minutes as a deployment and once by hand for the backfill (`holdfast ingest --since 90d`).
Each page is appended and its cursor moved in one transaction, then the chain head is anchored outside the
database, so a crash at any point loses nothing and a rerun repeats nothing the de-duplication does not absorb.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from okta.client import Client
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote
from sqlalchemy import Engine

from config.errors import InputError, ProviderError
from config.settings import Settings, load_settings
from flows.progress import progress
from playbook.when import okta_time, parse_when
from store.db import make_engine, migrate, transaction
from store.evidence import AppendResult, chain_head
from store.evidence import sources as evidence_sources
from store.ingest_page import store_page
from store.ingest_state import RunCounts, finish_run, get_cursor, start_run
from store.records import google_record
from tasks.google.clients import reports_service
from tasks.google.reports import APPLICATIONS, list_activities
from tasks.okta.calls import RetryPolicy
from tasks.okta.clients import okta_client
from tasks.okta.logs import LogPage, fetch_log_page, first_page_path
from tasks.okta.ratelimit import RateLimiter
from tasks.slack.clients import slack_client
from tasks.slack.messages import post_anchor

OKTA_SOURCE = "okta"
DEFAULT_BACKFILL = timedelta(days=90)  # Okta keeps System Log for 90 days
GOOGLE_LOOKBACK = timedelta(hours=6)  # Reports data can arrive hours late: re-read, de-duplication absorbs it


@dataclass
class SourceSummary:
    source: str
    status: str = "ok"  # ok, partial (some pages failed), failed
    error: str | None = None
    head_seq: int = 0
    counts: RunCounts = field(default_factory=RunCounts)


@dataclass
class IngestSummary:
    sources: list[SourceSummary]

    @property
    def ok(self) -> bool:
        return all(s.status == "ok" for s in self.sources)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "sources": [asdict(s) for s in self.sources]}


def _count(counts: RunCounts, result: AppendResult) -> int:
    """Add a stored page to the run's counts; the new chain head."""
    counts.stored += result.stored
    counts.duplicates += result.duplicates
    counts.flagged += result.flagged
    return result.head_seq


@task(name="okta-log-page", cache_policy=NO_CACHE)
async def fetch_okta_page(
    client: Client, limiter: RateLimiter, path: str, policy: RetryPolicy, received_at: str
) -> LogPage:
    # 1. GET one page and 2. TRANSFORM it: raw events -> evidence records (bad input flagged, never dropped)
    return await fetch_log_page(client, limiter, path, policy, received_at=received_at)


@task(name="store-okta-page", cache_policy=NO_CACHE)
def store_okta_page(engine: Engine, anchor_file: Path, page: LogPage, path: str, counts: RunCounts, now: str) -> int:
    # 3. LOAD: append, move the cursor, one transaction; then anchor the new head outside the database.
    watermark = max(r.published for r in page.records)
    cursor = page.next_path or path
    return _count(
        counts, store_page(engine, anchor_file, OKTA_SOURCE, page.records, cursor=cursor, watermark=watermark, now=now)
    )


async def ingest_okta(
    settings: Settings, engine: Engine, *, since: datetime, clock: Callable[[], datetime]
) -> SourceSummary:
    """Poll /api/v1/logs from the stored cursor (or `since`) until an empty page says we are caught up."""
    summary = SourceSummary(OKTA_SOURCE)
    anchor_file = settings.store.resolved_anchor_file()
    with transaction(engine, write=True) as conn:
        path = get_cursor(conn, OKTA_SOURCE).cursor or first_page_path(since)
        run_id = start_run(conn, OKTA_SOURCE, okta_time(clock()))
    bar = progress()
    bar.start(OKTA_SOURCE, "Okta System Log", None)
    limiter = RateLimiter()
    okta = settings.require_okta()
    policy = RetryPolicy(attempts=okta.retries + 1)
    try:
        async with okta_client(okta) as client:
            while True:
                # Retries inside: 429 waits for the bucket reset, 5xx backs off.
                page = await fetch_okta_page(client, limiter, path, policy, okta_time(clock()))
                summary.counts.pages += 1
                if page.empty:
                    break  # polling: an empty page means caught up; its next link is the same cursor
                summary.counts.fetched += len(page.records)
                # quote(): Prefect would otherwise walk every record of the page looking for futures;
                # the task still receives the page itself.
                quoted = cast(LogPage, quote(page))
                summary.head_seq = store_okta_page(
                    engine, anchor_file, quoted, path, summary.counts, okta_time(clock())
                )
                bar.advance(OKTA_SOURCE, len(page.records), f"Okta System Log: {summary.counts.fetched:,} events")
                if page.next_path is None:
                    break  # a bounded request ended (not expected while polling)
                path = page.next_path
    except ProviderError as err:
        summary.counts.failed_pages += 1
        summary.status = "partial" if summary.counts.stored else "failed"
        summary.error = str(err)
    bar.finish(OKTA_SOURCE, f"Okta System Log: {summary.counts.stored:,} new events")
    with transaction(engine, write=True) as conn:
        finish_run(conn, run_id, summary.counts, summary.status, okta_time(clock()), summary.error)
    return summary


@task(name="google-activities", cache_policy=NO_CACHE)
def fetch_google_activities(
    service: Any, application: str, start: datetime, end: datetime, customer_id: str
) -> list[dict[str, Any]]:
    return list_activities(service, application, start, end, customer_id=customer_id)


def ingest_google(
    settings: Settings, engine: Engine, *, since: datetime, clock: Callable[[], datetime]
) -> list[SourceSummary]:
    """Each Reports application from its watermark (minus a lookback for late data) to now."""
    google = settings.require_google()
    service = reports_service(google)
    anchor_file = settings.store.resolved_anchor_file()
    summaries: list[SourceSummary] = []
    for application in APPLICATIONS:
        source = f"google:{application}"
        summary = SourceSummary(source)
        now = clock()
        with transaction(engine, write=True) as conn:
            watermark = get_cursor(conn, source).watermark
            run_id = start_run(conn, source, okta_time(now))
        start = parse_when(watermark, now) - GOOGLE_LOOKBACK if watermark else since
        try:
            activities = fetch_google_activities(service, application, start, now, google.customer_id)
            summary.counts.pages += 1
            summary.counts.fetched += len(activities)
            stamp = okta_time(clock())
            records = [google_record(a, ingested_at=stamp) for a in activities]
            newest = max((r.published for r in records), default=watermark or okta_time(start))
            stored = store_page(engine, anchor_file, source, records, cursor=None, watermark=newest, now=stamp)
            summary.head_seq = _count(summary.counts, stored)
        except ProviderError as err:
            summary.counts.failed_pages += 1
            summary.status, summary.error = "failed", str(err)
        with transaction(engine, write=True) as conn:
            finish_run(conn, run_id, summary.counts, summary.status, okta_time(clock()), summary.error)
        summaries.append(summary)
    return summaries


async def run_ingest(
    settings: Settings,
    *,
    since: datetime | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    engine: Engine | None = None,
) -> IngestSummary:
    """Ingest every configured source. `since` applies to sources with no cursor yet (the backfill)."""
    engine = engine or make_engine(settings.store.url)
    migrate(engine)
    since = since or clock() - DEFAULT_BACKFILL
    sources = [await ingest_okta(settings, engine, since=since, clock=clock)]
    if settings.google is not None:
        sources.extend(ingest_google(settings, engine, since=since, clock=clock))
    return IngestSummary(sources)


def summary_markdown(summary: dict[str, Any]) -> str:
    """The run's summary as a Markdown table (the Prefect artifact; the CLI renders the same table)."""
    lines = [
        "# holdfast ingest",
        "",
        "| source | status | pages | fetched | stored | duplicates | flagged | chain head |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summary["sources"]:
        c = s["counts"]
        lines.append(
            f"| {s['source']} | {s['status']} | {c['pages']} | {c['fetched']} | {c['stored']} | {c['duplicates']} "
            f"| {c['flagged']} | {s['head_seq']} |"
        )
    errors = [f"- {s['source']}: {s['error']}" for s in summary["sources"] if s["error"]]
    return "\n".join(lines + (["", *errors] if errors else []))


@task(name="slack-anchor", cache_policy=NO_CACHE)
def anchor_in_slack(settings: Settings, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> dict[str, Any]:
    """Post every source's chain head to the IT channel: a copy outside the database and outside this host.

    A Slack failure is reported in the summary, never fatal: the events are stored and anchored on file.
    """
    slack = settings.require_slack()
    engine = make_engine(settings.store.url)
    try:
        with transaction(engine) as conn:
            heads = {source: chain_head(conn, source) for source in evidence_sources(conn)}
    finally:
        engine.dispose()
    result: dict[str, Any] = {"channel": slack.it_channel, "heads": {s: seq for s, (seq, _) in heads.items()}}
    try:
        result.update(ts=post_anchor(slack_client(slack), slack.it_channel, heads, at=okta_time(clock())), error=None)
    except ProviderError as err:
        result.update(ts=None, error=str(err))
    return result


def _anchor_markdown(summary: dict[str, Any]) -> str:
    anchor = summary.get("slack_anchor")
    if anchor is None:
        return ""
    if anchor["error"]:
        return f"\n\nChain heads NOT posted to Slack {anchor['channel']}: {anchor['error']}"
    return f"\n\nChain heads posted to Slack {anchor['channel']} (message {anchor['ts']})."


@flow(name="ingest")
async def ingest(
    since: str | None = None, config_file: str | None = None, post_anchor_to_slack: bool = False
) -> dict[str, Any]:
    """Deployment entry point: settings from the worker's environment (or `config_file`).

    `post_anchor_to_slack`: also post the chain heads to the IT channel (the hourly deployment sets it).
    """
    settings = load_settings(Path(config_file) if config_file else None)
    if post_anchor_to_slack:
        settings.require_slack()  # misconfigured: fail before fetching anything
    try:
        start = parse_when(since, datetime.now(UTC)) if since else None
    except ValueError as err:
        raise InputError(f"since: {err}") from None
    summary = (await run_ingest(settings, since=start)).as_dict()
    if post_anchor_to_slack:
        summary["slack_anchor"] = anchor_in_slack(settings)
    await create_markdown_artifact(  # type: ignore[misc]
        markdown=summary_markdown(summary) + _anchor_markdown(summary), key="holdfast-ingest"
    )
    return summary
