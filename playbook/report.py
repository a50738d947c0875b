"""The audit's outputs: JSON and CSV with a documented schema (README "Audit output"), and Markdown.

Pure and deterministic: the same AuditResult gives the same bytes (keys sorted, lists sorted, findings by
login), so two audits of the same evidence can be compared with `cmp` and handed to auditors as is.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from config.policy import TIER_ORDER
from playbook.models import AuditResult, Finding

SCHEMA_VERSION = 1
CSV_COLUMNS = (
    "login",
    "user_id",
    "status",
    "risk",
    "reasons",
    "actor_kinds",
    "actors",
    "corroboration",
    "seed",
    "failed_attempts",
    "factor_findings",
    "evidence",
    "ips",
    "countries",
    "mfa_methods",
    "new_user_agents",
    "sign_ins",
    "failed_sign_ins",
)


def as_document(result: AuditResult) -> dict[str, Any]:
    """The JSON document: audit metadata plus `findings`, one object per account."""
    body = result.model_dump(mode="json")
    body["schema_version"] = SCHEMA_VERSION
    body["counts"] = {tier.value: sum(1 for f in result.findings if f.risk is tier) for tier in TIER_ORDER}
    return body


def to_json(result: AuditResult) -> str:
    return json.dumps(as_document(result), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def from_json(text: str) -> AuditResult:
    """Read a JSON document back (the derived `counts` and `schema_version` are dropped)."""
    body = json.loads(text)
    body.pop("counts", None)
    body.pop("schema_version", None)
    return AuditResult.model_validate(body)


def _factors(finding: Finding) -> str:
    return ";".join(
        f"{f.factor_type}:{f.factor_id}:{f.problem}" + (f":{f.credential_id}" if f.credential_id else "")
        for f in finding.factor_findings
    )


def to_csv(result: AuditResult) -> str:
    """One row per account; multi-valued cells joined with ';'."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for f in result.findings:
        writer.writerow(
            (
                f.login,
                f.user_id,
                f.status or "",
                f.risk.value,
                ";".join(r.value for r in f.reasons),
                ";".join(k.value for k in f.actor_kinds),
                ";".join(f.actors),
                f.corroboration.value,
                "true" if f.seed else "false",
                f.failed_attempts,
                _factors(f),
                ";".join(f.evidence),
                ";".join(f.access.ips),
                ";".join(f.access.countries),
                ";".join(f.access.mfa_methods),
                ";".join(f.access.new_user_agents),
                f.access.sign_ins,
                f.access.failed_sign_ins,
            )
        )
    return out.getvalue()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def summary_line(result: AuditResult) -> str:
    counts = as_document(result)["counts"]
    tiers = ", ".join(f"{counts[t.value]} {t.value}" for t in TIER_ORDER)
    return f"{len(result.findings)} accounts ({tiers})"


def to_markdown(result: AuditResult, *, limit: int = 500) -> str:
    """The Prefect artifact: a summary and one table row per account (highest risk first)."""
    lines = [
        "# holdfast audit",
        "",
        f"Credential changes from **{result.cutoff}** to {result.until} (source: {result.source}): "
        f"{summary_line(result)}.",
    ]
    if not result.corroboration_available:
        lines.append("")
        lines.append("**Google corroboration unavailable**: password resets are marked `unavailable`.")
    if result.unknown_seeds:
        lines.append("")
        lines.append("Unknown seed accounts (not in Okta): " + ", ".join(f"`{s}`" for s in result.unknown_seeds))
    lines += [
        "",
        "| risk | login | status | reasons | actors | corroboration | factors | failed | evidence |",
        "|---|---|---|---|---|---|---|---:|---:|",
    ]
    order = {tier: n for n, tier in enumerate(TIER_ORDER)}
    ranked = sorted(result.findings, key=lambda f: (order[f.risk], f.login))
    for f in ranked[:limit]:
        lines.append(
            "| "
            + " | ".join(
                _cell(x)
                for x in (
                    f.risk.value,
                    f.login + (" (seed)" if f.seed else ""),
                    f.status or "",
                    ", ".join(r.value for r in f.reasons),
                    ", ".join(k.value for k in f.actor_kinds),
                    f.corroboration.value,
                    ", ".join(sorted({p.problem for p in f.factor_findings})),
                    str(f.failed_attempts),
                    str(len(f.evidence)),
                )
            )
            + " |"
        )
    if len(ranked) > limit:
        lines.append(f"| ... | {len(ranked) - limit} more accounts: see the JSON output | | | | | | | |")
    if result.notes:
        lines += ["", *(f"- {note}" for note in result.notes)]
    return "\n".join(lines) + "\n"
