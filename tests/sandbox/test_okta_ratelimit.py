"""Okta's rate limits in the fake: per-bucket headers and 429 E0000047, configurable windows, the SDK's own
backoff on X-Rate-Limit-Reset, and the org-wide concurrency limit."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sandbox.knobs import Knobs
from sandbox.okta.ratelimit import Bucket, RateLimits
from sandbox.org import Org
from sandbox.server import SandboxServer
from tests.sandbox.test_okta_helpers import add_person, close, error_message, sdk_client


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def _events(org: Org, event_type: str) -> list[dict[str, Any]]:
    return [e.as_dict() for e in org.system_log.scan(limit=1000) if e.as_dict()["eventType"] == event_type]


def test_defaults_are_oktas_workforce_limits() -> None:
    limits = RateLimits()
    assert limits.logs == Bucket(120, 60.0)
    assert (limits.users_list.limit, limits.users_get.limit, limits.users_write.limit) == (600, 2000, 600)
    assert limits.concurrency == 75
    compressed = RateLimits.compressed(window_s=2.0)
    assert compressed.logs == Bucket(120, 2.0)


def test_remaining_counts_down_then_429_e0000047_with_the_reset_time(org: Org, sandbox: SandboxServer) -> None:
    org.okta_rate_limits.logs = Bucket(3)
    add_person(org, "still.listable")

    async def scenario() -> tuple[list[tuple[Any, ...]], tuple[Any, ...], tuple[Any, ...]]:
        client = sdk_client(sandbox)
        allowed = [tuple(await client.list_log_events()) for _ in range(3)]
        refused = tuple(await client.list_log_events())
        again = tuple(await client.list_log_events())
        other_bucket = tuple(await client.list_users())
        await close(client)
        return allowed, (refused, again), other_bucket

    allowed, (refused, again), other_bucket = run(scenario())
    remaining = [int(r[1].headers["X-Rate-Limit-Remaining"]) for r in allowed]
    assert remaining == [2, 1, 0]
    assert all(r[1].headers["X-Rate-Limit-Limit"] == "3" for r in allowed)
    assert error_message(refused).startswith(
        "Okta HTTP 429 E0000047 API call exceeded rate limit due to too many requests."
    )
    headers = refused[1].headers
    assert (headers["X-Rate-Limit-Limit"], headers["X-Rate-Limit-Remaining"]) == ("3", "0")
    assert int(headers["X-Rate-Limit-Reset"]) >= int(time.time())
    assert error_message(again).startswith("Okta HTTP 429")
    assert other_bucket[-1] is None  # /api/v1/users has its own bucket
    (violation,) = _events(org, "system.operation.rate_limit.violation")  # once per window, as Okta logs it
    assert violation["debugContext"]["debugData"]["requestUri"] == "/api/v1/logs"


def test_a_compressed_window_resets_and_the_sdk_backs_off_until_then(org: Org, sandbox: SandboxServer) -> None:
    org.okta_rate_limits = RateLimits.compressed(window_s=1.0)
    org.okta_rate_limits.users_list = Bucket(2, window_s=1.0)

    async def scenario() -> tuple[Any, ...]:
        client = sdk_client(sandbox, max_retries=2)
        for _ in range(2):
            await client.list_users()
        # The third call is refused; the SDK sleeps until X-Rate-Limit-Reset (using Date) and retries.
        result = tuple(await client.list_users())
        await close(client)
        return result

    _, response, err = run(scenario())
    assert err is None
    assert response.status_code == 200


def test_requests_over_the_concurrency_limit_get_429_with_zero_limit_headers(
    org: Org, knobs: Knobs, sandbox: SandboxServer
) -> None:
    person = add_person(org, "busy.user")
    org.okta_rate_limits.concurrency = 2
    knobs.set("okta.users.get", latency_ms=(400.0, 400.0))

    async def scenario() -> list[tuple[Any, ...]]:
        client = sdk_client(sandbox)
        results = await asyncio.gather(*(client.get_user(person.id) for _ in range(6)))
        await close(client)
        return [tuple(r) for r in results]

    results = run(scenario())
    ok = [r for r in results if r[-1] is None]
    refused = [r for r in results if r[-1] is not None]
    assert len(ok) == 2
    assert len(refused) == 4
    for result in refused:
        assert error_message(result).startswith("Okta HTTP 429 E0000047")
        headers = result[-1].headers
        assert (headers["X-Rate-Limit-Limit"], headers["X-Rate-Limit-Remaining"]) == ("0", "0")
    assert len(_events(org, "core.concurrency.org.limit.violation")) == 1
