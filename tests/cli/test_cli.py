"""The holdfast command: one-line errors with exit codes, settings check, sandbox serve as a real process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from config.settings import load_settings
from tasks.okta.clients import okta_client

runner = CliRunner()


def test_config_check_prints_settings_with_the_secret_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOLDFAST_OKTA__ORG_URL", "https://acme.okta.com")
    monkeypatch.setenv("HOLDFAST_OKTA__API_TOKEN", "00SuperSecretTokenValue123")
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert "https://acme.okta.com" in result.output
    assert "00SuperSecretTokenValue123" not in result.output
    assert "**********" in result.output


def test_bad_configuration_is_one_line_and_exit_code_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOLDFAST_OKTA__ORG_URL", "http://acme.okta.com")
    monkeypatch.setenv("HOLDFAST_OKTA__API_TOKEN", "00SuperSecretTokenValue123")
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("error: settings: okta.org_url (HOLDFAST_OKTA__ORG_URL)")
    assert "Traceback" not in result.output


def test_a_bad_since_is_refused_before_anything_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOLDFAST_OKTA__ORG_URL", "https://acme.okta.com")
    monkeypatch.setenv("HOLDFAST_OKTA__API_TOKEN", "00SuperSecretTokenValue123")
    monkeypatch.setenv("HOLDFAST_STORE__URL", f"sqlite:///{tmp_path / 'h.sqlite'}")
    result = runner.invoke(app, ["ingest", "--since", "last tuesday"])
    assert result.exit_code == 2
    assert "--since: 'last tuesday' is not a time" in result.output


def test_evidence_verify_on_an_empty_store_says_to_ingest_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOLDFAST_STORE__URL", f"sqlite:///{tmp_path / 'h.sqlite'}")
    result = runner.invoke(app, ["evidence", "verify"])
    assert result.exit_code == 0, result.output
    assert "no evidence stored yet" in result.output


def test_sandbox_serve_prints_settings_that_reach_a_live_https_okta(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli",
            "sandbox",
            "serve",
            "--people",
            "200",
            "--days",
            "60",
            "--workdir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("HOLDFAST_")},
    )
    try:
        assert process.stdout is not None
        environ: dict[str, str] = {}
        while "HOLDFAST_STORE__URL" not in environ:
            line = process.stdout.readline()
            assert line, process.stderr.read() if process.stderr else "serve exited"
            key, _, value = line.removeprefix("export ").strip().partition("=")
            environ[key] = value.strip("'")
        settings = load_settings(environ=environ)

        async def users() -> int:
            async with okta_client(settings.require_okta()) as client:
                found, _, error = await client.list_users(limit=200)
                assert error is None
                return len(found)

        assert asyncio.run(users()) > 0
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0
