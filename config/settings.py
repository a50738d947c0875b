"""holdfast's settings: where the providers are, how to authenticate, where the store lives.

Built once at the entry point by `load_settings()` (environment variables with prefix HOLDFAST_ and `__` for
nesting, plus an optional TOML file) and passed down; nothing reads the environment at import time.
Secrets are SecretStr: their repr is '**********' and they never reach logs, artifacts or messages.
There is deliberately no setting that turns TLS verification off: point `ca_bundle` at the CA instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

import platformdirs
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from config.errors import ConfigError

ENV_PREFIX = "HOLDFAST_"
CONFIG_FILE_ENV = "HOLDFAST_CONFIG"


def _https_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("must be an https:// URL (TLS is always verified; use ca_bundle for a private CA)")
    return value.rstrip("/")


def _existing_file(value: Path) -> Path:
    if not value.is_file():
        raise ValueError(f"file {value} does not exist or is not a regular file")
    return value


HttpsUrl = Annotated[str, AfterValidator(_https_url)]
ExistingFile = Annotated[Path, AfterValidator(_existing_file)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


DEFAULT_OKTA_SCOPES = (
    "okta.users.read",
    "okta.users.manage",
    "okta.groups.read",
    "okta.logs.read",
)


class OktaSettings(_Section):
    """Okta org and credentials: an API token (SSWS) or an OAuth 2.0 service app (private_key_jwt)."""

    org_url: HttpsUrl
    api_token: SecretStr | None = None
    client_id: str | None = None
    private_key_file: ExistingFile | None = None
    scopes: tuple[str, ...] = DEFAULT_OKTA_SCOPES
    dpop: bool = False
    ca_bundle: ExistingFile | None = None
    request_timeout_s: float = Field(default=30.0, gt=0, le=600)
    # Retries of 429 / 5xx / timeouts / dropped connections (never of other 4xx).
    retries: int = Field(default=5, ge=0, le=10)
    # Okta's org-wide concurrency limit is 75 (Workforce); stay below it so other integrations keep working.
    max_concurrency: int = Field(default=50, ge=1, le=75)
    # Scale-out: every call also takes a slot of its bucket's Prefect global concurrency limit (okta-<bucket>,
    # slot decay; `holdfast rate-limits` creates them), so several workers share one per-minute budget.
    shared_rate_limits: bool = False

    @model_validator(mode="after")
    def _one_auth_method(self) -> OktaSettings:
        has_token = self.api_token is not None and self.api_token.get_secret_value() != ""
        has_oauth = self.client_id is not None or self.private_key_file is not None
        if has_token and has_oauth:
            raise ValueError("set either api_token or client_id + private_key_file, not both")
        if has_oauth and (self.client_id is None or self.private_key_file is None):
            raise ValueError("OAuth service-app auth needs both client_id and private_key_file")
        if not has_token and not has_oauth:
            raise ValueError(
                "no credentials: set HOLDFAST_OKTA__API_TOKEN, or HOLDFAST_OKTA__CLIENT_ID and "
                "HOLDFAST_OKTA__PRIVATE_KEY_FILE"
            )
        return self

    @property
    def auth_mode(self) -> Literal["ssws", "oauth"]:
        return "ssws" if self.api_token is not None else "oauth"


class GoogleSettings(_Section):
    """Google Workspace Reports API through a service account with domain-wide delegation."""

    service_account_file: ExistingFile
    delegated_admin: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    customer_id: str = "my_customer"
    api_endpoint: HttpsUrl | None = None
    ca_bundle: ExistingFile | None = None


class SlackSettings(_Section):
    """Slack bot: DMs to affected people, incident updates in the IT channel."""

    bot_token: SecretStr
    it_channel: str = Field(min_length=1)
    base_url: HttpsUrl = "https://slack.com/api"
    ca_bundle: ExistingFile | None = None

    @property
    def api_base_url(self) -> str:
        return self.base_url + "/"  # slack_sdk joins method names onto a base that ends with '/'


def _default_database_url() -> str:
    data_dir = Path(platformdirs.user_data_dir("holdfast"))
    return f"sqlite:///{data_dir / 'holdfast.sqlite'}"


def _database_url(value: str) -> str:
    if not (value.startswith("sqlite:///") or value.startswith("postgresql+psycopg://")):
        raise ValueError("must start with sqlite:/// or postgresql+psycopg://")
    return value


class StoreSettings(_Section):
    """The evidence store and ledger. SQLite by default; PostgreSQL for production and scale-out."""

    url: Annotated[str, AfterValidator(_database_url)] = Field(default_factory=_default_database_url)
    # Where the evidence chain heads are anchored outside the database at every ingest.
    anchor_file: Path | None = None

    def resolved_anchor_file(self) -> Path:
        if self.anchor_file is not None:
            return self.anchor_file
        if self.url.startswith("sqlite:///"):
            return Path(self.url.removeprefix("sqlite:///") + ".anchors.jsonl")
        return Path(platformdirs.user_data_dir("holdfast")) / "anchors.jsonl"


class Settings(BaseSettings):
    """Everything holdfast needs to reach its providers. Sections are optional until a command needs them."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    okta: OktaSettings | None = None
    google: GoogleSettings | None = None
    slack: SlackSettings | None = None
    store: StoreSettings = Field(default_factory=StoreSettings)
    policy_file: ExistingFile | None = None
    # Only accounts in these domains are ever touched; empty means "the domain of the Okta org's users".
    org_domains: tuple[str, ...] = ()

    # Set only for the duration of one load_settings() call (see there).
    _toml_file: ClassVar[Path | None] = None
    _environ: ClassVar[Mapping[str, str] | None] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        if cls._environ is not None:
            env_settings = _MappingEnvSource(settings_cls, cls._environ)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_file))
        return tuple(sources)

    def require_okta(self) -> OktaSettings:
        if self.okta is None:
            raise ConfigError(
                "okta: not configured: set HOLDFAST_OKTA__ORG_URL and HOLDFAST_OKTA__API_TOKEN "
                "(or [okta] in the config file)"
            )
        return self.okta

    def require_google(self) -> GoogleSettings:
        if self.google is None:
            raise ConfigError(
                "google: not configured: set HOLDFAST_GOOGLE__SERVICE_ACCOUNT_FILE and "
                "HOLDFAST_GOOGLE__DELEGATED_ADMIN (or [google] in the config file)"
            )
        return self.google

    def require_slack(self) -> SlackSettings:
        if self.slack is None:
            raise ConfigError(
                "slack: not configured: set HOLDFAST_SLACK__BOT_TOKEN and HOLDFAST_SLACK__IT_CHANNEL "
                "(or [slack] in the config file)"
            )
        return self.slack


_FIX_HINTS = {
    "missing": "is required",
    "extra_forbidden": "is not a known setting (check the spelling; see README 'Configuration')",
}


def _env_name(loc: tuple[str | int, ...]) -> str:
    return ENV_PREFIX + "__".join(str(p).upper() for p in loc if not str(p).startswith("function-"))


def describe_validation_error(err: ValidationError, *, source: str = "settings") -> str:
    """One line naming the first bad field, its environment variable and the fix; never the value."""
    # An unknown key usually explains a "missing" one (a misspelling): name it first.
    first = sorted(err.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
    loc = tuple(p for p in first["loc"] if not str(p).startswith("function-"))
    dotted = ".".join(str(p) for p in loc) or "(top level)"
    hint = _FIX_HINTS.get(first["type"], first["msg"].removeprefix("Value error, "))
    more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
    env = f" ({_env_name(loc)})" if source == "settings" and loc else ""
    return f"{source}: {dotted}{env} {hint}{more}"


def load_settings(config_file: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment and an optional TOML file; raise ConfigError in one line."""
    env = os.environ if environ is None else environ
    if config_file is None and env.get(CONFIG_FILE_ENV):
        config_file = Path(env[CONFIG_FILE_ENV])
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist: fix the path or unset {CONFIG_FILE_ENV}")
    _refuse_unknown_env(env)
    Settings._toml_file, Settings._environ = config_file, environ
    try:
        return Settings()
    except ValidationError as err:
        raise ConfigError(describe_validation_error(err)) from None
    except ValueError as err:  # malformed TOML or JSON in an env var
        raise ConfigError(f"settings: {err}") from None
    finally:
        Settings._toml_file, Settings._environ = None, None


def _known_env_names(model: type[BaseModel], prefix: str) -> set[str]:
    names: set[str] = set()
    for name, info in model.model_fields.items():
        env = f"{prefix}{name.upper()}"
        names.add(env)
        for arg in (info.annotation, *getattr(info.annotation, "__args__", ())):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                names |= _known_env_names(arg, env + "__")
    return names


def _refuse_unknown_env(env: Mapping[str, str]) -> None:
    """A misspelt HOLDFAST_ variable would otherwise be ignored silently (e.g. a CA bundle never used)."""
    known = _known_env_names(Settings, ENV_PREFIX) | {CONFIG_FILE_ENV}
    for name in sorted(env):
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in known:
            raise ConfigError(
                f"settings: {name} is not a known setting: check the spelling (see README 'Configuration')"
            )


class _MappingEnvSource(EnvSettingsSource):
    """Environment variables from an explicit mapping (tests, the sandbox's exported settings)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._mapping = {k.lower(): v for k, v in environ.items()}
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return self._mapping


def redacted(settings: Settings) -> dict[str, Any]:
    """Settings as a dict safe to print: secrets stay '**********'."""
    return settings.model_dump(mode="json")
