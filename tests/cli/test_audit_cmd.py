"""`holdfast audit` input checks: refused in one line with exit code 2, before Prefect or Okta is touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli.audit_cmd  # noqa: F401 (registers the command; cli/main.py imports it too)
from cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def okta_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOLDFAST_OKTA__ORG_URL", "https://acme.okta.com")
    monkeypatch.setenv("HOLDFAST_OKTA__API_TOKEN", "00SuperSecretTokenValue123")
    monkeypatch.setenv("HOLDFAST_STORE__URL", f"sqlite:///{tmp_path / 'h.sqlite'}")


def one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    return lines[0]


def test_a_cutoff_in_the_future_is_refused_in_one_line() -> None:
    result = runner.invoke(app, ["audit", "--since", "2999-01-01"])
    assert result.exit_code == 2
    assert one_error_line(result.output) == "error: --since: 2999-01-01 is in the future: the audit looks back from now"


def test_a_cutoff_that_is_not_a_time_is_refused_in_one_line() -> None:
    result = runner.invoke(app, ["audit", "--since", "since the breach"])
    assert result.exit_code == 2
    assert one_error_line(result.output).startswith("error: --since: 'since the breach' is not a time")


def test_the_cutoff_is_required() -> None:
    result = runner.invoke(app, ["audit"])
    assert result.exit_code == 2
    assert "--since" in result.output


def test_an_unknown_source_or_format_is_refused() -> None:
    assert runner.invoke(app, ["audit", "--since", "30d", "--source", "siem"]).exit_code == 2
    assert runner.invoke(app, ["audit", "--since", "30d", "--format", "xml"]).exit_code == 2
