"""Current factors against the approved hardware-key registry, pure."""

from __future__ import annotations

import json

import pytest

from config.errors import ConfigError
from playbook.factors import check_factors, parse_registry

CUTOFF = "2021-12-01T00:00:00.000Z"
REGISTRY = parse_registry(
    json.dumps(
        {
            "keys": [
                {"login": "Ana@Example.com", "credential_id": "cred-ana", "enrolled": "2021-03-01T10:00:00.000Z"},
                {"login": "bob@example.com", "credential_id": "cred-bob", "enrolled": "2021-03-01T10:00:00.000Z"},
            ]
        }
    )
)


def factor(
    factor_id: str,
    factor_type: str,
    credential: str | None = None,
    *,
    created: str = "2021-03-01T10:00:00.000Z",
    updated: str | None = None,
) -> dict[str, object]:
    profile = {"credentialId": credential} if credential else {"phoneNumber": "+15550100"}
    return {
        "id": factor_id,
        "factorType": factor_type,
        "provider": "FIDO",
        "status": "ACTIVE",
        "created": created,
        "lastUpdated": updated or created,
        "profile": profile,
    }


def test_an_approved_key_on_its_owner_is_no_finding() -> None:
    assert (
        check_factors("ana@example.com", [factor("fwf1", "webauthn", "cred-ana")], REGISTRY.approved(), cutoff=CUTOFF)
        == ()
    )


def test_a_credential_not_in_the_registry_is_an_unknown_hardware_key_even_with_old_timestamps() -> None:
    (found,) = check_factors(
        "ana@example.com", [factor("fwf1", "webauthn", "cred-swapped")], REGISTRY.approved(), cutoff=CUTOFF
    )
    assert found.problem == "unknown_hardware_key"
    assert (found.factor_id, found.credential_id) == ("fwf1", "cred-swapped")


def test_a_key_approved_for_someone_else_is_unknown_on_this_account() -> None:
    found = check_factors("ana@example.com", [factor("fwf1", "u2f", "cred-bob")], REGISTRY.approved(), cutoff=CUTOFF)
    assert [f.problem for f in found] == ["unknown_hardware_key"]


def test_factors_enrolled_or_changed_since_the_cutoff_are_listed_for_containment() -> None:
    found = check_factors(
        "bob@example.com",
        [
            factor("fwf2", "webauthn", "cred-new", created="2021-12-05T09:00:00.000Z"),
            factor("mbl1", "sms", updated="2021-12-06T09:00:00.000Z"),
            factor("opf1", "push"),
        ],
        REGISTRY.approved(),
        cutoff=CUTOFF,
    )
    assert [(f.factor_id, f.problem) for f in found] == [
        ("fwf2", "enrolled_since_cutoff"),
        ("fwf2", "unknown_hardware_key"),
        ("mbl1", "updated_since_cutoff"),
    ]
    assert found[2].credential_id is None


def test_registry_owners_are_lower_case_logins() -> None:
    assert REGISTRY.owners() == {"ana@example.com", "bob@example.com"}


def test_a_malformed_registry_is_a_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"registry keys.json: keys\.0\.credential_id"):
        parse_registry('{"keys": [{"login": "ana@example.com"}]}', name="keys.json")
