"""The sandbox org's state: the people, factors, groups and Slack workspace that the three fakes serve.

One `Org` is shared by the fake Okta, Google Workspace and Slack servers, so a change made through one API
(a suspension in Okta) is visible through the others and in the System Log, as in a real tenant.
The servers run on one asyncio loop in a background thread; tests read the state from the main thread,
so every mutation takes `org.lock`.
"""

from __future__ import annotations

import secrets
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from sandbox.okta.ratelimit import RateLimits
from sandbox.reports import ReportsStore
from sandbox.slack.limits import SlackLimits
from sandbox.systemlog import SystemLogStore


class UserStatus(StrEnum):
    """Okta user statuses (https://developer.okta.com/docs/reference/api/users/#user-status)."""

    STAGED = "STAGED"
    PROVISIONED = "PROVISIONED"
    ACTIVE = "ACTIVE"
    RECOVERY = "RECOVERY"
    PASSWORD_EXPIRED = "PASSWORD_EXPIRED"
    LOCKED_OUT = "LOCKED_OUT"
    SUSPENDED = "SUSPENDED"
    DEPROVISIONED = "DEPROVISIONED"


class PersonKind(StrEnum):
    """What a sandbox account stands for; drives scenario traffic and the policy's protected lists."""

    EMPLOYEE = "employee"
    IT = "it"
    BREAK_GLASS = "break_glass"
    SERVICE = "service"
    RESPONDER = "responder"


_ID_ALPHABET = string.ascii_letters + string.digits


def okta_id(prefix: str, rng_bits: Callable[[int], str] | None = None) -> str:
    """A 20-character Okta-style object id: 3-character type prefix + 17 random characters."""
    if rng_bits is not None:
        return prefix + rng_bits(17)
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))


def iso(ts: datetime) -> str:
    """Okta's timestamp format: UTC, milliseconds, trailing Z (e.g. 2022-01-21T03:30:00.000Z)."""
    ts = ts.astimezone(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


@dataclass
class User:
    """An Okta user as the Users API models it (only the fields the playbook reads or changes)."""

    id: str
    login: str
    email: str
    first_name: str
    last_name: str
    status: UserStatus
    created: datetime
    kind: PersonKind = PersonKind.EMPLOYEE
    department: str = ""
    title: str = ""
    activated: datetime | None = None
    status_changed: datetime | None = None
    last_login: datetime | None = None
    last_updated: datetime | None = None
    password_changed: datetime | None = None
    # Live sessions and OAuth tokens: counts are enough for the fake; revocation sets them to zero.
    sessions: int = 0
    oauth_tokens: int = 0
    # Set by reset_password / expire_password: the user must choose a new password at next sign-in.
    password_reset_pending: bool = False


@dataclass
class Factor:
    """An enrolled factor (https://developer.okta.com/docs/reference/api/factors/)."""

    id: str
    user_id: str
    factor_type: str  # "webauthn", "token:software:totp", "push", "sms", "email", ...
    provider: str  # "FIDO", "OKTA", "GOOGLE"
    status: str  # "ACTIVE", "PENDING_ACTIVATION"
    created: datetime
    last_updated: datetime
    profile: dict[str, str] = field(default_factory=dict)  # webauthn: credentialId, authenticatorName


@dataclass
class Group:
    """An Okta group with its members' user ids."""

    id: str
    name: str
    description: str = ""
    members: set[str] = field(default_factory=set)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class SlackUser:
    """A Slack workspace member; holdfast finds people by their email address."""

    id: str
    email: str
    name: str
    real_name: str
    deleted: bool = False
    is_bot: bool = False


@dataclass
class SlackMessage:
    """A message the fake Slack accepted, as chat.postMessage received it."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, object]] | None
    posted_at: datetime
    user: str | None = None  # a person who posted it; None: holdfast's bot (chat.postMessage)


GOOGLE_REPORTS_AUDIT_SCOPE = "https://www.googleapis.com/auth/admin.reports.audit.readonly"
GOOGLE_DIRECTORY_USER_READONLY_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.readonly"


@dataclass
class GoogleAccessToken:
    """A bearer token the fake Google token endpoint issued (service account, impersonated user, scopes)."""

    client_email: str
    subject: str | None  # the impersonated Workspace user (domain-wide delegation); None: the account itself
    scopes: frozenset[str]
    expires_at: float  # time.time() seconds


@dataclass
class Credentials:
    """Secrets the fakes accept; generated per org so tests never share a token with anything real."""

    okta_api_token: str = field(default_factory=lambda: "00" + secrets.token_urlsafe(30))
    # The API token's id (System Log transaction.detail.requestApiTokenId) and the admin it acts as: a user id
    # or login in this org; None makes the fake Okta use a built-in "holdfast API admin" principal.
    okta_api_token_id: str = field(default_factory=lambda: okta_id("00T"))
    okta_api_token_owner: str | None = None
    slack_bot_token: str = field(default_factory=lambda: "xoxb-sandbox-" + secrets.token_hex(16))
    # OAuth 2.0 service apps allowed to call Okta: client id -> public key (PEM) and granted scopes.
    okta_service_apps: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)
    # Google service accounts allowed to mint tokens: client email -> public key (PEM).
    google_service_accounts: dict[str, str] = field(default_factory=dict)
    # Scopes granted to the service accounts for domain-wide delegation (Admin console > API controls).
    google_delegated_scopes: frozenset[str] = frozenset(
        {GOOGLE_REPORTS_AUDIT_SCOPE, GOOGLE_DIRECTORY_USER_READONLY_SCOPE}
    )
    # Live bearer tokens issued by the fake token endpoint; tests clear it to force a refresh.
    google_access_tokens: dict[str, GoogleAccessToken] = field(default_factory=dict)


@dataclass
class Org:
    """Everything the sandbox serves. Build with `Org.empty(...)` or the scenario generator."""

    domain: str
    workdir: Path
    system_log: SystemLogStore
    reports: ReportsStore
    google_customer_id: str = "C03az79cb"
    users: dict[str, User] = field(default_factory=dict)
    factors: dict[str, list[Factor]] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    slack_users: dict[str, SlackUser] = field(default_factory=dict)
    slack_channels: dict[str, str] = field(default_factory=dict)  # channel id -> name
    slack_messages: list[SlackMessage] = field(default_factory=list)
    # The Slack app's bot and workspace, as auth.test reports them.
    slack_team_id: str = "T0HOLDFAST1"
    slack_team_name: str = "holdfast sandbox"
    slack_team_domain: str = "holdfast-sandbox"
    slack_bot_name: str = "holdfast"
    slack_bot_user_id: str = "U0HOLDFAST1"
    slack_bot_id: str = "B0HOLDFAST1"
    slack_app_id: str = "A0HOLDFAST1"
    # Direct-message channels opened by the bot: Slack user id -> IM channel id ("D...").
    slack_ims: dict[str, str] = field(default_factory=dict)
    # Known channels the bot has not been invited to (posting there gives not_in_channel).
    slack_channels_without_bot: set[str] = field(default_factory=set)
    slack_limits: SlackLimits = field(default_factory=SlackLimits)
    # Workspace users with an admin role that lets them read the Reports API, besides admin@<domain>.
    google_admins: set[str] = field(default_factory=set)
    credentials: Credentials = field(default_factory=Credentials)
    # Okta's per-bucket and concurrent rate limits; mutable while the fake serves (tests shrink them).
    okta_rate_limits: RateLimits = field(default_factory=RateLimits)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    lock: threading.RLock = field(default_factory=threading.RLock)
    _by_login: dict[str, str] = field(default_factory=dict)

    @classmethod
    def empty(cls, workdir: Path, domain: str = "example.com", *, in_memory_logs: bool = False) -> Org:
        """An org with no people; the System Log and Reports live in SQLite files under `workdir`."""
        workdir.mkdir(parents=True, exist_ok=True)
        log_path = None if in_memory_logs else workdir / "systemlog.sqlite"
        reports_path = None if in_memory_logs else workdir / "reports.sqlite"
        return cls(
            domain=domain,
            workdir=workdir,
            system_log=SystemLogStore(log_path),
            reports=ReportsStore(reports_path),
        )

    def now(self) -> datetime:
        return self.clock()

    def add_user(self, user: User) -> User:
        with self.lock:
            self.users[user.id] = user
            self._by_login[user.login.lower()] = user.id
            self.factors.setdefault(user.id, [])
            return user

    def user_by_login(self, login: str) -> User | None:
        with self.lock:
            uid = self._by_login.get(login.lower())
            return self.users.get(uid) if uid else None

    def find_user(self, id_or_login: str) -> User | None:
        """Okta accepts an id, a login, or a login's short name wherever `{userId}` appears."""
        with self.lock:
            if id_or_login in self.users:
                return self.users[id_or_login]
            found = self.user_by_login(id_or_login)
            if found is None and "@" not in id_or_login:
                found = self.user_by_login(f"{id_or_login}@{self.domain}")
            return found

    def add_group(self, group: Group) -> Group:
        with self.lock:
            self.groups[group.id] = group
            return group

    def group_by_name(self, name: str) -> Group | None:
        with self.lock:
            return next((g for g in self.groups.values() if g.name == name), None)

    def add_factor(self, factor: Factor) -> Factor:
        with self.lock:
            self.factors.setdefault(factor.user_id, []).append(factor)
            return factor

    def add_slack_channel(self, channel_id: str, name: str, *, bot_member: bool = True) -> None:
        """A workspace channel; the bot can post to it only if it is a member."""
        with self.lock:
            self.slack_channels[channel_id] = name
            if bot_member:
                self.slack_channels_without_bot.discard(channel_id)
            else:
                self.slack_channels_without_bot.add(channel_id)

    def add_slack_user(self, slack_user: SlackUser) -> SlackUser:
        with self.lock:
            self.slack_users[slack_user.id] = slack_user
            return slack_user

    def close(self) -> None:
        self.system_log.close()
        self.reports.close()
