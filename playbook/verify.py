"""Who may vouch for whom: the authorisation rules for identity verification. Pure: the caller gathers the
facts live from Okta and the ledger at the moment the verification is recorded, then asks these rules.

Rules, in the order they are checked (the first that fails is the one reported):
1. input: account and verifier named, the method one of the policy's, a ticket id, a short note;
2. the account exists (in Okta or in the ledger) and has an open hold;
3. the verifier is not the account itself (self-verification would let an attacker release themselves);
4. the verifier is an Okta user, ACTIVE, and a member of the policy's verifiers group (checked live: a
   verifier removed from the group an hour ago is refused now);
5. the verifier is not held (an account under suspicion cannot vouch for another);
6. with the two-person rule, the second verifier must be a different person from the first.
Input problems are InputError, authorisation problems PolicyViolation; both are recorded as refusals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from config.errors import ConfigError, HoldfastError, InputError, PolicyViolation
from config.policy import Verification

TICKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,127}$")
MAX_NOTE = 1000
MAX_LOGIN = 320


class Channel(StrEnum):
    """Where the verification was recorded."""

    CLI = "cli"
    PREFECT_UI = "prefect-ui"


@dataclass(frozen=True)
class VerificationRequest:
    account: str  # Okta login or user id of the held account
    verifier: str  # the IT person's Okta login
    method: str
    ticket: str
    note: str | None = None
    channel: Channel = Channel.CLI

    def normalised(self) -> VerificationRequest:
        note = self.note.strip() if self.note else None
        return VerificationRequest(
            account=self.account.strip(),
            verifier=self.verifier.strip(),
            method=self.method.strip().lower(),
            ticket=self.ticket.strip(),
            note=note or None,
            channel=self.channel,
        )


@dataclass(frozen=True)
class AccountFacts:
    known: bool  # Okta has the user, or the ledger holds it
    user_id: str | None
    login: str | None
    open_holds: int


@dataclass(frozen=True)
class VerifierFacts:
    exists: bool  # an Okta user
    user_id: str | None
    login: str | None
    status: str | None  # Okta status, e.g. ACTIVE
    in_group: bool  # member of the verifiers group, as Okta lists it now
    held: bool  # has an open hold in the ledger


RefusalKind = Literal["input", "policy", "config"]


@dataclass(frozen=True)
class Refusal:
    kind: RefusalKind
    reason: str  # one line, shown to the verifier and recorded in the ledger

    def error(self) -> HoldfastError:
        if self.kind == "input":
            return InputError(self.reason)
        if self.kind == "config":
            return ConfigError(self.reason)
        return PolicyViolation(self.reason)


@dataclass(frozen=True)
class Decision:
    refusal: Refusal | None
    complete: bool = False  # enough verifiers: the hold may be released
    verifiers: int = 0  # distinct accepted verifiers, this one included

    @property
    def accepted(self) -> bool:
        return self.refusal is None


def _control_chars(text: str) -> bool:
    return any(ord(c) < 32 and c not in "\t" for c in text)


def check_input(request: VerificationRequest, policy: Verification) -> Refusal | None:
    """Rule 1: the form or the command line, before anything is looked up."""
    if not request.account:
        return Refusal("input", "verification: name the account to verify")
    if not request.verifier:
        return Refusal("input", "verification: --by (the verifier's Okta login) is required")
    if len(request.account) > MAX_LOGIN or len(request.verifier) > MAX_LOGIN:
        return Refusal("input", "verification: account and verifier must be Okta logins (at most 320 characters)")
    if request.method not in policy.methods:
        allowed = ", ".join(sorted(policy.methods))
        return Refusal("input", f"verification: method {request.method!r} is not allowed; use one of: {allowed}")
    if not TICKET.match(request.ticket):
        return Refusal(
            "input",
            "verification: --ticket must be a ticket id (letters, digits and ._:/#-, at most 128 characters)",
        )
    if request.note is not None and (len(request.note) > MAX_NOTE or _control_chars(request.note)):
        return Refusal("input", f"verification: --note must be one line of at most {MAX_NOTE} characters")
    return None


def authorise(
    request: VerificationRequest,
    account: AccountFacts,
    verifier: VerifierFacts,
    policy: Verification,
    *,
    previous_verifiers: frozenset[str] = frozenset(),
) -> Decision:
    """Rules 2-6 on facts gathered live; `previous_verifiers` are the lower-cased logins already accepted."""
    refusal = check_input(request, policy)
    if refusal is not None:
        return Decision(refusal)
    who = request.account
    if not account.known:
        return Decision(Refusal("input", f"verification: {who} is not an Okta user and has no hold: check the name"))
    if account.open_holds == 0:
        return Decision(
            Refusal("input", f"verification: {account.login or who} is not held: nothing to verify or release")
        )
    same_id = verifier.user_id is not None and verifier.user_id == account.user_id
    same_login = request.verifier.lower() in {who.lower(), (account.login or "").lower()}
    if same_id or same_login:
        return Decision(Refusal("policy", f"verification refused: {request.verifier} cannot verify their own account"))
    if not verifier.exists:
        return Decision(Refusal("policy", f"verification refused: verifier {request.verifier} is not an Okta user"))
    name = verifier.login or request.verifier
    if verifier.status != "ACTIVE":
        return Decision(
            Refusal("policy", f"verification refused: verifier {name} is {verifier.status or 'not active'} in Okta")
        )
    if not verifier.in_group:
        return Decision(
            Refusal("policy", f"verification refused: {name} is not a member of the {policy.group!r} group in Okta")
        )
    if verifier.held:
        return Decision(Refusal("policy", f"verification refused: verifier {name} is held in an incident"))
    me = name.lower()
    if policy.two_person and me in previous_verifiers:
        return Decision(
            Refusal(
                "policy",
                f"verification refused: {name} already verified {account.login or who}; "
                "the two-person rule needs a different second verifier",
            )
        )
    everyone = previous_verifiers | {me}
    needed = 2 if policy.two_person else 1
    return Decision(None, complete=len(everyone) >= needed, verifiers=len(everyone))
