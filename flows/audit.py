"""Audit: every account whose password or MFA changed since a cutoff, who changed it, and whether Google agrees.

Cloudflare's 04:23-05:44 (MISSION.md) as one flow: read every watched credential event since the cutoff from
the evidence store (or, with no store yet, from Okta's System Log, which keeps 90 days), tell apart who acted
(self, admin, Okta support, an impersonation session, the system), corroborate password resets against Gmail
and Google's password changes, check every hardware key currently enrolled against the approved registry,
and add the access picture. `run_audit` is plain async (the respond flow calls it); `audit` is the
deployment entry point, which also publishes the findings as a Prefect markdown artifact.

Reads only: nothing here changes Okta, Google or the store. The Okta reads (the user list, each account's
factors) run concurrently up to `okta.max_concurrency` and within each bucket's budget (the RateLimiter
fed by X-Rate-Limit-* headers): on a large org the factor reads are bounded by Okta's rate limit, not by us.
One Prefect task run per account would cost more than the call itself (ARCHITECTURE.md), so the flow
batches: the reads are plain coroutines under one flow run.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode

from google.auth.exceptions import GoogleAuthError
from okta.client import Client
from prefect import flow
from prefect.artifacts import create_markdown_artifact
from sqlalchemy import Engine

from config.errors import ConfigError, InputError, ProviderError
from config.policy import Policy, load_policy
from config.settings import Settings, load_settings
from flows.progress import progress
from playbook.access import ACCESS_EVENT_TYPES, MFA, SIGN_IN, AccessEvent, access_picture, mfa_method
from playbook.detect import (
    GMAIL_DELIVERY,
    GOOGLE_PASSWORD_EDIT,
    IMPERSONATION_EVENTS,
    MAIL_WINDOW,
    PASSWORD_EVENTS,
    Evidence,
    GoogleEvidence,
    OktaAccount,
    build_findings,
    corroborate,
    credential_changes,
    impersonation_markers,
    is_reset_mail,
)
from playbook.factors import Registry, check_factors, parse_registry
from playbook.models import AccessPicture, AuditResult, Corroboration, FactorFinding
from playbook.report import summary_line, to_markdown
from playbook.when import okta_time, parse_when
from store.db import make_engine, migrate, transaction
from store.queries import access_rows, events_of_types, evidence_span, google_coverage, reset_mail_candidates
from store.records import google_record
from tasks.google.clients import reports_service
from tasks.google.reports import list_activities
from tasks.okta.calls import RetryPolicy
from tasks.okta.clients import okta_client
from tasks.okta.factors import list_factors
from tasks.okta.logs import MAX_PAGE, fetch_log_page
from tasks.okta.ratelimit import RateLimiter
from tasks.okta.users import get_user, list_users_page, users_path

log = logging.getLogger("holdfast.audit")

AuditSource = Literal["store", "okta"]
# Which accounts get their current factors read: every user ("all"), findings plus the owners of approved
# hardware keys ("keys", the default: a silent key swap leaves no log event, only a changed factor),
# findings only, or none.
FactorScope = Literal["all", "keys", "findings", "none"]
OKTA_RETENTION = timedelta(days=90)  # https://developer.okta.com/docs/reference/api/system-log/ (data retention)
IMPERSONATION_LOOKBACK = timedelta(days=7)  # a session opened before the cutoff can act after it
ACCESS_BASELINE = timedelta(days=14)  # user agents of sign-ins in this window before the cutoff are not "new"
GOOGLE_SOURCES = ("google:gmail", "google:user_accounts")
ACCESS_CHUNK = 20  # actor ids per System Log filter (source "okta")
ACCESS_THREADS = 4  # store connections reading the access picture side by side
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class AuditStats:
    """Where an audit spent its time (logged, printed by bench/audit.py; never part of the JSON)."""

    evidence_s: float = 0.0
    detect_s: float = 0.0
    directory_s: float = 0.0
    factors_s: float = 0.0
    access_s: float = 0.0
    total_s: float = 0.0
    credential_events: int = 0
    users_listed: int = 0
    factor_accounts: int = 0
    limiter_waited_s: float = 0.0

    @property
    def factor_rate(self) -> float:
        return self.factor_accounts / self.factors_s if self.factors_s else 0.0


@dataclass
class _Gathered:
    events: list[Evidence]  # watched and impersonation events, since cutoff - IMPERSONATION_LOOKBACK
    google: GoogleEvidence
    notes: list[str] = field(default_factory=list)


def _evidence(row: Any, source: str | None = None) -> Evidence:
    return Evidence.from_row(row, source)


def _read_registry(policy: Policy) -> Registry:
    path = policy.hardware_keys.registry
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(
            f"hardware-key registry {path} does not exist: fix [hardware_keys] registry in the policy"
        ) from None
    return parse_registry(text, name=str(path))


def check_cutoff(cutoff: datetime, now: datetime, source: AuditSource) -> datetime:
    """The cutoff in UTC, or InputError: in the future, or (live Okta) beyond the System Log's 90 days."""
    if cutoff.tzinfo is None:
        cutoff = cutoff.replace(tzinfo=UTC)
    cutoff = cutoff.astimezone(UTC)
    if cutoff > now:
        raise InputError(f"cutoff {okta_time(cutoff)} is in the future (now {okta_time(now)}): pick a past time")
    if source == "okta" and cutoff < now - OKTA_RETENTION:
        days = (now - cutoff).days
        raise InputError(
            f"cutoff {okta_time(cutoff)} is {days} days back, but Okta's System Log keeps only 90 days: audit "
            "from the evidence store (--source store) or choose a cutoff within the last 90 days"
        )
    return cutoff


# ---------------------------------------------------------------------------------------------- 1. GET evidence


def _store_evidence(engine: Engine, policy: Policy, cutoff: datetime, until: datetime) -> _Gathered:
    """Watched and impersonation events, reset mails and Google password changes from the store."""
    c, u = okta_time(cutoff), okta_time(until)
    with transaction(engine) as conn:
        oldest, _ = evidence_span(conn, "okta")
        if oldest is None:
            raise InputError(
                "the evidence store holds no Okta events yet: run `holdfast ingest --since 90d` first, "
                "or audit the live System Log with --source okta"
            )
        if c < oldest:
            raise InputError(
                f"cutoff {c} is older than the oldest stored evidence ({oldest}): the store cannot show "
                "changes before it; choose a cutoff at or after that time"
            )
        rows = events_of_types(
            conn,
            event_types=sorted(set(policy.watched) | IMPERSONATION_EVENTS),
            since=okta_time(cutoff - IMPERSONATION_LOOKBACK),
            until=u,
        )
        events = [_evidence(r) for r in rows]
        coverage = google_coverage(conn, GOOGLE_SOURCES)
        missing = [s for s, at in coverage.items() if at is None]
        if missing:
            note = (
                f"Google Workspace not ingested ({', '.join(missing)} never read completely): corroboration unavailable"
            )
            return _Gathered(events, GoogleEvidence(available=False), [note])
        since = okta_time(cutoff - MAIL_WINDOW)
        mails = [
            e for e in (_evidence(r) for r in reset_mail_candidates(conn, since=since, until=u)) if is_reset_mail(e)
        ]
        edits = events_of_types(
            conn, event_types=[GOOGLE_PASSWORD_EDIT], since=since, until=u, sources=["google:user_accounts"]
        )
    covered = min(at for at in coverage.values() if at is not None)
    google = GoogleEvidence(True, mails, [_evidence(r) for r in edits], covered_until=covered)
    return _Gathered(events, google)


def _log_filter(event_types: Iterable[str]) -> str:
    return " or ".join(f'eventType eq "{t}"' for t in sorted(set(event_types)))


async def _okta_log(
    client: Client, limiter: RateLimiter, retry: RetryPolicy, *, filter_expr: str, since: datetime, until: datetime
) -> list[Evidence]:
    """A bounded System Log query (since, until, filter), every page, as evidence (not stored)."""
    query = {
        "since": okta_time(since),
        "until": okta_time(until),
        "filter": filter_expr,
        "limit": MAX_PAGE,
        "sortOrder": "ASCENDING",
    }
    path: str | None = f"/api/v1/logs?{urlencode(query)}"
    stamp = okta_time(datetime.now(UTC))
    found: list[Evidence] = []
    while path is not None:
        page = await fetch_log_page(client, limiter, path, retry, received_at=stamp)
        found.extend(_evidence(record, "okta") for record in page.records)
        path = page.next_path if page.next_path != path else None
    return found


def _google_live(settings: Settings, cutoff: datetime, until: datetime) -> GoogleEvidence:
    """Reset mails and password changes from the Reports API (raises ProviderError)."""
    assert settings.google is not None
    service = reports_service(settings.google)
    start = cutoff - MAIL_WINDOW
    stamp = okta_time(datetime.now(UTC))
    customer = settings.google.customer_id
    mails = [
        _evidence(google_record(a, ingested_at=stamp), "google:gmail")
        for a in list_activities(service, "gmail", start, until, customer_id=customer)
    ]
    edits = [
        _evidence(google_record(a, ingested_at=stamp), "google:user_accounts")
        for a in list_activities(service, "user_accounts", start, until, customer_id=customer)
    ]
    return GoogleEvidence(
        True,
        [m for m in mails if m.event_type == GMAIL_DELIVERY and is_reset_mail(m)],
        [e for e in edits if e.event_type == GOOGLE_PASSWORD_EDIT],
        covered_until=okta_time(until),
    )


async def _okta_evidence(
    client: Client,
    limiter: RateLimiter,
    retry: RetryPolicy,
    settings: Settings,
    policy: Policy,
    cutoff: datetime,
    until: datetime,
) -> _Gathered:
    """The same evidence from the live System Log and Reports API (no store yet)."""
    floor = until - OKTA_RETENTION
    events = await _okta_log(
        client,
        limiter,
        retry,
        filter_expr=_log_filter(set(policy.watched) | IMPERSONATION_EVENTS),
        since=max(cutoff - IMPERSONATION_LOOKBACK, floor),
        until=until,
    )
    if settings.google is None:
        note = "Google Workspace not configured: corroboration unavailable"
        return _Gathered(events, GoogleEvidence(available=False), [note])
    try:
        google = await asyncio.to_thread(_google_live, settings, cutoff, until)
    except ProviderError as err:
        return _Gathered(events, GoogleEvidence(available=False), [f"Google Workspace unavailable ({err})"])
    except GoogleAuthError as err:
        # tasks/google/reports.py translates HTTP and connection errors; a refused token (delegation revoked,
        # key disabled) surfaces from google-auth as RefreshError. The class name only: never the details.
        note = f"Google Workspace unavailable (google: token refused: {type(err).__name__})"
        return _Gathered(events, GoogleEvidence(available=False), [note])
    return _Gathered(events, google)


# ---------------------------------------------------------------------------------------------- 3. GET Okta state


async def bounded(items: Sequence[T], fn: Callable[[T], Awaitable[R]], limit: int) -> list[R]:
    """fn over items, at most `limit` in flight, results in input order."""
    gate = asyncio.Semaphore(limit)

    async def one(item: T) -> R:
        async with gate:
            return await fn(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


def _account(user: dict[str, Any]) -> OktaAccount:
    profile = user.get("profile") if isinstance(user.get("profile"), dict) else {}
    login = str((profile or {}).get("login") or "").lower()
    status = user.get("status")
    return OktaAccount(str(user["id"]), login, str(status) if isinstance(status, str) else None)


@dataclass
class _Directory:
    by_id: dict[str, OktaAccount] = field(default_factory=dict)
    by_login: dict[str, OktaAccount] = field(default_factory=dict)

    def add(self, account: OktaAccount) -> None:
        self.by_id[account.user_id] = account
        self.by_login[account.login] = account

    def find(self, id_or_login: str) -> OktaAccount | None:
        return self.by_id.get(id_or_login) or self.by_login.get(id_or_login.lower())


async def _resolve(
    client: Client, limiter: RateLimiter, retry: RetryPolicy, directory: _Directory, wanted: Iterable[str], limit: int
) -> None:
    """Look up accounts the list left out (DEPROVISIONED ones, or added since) one by one."""
    missing = sorted({w for w in wanted if directory.find(w) is None})

    async def get(key: str) -> dict[str, Any] | None:
        return await get_user(client, limiter, key, retry)

    for user in await bounded(missing, get, limit):
        if user is not None:
            directory.add(_account(user))


class _FactorReads:
    """Factor reads of accounts as they become known (while the user list is still paging), at most
    `workers` in flight; each call also waits for its bucket's budget in the RateLimiter."""

    def __init__(
        self,
        client: Client,
        limiter: RateLimiter,
        retry: RetryPolicy,
        registry: Registry,
        *,
        cutoff: str,
        workers: int,
    ) -> None:
        self._client, self._limiter, self._retry = client, limiter, retry
        self._approved = registry.approved()
        self._cutoff = cutoff
        self._queue: asyncio.Queue[OktaAccount | None] = asyncio.Queue()
        self._seen: set[str] = set()
        self.found: dict[str, tuple[FactorFinding, ...]] = {}
        self.failures: list[str] = []
        progress().start("audit.factors", "Okta factors", None)
        self._workers = [asyncio.create_task(self._work()) for _ in range(workers)]

    @property
    def accounts(self) -> int:
        return len(self._seen)

    def add(self, account: OktaAccount) -> None:
        if account.user_id not in self._seen:
            self._seen.add(account.user_id)
            self._queue.put_nowait(account)

    async def _work(self) -> None:
        while (account := await self._queue.get()) is not None:
            try:
                factors = await list_factors(self._client, self._limiter, account.user_id, self._retry)
            except ProviderError as err:
                self.failures.append(f"factors of {account.login} could not be read ({err}): check them by hand")
                continue
            finally:
                progress().advance("audit.factors")
            found = check_factors(account.login, factors, self._approved, cutoff=self._cutoff)
            if found:
                self.found[account.user_id] = found

    async def finish(self) -> None:
        for _ in self._workers:
            self._queue.put_nowait(None)
        await asyncio.gather(*self._workers)
        progress().finish("audit.factors", f"Okta factors: {self.accounts:,} accounts")

    def cancel(self) -> None:
        for worker in self._workers:
            worker.cancel()


# ---------------------------------------------------------------------------------------------- 4. access picture


def _store_access(
    engine: Engine, user_ids: Sequence[str], cutoff: datetime, until: datetime
) -> dict[str, AccessPicture]:
    c = okta_time(cutoff)
    with transaction(engine) as conn:
        rows = access_rows(
            conn,
            user_ids=user_ids,
            sign_in_type=SIGN_IN,
            mfa_type=MFA,
            since=okta_time(cutoff - ACCESS_BASELINE),
            cutoff=c,
            until=okta_time(until),
        )
    grouped: dict[str, list[AccessEvent]] = {}
    for user_id, event in rows:
        grouped.setdefault(user_id, []).append(event)
    return {user_id: access_picture(events, cutoff=c) for user_id, events in grouped.items()}


async def _okta_access(
    client: Client, limiter: RateLimiter, retry: RetryPolicy, user_ids: Sequence[str], cutoff: datetime, until: datetime
) -> dict[str, AccessPicture]:
    since = max(cutoff - ACCESS_BASELINE, until - OKTA_RETENTION)
    grouped: dict[str, list[AccessEvent]] = {}
    types = _log_filter(ACCESS_EVENT_TYPES)
    for first in range(0, len(user_ids), ACCESS_CHUNK):
        chunk = user_ids[first : first + ACCESS_CHUNK]
        actors = " or ".join(f'actor.id eq "{u}"' for u in chunk)
        for e in await _okta_log(
            client, limiter, retry, filter_expr=f"({types}) and ({actors})", since=since, until=until
        ):
            grouped.setdefault(e.actor_id or "", []).append(
                AccessEvent(
                    e.published,
                    e.event_type,
                    e.outcome,
                    e.client_ip,
                    e.country,
                    e.user_agent,
                    mfa_method(e.raw) if e.event_type == MFA else None,
                )
            )
    c = okta_time(cutoff)
    return {user_id: access_picture(events, cutoff=c) for user_id, events in grouped.items() if user_id}


async def _access(
    source: AuditSource,
    engine: Engine | None,
    client: Client,
    limiter: RateLimiter,
    retry: RetryPolicy,
    user_ids: Sequence[str],
    cutoff: datetime,
    until: datetime,
) -> dict[str, AccessPicture]:
    if not user_ids:
        return {}
    if source == "store":
        assert engine is not None
        # Random reads of evidence rows, one connection per slice: SQLite releases the GIL while it reads.
        slices = min(ACCESS_THREADS, math.ceil(len(user_ids) / 50))
        parts = await asyncio.gather(
            *(asyncio.to_thread(_store_access, engine, user_ids[n::slices], cutoff, until) for n in range(slices))
        )
        return {user_id: picture for part in parts for user_id, picture in part.items()}
    return await _okta_access(client, limiter, retry, user_ids, cutoff, until)


async def _timed(job: Awaitable[R]) -> tuple[R, float]:
    started = time.perf_counter()
    result = await job
    return result, time.perf_counter() - started


# ---------------------------------------------------------------------------------------------- the audit


async def audit_with_stats(
    settings: Settings,
    policy: Policy,
    engine: Engine | None,
    *,
    cutoff: datetime,
    seeds: Sequence[str] = (),
    source: AuditSource = "store",
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    factor_scope: FactorScope = "keys",
) -> tuple[AuditResult, AuditStats]:
    """`run_audit`, plus where the time went."""
    started = time.perf_counter()
    stats = AuditStats()
    until = clock().astimezone(UTC)
    cutoff = check_cutoff(cutoff, until, source)
    if source == "store" and engine is None:
        raise ConfigError("audit: the store source needs a store engine")
    registry = _read_registry(policy)
    okta = settings.require_okta()
    retry = RetryPolicy(attempts=okta.retries + 1)
    limiter = RateLimiter()
    limit = okta.max_concurrency
    c = okta_time(cutoff)
    wanted_seeds = list(dict.fromkeys(s.strip() for s in seeds if s.strip()))

    async with okta_client(okta) as client:
        # 1. GET the evidence: watched + impersonation events, reset mails, Google password changes
        t0 = time.perf_counter()
        if source == "store":
            assert engine is not None
            gathered = _store_evidence(engine, policy, cutoff, until)
        else:
            gathered = await _okta_evidence(client, limiter, retry, settings, policy, cutoff, until)
        stats.evidence_s = time.perf_counter() - t0
        stats.credential_events = len(gathered.events)

        # 2. DETECT (pure): who changed what, and does Google agree
        t0 = time.perf_counter()
        markers = impersonation_markers(gathered.events)
        changes = credential_changes(gathered.events, policy, cutoff=c, markers=markers)
        password_events = [e for e in gathered.events if e.event_type in PASSWORD_EVENTS]
        verdicts = corroborate(changes, password_events, gathered.google, cutoff=c)
        if gathered.google.available and any(v.corroboration is Corroboration.UNAVAILABLE for v in verdicts.values()):
            gathered.notes.append(
                f"Google Workspace last read completely at {gathered.google.covered_until}: password resets after "
                "it are marked unavailable until the next ingest"
            )
        stats.detect_s = time.perf_counter() - t0

        # 3. GET Okta's current state (the user list, then factors) while 4. the access picture of the accounts
        # already found is read beside it (from the store in a thread, or from the System Log)
        t0 = time.perf_counter()
        google_only = [login for login, v in verdicts.items() if v.google_only]
        first_access = _access(source, engine, client, limiter, retry, sorted(changes), cutoff, until)
        access_job = asyncio.create_task(_timed(first_access))
        reads = None
        if factor_scope != "none":
            reads = _FactorReads(client, limiter, retry, registry, cutoff=c, workers=limit)
        owners = registry.owners() if factor_scope == "keys" else frozenset()
        directory = _Directory()
        seed_accounts: list[OktaAccount] = []
        unknown_seeds: list[str] = []
        try:
            if reads is not None:
                for change in sorted(changes.values(), key=lambda ch: ch.login):
                    reads.add(OktaAccount(change.user_id, change.login))
            # The whole user list (50 pages for 10,000 people) only when key owners or everyone are checked;
            # otherwise each account found is looked up by id, concurrently.
            path: str | None = users_path() if factor_scope in ("keys", "all") else None
            while path is not None:
                page = await list_users_page(client, limiter, path, retry)
                for user in page.users:
                    account = _account(user)
                    directory.add(account)
                    if reads is not None and (factor_scope == "all" or account.login in owners):
                        reads.add(account)
                path = page.next_path if page.users else None
            stats.users_listed = len(directory.by_id)
            await _resolve(client, limiter, retry, directory, [*changes, *wanted_seeds, *google_only], limit)
            for seed in wanted_seeds:
                known = directory.find(seed)
                if known is None:
                    unknown_seeds.append(seed)
                else:
                    seed_accounts.append(known)
            stats.directory_s = time.perf_counter() - t0
            if reads is not None:
                for extra in [*seed_accounts, *filter(None, (directory.find(login) for login in google_only))]:
                    reads.add(extra)
                await reads.finish()
        except BaseException:
            if reads is not None:
                reads.cancel()
            access_job.cancel()
            raise
        factors = reads.found if reads is not None else {}
        factor_notes = sorted(reads.failures) if reads is not None else []
        stats.factor_accounts = reads.accounts if reads is not None else 0
        stats.factors_s = time.perf_counter() - t0

        access, stats.access_s = await access_job
        unknown_keys = {
            user_id for user_id, f in factors.items() if any(x.problem == "unknown_hardware_key" for x in f)
        }
        later = sorted(
            (
                {s.user_id for s in seed_accounts}
                | unknown_keys
                | {a.user_id for a in map(directory.find, google_only) if a}
            )
            - set(changes)
        )
        if later:
            more, seconds = await _timed(_access(source, engine, client, limiter, retry, later, cutoff, until))
            access.update(more)
            stats.access_s += seconds

    # 5. BUILD the findings (pure)
    statuses = {user_id: a.status for user_id, a in directory.by_id.items() if a.status}
    findings, notes = build_findings(
        policy,
        changes=changes,
        corroboration=verdicts,
        seeds=seed_accounts,
        accounts_by_login=directory.by_login,
        statuses=statuses,
        factor_findings=factors,
        access=access,
    )
    if factor_scope in ("findings", "none"):
        notes.append(f"factor check scope: {factor_scope} (silent hardware-key swaps outside it are not seen)")
    result = AuditResult(
        cutoff=c,
        until=okta_time(until),
        source=source,
        findings=tuple(findings),
        unknown_seeds=tuple(sorted(unknown_seeds)),
        corroboration_available=gathered.google.available,
        notes=tuple(sorted(set(gathered.notes + notes + factor_notes))),
    )
    stats.total_s = time.perf_counter() - started
    stats.limiter_waited_s = limiter.waited_s
    log.info(
        "audit %s..%s: %s; evidence %.2fs, detect %.2fs, directory %.2fs (%d users), factors %.2fs "
        "(%d accounts), access %.2fs",
        result.cutoff,
        result.until,
        summary_line(result),
        stats.evidence_s,
        stats.detect_s,
        stats.directory_s,
        stats.users_listed,
        stats.factors_s,
        stats.factor_accounts,
        stats.access_s,
    )
    return result, stats


async def run_audit(
    settings: Settings,
    policy: Policy,
    engine: Engine | None,
    *,
    cutoff: datetime,
    seeds: Sequence[str] = (),
    source: AuditSource = "store",
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    factor_scope: FactorScope = "keys",
) -> AuditResult:
    """Audit credential changes since `cutoff` (required, not in the future). Seeds are always investigated;
    unknown ones are listed in `unknown_seeds`. Google unavailable: the audit completes, marked so.

    Raises InputError (bad cutoff, empty store), ConfigError (registry, Okta settings), ProviderError (Okta).
    """
    result, _ = await audit_with_stats(
        settings, policy, engine, cutoff=cutoff, seeds=seeds, source=source, clock=clock, factor_scope=factor_scope
    )
    return result


@flow(name="audit")
async def audit(
    since: str,
    seeds: list[str] | None = None,
    source: AuditSource = "store",
    config_file: str | None = None,
) -> dict[str, Any]:
    """Deployment entry point: settings from the worker's environment (or `config_file`); returns the
    AuditResult as JSON-ready data and publishes it as the `holdfast-audit` markdown artifact."""
    settings = load_settings(Path(config_file) if config_file else None)
    policy = load_policy(settings.policy_file)
    now = datetime.now(UTC)
    try:
        cutoff = parse_when(since, now)
    except ValueError as err:
        raise InputError(f"since: {err}") from None
    engine = None
    if source == "store":
        engine = make_engine(settings.store.url)
        migrate(engine)
    try:
        result = await run_audit(settings, policy, engine, cutoff=cutoff, seeds=seeds or [], source=source)
    finally:
        if engine is not None:
            engine.dispose()
    await create_markdown_artifact(markdown=to_markdown(result), key="holdfast-audit")  # type: ignore[misc]
    return result.model_dump(mode="json")
