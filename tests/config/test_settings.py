"""Settings: built from the environment or a TOML file; bad input is one line naming the field; no secrets leak."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import ConfigError
from config.settings import load_settings, redacted

TOKEN = "00AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
BASE = {"HOLDFAST_OKTA__ORG_URL": "https://acme.okta.com", "HOLDFAST_OKTA__API_TOKEN": TOKEN}


def test_settings_come_from_prefixed_nested_environment_variables() -> None:
    settings = load_settings(environ={**BASE, "HOLDFAST_OKTA__MAX_CONCURRENCY": "20"})
    okta = settings.require_okta()
    assert okta.org_url == "https://acme.okta.com"
    assert okta.max_concurrency == 20
    assert okta.auth_mode == "ssws"
    assert settings.store.url.startswith("sqlite:///") and settings.store.url.endswith("holdfast.sqlite")


def test_a_toml_file_provides_settings_and_the_environment_overrides_it(tmp_path: Path) -> None:
    config = tmp_path / "holdfast.toml"
    config.write_text(
        '[okta]\norg_url = "https://file.okta.com"\napi_token = "from-file"\n'
        '[store]\nurl = "postgresql+psycopg://holdfast@db/holdfast"\n'
    )
    settings = load_settings(config, environ={"HOLDFAST_OKTA__ORG_URL": "https://env.okta.com"})
    assert settings.require_okta().org_url == "https://env.okta.com"
    assert settings.store.url == "postgresql+psycopg://holdfast@db/holdfast"


def test_secrets_never_appear_in_repr_dump_or_errors() -> None:
    settings = load_settings(environ=BASE)
    assert TOKEN not in repr(settings)
    assert TOKEN not in str(redacted(settings))
    with pytest.raises(ConfigError) as err:
        load_settings(environ={**BASE, "HOLDFAST_OKTA__ORG_URL": f"http://{TOKEN}.example"})
    assert TOKEN not in str(err.value)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"HOLDFAST_OKTA__ORG_URL": "https://acme.okta.com"}, "HOLDFAST_OKTA__API_TOKEN"),
        ({**BASE, "HOLDFAST_OKTA__ORG_URL": "http://acme.okta.com"}, "okta.org_url (HOLDFAST_OKTA__ORG_URL) must be"),
        ({**BASE, "HOLDFAST_OKTA__ORG_URL": "not a url"}, "HOLDFAST_OKTA__ORG_URL"),
        ({**BASE, "HOLDFAST_OKTA__MAX_CONCURRENCY": "lots"}, "okta.max_concurrency"),
        ({**BASE, "HOLDFAST_OKTA__MAX_CONCURRENCY": "500"}, "less than or equal to 75"),
        ({**BASE, "HOLDFAST_OKTA__CA_BUNDLE": "/nonexistent/ca.pem"}, "does not exist"),
        ({**BASE, "HOLDFAST_OKTA__CLIENT_ID": "0oa1"}, "not both"),
        ({**BASE, "HOLDFAST_STORE__URL": "mysql://db"}, "store.url (HOLDFAST_STORE__URL)"),
        ({**BASE, "HOLDFAST_OKTA__API_TOKN": "x"}, "HOLDFAST_OKTA__API_TOKN is not a known setting"),
        ({"HOLDFAST_SLACK__IT_CHANNEL": "C1"}, "slack.bot_token (HOLDFAST_SLACK__BOT_TOKEN) is required"),
    ],
)
def test_bad_settings_fail_with_one_line_naming_the_field(environ: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(environ=environ)
    message = str(err.value)
    assert expected in message
    assert "\n" not in message


def test_a_missing_config_file_is_named() -> None:
    with pytest.raises(ConfigError, match=r"nowhere\.toml does not exist"):
        load_settings(Path("/nowhere.toml"), environ={})


def test_a_command_needing_a_provider_that_is_not_configured_says_which_variables_to_set() -> None:
    settings = load_settings(environ={})
    with pytest.raises(ConfigError, match="HOLDFAST_GOOGLE__SERVICE_ACCOUNT_FILE"):
        settings.require_google()


def test_oauth_service_app_settings_need_a_client_id_and_an_existing_key(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    settings = load_settings(
        environ={
            "HOLDFAST_OKTA__ORG_URL": "https://acme.okta.com",
            "HOLDFAST_OKTA__CLIENT_ID": "0oa1",
            "HOLDFAST_OKTA__PRIVATE_KEY_FILE": str(key),
            "HOLDFAST_OKTA__DPOP": "true",
        }
    )
    okta = settings.require_okta()
    assert okta.auth_mode == "oauth" and okta.dpop
