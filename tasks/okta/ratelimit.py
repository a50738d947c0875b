"""Client-side mirror of Okta's rate-limit buckets, fed by the X-Rate-Limit-* headers of every response.

Okta counts requests per endpoint bucket per minute and answers 429 (E0000047) past the limit
(https://developer.okta.com/docs/reference/rl-global-mgmt/). Waiting for the bucket's reset when it is
spent costs nothing; a 429 costs a round trip and counts against the org's rate-limit warnings.
One limiter per client; one state per bucket; the headers are authoritative.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field


@dataclass
class BucketState:
    limit: int | None = None
    remaining: int | None = None
    reset_epoch: float = 0.0
    in_flight: int = 0


@dataclass
class RateLimiter:
    """`await acquire(bucket)` before a call, `release(bucket, headers)` after it."""

    clock: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    waited_s: float = 0.0  # total time spent waiting for buckets to reset (reported by benchmarks)
    _buckets: dict[str, BucketState] = field(default_factory=dict)

    def state(self, bucket: str) -> BucketState:
        return self._buckets.setdefault(bucket, BucketState())

    async def acquire(self, bucket: str) -> None:
        state = self.state(bucket)
        while True:
            now = self.clock()
            # Unknown budget or a window that has reset: go; the response's headers will say what is left.
            if state.remaining is None or now >= state.reset_epoch or state.remaining - state.in_flight > 0:
                state.in_flight += 1
                return
            delay = state.reset_epoch - now + 0.05
            self.waited_s += delay
            await self.sleep(delay)

    def release(self, bucket: str, headers: Mapping[str, str] | None) -> None:
        state = self.state(bucket)
        state.in_flight = max(state.in_flight - 1, 0)
        if not headers:
            return
        try:
            limit = int(headers["X-Rate-Limit-Limit"])
            remaining = int(headers["X-Rate-Limit-Remaining"])
            reset = float(headers["X-Rate-Limit-Reset"])
        except (KeyError, ValueError):
            return
        if reset > state.reset_epoch or state.remaining is None or reset < self.clock():
            state.limit, state.remaining, state.reset_epoch = limit, remaining, reset
        else:
            state.limit = limit
            state.remaining = min(state.remaining, remaining)

    def exhausted(self, bucket: str, reset_epoch: float) -> None:
        """A 429 arrived: nothing left until `reset_epoch`."""
        state = self.state(bucket)
        state.remaining = 0
        state.reset_epoch = max(state.reset_epoch, reset_epoch)
