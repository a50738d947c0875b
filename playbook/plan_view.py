"""How a containment plan reads to a human: Markdown (Prefect artifact) and table rows (the CLI)."""

from __future__ import annotations

from playbook.models import Plan


def action_summary(keys: list[str]) -> str:
    """'suspend, revoke_sessions, unenroll_factor x2, ...' in plan order."""
    counted: dict[str, int] = {}
    for key in keys:
        name = key.split(":")[0]
        counted[name] = counted.get(name, 0) + 1
    return ", ".join(name if n == 1 else f"{name} x{n}" for name, n in counted.items())


def plan_rows(plan: Plan) -> list[tuple[str, str, str, str]]:
    """(login, tier, status, actions) per account, in execution order."""
    return [
        (
            a.login + (" (seed)" if a.seed else ""),
            a.risk.value,
            a.status or "?",
            action_summary([s.key for s in a.actions]),
        )
        for a in plan.accounts
    ]


def plan_markdown(plan: Plan) -> str:
    counts = plan.counts_by_tier()
    lines = [
        f"# Containment plan for {plan.incident_id}",
        "",
        f"{len(plan.accounts)} accounts to contain ("
        + ", ".join(f"{tier} {n}" for tier, n in counts.items())
        + f"); blast-radius cap {plan.cap}{' (OVER THE CAP)' if plan.over_cap else ''}.",
        "",
        "| account | tier | status | actions |",
        "|---|---|---|---|",
        *(f"| {login} | {tier} | {status} | {actions} |" for login, tier, status, actions in plan_rows(plan)),
    ]
    if plan.manual:
        lines += ["", "## Manual handling (never touched by holdfast)", ""]
        lines += [f"- {m.login} ({m.risk.value}): {m.why}" for m in plan.manual]
    if plan.skipped:
        lines += ["", "## Nothing to contain", ""]
        lines += [f"- {m.login} ({m.risk.value}): {m.why}" for m in plan.skipped]
    return "\n".join(lines)
