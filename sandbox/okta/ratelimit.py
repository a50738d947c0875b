"""Okta's rate limits for the fake: per-endpoint buckets per org, plus the org-wide concurrency limit.

Defaults are Okta's published numbers for a Workforce Identity org, from "Management rate limits"
(https://developer.okta.com/docs/reference/rl-global-mgmt/, per-minute limits, Workforce Identity column):

| bucket        | endpoints                                                                 | per minute |
|---------------|---------------------------------------------------------------------------|-----------:|
| users_list    | GET or POST /api/v1/users                                                 |        600 |
| users_get     | GET /api/v1/users/{idOrLogin}                                             |       2000 |
| users_write   | POST, PUT, DELETE /api/v1/users/{id}; the fake counts /lifecycle/* here   |        600 |
| groups_list   | /api/v1/groups except /api/v1/groups/{id} (so /groups/{id}/users too)     |        500 |
| groups_get    | /api/v1/groups/{id} only                                                  |       1000 |
| logs          | /api/v1/logs                                                              |        120 |
| oauth2        | /oauth2/v1 (org authorization server, token endpoint included)            |       2000 |
| api_other     | "most other API actions" /api/v1: here user sessions and factors        |       1200 |

and "Additional limits" / "Concurrent rate limits" (https://developer.okta.com/docs/reference/rl-additional-limits/):
75 simultaneous requests for a Workforce Identity org; the first request over it gets 429.

Headers (https://developer.okta.com/docs/reference/rl-best-practices/): every response carries
X-Rate-Limit-Limit, -Remaining and -Reset (UTC epoch seconds when the window resets); a concurrency
rejection reports Limit 0 and Remaining 0 with an estimated Reset.

The limits live on the Org (`org.okta_rate_limits`), read on every request, so a test or a benchmark changes
them while the fake serves: `org.okta_rate_limits.logs = Bucket(3)`, or
`org.okta_rate_limits = RateLimits.compressed(window_s=2)` to squeeze Okta's 60-second windows, or
`enabled = False` to switch limiting off. This module imports nothing from the rest of the sandbox.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

BUCKETS = (
    "users_list",
    "users_get",
    "users_write",
    "groups_list",
    "groups_get",
    "logs",
    "oauth2",
    "api_other",
)


@dataclass(frozen=True)
class Bucket:
    """`limit` requests per fixed window of `window_s` seconds (Okta: per minute)."""

    limit: int
    window_s: float = 60.0


@dataclass
class RateLimits:
    """Okta's org defaults (Workforce Identity); mutable at run time."""

    users_list: Bucket = Bucket(600)
    users_get: Bucket = Bucket(2000)
    users_write: Bucket = Bucket(600)
    groups_list: Bucket = Bucket(500)
    groups_get: Bucket = Bucket(1000)
    logs: Bucket = Bucket(120)
    oauth2: Bucket = Bucket(2000)
    api_other: Bucket = Bucket(1200)
    concurrency: int = 75
    enabled: bool = True
    # 429s answered since these limits were installed, per bucket ("concurrency" for the in-flight cap): what a
    # test reads to check that holdfast stayed within a budget (Okta shows the same in its rate-limit dashboard).
    rejections: dict[str, int] = field(default_factory=dict)

    def bucket(self, name: str) -> Bucket:
        value = getattr(self, name)
        assert isinstance(value, Bucket)
        return value

    @classmethod
    def compressed(cls, window_s: float, scale: float = 1.0) -> RateLimits:
        """Okta's limits over a shorter window (benchmarks), optionally scaled (`scale=window_s/60` keeps rates)."""
        limits = cls()
        for f in fields(cls):
            if f.name in BUCKETS:
                b = limits.bucket(f.name)
                setattr(limits, f.name, replace(b, limit=max(1, math.floor(b.limit * scale)), window_s=window_s))
        return limits


@dataclass
class _Window:
    index: int = -1
    used: int = 0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # epoch seconds
    first_violation: bool = False  # first rejection of this bucket in this window (logged once, as Okta does)


@dataclass
class Limiter:
    """Fixed-window counters per bucket plus the in-flight counter; one per fake Okta app (single event loop).

    `source` is read on every request, so replacing `org.okta_rate_limits` takes effect at once too.
    """

    source: Callable[[], RateLimits]
    clock: Callable[[], float] = time.time
    _windows: dict[str, _Window] = field(default_factory=dict)
    _violated: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    _concurrency_logged_at: float = -math.inf

    @property
    def limits(self) -> RateLimits:
        return self.source()

    def take(self, bucket_name: str) -> Decision:
        bucket = self.limits.bucket(bucket_name)
        now = self.clock()
        index = math.floor(now / bucket.window_s)
        reset = math.ceil((index + 1) * bucket.window_s)
        window = self._windows.setdefault(bucket_name, _Window())
        if window.index != index:
            window.index, window.used = index, 0
        if not self.limits.enabled:
            window.used += 1
            return Decision(True, bucket.limit, max(0, bucket.limit - window.used), reset)
        if window.used >= bucket.limit:
            self.limits.rejections[bucket_name] = self.limits.rejections.get(bucket_name, 0) + 1
            first = self._violated.get(bucket_name) != index
            self._violated[bucket_name] = index
            return Decision(False, bucket.limit, 0, reset, first_violation=first)
        window.used += 1
        return Decision(True, bucket.limit, bucket.limit - window.used, reset)

    def enter(self) -> bool:
        """Count a request in flight; False when the org's concurrency limit is already reached."""
        if self.limits.enabled and self.in_flight >= self.limits.concurrency:
            self.limits.rejections["concurrency"] = self.limits.rejections.get("concurrency", 0) + 1
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        self.in_flight -= 1

    def concurrency_reset(self) -> int:
        """Okta's estimate of when a slot frees up: the next second."""
        return math.ceil(self.clock()) + 1

    def should_log_concurrency_violation(self) -> bool:
        """Okta writes the first concurrency error every 60 seconds to the System Log."""
        now = self.clock()
        if now - self._concurrency_logged_at >= 60.0:
            self._concurrency_logged_at = now
            return True
        return False
