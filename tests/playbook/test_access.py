"""The access picture, pure: sign-ins, places, MFA methods and new user agents since the cutoff."""

from __future__ import annotations

import json

from playbook.access import MFA, SIGN_IN, AccessEvent, access_picture, mfa_method

CUTOFF = "2021-12-01T00:00:00.000Z"


def test_the_picture_counts_since_the_cutoff_and_names_user_agents_not_seen_before_it() -> None:
    events = [
        AccessEvent("2021-11-20T08:00:00.000Z", SIGN_IN, "SUCCESS", "203.0.113.10", "Portugal", "Safari/Mac"),
        AccessEvent("2021-12-02T08:00:00.000Z", SIGN_IN, "SUCCESS", "203.0.113.10", "Portugal", "Safari/Mac"),
        AccessEvent("2021-12-02T08:00:05.000Z", MFA, "SUCCESS", "203.0.113.10", "Portugal", "Safari/Mac", "push"),
        AccessEvent("2022-01-19T02:00:00.000Z", SIGN_IN, "SUCCESS", "192.0.2.15", "Brazil", "Chrome/Windows"),
        AccessEvent("2022-01-19T02:00:09.000Z", MFA, "FAILURE", "192.0.2.15", "Brazil", "Chrome/Windows", "sms"),
        AccessEvent("2022-01-19T02:01:00.000Z", MFA, "SUCCESS", "192.0.2.15", "Brazil", "Chrome/Windows", "sms"),
    ]
    picture = access_picture(events, cutoff=CUTOFF)
    assert picture.ips == ("192.0.2.15", "203.0.113.10")
    assert picture.countries == ("Brazil", "Portugal")
    assert picture.mfa_methods == ("push", "sms")
    assert picture.user_agents == ("Chrome/Windows", "Safari/Mac")
    assert picture.new_user_agents == ("Chrome/Windows",)
    assert (picture.sign_ins, picture.failed_sign_ins) == (2, 1)


def test_the_mfa_method_comes_from_debug_data_else_the_credential_type() -> None:
    assert mfa_method(json.dumps({"debugContext": {"debugData": {"factor": "fido_webauthn"}}})) == "fido_webauthn"
    assert (
        mfa_method(json.dumps({"debugContext": {"debugData": {}}, "authenticationContext": {"credentialType": "OTP"}}))
        == "OTP"
    )
    assert mfa_method("not json") is None
