"""The fake Slack's token buckets, driven by a hand-moved clock (no sleeping, no timing assertions)."""

from __future__ import annotations

from sandbox.slack.limits import RateLimiter, SlackLimits


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_tier_3_method_allows_a_minutes_burst_then_refills_at_its_rate() -> None:
    limits, clock = SlackLimits(), FakeClock()
    limiter = RateLimiter(lambda: limits, clock)
    assert all(limiter.check("conversations.open") is None for _ in range(50))
    assert limiter.check("conversations.open") == 2  # 50 per minute: one every 1.2 s
    clock.now += 1.2
    assert limiter.check("conversations.open") is None
    assert limiter.check("users.lookupByEmail") is None  # its own bucket


def test_post_message_is_one_per_second_per_channel_after_a_short_burst() -> None:
    limits, clock = SlackLimits(post_message_burst=2), FakeClock()
    limiter = RateLimiter(lambda: limits, clock)
    assert limiter.check("chat.postMessage", "C1") is None
    assert limiter.check("chat.postMessage", "C1") is None
    assert limiter.check("chat.postMessage", "C1") == 1
    assert limiter.check("chat.postMessage", "C2") is None
    clock.now += 1.0
    assert limiter.check("chat.postMessage", "C1") is None


def test_a_refused_call_is_not_counted_against_the_workspace_limit() -> None:
    limits, clock = SlackLimits(post_message_burst=1, post_message_workspace_per_minute=3), FakeClock()
    limiter = RateLimiter(lambda: limits, clock)
    assert limiter.check("chat.postMessage", "C1") is None
    assert limiter.check("chat.postMessage", "C1") == 1  # channel bucket empty; workspace untouched
    assert limiter.check("chat.postMessage", "C2") is None
    assert limiter.check("chat.postMessage", "C3") is None
    assert limiter.check("chat.postMessage", "C4") == 20  # 3 per minute: next token in 20 s


def test_time_scale_shrinks_windows_and_retry_after_stays_a_whole_second() -> None:
    limits, clock = SlackLimits(time_scale=0.01, post_message_burst=1), FakeClock()
    limiter = RateLimiter(lambda: limits, clock)
    assert limiter.check("chat.postMessage", "C1") is None
    assert limiter.check("chat.postMessage", "C1") == 1
    clock.now += 0.01
    assert limiter.check("chat.postMessage", "C1") is None


def test_limits_can_be_switched_off_and_unlisted_methods_are_not_limited() -> None:
    limits = SlackLimits(enabled=False, method_per_minute={"auth.test": 1})
    limiter = RateLimiter(lambda: limits, FakeClock())
    assert all(limiter.check("auth.test") is None for _ in range(10))
    limits.enabled = True
    assert limiter.check("auth.test") is None
    assert limiter.check("auth.test") == 60
    assert limiter.check("some.other.method") is None
