"""Audit outputs, pure: byte-identical JSON, CSV one row per account, Markdown ranked by risk."""

from __future__ import annotations

import csv
import io
import json

from config.policy import ActorKind, Reason, Tier
from playbook.models import AccessPicture, AuditResult, Corroboration, FactorFinding, Finding
from playbook.report import CSV_COLUMNS, from_json, to_csv, to_json, to_markdown


def result() -> AuditResult:
    return AuditResult(
        cutoff="2021-12-01T00:00:00.000Z",
        until="2022-01-21T03:30:00.000Z",
        source="store",
        findings=(
            Finding(
                user_id="00uana",
                login="ana@example.com",
                status="ACTIVE",
                risk=Tier.CRITICAL,
                reasons=(Reason.PASSWORD_RESET, Reason.SEED),
                actor_kinds=(ActorKind.OKTA_SUPPORT,),
                actors=("system@okta.com",),
                corroboration=Corroboration.CONFIRMED,
                factor_findings=(
                    FactorFinding(
                        factor_id="fwf1", factor_type="webauthn", credential_id="c1", problem="unknown_hardware_key"
                    ),
                ),
                evidence=("u1", "u2"),
                seed=True,
                access=AccessPicture(ips=("192.0.2.15",), countries=("Brazil",), sign_ins=3),
            ),
            Finding(
                user_id="00ubob",
                login="bob@example.com",
                risk=Tier.MEDIUM,
                reasons=(Reason.PASSWORD_UPDATE,),
                actor_kinds=(ActorKind.SELF,),
                evidence=("u3",),
            ),
        ),
        unknown_seeds=("ghost@example.com",),
    )


def test_the_same_result_gives_the_same_bytes_with_sorted_keys() -> None:
    first, second = to_json(result()), to_json(from_json(to_json(result())))
    assert first == second
    document = json.loads(first)
    assert list(document) == sorted(document)
    assert list(document["findings"][0]) == sorted(document["findings"][0])
    assert document["counts"] == {"critical": 1, "high": 0, "medium": 1, "low": 0}
    assert document["findings"][0]["reasons"] == ["password_reset", "seed"]


def test_csv_has_one_row_per_account_with_multi_values_joined() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(result()))))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [r["login"] for r in rows] == ["ana@example.com", "bob@example.com"]
    assert rows[0]["reasons"] == "password_reset;seed"
    assert rows[0]["factor_findings"] == "webauthn:fwf1:unknown_hardware_key:c1"
    assert rows[0]["seed"] == "true" and rows[1]["status"] == ""


def test_markdown_lists_the_highest_risk_first_and_the_unknown_seeds() -> None:
    text = to_markdown(result())
    assert text.index("ana@example.com (seed)") < text.index("bob@example.com")
    assert "`ghost@example.com`" in text
    assert "2 accounts (1 critical, 0 high, 1 medium, 0 low)" in text
