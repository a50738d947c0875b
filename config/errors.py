"""holdfast's one exception hierarchy. Only the CLI turns these into exit codes and one-line messages.

Messages never carry secrets: callers pass field names and redacted values only.
"""

from __future__ import annotations


class HoldfastError(Exception):
    """Root of every error holdfast raises on purpose. `str(err)` is the one line shown to the user."""

    exit_code = 1


class ConfigError(HoldfastError):
    """Settings or policy are missing or malformed; the message names the field and the fix."""

    exit_code = 2


class InputError(HoldfastError):
    """A command-line or alert input is malformed (bad date, unknown account, ...)."""

    exit_code = 2


class PolicyViolation(HoldfastError):
    """An action was refused by policy: blast-radius cap, protected account, foreign domain."""

    exit_code = 3


class ProviderError(HoldfastError):
    """A provider (Okta, Google, Slack) answered with an error holdfast does not treat as success."""

    exit_code = 4

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retryable: bool = False,
    ) -> None:
        self.provider = provider
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retryable = retryable
        parts = [f"{provider}: {message}"]
        if status is not None:
            parts.append(f"HTTP {status}")
        if code:
            parts.append(code)
        if request_id:
            parts.append(f"request id {request_id}")
        super().__init__(" | ".join(parts))


class StoreError(HoldfastError):
    """The evidence store or ledger cannot be used (unreachable, wrong schema, integrity failure)."""

    exit_code = 5


class TamperDetected(StoreError):
    """The evidence hash chain does not verify; the message names the first bad record."""

    exit_code = 6
