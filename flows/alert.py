"""Alert: the way in for a detection (a SIEM rule, a responder, a public report). Validate, record, emit.

Reads top to bottom:
  # 1. VALIDATE: the cutoff parses and is not in the future; every seed is a plausible Okta login (or user id)
  #    in the org's domains; the source is short printable text. Everything wrong is named at once.
  # 2. RECORD in the ledger, refused or accepted, as `incident_events` rows of the pseudo-incident
  #    `alert:<uuid>` (the incident does not exist yet; the timeline finds its alert there)
  # 3. EMIT the Prefect event `holdfast.alert` (POST /api/events): the `respond/on-alert` deployment's trigger
  #    (flows/deployments.py) starts the playbook with the cutoff, seeds and source from the event's payload
  # 4. RECORD that the event was delivered (or not: then the alert fails loudly, nothing is lost silently)

A SIEM can skip this module and POST the same event itself (README "Operations"); it then gets no
validation here, but the respond flow still refuses a future or missing cutoff.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow
from sqlalchemy import Connection, Engine, select

from config.errors import InputError, ProviderError
from config.policy import Policy, load_policy
from config.settings import Settings, load_settings
from flows.deployments import ALERT_EVENT, ALERT_RESOURCE_PREFIX
from playbook.when import okta_time, parse_when
from store import ledger
from store.db import make_engine, migrate, transaction
from store.schema import incident_events

ALERT_PREFIX = "alert:"  # incident_events.incident_id of an alert's own rows
MAX_SEEDS = 1000
MAX_SOURCE = 200
# Okta logins are email-shaped by default and at most 100 characters
# (https://developer.okta.com/docs/reference/api/users/#okta-login); user ids look like 00u + 17 characters.
MAX_LOGIN = 100
_LOGIN = re.compile(r"^[^@\s]+@([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)$")
_USER_ID = re.compile(r"^00u[0-9A-Za-z]{17}$")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Alert:
    """An accepted alert: what the respond playbook will be started with."""

    alert_id: str
    cutoff: datetime
    seeds: tuple[str, ...]
    source: str
    execute: bool

    def payload(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "since": okta_time(self.cutoff),
            "seeds": list(self.seeds),
            "source": self.source,
            "execute": self.execute,
        }


@dataclass
class AlertOutcome:
    alert_id: str
    accepted: bool
    reasons: list[str] = field(default_factory=list)
    alert: Alert | None = None
    event_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "accepted": self.accepted,
            "reasons": self.reasons,
            "payload": self.alert.payload() if self.alert else None,
            "event_id": self.event_id,
        }


# ------------------------------------------------------------------------------------------ 1. VALIDATE (pure)


def _seed_problem(seed: str, domains: Sequence[str]) -> str | None:
    if not seed:
        return "an empty seed"
    shown = seed if len(seed) <= 60 else seed[:57] + "..."
    if _UNPRINTABLE.search(seed):
        return f"seed {shown!r} contains control characters"
    if len(seed) > MAX_LOGIN:
        return f"seed {shown!r} is longer than an Okta login ({MAX_LOGIN} characters)"
    if _USER_ID.match(seed):
        return None
    match = _LOGIN.match(seed)
    if match is None:
        return f"seed {shown!r} is not an Okta login (name@domain) or user id (00u...)"
    domain = match.group(1).lower()
    if domains and not any(domain == d or domain.endswith("." + d) for d in domains):
        return f"seed {shown!r} is outside the org's domains ({', '.join(domains)})"
    return None


def validate_alert(
    since: str | None,
    seeds: Sequence[str],
    source: str | None,
    *,
    now: datetime,
    org_domains: Sequence[str] = (),
    execute: bool = True,
    alert_id: str | None = None,
) -> tuple[Alert | None, list[str]]:
    """(the alert, []) or (None, every reason it is refused). Seeds are de-duplicated, logins lower-cased."""
    reasons: list[str] = []
    cutoff: datetime | None = None
    if since is None or not since.strip():
        reasons.append("no cutoff: give --since (when the compromise may have started, e.g. 2021-12-01 or 52d)")
    else:
        try:
            cutoff = parse_when(since, now)
        except ValueError as err:
            reasons.append(f"cutoff: {err}")
        else:
            if cutoff > now:
                reasons.append(f"cutoff {okta_time(cutoff)} is in the future (now {okta_time(now)})")
    cleaned: list[str] = []
    domains = [d.lower() for d in org_domains]
    for raw in seeds:
        seed = raw.strip()
        problem = _seed_problem(seed, domains)
        if problem is not None:
            reasons.append(problem)
            continue
        key = seed if _USER_ID.match(seed) else seed.lower()
        if key not in cleaned:
            cleaned.append(key)
    if not seeds:
        reasons.append("no seed account: give at least one --seed (an account named in the alert)")
    elif len(seeds) > MAX_SEEDS:
        reasons.append(f"{len(seeds)} seeds: an alert names at most {MAX_SEEDS} accounts (use the audit instead)")
    text = (source or "").strip() or "unspecified"
    if _UNPRINTABLE.search(text):
        reasons.append("source contains control characters")
    elif len(text) > MAX_SOURCE:
        reasons.append(f"source is {len(text)} characters long: at most {MAX_SOURCE}")
    if reasons or cutoff is None:
        return None, reasons
    return Alert(alert_id or str(uuid.uuid4()), cutoff, tuple(cleaned), text, execute), []


def _clip(value: str | None, limit: int = 200) -> str | None:
    return value if value is None or len(value) <= limit else value[: limit - 3] + "..."


# ----------------------------------------------------------------------------------------------- 2./4. RECORD


def _record(engine: Engine, alert_id: str, at: datetime, kind: str, detail: dict[str, Any]) -> None:
    with transaction(engine, write=True) as conn:
        ledger.record_event(conn, ALERT_PREFIX + alert_id, at, kind, detail)


def alert_rows(conn: Connection, kinds: Sequence[str] = ()) -> list[Any]:
    """Every alert's ledger rows, oldest first (the timeline and `holdfast incidents` read them)."""
    query = select(incident_events).where(incident_events.c.incident_id.startswith(ALERT_PREFIX))
    if kinds:
        query = query.where(incident_events.c.kind.in_(list(kinds)))
    return list(conn.execute(query.order_by(incident_events.c.at, incident_events.c.id)))


# -------------------------------------------------------------------------------------------------- 3. EMIT

Emitter = Callable[[Alert], Awaitable[str]]


async def emit_alert_event(alert: Alert) -> str:
    """POST the `holdfast.alert` event to the Prefect API; returns the event id.

    https://docs.prefect.io/v3/api-ref/rest-api/server/events/create-events . Deliberately not
    `prefect.events.emit_event`: that one queues the event in a background thread and only logs a failure,
    and an alert that silently never arrives is the worst outcome here.
    """
    from prefect.client.orchestration import get_client
    from prefect.events import Event

    event = Event.model_validate(
        {
            "event": ALERT_EVENT,
            "resource": {
                "prefect.resource.id": ALERT_RESOURCE_PREFIX + alert.alert_id,
                "prefect.resource.name": f"alert from {alert.source}"[:100],
            },
            "payload": alert.payload(),
        }
    )
    try:
        async with get_client() as client:
            await client.request("POST", "/events", json=[event.model_dump(mode="json")])
    except Exception as err:  # httpx errors of every kind: the API is down, refuses, or times out
        raise ProviderError("prefect", f"the alert event was not delivered ({type(err).__name__}: {err})") from None
    return str(event.id)


# ---------------------------------------------------------------------------------------------------- the whole


async def raise_alert(
    settings: Settings,
    policy: Policy,
    engine: Engine,
    *,
    since: str | None,
    seeds: Sequence[str],
    source: str | None,
    emit: Emitter = emit_alert_event,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> AlertOutcome:
    """Validate, record and emit one alert. A refused alert is recorded, then raised as InputError; an
    undelivered one is recorded, then raised as ProviderError."""
    now = clock()
    # 1. VALIDATE
    alert, reasons = validate_alert(
        since, seeds, source, now=now, org_domains=settings.org_domains, execute=policy.alerts.execute
    )
    if alert is None:
        alert_id = str(uuid.uuid4())
        # 2. RECORD the refusal with what was received (clipped: an alert is untrusted input)
        _record(
            engine, alert_id, now, "alert.refused",
            {"since": _clip(since), "seeds": [_clip(s) for s in list(seeds)[:50]], "seed_count": len(seeds),
             "source": _clip(source), "reasons": reasons},
        )  # fmt: skip
        raise InputError(f"alert {alert_id} refused: " + "; ".join(reasons))
    # 2. RECORD the accepted alert before anything can start from it
    _record(engine, alert.alert_id, now, "alert.accepted", alert.payload())
    # 3. EMIT
    try:
        event_id = await emit(alert)
    except ProviderError as err:
        _record(engine, alert.alert_id, clock(), "alert.undelivered", {"error": str(err)})
        raise
    # 4. RECORD the delivery
    _record(engine, alert.alert_id, clock(), "alert.emitted", {"event": ALERT_EVENT, "event_id": event_id})
    return AlertOutcome(alert.alert_id, True, alert=alert, event_id=event_id)


@flow(name="alert")
async def alert(
    since: str, seeds: list[str], source: str | None = None, config_file: str | None = None
) -> dict[str, Any]:
    """Deployment entry point: raise an alert from inside Prefect (e.g. `prefect deployment run alert/...`)."""
    settings = load_settings(Path(config_file) if config_file else None)
    policy = load_policy(settings.policy_file)
    engine = make_engine(settings.store.url)
    try:
        migrate(engine)
        outcome = await raise_alert(settings, policy, engine, since=since, seeds=seeds, source=source)
    finally:
        engine.dispose()
    return outcome.as_dict()
