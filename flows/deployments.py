"""Deployment definitions: what runs on a schedule, what an alert starts, and the Okta budget shared by workers.

The one source of truth for both ways of running holdfast:
- `holdfast serve` (one machine, the embedded default) turns these into deployments with `flow.ato_deployment`
  and serves them in its own process;
- `prefect.yaml` (scale-out) declares the same deployments for the `holdfast` process work pool; a test checks
  that the two agree.

| deployment | when |
|---|---|
| ingest/every-5-minutes | every 5 minutes; at the top of each hour it also posts the chain heads to Slack |
| reaudit/daily | 06:00 UTC |
| retention/daily | 03:30 UTC |
| respond/on-alert | every `holdfast.alert` event; the run's parameters come from the event's payload |

Entrypoints are module paths (`flows.respond.respond`): every worker has holdfast installed, so flow code is
imported from the installed package; no image, no git clone, no shared folder.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prefect.deployments.runner import RunnerDeployment
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
from prefect.schedules import Cron
from prefect.types.entrypoint import EntrypointType

from tasks.okta import buckets
from tasks.okta.calls import shared_limit_name

WORK_POOL = "holdfast"
TAGS = ("holdfast",)
TIMEZONE = "UTC"

# The alert contract (README "Operations"): `holdfast alert` emits it; a SIEM may POST it to /api/events.
ALERT_EVENT = "holdfast.alert"
ALERT_RESOURCE_PREFIX = "holdfast.alert."
# Single-expression templates keep their JSON type (Prefect renders them through `tojson`). Optional keys
# default to the safe choice: no seeds, and a dry run unless the alert says `execute` (holdfast alert sets it
# from the policy's [alerts] execute). A missing `since` still starts a run, which fails visibly.
ALERT_PARAMETERS: dict[str, Any] = {
    "since": "{{ event.payload.since | default(none) }}",
    "seeds": "{{ event.payload.seeds | default([]) }}",
    "source": "{{ event.payload.source | default('unknown') }}",
    "execute": "{{ event.payload.execute | default(false) }}",
    "trigger": "alert",
}


@dataclass(frozen=True)
class ScheduleSpec:
    cron: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    slug: str | None = None


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment, independent of how it is run (served here, or by workers from prefect.yaml)."""

    name: str
    flow_name: str
    entrypoint: str  # module path of the flow object
    description: str
    schedules: tuple[ScheduleSpec, ...] = ()
    on_alert: bool = False
    parameters: Mapping[str, Any] = field(default_factory=dict)


DEPLOYMENTS: tuple[DeploymentSpec, ...] = (
    DeploymentSpec(
        name="every-5-minutes",
        flow_name="ingest",
        entrypoint="flows.ingest.ingest",
        description="Okta System Log and Google Reports into the evidence store; chain heads to Slack hourly.",
        schedules=(
            # Two schedules instead of an interval, so the hourly anchor run is not a second run at :00.
            ScheduleSpec("5-55/5 * * * *", slug="every-5-minutes"),
            ScheduleSpec("0 * * * *", {"post_anchor_to_slack": True}, slug="hourly-with-anchor"),
        ),
    ),
    DeploymentSpec(
        name="daily",
        flow_name="reaudit",
        entrypoint="flows.reaudit.reaudit",
        description="Credential changes since the last audit, held accounts still suspended, unknown hardware keys.",
        schedules=(ScheduleSpec("0 6 * * *", slug="daily"),),
    ),
    DeploymentSpec(
        name="daily",
        flow_name="retention",
        entrypoint="flows.retention.retention",
        description="Remove evidence older than the policy's retention, recording what was removed.",
        schedules=(ScheduleSpec("30 3 * * *", slug="daily"),),
    ),
    DeploymentSpec(
        name="on-alert",
        flow_name="respond",
        entrypoint="flows.respond.respond",
        description="The playbook, started by a holdfast.alert event (cutoff and seeds from its payload).",
        on_alert=True,
    ),
)


def alert_trigger() -> DeploymentEventTrigger:
    """https://docs.prefect.io/v3/automate/events/automations-triggers (deployment triggers, templated parameters)."""
    return DeploymentEventTrigger(
        name="holdfast alert",
        description="Run the respond playbook for every holdfast.alert event.",
        expect={ALERT_EVENT},
        match={"prefect.resource.id": ALERT_RESOURCE_PREFIX + "*"},
        parameters=dict(ALERT_PARAMETERS),
    )


def _flow(entrypoint: str) -> Any:
    from prefect.flows import load_flow_from_entrypoint

    return load_flow_from_entrypoint(entrypoint, use_placeholder_flow=False)


async def runner_deployments(
    specs: Iterable[DeploymentSpec] = DEPLOYMENTS,
    *,
    config_file: str | None = None,
    with_slack_anchor: bool = True,
) -> list[RunnerDeployment]:
    """The deployments `holdfast serve` serves. `config_file` becomes a default parameter of every run;
    without Slack settings the hourly anchor schedule is left out (it would fail every hour)."""
    result = []
    for spec in specs:
        parameters = dict(spec.parameters)
        if config_file is not None:
            parameters["config_file"] = config_file
        schedules = [
            Cron(s.cron, timezone=TIMEZONE, parameters=dict(s.parameters), slug=s.slug)
            for s in spec.schedules
            if with_slack_anchor or not s.parameters.get("post_anchor_to_slack")
        ]
        deployment = await _flow(spec.entrypoint).ato_deployment(
            name=spec.name,
            schedules=schedules or None,
            triggers=[alert_trigger()] if spec.on_alert else None,
            parameters=parameters or None,
            description=spec.description,
            tags=list(TAGS),
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        result.append(deployment)
    return result


# ------------------------------------------------------------------------- the Okta budget shared by workers

# Okta's per-minute defaults for a Workforce Identity org (https://developer.okta.com/docs/reference/rl-global-mgmt/),
# one entry per bucket holdfast calls (tasks/okta/buckets.py). Orgs with other limits override them.
OKTA_BUCKET_LIMITS: Mapping[str, int] = {
    buckets.LOGS: 120,
    buckets.USERS_LIST: 600,
    buckets.USERS_GET: 2000,
    buckets.USERS_WRITE: 600,
    buckets.GROUPS_LIST: 500,
    buckets.API_OTHER: 1200,
}
HEADROOM = 0.9  # leave a tenth of each bucket to the org's other integrations


@dataclass(frozen=True)
class SharedBudget:
    """A Prefect global concurrency limit with slot decay standing for one Okta bucket.

    Okta counts requests per fixed window (a minute). A limit of `capacity` slots that decay at `decay_per_s`
    admits at most `capacity + decay_per_s * window_s` acquisitions in any window of that length, which is
    kept at `headroom` of Okta's limit: all workers together never spend more than the bucket holds.
    """

    bucket: str
    per_window: int  # Okta's limit
    window_s: float
    capacity: int
    decay_per_s: float

    @property
    def name(self) -> str:
        return shared_limit_name(self.bucket)

    @property
    def most_per_window(self) -> float:
        return self.capacity + self.decay_per_s * self.window_s


def shared_budget(bucket: str, per_window: int, *, window_s: float = 60.0, headroom: float = HEADROOM) -> SharedBudget:
    usable = max(2, math.floor(per_window * headroom))
    capacity = max(1, usable // 10)  # a small burst; the rest arrives at the decay rate
    return SharedBudget(bucket, per_window, window_s, capacity, (usable - capacity) / window_s)


def okta_budgets(overrides: Mapping[str, int] | None = None, *, window_s: float = 60.0) -> list[SharedBudget]:
    limits = {**OKTA_BUCKET_LIMITS, **(overrides or {})}
    return [shared_budget(b, n, window_s=window_s) for b, n in sorted(limits.items())]


async def ensure_shared_budgets(budgets: Sequence[SharedBudget]) -> list[SharedBudget]:
    """Create or update one global concurrency limit per bucket on the current Prefect API (idempotent).

    https://docs.prefect.io/v3/how-to-guides/workflows/global-concurrency-limits
    """
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        for budget in budgets:
            await client.upsert_global_concurrency_limit_by_name(
                budget.name, budget.capacity, slot_decay_per_second=budget.decay_per_s
            )
    return list(budgets)
