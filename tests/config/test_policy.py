"""Policy: the shipped default validates; every kind of mistake is refused with the key's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import ConfigError
from config.policy import DEFAULT_POLICY_FILE, ActorKind, Reason, Tier, load_policy


def test_the_default_policy_loads_and_resolves_the_key_registry_next_to_it() -> None:
    policy = load_policy()
    assert policy.reason_for("user.account.reset_password") is Reason.PASSWORD_RESET
    assert policy.reason_for("user.session.start") is None
    assert policy.hardware_keys.registry == DEFAULT_POLICY_FILE.parent / "approved-keys.json"
    assert policy.caps.max_accounts == 500


@pytest.mark.parametrize(
    ("reasons", "actors", "tier"),
    [
        ({Reason.PASSWORD_RESET}, {ActorKind.OKTA_SUPPORT}, Tier.CRITICAL),
        ({Reason.UNKNOWN_HARDWARE_KEY}, set(), Tier.CRITICAL),
        ({Reason.MFA_BYPASS_ATTEMPT}, {ActorKind.SELF}, Tier.HIGH),
        ({Reason.PASSWORD_UPDATE}, {ActorKind.SELF}, Tier.MEDIUM),
        ({Reason.SEED}, set(), Tier.LOW),
    ],
)
def test_the_highest_matching_tier_wins(reasons: set[Reason], actors: set[ActorKind], tier: Tier) -> None:
    assert load_policy().risk.tier_for(reasons, actors) is tier


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT_POLICY_FILE.read_text()
    assert old in text
    path = tmp_path / "policy.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("max_accounts = 500", "max_acounts = 500", "caps.max_acounts is not a known setting"),
        ("max_accounts = 500", 'max_accounts = "many"', "caps.max_accounts"),
        ('reason = "password_reset"', 'reason = "reset"', "watched.user.account.reset_password.reason"),
        ("days = 400", "days = 30", "retention.days"),
        ('factors = "reset_all"', 'factors = "burn_it"', "containment.critical.factors"),
        ("[caps]", "[caps\n", "not valid TOML"),
    ],
)
def test_policy_mistakes_are_one_line_naming_the_key(tmp_path: Path, old: str, new: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_policy(_variant(tmp_path, old, new))
    assert expected in str(err.value)
    assert "\n" not in str(err.value)
