"""A worker-like process for the shared-budget test: suspend the given accounts as fast as it is allowed.

Run as `python okta_burst.py IDS_FILE START_AT` with HOLDFAST_* settings (and PREFECT_API_URL) in the environment.
It uses holdfast's own client and lifecycle task, so with HOLDFAST_OKTA__SHARED_RATE_LIMITS=true every call takes
a slot of the `okta-users_write` global concurrency limit first. It starts at the epoch START_AT, so that several
processes begin at the same moment whatever their start-up took. Prints {"done": n, "already_done": n} as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from config.settings import load_settings
from tasks.okta.calls import RetryPolicy
from tasks.okta.clients import okta_client
from tasks.okta.lifecycle import suspend
from tasks.okta.ratelimit import RateLimiter


async def main(ids: list[str], start_at: float) -> dict[str, int]:
    okta = load_settings().require_okta()
    await asyncio.sleep(max(0.0, start_at - time.time()))
    gate = asyncio.Semaphore(okta.max_concurrency)
    counts = {"done": 0, "already_done": 0}
    async with okta_client(okta) as client:
        limiter = RateLimiter()

        async def one(user_id: str) -> None:
            async with gate:
                result = await suspend(client, limiter, user_id, RetryPolicy(attempts=8))
            counts[result.outcome] += 1

        await asyncio.gather(*(one(i) for i in ids))
    return counts


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(Path(sys.argv[1]).read_text()), float(sys.argv[2])))))
