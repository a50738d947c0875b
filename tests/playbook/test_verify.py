"""The authorisation rules for identity verification, as pure functions: each refusal and what is accepted."""

from __future__ import annotations

import pytest

from config.errors import ConfigError, InputError, PolicyViolation
from config.policy import Verification
from playbook.verify import (
    AccountFacts,
    Channel,
    Refusal,
    VerificationRequest,
    VerifierFacts,
    authorise,
    check_input,
)

POLICY = Verification(group="IT Identity Verifiers")
TWO = Verification(group="IT Identity Verifiers", two_person=True)
HELD = AccountFacts(known=True, user_id="00u1", login="alice@example.com", open_holds=1)
STAFF = VerifierFacts(
    exists=True, user_id="00u9", login="it.bob@example.com", status="ACTIVE", in_group=True, held=False
)


def request(**changes: str) -> VerificationRequest:
    values = {"account": "alice@example.com", "verifier": "it.bob@example.com", "method": "video-call",
              "ticket": "IT-1234", "note": ""} | changes  # fmt: skip
    return VerificationRequest(
        account=values["account"], verifier=values["verifier"], method=values["method"], ticket=values["ticket"],
        note=values["note"],
    ).normalised()  # fmt: skip


def refusal(decision_request: VerificationRequest, account: AccountFacts = HELD, verifier: VerifierFacts = STAFF,
            policy: Verification = POLICY, previous: frozenset[str] = frozenset()) -> Refusal | None:  # fmt: skip
    return authorise(decision_request, account, verifier, policy, previous_verifiers=previous).refusal


def test_an_active_group_member_who_is_not_held_verifies_and_completes_the_hold() -> None:
    decision = authorise(request(), HELD, STAFF, POLICY)
    assert decision.accepted and decision.complete and decision.verifiers == 1


def test_input_is_checked_before_anything_else_and_names_the_fix() -> None:
    cases = {
        "method": (request(method="Phone"), "method 'phone' is not allowed; use one of: in-person, video-call"),
        "ticket": (request(ticket="two words"), "--ticket must be a ticket id"),
        "empty ticket": (request(ticket=" "), "--ticket must be a ticket id"),
        "note": (request(note="line one\nline two"), "--note must be one line"),
        "verifier": (request(verifier=" "), "--by (the verifier's Okta login) is required"),
        "account": (request(account=""), "name the account to verify"),
    }
    for name, (req, fragment) in cases.items():
        found = check_input(req, POLICY)
        assert found is not None and found.kind == "input" and fragment in found.reason, name
        assert isinstance(found.error(), InputError)


def test_an_unknown_or_unheld_account_is_an_input_error() -> None:
    unknown = refusal(request(), AccountFacts(known=False, user_id=None, login=None, open_holds=0))
    assert unknown is not None and "is not an Okta user and has no hold" in unknown.reason
    free = refusal(request(), AccountFacts(known=True, user_id="00u1", login="alice@example.com", open_holds=0))
    assert free is not None and free.kind == "input" and "is not held" in free.reason


@pytest.mark.parametrize(
    ("verifier", "fragment"),
    [
        (VerifierFacts(exists=False, user_id=None, login=None, status=None, in_group=False, held=False),
         "is not an Okta user"),
        (VerifierFacts(exists=True, user_id="00u9", login="it.bob@example.com", status="SUSPENDED", in_group=True,
                       held=False), "is SUSPENDED in Okta"),
        (VerifierFacts(exists=True, user_id="00u9", login="it.bob@example.com", status="DEPROVISIONED", in_group=True,
                       held=False), "is DEPROVISIONED in Okta"),
        (VerifierFacts(exists=True, user_id="00u9", login="it.bob@example.com", status="ACTIVE", in_group=False,
                       held=False), "is not a member of the 'IT Identity Verifiers' group"),
        (VerifierFacts(exists=True, user_id="00u9", login="it.bob@example.com", status="ACTIVE", in_group=True,
                       held=True), "is held in an incident"),
    ],
)  # fmt: skip
def test_a_verifier_who_is_not_an_active_unheld_group_member_is_refused(verifier: VerifierFacts, fragment: str) -> None:
    found = refusal(request(), verifier=verifier)
    assert found is not None and found.kind == "policy" and fragment in found.reason
    assert isinstance(found.error(), PolicyViolation)


def test_nobody_verifies_their_own_account_by_login_or_by_id() -> None:
    by_login = refusal(request(verifier="ALICE@example.com"))
    assert by_login is not None and "cannot verify their own account" in by_login.reason
    same_person = VerifierFacts(exists=True, user_id="00u1", login="alias@example.com", status="ACTIVE", in_group=True,
                                held=False)  # fmt: skip
    by_id = refusal(request(verifier="alias@example.com"), verifier=same_person)
    assert by_id is not None and "cannot verify their own account" in by_id.reason


def test_the_two_person_rule_needs_a_second_different_verifier() -> None:
    first = authorise(request(), HELD, STAFF, TWO)
    assert first.accepted and not first.complete and first.verifiers == 1
    again = refusal(request(), policy=TWO, previous=frozenset({"it.bob@example.com"}))
    assert again is not None and "needs a different second verifier" in again.reason
    carol = VerifierFacts(exists=True, user_id="00u8", login="it.carol@example.com", status="ACTIVE", in_group=True,
                          held=False)  # fmt: skip
    second = authorise(request(verifier="it.carol@example.com"), HELD, carol, TWO,
                       previous_verifiers=frozenset({"it.bob@example.com"}))  # fmt: skip
    assert second.accepted and second.complete and second.verifiers == 2


def test_a_refusal_becomes_the_matching_error_in_one_line() -> None:
    assert isinstance(Refusal("config", "policy: group missing").error(), ConfigError)
    assert str(Refusal("policy", "verification refused: x").error()) == "verification refused: x"


def test_requests_are_normalised_before_the_rules_see_them() -> None:
    normal = VerificationRequest(account=" alice@example.com ", verifier="bob ", method=" Video-Call ", ticket=" IT-1 ",
                                 note="  ", channel=Channel.PREFECT_UI).normalised()  # fmt: skip
    assert (normal.account, normal.verifier, normal.method, normal.ticket, normal.note) == (
        "alice@example.com", "bob", "video-call", "IT-1", None
    )  # fmt: skip
    assert normal.channel is Channel.PREFECT_UI
