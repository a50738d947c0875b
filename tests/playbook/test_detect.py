"""Detection, pure: who acted, which account was affected, failed attempts, the cutoff, corroboration, tiers."""

from __future__ import annotations

from config.policy import ActorKind, Reason, Tier
from playbook.detect import (
    AccountChanges,
    GoogleEvidence,
    OktaAccount,
    build_findings,
    corroborate,
    credential_changes,
    impersonation_markers,
    is_reset_mail,
)
from playbook.models import Corroboration, FactorFinding
from playbook.when import okta_time
from sandbox.records import Actor, ClientInfo
from tests.playbook.helpers import CUTOFF, at, okta, password_edit, person, policy, reset_mail, support

ANA_ACTOR, ANA = person("ana")
BOB_ACTOR, BOB = person("bob")
ADMIN_ACTOR, ADMIN = person("itadmin")


def changes_of(*events: object) -> dict[str, AccountChanges]:
    evs = list(events)
    return credential_changes(evs, policy(), cutoff=CUTOFF, markers=impersonation_markers(evs))  # type: ignore[arg-type]


def test_a_reset_with_the_okta_support_fingerprint_is_okta_support() -> None:
    found = changes_of(support("user.account.reset_password", at(), ANA))
    assert found[ANA.id].reasons == {Reason.PASSWORD_RESET}
    assert found[ANA.id].actor_kinds == {ActorKind.OKTA_SUPPORT}
    assert found[ANA.id].actors == {"system@okta.com"}


def test_system_at_okta_with_a_real_transaction_or_a_client_is_the_system_not_support() -> None:
    system = Actor("0oa1system", "system@okta.com", "Okta System", type="SystemPrincipal")
    with_txn = okta("user.mfa.factor.deactivate", at(), system, ANA, client=ClientInfo())
    with_client = okta("user.mfa.factor.deactivate", at(), system, BOB, transaction_id="unknown")
    found = changes_of(with_txn, with_client)
    assert found[ANA.id].actor_kinds == {ActorKind.SYSTEM}
    assert found[BOB.id].actor_kinds == {ActorKind.SYSTEM}


def test_self_service_and_an_admin_are_told_apart() -> None:
    found = changes_of(
        okta("user.account.update_password", at(), ANA_ACTOR, ANA),
        okta("user.account.reset_password", at(), ADMIN_ACTOR, BOB),
    )
    assert found[ANA.id].actor_kinds == {ActorKind.SELF}
    assert found[BOB.id].actor_kinds == {ActorKind.ADMIN}
    assert found[BOB.id].actors == {"itadmin@example.com"}
    assert ADMIN.id not in found  # the admin acted; their own account did not change


def test_actions_inside_an_impersonation_session_are_impersonation_and_the_admin_gets_the_impersonation() -> None:
    session = "102ImpersonationSession01"
    events = [
        support("user.session.impersonation.grant", at(), ADMIN),
        support("user.session.impersonation.initiate", at(minutes=2), ADMIN, session=session),
        # Inside the session the impersonated admin is the actor; only the session id ties it to support.
        okta(
            "user.account.reset_password",
            at(minutes=9),
            ADMIN_ACTOR,
            BOB,
            client=ClientInfo(),
            session=session,
            transaction_id="unknown",
        ),
        okta("user.account.reset_password", at(minutes=9), ADMIN_ACTOR, ANA, session="102AdminOwnSession000"),
    ]
    found = changes_of(*events)
    assert found[ADMIN.id].reasons == {Reason.IMPERSONATION}
    assert found[ADMIN.id].actor_kinds == {ActorKind.OKTA_SUPPORT}
    assert found[BOB.id].actor_kinds == {ActorKind.IMPERSONATION}
    assert found[ANA.id].actor_kinds == {ActorKind.ADMIN}  # the admin's own session: an ordinary admin reset


def test_a_session_opened_before_the_cutoff_still_marks_the_actions_after_it() -> None:
    session = "102EarlySession0000000"
    opened = support("user.session.impersonation.initiate", at(days=-1), ADMIN, session=session)
    reset = okta("user.account.reset_password", at(days=0.5), ADMIN_ACTOR, BOB, session=session)
    found = changes_of(opened, reset)
    assert ADMIN.id not in found  # the impersonation itself happened before the cutoff
    assert found[BOB.id].actor_kinds == {ActorKind.IMPERSONATION}


def test_failed_attempts_are_evidence_but_kept_apart_from_successes() -> None:
    failed = support("user.mfa.attempt_bypass", at(), ANA, outcome="FAILURE")
    ok = support("user.mfa.attempt_bypass", at(hours=1), ANA)
    found = changes_of(failed, ok)
    assert found[ANA.id].reasons == {Reason.MFA_BYPASS_ATTEMPT}
    assert found[ANA.id].evidence == {failed.uuid, ok.uuid}
    assert found[ANA.id].failed_evidence == {failed.uuid}


def test_a_change_exactly_at_the_cutoff_counts_and_one_a_millisecond_before_does_not() -> None:
    on = okta("user.account.update_password", at(days=0), ANA_ACTOR, ANA)
    before = okta("user.mfa.factor.activate", at(days=0, milliseconds=-1), BOB_ACTOR, BOB)
    found = changes_of(on, before)
    assert set(found) == {ANA.id}


def test_unwatched_event_types_are_not_credential_changes() -> None:
    assert (
        changes_of(
            okta("user.session.start", at(), ANA_ACTOR, ANA), okta("user.lifecycle.suspend", at(), ADMIN_ACTOR, BOB)
        )
        == {}
    )


# ---------------------------------------------------------------------------------------------- corroboration


def verdicts(*events: object, available: bool = True, covered_until: str | None = None) -> dict[str, object]:
    okta_events = [e for e in events if e.source == "okta"]  # type: ignore[attr-defined]
    google = GoogleEvidence(
        available,
        [e for e in events if e.source == "google:gmail" and is_reset_mail(e)],  # type: ignore[attr-defined]
        [e for e in events if e.source == "google:user_accounts"],  # type: ignore[attr-defined]
        covered_until=covered_until,
    )
    changes = changes_of(*okta_events)
    return corroborate(changes, okta_events, google, cutoff=CUTOFF)  # type: ignore[arg-type, return-value]


def test_a_reset_with_its_mail_is_confirmed_and_one_without_is_okta_only() -> None:
    found = verdicts(
        support("user.account.reset_password", at(), ANA),
        reset_mail("ana@example.com", at(seconds=4)),
        support("user.account.reset_password", at(), BOB),
    )
    assert found["ana@example.com"].corroboration is Corroboration.CONFIRMED  # type: ignore[attr-defined]
    assert found["bob@example.com"].corroboration is Corroboration.OKTA_ONLY  # type: ignore[attr-defined]


def test_two_resets_and_one_mail_is_okta_only() -> None:
    found = verdicts(
        okta("user.account.reset_password", at(), ADMIN_ACTOR, ANA),
        reset_mail("ana@example.com", at(seconds=3)),
        okta("user.account.reset_password", at(days=2), ADMIN_ACTOR, ANA),
    )
    assert found["ana@example.com"].corroboration is Corroboration.OKTA_ONLY  # type: ignore[attr-defined]


def test_a_reset_mail_with_no_okta_reset_is_google_only() -> None:
    mail = reset_mail("ana@example.com", at())
    found = verdicts(mail)
    verdict = found["ana@example.com"]
    assert verdict.corroboration is Corroboration.GOOGLE_ONLY and verdict.google_only  # type: ignore[attr-defined]
    assert verdict.google_evidence == (mail.uuid,)  # type: ignore[attr-defined]


def test_a_google_password_change_with_no_okta_password_event_is_google_only() -> None:
    found = verdicts(
        okta("user.account.update_password", at(), ANA_ACTOR, ANA),
        password_edit("ana@example.com", at(seconds=6)),
        password_edit("bob@example.com", at()),
    )
    assert "ana@example.com" not in found  # explained by Okta's event: nothing to corroborate
    assert found["bob@example.com"].corroboration is Corroboration.GOOGLE_ONLY  # type: ignore[attr-defined]


def test_google_records_of_a_reset_just_before_the_cutoff_are_not_google_only() -> None:
    early = at(days=0, minutes=-2)
    found = verdicts(
        okta("user.account.reset_password", early, ANA_ACTOR, ANA),
        reset_mail("ana@example.com", at(days=0, minutes=1)),
        password_edit("ana@example.com", at(days=0, minutes=5)),
    )
    assert found == {}


def test_a_failed_reset_needs_no_mail() -> None:
    found = verdicts(support("user.account.reset_password", at(), ANA, outcome="FAILURE"))
    assert found == {}


def test_other_mail_mentioning_nothing_about_passwords_is_not_a_reset_mail() -> None:
    assert not is_reset_mail(reset_mail("ana@example.com", at(), subject="Lunch on Friday?"))
    assert is_reset_mail(reset_mail("ana@example.com", at(), subject="Okta password reset requested"))


def test_google_unavailable_marks_only_accounts_with_resets() -> None:
    found = verdicts(
        support("user.account.reset_password", at(), ANA),
        okta("user.account.update_password", at(), BOB_ACTOR, BOB),
        available=False,
    )
    assert found == {"ana@example.com": found["ana@example.com"]}
    assert found["ana@example.com"].corroboration is Corroboration.UNAVAILABLE  # type: ignore[attr-defined]


def test_a_reset_after_google_was_last_read_is_unavailable_not_okta_only() -> None:
    found = verdicts(
        support("user.account.reset_password", at(days=5), ANA),
        covered_until=okta_time(at(days=4)),
    )
    assert found["ana@example.com"].corroboration is Corroboration.UNAVAILABLE  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------- findings


def test_findings_carry_tiers_from_policy_seeds_google_only_accounts_and_unknown_keys() -> None:
    events = [
        support("user.account.reset_password", at(), ANA),
        okta("user.account.update_password", at(), BOB_ACTOR, BOB, outcome="FAILURE"),
    ]
    mail = reset_mail("carol@example.com", at())
    stranger = reset_mail("nobody@elsewhere.example", at())
    changes = changes_of(*events)
    google = GoogleEvidence(True, [mail, stranger], [])
    verdict = corroborate(changes, events, google, cutoff=CUTOFF)
    key = FactorFinding(factor_id="fwf1", factor_type="webauthn", credential_id="abc", problem="unknown_hardware_key")
    carol, dave, erin = (
        OktaAccount("00ucarol", "carol@example.com", "ACTIVE"),
        OktaAccount("00udave", "dave@example.com", "ACTIVE"),
        OktaAccount("00uerin", "erin@example.com", "SUSPENDED"),
    )
    findings, notes = build_findings(
        policy(),
        changes=changes,
        corroboration=verdict,
        seeds=[erin],
        accounts_by_login={a.login: a for a in (carol, dave, erin)},
        statuses={ANA.id: "ACTIVE", carol.user_id: "ACTIVE"},
        factor_findings={dave.user_id: (key,)},
        access={},
    )
    by_login = {f.login: f for f in findings}
    assert [f.login for f in findings] == sorted(by_login)
    assert by_login["ana@example.com"].risk is Tier.CRITICAL
    assert by_login["ana@example.com"].corroboration is Corroboration.OKTA_ONLY
    assert by_login["bob@example.com"].risk is Tier.MEDIUM and by_login["bob@example.com"].failed_attempts == 1
    assert by_login["carol@example.com"].reasons == (Reason.GOOGLE_ONLY_RESET,)
    assert by_login["carol@example.com"].evidence == (mail.uuid,)
    assert by_login["dave@example.com"].reasons == (Reason.UNKNOWN_HARDWARE_KEY,)
    assert by_login["dave@example.com"].risk is Tier.CRITICAL
    assert by_login["erin@example.com"].reasons == (Reason.SEED,) and by_login["erin@example.com"].seed
    assert by_login["erin@example.com"].risk is Tier.LOW and by_login["erin@example.com"].status == "SUSPENDED"
    assert notes == [
        "Google-only password reset for nobody@elsewhere.example, which is not an Okta account: review by hand"
    ]
