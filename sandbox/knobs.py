"""Per-endpoint knobs for the fakes: latency, injected faults. The reliability tests and benchmarks turn them.

Endpoints are named by the aiohttp route name each fake gives its handlers (for example
"okta.users.lifecycle.suspend", "okta.logs", "slack.chat.postMessage", "google.activities.list"). A knob set
for a prefix ("okta.users") applies to every route under it; the longest matching prefix wins.

Faults:
- "500" / "503": the vendor's server-error answer, before the request has any effect;
- "timeout": the server holds the request for `hang_seconds` and never answers in time;
- "drop": the connection is cut before the request has any effect;
- "drop_after": the request takes effect, then the connection is cut before the answer (the client cannot
  know it worked: the case that exactly-once logic must survive).
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

Fault = Literal["500", "503", "timeout", "drop", "drop_after"]
ALL_FAULTS: tuple[Fault, ...] = ("500", "503", "timeout", "drop", "drop_after")


@dataclass
class EndpointKnobs:
    latency_ms: tuple[float, float] = (0.0, 0.0)  # uniform between the two
    fault_rate: float = 0.0
    faults: tuple[Fault, ...] = ALL_FAULTS
    hang_seconds: float = 30.0


@dataclass
class Knobs:
    """Mutable at run time (tests turn faults on and off while the servers run)."""

    default: EndpointKnobs = field(default_factory=EndpointKnobs)
    endpoints: dict[str, EndpointKnobs] = field(default_factory=dict)
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    injected: dict[str, int] = field(default_factory=dict)  # "route:fault" -> count, for test assertions

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def set(self, prefix: str, **values: object) -> None:
        """Set knobs for every route starting with `prefix` ("" for all routes)."""
        current = self.endpoints.get(prefix, EndpointKnobs())
        for key, value in values.items():
            if not hasattr(current, key):
                raise ValueError(f"unknown knob {key!r}; known: latency_ms, fault_rate, faults, hang_seconds")
            setattr(current, key, value)
        self.endpoints[prefix] = current

    def clear(self) -> None:
        self.endpoints.clear()

    def for_route(self, name: str) -> EndpointKnobs:
        best = ""
        for prefix in self.endpoints:
            if name.startswith(prefix) and len(prefix) >= len(best):
                best = prefix
        return self.endpoints.get(best, self.default) if best or "" in self.endpoints else self.default

    def draw(self, name: str) -> tuple[float, Fault | None, EndpointKnobs]:
        knobs = self.for_route(name)
        with self._lock:
            low, high = knobs.latency_ms
            latency = self._rng.uniform(low, high) / 1000.0 if high > 0 else 0.0
            fault: Fault | None = None
            if knobs.fault_rate > 0 and self._rng.random() < knobs.fault_rate:
                fault = self._rng.choice(knobs.faults)
                key = f"{name}:{fault}"
                self.injected[key] = self.injected.get(key, 0) + 1
        return latency, fault, knobs


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _cut(request: web.Request) -> web.Response:
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=500)  # never reaches the client: the connection is gone


def knobs_middleware(
    knobs: Knobs, server_error: Callable[[int], web.Response]
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """aiohttp middleware applying `knobs` to named routes; `server_error` renders the vendor's 5xx body."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route
        name = route.name if route is not None and route.name else ""
        latency, fault, endpoint = knobs.draw(name)
        if latency:
            await asyncio.sleep(latency)
        if fault == "500":
            return server_error(500)
        if fault == "503":
            return server_error(503)
        if fault == "timeout":
            await asyncio.sleep(endpoint.hang_seconds)
            return server_error(504)
        if fault == "drop":
            return _cut(request)
        response = await handler(request)
        if fault == "drop_after":
            return _cut(request)
        return response

    return middleware
