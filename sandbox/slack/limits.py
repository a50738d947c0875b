"""Slack Web API rate limits for the fake, configurable, with Slack's published defaults.

Slack limits each Web API method per app per workspace by tier, and chat.postMessage specially
(https://docs.slack.dev/apis/web-api/rate-limits):
- Tier 1: 1+ per minute; Tier 2: 20+ per minute; Tier 3: 50+ per minute ("sporadic bursts are welcome");
  Tier 4: 100+ per minute ("generous burst behavior");
- chat.postMessage: "generally allows posting one message per second per channel, while also maintaining a
  workspace-wide limit"; "short bursts >1 allowed". Slack publishes neither the burst size nor the
  workspace-wide number: `post_message_burst` and `post_message_workspace_per_minute` are our choices.
- Over a limit: HTTP 429, a `Retry-After` header in whole seconds, body {"ok": false, "error": "ratelimited"}.

Each limit is a token bucket: it holds up to `burst` requests and refills at `allowance / window`. A tier's
bucket holds a full minute's allowance, so a quiet client may burst that many at once, as Slack allows.

Method tiers are from each method's reference page (docs.slack.dev/reference/methods/...):
users.lookupByEmail, conversations.open, conversations.history and chat.update are Tier 3. auth.test is
"special" (unpublished); it is given Tier 4 here.

The live limits are `org.slack_limits` (also `app["slack_limits"]`); tests and benchmarks change its fields
while the server runs. `time_scale` stretches or shrinks every window (0.1 makes a "minute" last 6 s), for
benchmarks that want Slack's shape without Slack's wall-clock waits. `Retry-After` is never below 1 s
because HTTP gives it in whole seconds.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_EPSILON = 1e-9  # float slack when a bucket refills to exactly one token
TIER_PER_MINUTE: dict[int, int] = {1: 1, 2: 20, 3: 50, 4: 100}

DEFAULT_METHOD_TIERS: dict[str, int] = {
    "auth.test": 4,
    "users.lookupByEmail": 3,
    "conversations.open": 3,
    "conversations.history": 3,
    "chat.update": 3,
}


@dataclass
class SlackLimits:
    """Rate limits the fake Slack enforces. Mutable at run time; read on every request."""

    enabled: bool = True
    # Multiplies every window (1.0 = Slack's real minute and second).
    time_scale: float = 1.0
    # Requests per minute for each tier, and each method's tier.
    tier_per_minute: dict[int, int] = field(default_factory=lambda: dict(TIER_PER_MINUTE))
    method_tiers: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_METHOD_TIERS))
    # Per-method overrides (requests per minute), taking precedence over the tier.
    method_per_minute: dict[str, int] = field(default_factory=dict)
    # chat.postMessage: 1 message per second per channel, with a short burst allowance.
    post_message_per_channel_per_second: float = 1.0
    post_message_burst: int = 5
    # Slack keeps a workspace-wide posting limit but does not publish it; None leaves it off.
    post_message_workspace_per_minute: int | None = None

    def per_minute(self, method: str) -> int | None:
        """Requests per minute allowed for a tiered method; None if it has no tier here."""
        if method in self.method_per_minute:
            return self.method_per_minute[method]
        tier = self.method_tiers.get(method)
        return None if tier is None else self.tier_per_minute[tier]


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by (method, scope); thread-safe. `clock` is monotonic seconds."""

    def __init__(self, limits: Callable[[], SlackLimits], clock: Callable[[], float] = time.monotonic):
        self._limits = limits
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()

    def _refill(self, key: tuple[str, str], capacity: float, per_second: float, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=capacity, updated=now)
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * per_second)
        bucket.updated = now
        return bucket

    def check(self, method: str, channel: str | None = None) -> int | None:
        """None if the call may proceed (and is counted); otherwise the Retry-After seconds for a 429."""
        limits = self._limits()
        if not limits.enabled:
            return None
        scale = max(limits.time_scale, 1e-6)
        # (key, capacity, refill per second) of every bucket this call draws from
        specs: list[tuple[tuple[str, str], float, float]] = []
        if method == "chat.postMessage":
            workspace = limits.post_message_workspace_per_minute
            if workspace is not None:
                specs.append(((method, "*"), max(1, workspace), workspace / (60.0 * scale)))
            per_second = limits.post_message_per_channel_per_second / scale
            specs.append(((method, channel or ""), max(1, limits.post_message_burst), per_second))
        else:
            per_minute = limits.per_minute(method)
            if per_minute is None:
                return None
            specs.append(((method, ""), max(1, per_minute), per_minute / (60.0 * scale)))
        with self._lock:
            now = self._clock()
            buckets = [(self._refill(key, cap, rate, now), rate) for key, cap, rate in specs]
            wait = max(
                (0.0 if b.tokens >= 1.0 - _EPSILON else (1.0 - b.tokens) / max(rate, 1e-9)) for b, rate in buckets
            )
            if wait <= 0.0:
                # Only a granted call is counted, so a refused one never delays its own retry.
                for bucket, _ in buckets:
                    bucket.tokens = max(0.0, bucket.tokens - 1.0)
                return None
        return max(1, math.ceil(wait))

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
