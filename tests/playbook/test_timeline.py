"""The incident timeline, pure: ledger records in, a post-mortem style timeline out (Markdown and JSON)."""

from __future__ import annotations

import json

from playbook.timeline import (
    EventRecord,
    HoldRecord,
    IncidentRecord,
    Timeline,
    build_timeline,
    from_dict,
    to_markdown,
)

INCIDENT = IncidentRecord(
    id="INC-20220121-033000-ab12",
    created_at="2022-01-21T03:30:05.000Z",
    trigger="alert",
    source="SIEM rule 42",
    cutoff="2021-12-01T00:00:00.000Z",
    seeds=("ana@acme.com",),
    status="contained",
)
ALERT = [
    EventRecord(
        "2022-01-21T03:30:00.000Z",
        "alert.accepted",
        {"alert_id": "a1", "since": "2021-12-01T00:00:00.000Z", "seeds": ["ana@acme.com"], "source": "SIEM rule 42"},
    ),
    EventRecord("2022-01-21T03:30:01.000Z", "alert.emitted", {"event_id": "e1"}),
]
STORY = [
    EventRecord(
        "2022-01-21T03:30:05.000Z",
        "incident.created",
        {"trigger": "alert", "source": "SIEM rule 42", "cutoff": "2021-12-01T00:00:00.000Z"},
    ),
    EventRecord("2022-01-21T03:30:06.000Z", "containment.started", {"accounts": 1}),
    EventRecord(
        "2022-01-21T03:30:07.000Z",
        "containment.suspended",
        {"accounts": 1, "first": "2022-01-21T03:30:06.500Z", "last": "2022-01-21T03:30:06.500Z"},
    ),
    EventRecord("2022-01-21T03:30:07.100Z", "containment.finished", {"contained": 1, "failed": 0}),
    EventRecord("2022-01-21T03:31:00.000Z", "audit.finished", {"accounts": 3}),
    EventRecord("2022-01-21T03:31:01.000Z", "containment.started", {"accounts": 3}),
    EventRecord(
        "2022-01-21T03:31:03.000Z",
        "containment.suspended",
        {"accounts": 3, "first": "2022-01-21T03:30:06.500Z", "last": "2022-01-21T03:31:02.000Z"},
    ),
    EventRecord("2022-01-21T03:31:04.000Z", "containment.finished", {"contained": 3, "failed": 1}),
    EventRecord("2022-01-21T03:31:05.000Z", "notify.queued", {"messages": 4}),
    EventRecord(
        "2022-01-21T03:31:06.000Z",
        "notify.drained",
        {"sent": 3, "undeliverable": ["cy@acme.com"], "waiting": 0, "stopped": None},
    ),
    EventRecord(
        "2022-01-21T09:00:00.000Z",
        "verification.accepted",
        {"account": "ana@acme.com", "verifier": "it@acme.com", "method": "video-call", "ticket": "IT-7"},
    ),
    EventRecord("2022-01-21T09:00:05.000Z", "hold.released", {"account": "ana@acme.com", "verifiers": ["it@acme.com"]}),
    EventRecord("2022-01-21T10:00:00.000Z", "hold.relocked", {"account": "bo@acme.com", "found": "ACTIVE"}),
    EventRecord("2022-01-21T11:00:00.000Z", "something.new", {"n": 2, "empty": None}),
]
HOLDS = [
    HoldRecord(
        "ana@acme.com", "released", "2022-01-21T03:30:07.000Z", "2022-01-21T09:00:00.000Z", "2022-01-21T09:00:05.000Z"
    ),
    HoldRecord("bo@acme.com", "held", "2022-01-21T03:31:04.000Z", relocks=1),
    HoldRecord("cy@acme.com", "verified", "2022-01-21T03:31:04.000Z", "2022-01-21T12:00:00.000Z"),
]


def timeline() -> Timeline:
    return build_timeline(
        INCIDENT,
        STORY,
        alert_events=ALERT,
        holds=HOLDS,
        findings_by_tier={"critical": 1, "medium": 2},
        actions={"suspend": {"done": 3}, "reset_factors": {"done": 2, "failed": 1}},
        verifications={"accepted": 1},
        messages={"sent": 3, "undeliverable": 1},
    )


def test_the_story_reads_in_utc_order_from_the_alert_to_the_last_release() -> None:
    built = build_timeline(INCIDENT, STORY, alert_events=ALERT, holds=HOLDS)
    whats = [e.what for e in built.entries]
    assert whats == [
        "Alert received from SIEM rule 42: credential changes since 2021-12-01T00:00:00.000Z, 1 seed account "
        "(ana@acme.com)",
        "Incident opened on the alert (SIEM rule 42); cutoff 2021-12-01T00:00:00.000Z",
        "Containment started for 1 account",
        "First account suspended",
        "Containment finished: 1 account contained and held, nothing failed",
        "Audit finished: 3 accounts with credential changes since the cutoff",
        "Containment started for 3 accounts",
        "Last account suspended: 3 accounts suspended",
        "Containment finished: 3 accounts contained and held, 1 action failed",
        "4 Slack messages queued (a notice to each person, the IT summary)",
        "Slack: 3 sent, 1 with no Slack user (reported to IT)",
        "Identity of ana@acme.com verified by it@acme.com (video-call, ticket IT-7)",
        "ana@acme.com released (verified by it@acme.com)",
        "bo@acme.com found ACTIVE while held",
        "something.new: n=2",
    ]
    times = [e.at for e in built.entries]
    assert times == sorted(times)
    assert built.entries[3].at == "2022-01-21T03:30:06.500Z"  # the suspension itself, not when it was recorded


def test_counts_and_open_holds_come_from_the_ledger_tables() -> None:
    built = timeline()
    assert built.counts == {
        "accounts_found": 3,
        "accounts_by_tier": {"critical": 1, "medium": 2},
        "actions": {"reset_factors": {"done": 2, "failed": 1}, "suspend": {"done": 3}},
        "holds": {"held": 1, "released": 1, "verified": 1},
        "relocks": 1,
        "verifications": {"accepted": 1},
        "slack_messages": {"sent": 3, "undeliverable": 1},
    }
    assert [(h.login, h.state, h.relocks) for h in built.open_holds] == [
        ("bo@acme.com", "held", 1),
        ("cy@acme.com", "verified", 0),
    ]


def test_markdown_is_a_post_mortem_table_with_counts_and_open_holds() -> None:
    text = to_markdown(timeline())
    assert text.startswith("# Incident INC-20220121-033000-ab12: timeline\n")
    assert "| time (UTC) | what happened |" in text
    assert "| 2022-01-21 03:30:06 | First account suspended |" in text
    assert "| accounts found by the audit (critical 1, medium 2) | 3 |" in text
    assert "| reset_factors (done 2, failed 1) | 3 |" in text
    assert "## Open holds (2)" in text
    assert "| bo@acme.com | 2022-01-21 03:31:04 | held | 1 |" in text


def test_json_round_trips_and_markdown_is_the_same_from_either() -> None:
    built = timeline()
    data = json.loads(built.to_json())
    assert data["incident"]["seeds"] == ["ana@acme.com"]
    assert data["entries"][0]["kind"] == "alert.accepted"
    assert to_markdown(from_dict(data)) == to_markdown(built)


def test_a_manual_incident_without_holds_says_nothing_was_contained() -> None:
    manual = IncidentRecord(
        "INC-1", "2022-01-21T03:30:05.000Z", "manual", None, "2021-12-01T00:00:00.000Z", (), "planned"
    )
    built = build_timeline(manual, [EventRecord("2022-01-21T03:30:05.000Z", "incident.created", {"trigger": "manual"})])
    text = to_markdown(built)
    assert "| Incident opened by hand |" in text
    assert "## Open holds (0)\n\nNone: nothing was contained." in text
    assert "Seed accounts: none" in text


def test_pipes_in_ledger_text_do_not_break_the_markdown_table() -> None:
    events = [EventRecord("2022-01-21T03:30:05.000Z", "verification.refused", {"account": "a|b", "reason": "x\ny"})]
    text = to_markdown(build_timeline(INCIDENT, events))
    assert "Verification of a\\|b by someone refused: x y" in text
