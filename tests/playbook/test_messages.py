"""Slack payloads built from the policy's templates: filled, marked for the outbox, valid Block Kit, no secrets."""

from __future__ import annotations

import pytest

from config.errors import ConfigError
from config.policy import Templates, load_policy
from playbook import messages
from playbook.messages import IncidentSummary, has_marker, marker
from sandbox.slack.blocks import parse_blocks

TEMPLATES = load_policy().templates


def test_the_person_notice_fills_the_template_and_links_the_booking_page() -> None:
    mark = marker("INC-1", "alice@example.com", "notice")
    payload = messages.person_notice(TEMPLATES, first_name="Alice", incident_id="INC-1", mark=mark)
    assert payload.text.startswith("Hi Alice, as a precaution during security incident INC-1")
    assert TEMPLATES.booking_url in payload.text and TEMPLATES.booking_url in str(payload.blocks)
    parse_blocks(payload.blocks)  # the fake Slack's Block Kit validation accepts it
    assert has_marker({"blocks": payload.blocks}, mark)
    assert not has_marker({"blocks": payload.blocks}, marker("INC-1", "alice@example.com", "released"))


def test_markers_are_stable_per_outbox_key_and_differ_between_keys() -> None:
    assert marker("INC-1", "Alice@Example.com", "notice") == marker("INC-1", "alice@example.com", "notice")
    keys = {marker(i, r, k) for i in ("INC-1", "INC-2") for r in ("a@x", "b@x") for k in ("notice", "released")}
    assert len(keys) == 8 and all(len(k) <= 255 for k in keys)


def test_the_it_summary_counts_tiers_and_lists_manual_and_unreachable_people() -> None:
    summary = IncidentSummary(
        incident_id="INC-1",
        contained_by_tier={"medium": 5, "critical": 3},
        failed=1,
        manual=[("admin@example.com", "protected account")],
        no_slack=["bob@example.com"],
        notices_waiting=2,
    )
    payload = messages.it_summary(TEMPLATES, summary, mark=marker("INC-1", "C1", "it_summary"))
    assert payload.text == (
        "Incident INC-1: 8 accounts contained (critical 3, medium 5); 1 for manual handling; 1 failed "
        "(`holdfast respond --resume INC-1` retries); 1 with no Slack user"
    )
    body = str(payload.blocks)
    assert "admin@example.com: protected account" in body and "bob@example.com" in body and "2 notices" in body
    parse_blocks(payload.blocks)


def test_long_lists_stay_within_block_kit_limits() -> None:
    people = [f"person{n}@example.com" for n in range(500)]
    summary = IncidentSummary(incident_id="INC-1", contained_by_tier={"high": 500}, no_slack=people)
    payload = messages.it_summary(TEMPLATES, summary, mark=marker("INC-1", "C1", "it_summary"))
    parse_blocks(payload.blocks)
    assert "and 460 more" in str(payload.blocks)


def test_a_template_with_an_unknown_placeholder_is_a_config_error_naming_it() -> None:
    broken = Templates(person_notice="Hi {name}", person_released="x", it_summary="x", booking_url="https://b")
    with pytest.raises(ConfigError, match=r"unknown placeholder \{name\}"):
        messages.person_notice(broken, first_name="A", incident_id="INC-1", mark="m")


def test_a_template_that_would_carry_a_reset_link_is_refused() -> None:
    leaky = Templates(
        person_notice="x", person_released="Your link: https://org.okta.com/reset_password/drpXYZ",
        it_summary="x", booking_url="https://b",
    )  # fmt: skip
    with pytest.raises(ValueError, match="secret"):
        messages.person_released(leaky, first_name="A", incident_id="INC-1", mark="m")


def test_the_greeting_uses_slacks_first_name_then_the_real_name_then_the_login() -> None:
    assert messages.first_name_of("Alice Example", "Ali", "alice@example.com") == "Ali"
    assert messages.first_name_of("Alice Example", None, "alice@example.com") == "Alice"
    assert messages.first_name_of(None, " ", "alice@example.com") == "alice"
