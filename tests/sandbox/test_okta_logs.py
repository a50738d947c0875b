"""The fake Okta System Log API through the real okta SDK: bounded and polling pagination, filters, keywords,
ordering, retention and Okta's validation errors."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from sandbox.org import Org, iso
from sandbox.records import Actor, ClientInfo, EventSpec, Target, okta_log_event
from sandbox.server import SandboxServer
from tests.sandbox.test_okta_helpers import BASE_TIME, close, error_message, link_rels, next_after, sdk_client

NOW = BASE_TIME
ADMIN = Actor("00uadmin0000000000001", "admin@example.com", "Ada Admin")
SUPPORT = Actor("00usupport000000000001", "system@okta.com", "Okta Support")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def event(
    event_type: str,
    published: datetime,
    *,
    actor: Actor = ADMIN,
    target: str = "00utarget00000000001",
    outcome: str = "SUCCESS",
    city: str | None = None,
) -> dict[str, Any]:
    return okta_log_event(
        EventSpec(
            event_type=event_type,
            published=published,
            actor=actor,
            targets=(Target(target, f"{target}@example.com", "Target Person"),),
            client=ClientInfo(ip="203.0.113.7", user_agent="Mozilla/5.0", country="US" if city else None, city=city),
            outcome=outcome,
            display_message=f"{event_type} happened",
        )
    )


@pytest.fixture
def frozen(org: Org) -> Org:
    org.clock = lambda: NOW
    return org


async def _all_pages(sandbox: SandboxServer, **params: Any) -> tuple[list[Any], list[int], list[set[str]]]:
    client = sdk_client(sandbox)
    events: list[Any] = []
    sizes: list[int] = []
    rels: list[set[str]] = []
    after: str | None = None
    while True:
        page, resp, err = await client.list_log_events(after=after, **params)
        assert err is None, err
        events.extend(page)
        sizes.append(len(page))
        rels.append(link_rels(resp))
        after = next_after(resp)
        if after is None or not page:
            break
    await close(client)
    return events, sizes, rels


def test_bounded_queries_page_in_published_order_and_stop_without_a_next_link(
    frozen: Org, sandbox: SandboxServer
) -> None:
    start = NOW - timedelta(days=3)
    frozen.system_log.append_many(event("user.session.start", start + timedelta(seconds=i * 200)) for i in range(1_250))
    # Same millisecond for several events: the (published, seq) cursor must still not lose or repeat any.
    frozen.system_log.append_many(event("user.session.end", start + timedelta(hours=1)) for _ in range(30))

    events, sizes, rels = run(_all_pages(sandbox, since=iso(start), until=iso(NOW), limit=500))

    uuids = [e.uuid for e in events]
    assert len(uuids) == len(set(uuids)) == 1_280
    published = [e.published for e in events]
    assert published == sorted(published)
    assert sizes[:2] == [500, 500]
    assert rels[-1] == {"self"}


def test_limit_defaults_to_100_and_is_capped_at_1000(frozen: Org, sandbox: SandboxServer) -> None:
    frozen.system_log.append_many(
        event("user.session.start", NOW - timedelta(hours=2, seconds=i)) for i in range(1_200)
    )

    async def scenario() -> tuple[int, int]:
        client = sdk_client(sandbox)
        default, _, _ = await client.list_log_events(since=iso(NOW - timedelta(days=1)), until=iso(NOW))
        capped, _, _ = await client.list_log_events(since=iso(NOW - timedelta(days=1)), until=iso(NOW), limit=5000)
        await close(client)
        return len(default), len(capped)

    assert run(scenario()) == (100, 1000)


def test_polling_always_offers_a_next_link_and_delivers_events_persisted_late(
    frozen: Org, sandbox: SandboxServer
) -> None:
    frozen.system_log.append_many(event("user.session.start", NOW - timedelta(minutes=30 - i)) for i in range(10))
    since = iso(NOW - timedelta(hours=1))

    async def scenario() -> tuple[list[str], list[str], list[str]]:
        client = sdk_client(sandbox)
        first, resp, _ = await client.list_log_events(since=since, limit=100)
        after = next_after(resp)
        empty, resp, _ = await client.list_log_events(since=since, after=after, limit=100)
        still = next_after(resp)
        # A new event and one delayed event published before the last one already seen.
        frozen.system_log.append(event("user.lifecycle.suspend", NOW))
        frozen.system_log.append(event("user.account.reset_password", NOW - timedelta(minutes=45)))
        later, resp, _ = await client.list_log_events(since=since, after=still, limit=100)
        assert next_after(resp) is not None
        await close(client)
        assert after is not None and still is not None
        return [e.event_type for e in first], [e.event_type for e in empty], [e.event_type for e in later]

    first, empty, later = run(scenario())
    assert len(first) == 10
    assert empty == []
    assert later == ["user.lifecycle.suspend", "user.account.reset_password"]


def test_descending_order_returns_the_newest_first(frozen: Org, sandbox: SandboxServer) -> None:
    frozen.system_log.append_many(event("user.session.start", NOW - timedelta(minutes=i)) for i in range(1, 6))

    async def scenario() -> list[Any]:
        client = sdk_client(sandbox)
        page, _, err = await client.list_log_events(sort_order="DESCENDING", limit=3)
        await close(client)
        assert err is None
        return page

    page = run(scenario())
    assert [e.published for e in page] == sorted((e.published for e in page), reverse=True)
    assert page[0].published.replace(tzinfo=None) == (NOW - timedelta(minutes=1)).replace(tzinfo=None)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('eventType eq "user.account.reset_password"', {"reset-admin", "reset-support"}),
        ('eventType eq "user.mfa.factor.update" or eventType eq "user.mfa.factor.deactivate"', {"mfa", "factor-off"}),
        ('eventType sw "user.mfa"', {"mfa", "factor-off"}),
        ('eventType co "reset"', {"reset-admin", "reset-support"}),
        ('actor.alternateId eq "system@okta.com"', {"reset-support"}),
        ('eventType eq "user.account.reset_password" and actor.id eq "00uadmin0000000000001"', {"reset-admin"}),
        ('target.id eq "00uvictim00000000001"', {"reset-support", "mfa"}),
        ('outcome.result eq "FAILURE"', {"failed-login"}),
        ('eventType sw "user." and not (actor.alternateId eq "admin@example.com")', {"reset-support"}),
        ('client.geographicalContext.city eq "Lisbon"', {"failed-login"}),
    ],
)
def test_filters_select_events_by_type_actor_target_and_outcome(
    frozen: Org, sandbox: SandboxServer, expression: str, expected: set[str]
) -> None:
    t = NOW - timedelta(hours=1)
    labelled = {
        "reset-admin": event("user.account.reset_password", t),
        "reset-support": event("user.account.reset_password", t, actor=SUPPORT, target="00uvictim00000000001"),
        "mfa": event("user.mfa.factor.update", t, target="00uvictim00000000001"),
        "factor-off": event("user.mfa.factor.deactivate", t),
        "failed-login": event("user.session.start", t, outcome="FAILURE", city="Lisbon"),
    }
    for body in labelled.values():
        frozen.system_log.append(body)
    by_uuid = {body["uuid"]: label for label, body in labelled.items()}

    events, _, _ = run(_all_pages(sandbox, filter=expression))
    assert {by_uuid[e.uuid] for e in events} == expected


def test_keyword_search_matches_whole_values_case_insensitively_with_hyphen_parts(
    frozen: Org, sandbox: SandboxServer
) -> None:
    t = NOW - timedelta(hours=1)
    lisbon = event("user.session.start", t, city="Lisbon")
    frozen.system_log.append(lisbon)
    frozen.system_log.append(event("user.session.start", t, city="Porto"))

    city, _, _ = run(_all_pages(sandbox, q="LISBON"))
    uuid_part, _, _ = run(_all_pages(sandbox, q=lisbon["uuid"].split("-")[0]))
    both, _, _ = run(_all_pages(sandbox, q="lisbon porto"))
    assert [e.uuid for e in city] == [lisbon["uuid"]]
    assert [e.uuid for e in uuid_part] == [lisbon["uuid"]]
    assert both == []


def test_retention_hides_events_older_than_90_days_without_failing(frozen: Org, sandbox: SandboxServer) -> None:
    frozen.system_log.append(event("user.session.start", NOW - timedelta(days=100)))
    recent = event("user.session.start", NOW - timedelta(days=80))
    frozen.system_log.append(recent)
    events, _, _ = run(_all_pages(sandbox, since=iso(NOW - timedelta(days=120)), until=iso(NOW)))
    assert [e.uuid for e in events] == [recent["uuid"]]


def test_without_since_a_request_covers_the_last_seven_days(frozen: Org, sandbox: SandboxServer) -> None:
    frozen.system_log.append(event("user.session.start", NOW - timedelta(days=8)))
    recent = event("user.session.start", NOW - timedelta(days=6))
    frozen.system_log.append(recent)
    polled, _, _ = run(_all_pages(sandbox))
    bounded, _, _ = run(_all_pages(sandbox, until=iso(NOW)))
    assert [e.uuid for e in polled] == [e.uuid for e in bounded] == [recent["uuid"]]


def test_a_sparse_filter_returns_partial_pages_instead_of_scanning_everything(
    frozen: Org, sandbox: SandboxServer
) -> None:
    start = NOW - timedelta(days=2)
    frozen.system_log.append_many(event("user.session.start", start + timedelta(seconds=i)) for i in range(30_000))
    needle = event("user.session.start", start + timedelta(seconds=29_999), city="Reykjavik")
    frozen.system_log.append(needle)

    async def scenario() -> tuple[list[Any], str | None, list[Any]]:
        client = sdk_client(sandbox)
        params = {"since": iso(start), "until": iso(NOW), "filter": 'client.geographicalContext.city eq "Reykjavik"'}
        first, resp, err = await client.list_log_events(**params)
        assert err is None
        after = next_after(resp)
        rest, _, _ = await client.list_log_events(after=after, **params)
        await close(client)
        return first, after, rest

    first, after, rest = run(scenario())
    assert first == []  # the per-request scan budget ran out first
    assert after is not None
    assert [e.uuid for e in rest] == [needle["uuid"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"since": "yesterday"}, "Okta HTTP 400 E0000001 Api validation failed: 'since'"),
        ({"until": "2022-13-45"}, "Okta HTTP 400 E0000001 Api validation failed: 'until'"),
        ({"filter": 'eventType eqq "x"'}, "Okta HTTP 400 E0000053 Invalid filter 'eventType eqq \"x\"'"),
        ({"filter": 'published gt "2022-01-01T00:00:00Z"'}, "Okta HTTP 400 E0000053"),
        ({"filter": 'debugContext.debugData.requestUri co "/api"'}, "Okta HTTP 400 E0000031"),
        ({"since": iso(NOW - timedelta(days=181))}, "Okta HTTP 400 E0000053 Invalid parameter: The since parameter"),
        ({"q": "x" * 41}, "Okta HTTP 400 E0000001 Api validation failed: 'q'"),
        ({"sort_order": "SIDEWAYS"}, "Okta HTTP 400 E0000001"),
    ],
)
def test_malformed_parameters_are_refused_as_okta_documents(
    frozen: Org, sandbox: SandboxServer, params: dict[str, Any], expected: str
) -> None:
    async def scenario() -> tuple[Any, ...]:
        client = sdk_client(sandbox)
        result = await client.list_log_events(**params)
        await close(client)
        return tuple(result)

    assert error_message(run(scenario())).startswith(expected)


def test_malformed_dates_list_one_error_cause_per_problem(frozen: Org, sandbox: SandboxServer) -> None:
    async def scenario() -> Any:
        client = sdk_client(sandbox)
        result = await client.list_log_events(until="not-a-date")
        await close(client)
        return result[-1]

    error = run(scenario())
    assert error.error_code == "E0000001"
    assert [c["errorSummary"] for c in error.error_causes] == [
        "until: The date format in your query is not recognized. Please enter dates using ISO8601 string format.",
        "until: must be a valid date-time or empty.",
    ]
