"""What a sandbox scenario looks like: the size of the org, its history, its noise, and the injected compromise.

A `ScenarioSpec` is a strict pydantic model, so a new case is a JSON file and no code:
`ScenarioSpec.model_validate_json(path.read_text())`. Unknown keys are refused (a typo must not silently
fall back to a default). `load_spec` adds file handling, CLI overrides and one-line errors.

The default spec mirrors January 2022: an Okta support engineer's account was used inside customer orgs for
about five days before the alert, and responders audited every credential change "since 1 Dec 2021", 52 days
before the alert (https://blog.cloudflare.com/cloudflare-investigation-of-the-january-2022-okta-compromise/).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

_DOMAIN = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$"


class ScenarioError(ValueError):
    """A scenario file or spec that cannot be used; the message names the file and the offending key."""


def _now_minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoiseSpec(_Strict):
    """Ordinary traffic. Rates are per active person per day unless the name says otherwise.

    Credential-change rates are set so that about 5% of an org changes a password or MFA factor in 52 days,
    which is what Cloudflare found (144 people) when it audited everything since 1 Dec 2021.
    """

    signin_weekday: float = Field(default=0.92, ge=0, le=1, description="chance a person signs in on a weekday")
    signin_weekend: float = Field(default=0.12, ge=0, le=1, description="chance a person signs in on a weekend day")
    sso_per_signin: float = Field(default=1.5, ge=0, le=20, description="mean app sign-ons per sign-in day")
    failed_mfa: float = Field(default=0.02, ge=0, le=1, description="chance a sign-in has a failed MFA try first")
    session_end: float = Field(default=0.5, ge=0, le=1, description="chance a session ends with an explicit sign-out")
    travel: float = Field(default=0.01, ge=0, le=1, description="chance a sign-in day is from another city")
    password_update: float = Field(default=0.0004, ge=0, le=0.1, description="self-service password change")
    self_reset: float = Field(default=0.0002, ge=0, le=0.1, description="forgot-password reset by the person")
    admin_reset: float = Field(default=0.0001, ge=0, le=0.1, description="password reset by an IT admin")
    admin_reset_without_email: float = Field(
        default=0.1, ge=0, le=1, description="share of admin resets that send no mail (link handed over by IT)"
    )
    factor_enrol: float = Field(default=0.0003, ge=0, le=0.1, description="self-service factor enrolment")
    admin_actions_per_1000: float = Field(
        default=1.5, ge=0, le=100, description="group membership changes per 1,000 people per day"
    )


class CompromiseSpec(_Strict):
    """The injected compromise: what the Okta support actor did inside the org, and what it left behind.

    All of it happens in the last `window_days` before the end of the history. Account counts are distinct
    accounts except where a field says it reuses another's targets.
    """

    window_days: int = Field(default=5, ge=1, le=60, description="the support account was used for this many days")
    seed_accounts: int = Field(
        default=1, ge=0, le=20, description="accounts named in the alert, taken from the support password resets"
    )
    untouched_seed_accounts: int = Field(
        default=0, ge=0, le=20, description="accounts named in the alert that were never changed (tier low)"
    )
    support_password_resets: int = Field(default=5, ge=0, le=500, description="user.account.reset_password by support")
    okta_only_resets: int = Field(
        default=1, ge=0, le=500, description="of those, resets whose mail never reached Gmail (corroboration okta_only)"
    )
    support_mfa_updates: int = Field(
        default=3, ge=0, le=500, description="user.mfa.factor.update by support; the first two reuse reset targets"
    )
    support_mfa_reset_all: int = Field(default=1, ge=0, le=500, description="user.mfa.factor.reset_all by support")
    support_factor_deactivations: int = Field(
        default=1, ge=0, le=500, description="system.mfa.factor.deactivate by support"
    )
    bypass_attempts_failed: int = Field(default=2, ge=0, le=500, description="user.mfa.attempt_bypass, outcome FAILURE")
    bypass_attempts_succeeded: int = Field(
        default=1, ge=0, le=500, description="user.mfa.attempt_bypass, outcome SUCCESS"
    )
    impersonation_targets: int = Field(
        default=1, ge=0, le=50, description="IT admins impersonated (user.session.impersonation.initiate/grant/extend)"
    )
    impersonated_admin_resets: int = Field(
        default=1, ge=0, le=500, description="resets made by an impersonated admin inside the impersonation session"
    )
    hardware_key_swaps_logged: int = Field(
        default=1, ge=0, le=100, description="webauthn key replaced via user.mfa.factor.deactivate + activate"
    )
    hardware_key_swaps_silent: int = Field(
        default=1, ge=0, le=100, description="webauthn credential replaced with no log event at all"
    )
    google_only_resets: int = Field(
        default=1, ge=0, le=100, description="Okta reset mail in Gmail with no Okta event (corroboration google_only)"
    )
    without_slack: int = Field(default=1, ge=0, le=100, description="compromised people who have no Slack account")
    decoy_support_resets_before_cutoff: int = Field(
        default=1, ge=0, le=100, description="sanctioned Okta support resets before the cutoff (decoys, not found)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> CompromiseSpec:
        if self.okta_only_resets > self.support_password_resets:
            raise ValueError("okta_only_resets cannot exceed support_password_resets")
        if self.seed_accounts > self.support_password_resets:
            raise ValueError("seed_accounts are taken from the support password resets: raise that count")
        if self.impersonated_admin_resets and not self.impersonation_targets:
            raise ValueError("impersonated_admin_resets needs at least one impersonation target")
        return self

    def touched_accounts(self) -> int:
        """Distinct accounts the compromise changes (an upper bound used to size the org)."""
        reuse = min(2, self.support_mfa_updates, self.support_password_resets)
        return (
            self.support_password_resets
            + self.support_mfa_updates
            - reuse
            + self.support_mfa_reset_all
            + self.support_factor_deactivations
            + self.bypass_attempts_failed
            + self.bypass_attempts_succeeded
            + self.impersonation_targets
            + self.impersonated_admin_resets
            + self.hardware_key_swaps_logged
            + self.hardware_key_swaps_silent
            + self.google_only_resets
            + self.untouched_seed_accounts
            + self.decoy_support_resets_before_cutoff
        )


class ScenarioSpec(_Strict):
    """One sandbox org and its history [end - days, end)."""

    name: str = Field(default="january-2022", min_length=1, max_length=80)
    description: str = ""
    seed: int = 0
    people: int = Field(default=2000, ge=50, le=200_000)
    days: int = Field(default=90, ge=2, le=400)
    end: datetime = Field(default_factory=_now_minute, description="end of history (UTC, exclusive)")
    domain: str = Field(default="example.com", pattern=_DOMAIN)
    cutoff_days_before_end: int = Field(default=52, ge=1, description="audit credential changes since this many days")
    compromise: CompromiseSpec | None = Field(default_factory=lambda: CompromiseSpec())
    noise: NoiseSpec = Field(default_factory=lambda: NoiseSpec())
    log_events: bool = Field(default=True, description="False: users, factors and Slack only (containment scale)")
    it_staff_share: float = Field(default=0.01, gt=0, le=0.2, description="share of people in IT (the verifiers)")
    responders: int = Field(default=5, ge=1, le=100)
    webauthn_share: float = Field(default=0.3, ge=0, le=1, description="share of people with a FIDO hardware key")
    without_slack_share: float = Field(default=0.005, ge=0, le=0.5, description="people with no Slack account")
    responder_password_change: bool = Field(
        default=True, description="a responder changes their password after the cutoff: found, yet protected"
    )
    boundary_changes: bool = Field(
        default=True, description="one change exactly at the cutoff (found) and one a minute before it (decoy)"
    )

    @field_validator("end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("end must carry a timezone (e.g. 2022-01-21T03:30:00Z)")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _fits(self) -> ScenarioSpec:
        if self.cutoff_days_before_end >= self.days:
            raise ValueError(
                f"cutoff_days_before_end ({self.cutoff_days_before_end}) must be below days ({self.days}):"
                " the cutoff has to fall inside the history"
            )
        fixed = 6 + self.responders + max(3, round(self.people * self.it_staff_share))
        if fixed + 20 > self.people:
            raise ValueError(
                f"{self.people} people leaves too few employees beside {fixed} admin, IT, responder and"
                " service accounts"
            )
        if self.compromise is not None:
            if self.compromise.window_days > self.cutoff_days_before_end:
                raise ValueError("compromise.window_days must not reach back before the cutoff")
            if self.compromise.touched_accounts() * 4 > self.people:
                raise ValueError(
                    f"{self.people} people is too few for a compromise touching"
                    f" {self.compromise.touched_accounts()} accounts"
                )
        return self

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.days)

    @property
    def cutoff(self) -> datetime:
        """Midnight UTC, `cutoff_days_before_end` days before the end ("since 1 Dec")."""
        day = self.end - timedelta(days=self.cutoff_days_before_end)
        return day.replace(hour=0, minute=0, second=0, microsecond=0)


def describe_error(err: ValidationError, source: str) -> str:
    """One line per problem, naming the key: 'scenario x.json: compromise.foo: unknown key'."""
    lines = []
    for problem in err.errors():
        where = ".".join(str(p) for p in problem["loc"]) or "(top level)"
        if problem["type"] == "extra_forbidden":
            what = "unknown key (not part of ScenarioSpec; check its spelling)"
        else:
            what = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {where}: {what}")
    return "\n".join(lines)


def load_spec(
    path: Path | None,
    *,
    seed: int | None = None,
    people: int | None = None,
    days: int | None = None,
) -> ScenarioSpec:
    """The spec in `path` (or the default January-2022 spec), with any explicitly given value overriding it.

    `None` keeps the file's (or the default) value, so a CLI passes only the flags the operator typed. When
    `days` shortens the history below the cutoff, the cutoff is scaled to the same share of the history.
    """
    raw: dict[str, Any] = {}
    source = "scenario defaults"
    if path is not None:
        source = f"scenario {path}"
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise ScenarioError(f"{source}: file does not exist") from None
        try:
            spec = ScenarioSpec.model_validate_json(text)
        except ValidationError as err:
            raise ScenarioError(describe_error(err, source)) from None
        raw = spec.model_dump()
    for key, value in (("seed", seed), ("people", people), ("days", days)):
        if value is not None:
            raw[key] = value
    if days is not None:
        # A shorter history keeps the cutoff at the same share of it (52 of 90 days by default).
        before = ScenarioSpec.model_fields["days"].default if path is None else spec.days
        cutoff = raw.get("cutoff_days_before_end", ScenarioSpec.model_fields["cutoff_days_before_end"].default)
        if cutoff >= days:
            compromise = raw.get("compromise")
            window = compromise["window_days"] if isinstance(compromise, dict) else 1
            raw["cutoff_days_before_end"] = max(window, min(days - 1, round(cutoff * days / before)))
    try:
        return ScenarioSpec.model_validate(raw)
    except ValidationError as err:
        raise ScenarioError(describe_error(err, source)) from None
