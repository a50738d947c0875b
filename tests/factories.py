"""Small builders for test data in the sandbox org: log events and settings pointing at a sandbox."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from config.settings import Settings, load_settings
from sandbox.org import Org
from sandbox.records import Actor, ClientInfo, EventSpec, Target, okta_log_event
from sandbox.server import SandboxServer


def add_log_events(org: Org, count: int, *, start: datetime | None = None, step: timedelta | None = None) -> list[str]:
    """Append `count` sign-in events to the fake System Log, oldest first; returns their uuids."""
    start = start or datetime.now(UTC) - timedelta(days=2)
    step = step or timedelta(seconds=1)
    client = ClientInfo(ip="198.51.100.20", user_agent="Mozilla/5.0", os="Linux", browser="FIREFOX", country="Portugal")
    events = []
    for n in range(count):
        user = Target(f"00u{n % 50:017d}", f"person{n % 50}@{org.domain}", f"Person {n % 50}")
        events.append(
            okta_log_event(
                EventSpec(
                    event_type="user.session.start",
                    published=start + step * n,
                    actor=Actor(user.id, user.alternate_id, user.display_name),
                    targets=(user,),
                    client=client,
                    uuid=str(uuid.uuid4()),
                )
            )
        )
    org.system_log.append_many(events)
    return [str(e["uuid"]) for e in events]


def _toml_value(value: str) -> str:
    if value.startswith("["):
        return value  # a JSON list is a TOML array too
    return json.dumps(value)


def settings_file(server: SandboxServer, folder: Path, *, google: bool = False, **extra: str) -> Path:
    """A TOML settings file for this sandbox, as an operator would write one; returns its path."""
    env = {k: v for k, v in server.env().items() if google or not k.startswith("HOLDFAST_GOOGLE__")}
    env["HOLDFAST_STORE__URL"] = f"sqlite:///{folder / 'holdfast.sqlite'}"
    env["HOLDFAST_STORE__ANCHOR_FILE"] = str(folder / "anchors.jsonl")
    env.update(extra)
    sections: dict[str, list[str]] = {}
    top: list[str] = []
    for key, value in sorted(env.items()):
        name = key.removeprefix("HOLDFAST_").lower()
        if "__" in name:
            section, field = name.split("__", 1)
            sections.setdefault(section, []).append(f"{field} = {_toml_value(value)}")
        else:
            top.append(f"{name} = {_toml_value(value)}")
    text = "\n".join(top) + "\n"
    for section, lines in sections.items():
        text += f"\n[{section}]\n" + "\n".join(lines) + "\n"
    path = folder / "holdfast.toml"
    path.write_text(text)
    return path


def sandbox_settings(server: SandboxServer, folder: Path, *, store_url: str | None = None, **extra: str) -> Settings:
    """Settings as an operator would export them for this sandbox (no Google unless asked)."""
    env = {k: v for k, v in server.env().items() if not k.startswith("HOLDFAST_GOOGLE__")}
    env["HOLDFAST_STORE__URL"] = store_url or f"sqlite:///{folder / 'holdfast.sqlite'}"
    env["HOLDFAST_STORE__ANCHOR_FILE"] = str(folder / "anchors.jsonl")
    env.update(extra)
    return load_settings(environ=env)


def add_people(org: Org, count: int, *, status: str = "ACTIVE", with_key: bool = True) -> list[str]:
    """`count` people with a push factor and (optionally) a FIDO key, each with a live session; their ids."""
    from sandbox.org import Factor, User, UserStatus

    now = datetime.now(UTC)
    ids = []
    for n in range(count):
        uid = f"00u{len(org.users):05d}{uuid.uuid4().hex[:12]}"
        login = f"user{len(org.users)}@{org.domain}"
        org.add_user(
            User(
                id=uid, login=login, email=login, first_name="User", last_name=str(n), status=UserStatus(status),
                created=now - timedelta(days=400), activated=now - timedelta(days=400), password_changed=now,
                last_updated=now, sessions=2, oauth_tokens=1,
            )
        )  # fmt: skip
        org.add_factor(
            Factor(id=f"opf{uuid.uuid4().hex[:17]}", user_id=uid, factor_type="push", provider="OKTA",
                   status="ACTIVE", created=now, last_updated=now)
        )  # fmt: skip
        if with_key:
            org.add_factor(
                Factor(id=f"fwf{uuid.uuid4().hex[:17]}", user_id=uid, factor_type="webauthn", provider="FIDO",
                       status="ACTIVE", created=now, last_updated=now,
                       profile={"credentialId": uuid.uuid4().hex, "authenticatorName": "YubiKey 5 NFC"})
            )  # fmt: skip
        ids.append(uid)
    return ids
