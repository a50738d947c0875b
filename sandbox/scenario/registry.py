"""The approved hardware-key registry: every FIDO credential that IT legitimately enrolled, as a JSON file.

holdfast's policy points at it (`[hardware_keys] registry`, config/policy.toml): a webauthn factor whose
credentialId is not listed is a finding ("unknown_hardware_key"). Format, one object:

    {"keys": [{"login": "ana.silva@example.com",
               "credential_id": "<base64url WebAuthn credential id, no padding>",
               "enrolled": "2021-12-03T10:15:00.000Z"}, ...]}

- `login`: the Okta login of the key's owner (lower case);
- `credential_id`: exactly the `profile.credentialId` Okta shows on the webauthn factor
  (https://developer.okta.com/docs/reference/api/factors/#factor-profile-object);
- `enrolled`: when the key was enrolled (UTC, Okta's timestamp format).
Keys are sorted by login, then credential id. A key replaced later stays listed (it was approved); the
generator never lists a credential that an attacker enrolled or swapped in.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict


class ApprovedKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    login: str
    credential_id: str
    enrolled: str


class ApprovedKeyRegistry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    keys: list[ApprovedKey]

    def credential_ids(self) -> set[str]:
        return {k.credential_id for k in self.keys}


def write_registry(keys: list[ApprovedKey], path: Path) -> None:
    ordered = sorted(keys, key=lambda k: (k.login, k.credential_id))
    path.write_text(json.dumps(ApprovedKeyRegistry(keys=ordered).model_dump(mode="json"), indent=1) + "\n")


def read_registry(path: Path) -> ApprovedKeyRegistry:
    return ApprovedKeyRegistry.model_validate_json(path.read_text())
