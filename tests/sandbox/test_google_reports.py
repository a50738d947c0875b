"""The fake Reports API's activities.list, exercised through googleapiclient over the sandbox CA."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from googleapiclient.errors import HttpError

from sandbox.knobs import Knobs
from sandbox.org import GOOGLE_DIRECTORY_USER_READONLY_SCOPE, Org, iso
from sandbox.server import SandboxServer
from tests.sandbox.google_slack_helpers import (
    add_person,
    admin_email,
    credentials,
    delivery,
    login_activity,
    raw_get,
    reports_service,
)

LIST_PATH = "/admin/reports/v1/activity/users/{user}/applications/{app}"


def rfc3339(ts: datetime) -> str:
    return iso(ts)


def error_of(exc: HttpError) -> dict[str, object]:
    body: dict[str, object] = json.loads(exc.content)["error"]
    return body


def admin_token(sandbox: SandboxServer) -> str:
    """A bearer token for the super admin, minted through google-auth's own refresh."""
    from tests.sandbox.google_slack_helpers import authorized_http

    creds = credentials(sandbox, subject=admin_email(sandbox.org))
    http = authorized_http(sandbox, creds)
    creds.refresh(http._request)
    return str(creds.token)


@pytest.fixture
def seeded(org: Org) -> Org:
    """Two people with five logins each, minutes apart, and one Gmail delivery each."""
    now = org.now()
    for local in ("alice", "bob"):
        person = add_person(org, local)
        for minute in range(5):
            org.reports.append(login_activity(org, person.email, now - timedelta(hours=2, minutes=minute)))
        org.reports.append(delivery(org, person.email, now - timedelta(hours=1), "Okta password reset"))
    org.reports.append(login_activity(org, "alice@example.com", now - timedelta(days=3), name="login_failure"))
    return org


def test_an_empty_report_has_no_items_key(sandbox: SandboxServer) -> None:
    service = reports_service(sandbox)
    result = service.activities().list(userKey="all", applicationName="login").execute()
    assert result["kind"] == "admin#reports#activities"
    assert "items" not in result
    assert "nextPageToken" not in result


def test_activities_come_back_newest_first_with_the_stored_shape(seeded: Org, sandbox: SandboxServer) -> None:
    service = reports_service(sandbox)
    result = service.activities().list(userKey="all", applicationName="login").execute()
    items = result["items"]
    assert len(items) == 11
    times = [item["id"]["time"] for item in items]
    assert times == sorted(times, reverse=True)
    first = items[0]
    assert first["kind"] == "admin#reports#activity"
    assert first["id"]["applicationName"] == "login"
    assert first["id"]["customerId"] == seeded.google_customer_id
    assert first["events"][0]["type"] == "login"


def test_list_next_walks_every_page_without_gaps_or_repeats(seeded: Org, sandbox: SandboxServer) -> None:
    service = reports_service(sandbox)
    activities = service.activities()
    request = activities.list(userKey="all", applicationName="login", maxResults=3)
    seen: list[str] = []
    pages = 0
    while request is not None:
        response = request.execute()
        pages += 1
        seen.extend(item["id"]["uniqueQualifier"] for item in response.get("items", []))
        request = activities.list_next(request, response)
    assert pages == 4
    assert len(seen) == 11
    assert len(set(seen)) == 11


def test_a_user_key_narrows_to_that_actor_and_an_unknown_one_is_not_found(seeded: Org, sandbox: SandboxServer) -> None:
    service = reports_service(sandbox)
    mine = service.activities().list(userKey="bob@example.com", applicationName="login").execute()
    assert {item["actor"]["email"] for item in mine["items"]} == {"bob@example.com"}
    assert len(mine["items"]) == 5
    with pytest.raises(HttpError) as caught:
        service.activities().list(userKey="nobody@example.com", applicationName="login").execute()
    assert caught.value.resp.status == 404
    assert error_of(caught.value)["status"] == "NOT_FOUND"


def test_time_window_and_event_name_narrow_the_report(seeded: Org, sandbox: SandboxServer) -> None:
    service = reports_service(sandbox)
    now = seeded.now()
    recent = (
        service.activities()
        .list(
            userKey="all",
            applicationName="login",
            startTime=rfc3339(now - timedelta(days=1)),
            endTime=rfc3339(now),
        )
        .execute()
    )
    assert len(recent["items"]) == 10
    failures = service.activities().list(userKey="all", applicationName="login", eventName="login_failure")
    assert [item["events"][0]["name"] for item in failures.execute()["items"]] == ["login_failure"]


def test_gmail_deliveries_filter_on_the_nested_mail_event_type(seeded: Org, sandbox: SandboxServer) -> None:
    service = reports_service(sandbox)
    now = seeded.now()
    window = {"startTime": rfc3339(now - timedelta(days=1)), "endTime": rfc3339(now)}
    received = (
        service.activities()
        .list(
            userKey="all",
            applicationName="gmail",
            eventName="delivery",
            filters="event_info.mail_event_type==2",
            **window,
        )
        .execute()
    )
    assert len(received["items"]) == 2
    event = received["items"][0]["events"][0]
    assert event["type"] == "delivery_type"
    names = [p["name"] for p in event["parameters"]]
    assert names == ["event_info", "message_info"]
    trashed = (
        service.activities()
        .list(userKey="all", applicationName="gmail", filters="event_info.mail_event_type==13", **window)
        .execute()
    )
    assert "items" not in trashed
    not_trashed = (
        service.activities()
        .list(userKey="all", applicationName="gmail", filters="event_info.mail_event_type<>13", **window)
        .execute()
    )
    assert len(not_trashed["items"]) == 2
    by_subject = (
        service.activities()
        .list(
            userKey="alice@example.com",
            applicationName="gmail",
            filters="message_info.subject==Okta password reset,event_info.success==true",
            **window,
        )
        .execute()
    )
    assert [i["actor"]["email"] for i in by_subject["items"]] == ["alice@example.com"]


def test_filters_compare_integers_numerically_and_ignore_malformed_parts(seeded: Org, sandbox: SandboxServer) -> None:
    service = reports_service(sandbox)
    now = seeded.now()
    window = {"startTime": rfc3339(now - timedelta(days=1)), "endTime": rfc3339(now)}
    above = service.activities().list(
        userKey="all", applicationName="gmail", filters="event_info.mail_event_type>=10", **window
    )
    assert "items" not in above.execute()
    below = service.activities().list(
        userKey="all", applicationName="gmail", filters="event_info.mail_event_type<10,garbage", **window
    )
    assert len(below.execute()["items"]) == 2
    unknown = service.activities().list(
        userKey="all", applicationName="gmail", filters="no_such_parameter==1", **window
    )
    assert "items" not in unknown.execute()


def test_gmail_needs_both_times_no_more_than_thirty_days_apart(seeded: Org, sandbox: SandboxServer) -> None:
    service = reports_service(sandbox)
    now = seeded.now()
    with pytest.raises(HttpError) as missing:
        service.activities().list(userKey="all", applicationName="gmail").execute()
    assert missing.value.resp.status == 400
    with pytest.raises(HttpError) as too_wide:
        service.activities().list(
            userKey="all",
            applicationName="gmail",
            startTime=rfc3339(now - timedelta(days=31)),
            endTime=rfc3339(now),
        ).execute()
    assert too_wide.value.resp.status == 400
    assert "30 days" in str(error_of(too_wide.value)["message"])


def test_a_start_after_the_end_is_a_bad_request(sandbox: SandboxServer, org: Org) -> None:
    service = reports_service(sandbox)
    now = org.now()
    with pytest.raises(HttpError) as caught:
        service.activities().list(
            userKey="all",
            applicationName="login",
            startTime=rfc3339(now - timedelta(hours=1)),
            endTime=rfc3339(now - timedelta(hours=2)),
        ).execute()
    assert caught.value.resp.status == 400
    assert error_of(caught.value)["message"] == "Invalid request: Start time is after end time."
    assert error_of(caught.value)["errors"] == [
        {"message": "Invalid request: Start time is after end time.", "domain": "global", "reason": "invalid"}
    ]


@pytest.mark.parametrize(
    "query",
    [
        "maxResults=0",
        "maxResults=1001",
        "maxResults=ten",
        "startTime=yesterday",
        "pageToken=not-a-token",
        "customerId=nonsense",
    ],
)
def test_invalid_parameters_are_answered_with_400(sandbox: SandboxServer, query: str) -> None:
    token = admin_token(sandbox)
    status, content = raw_get(sandbox, LIST_PATH.format(user="all", app="login") + "?" + query, token=token)
    assert status == 400
    assert json.loads(content)["error"]["status"] == "INVALID_ARGUMENT"


def test_an_unknown_application_name_is_a_bad_request(sandbox: SandboxServer) -> None:
    token = admin_token(sandbox)
    status, content = raw_get(sandbox, LIST_PATH.format(user="all", app="myspace"), token=token)
    assert status == 400
    assert json.loads(content)["error"]["code"] == 400


def test_another_customer_is_not_authorized(sandbox: SandboxServer) -> None:
    token = admin_token(sandbox)
    path = LIST_PATH.format(user="all", app="login") + "?customerId=C0someoneelse"
    status, content = raw_get(sandbox, path, token=token)
    assert status == 403
    assert json.loads(content)["error"]["errors"][0]["reason"] == "forbidden"


def test_requests_without_or_with_a_bad_token_are_unauthenticated(sandbox: SandboxServer) -> None:
    path = LIST_PATH.format(user="all", app="login")
    status, content = raw_get(sandbox, path)
    assert status == 401
    assert json.loads(content)["error"]["errors"][0]["reason"] == "required"
    status, content = raw_get(sandbox, path, token="ya29.forged")
    assert status == 401
    error = json.loads(content)["error"]
    assert error["status"] == "UNAUTHENTICATED"
    assert error["errors"][0]["reason"] == "authError"


def test_a_token_without_the_audit_scope_is_forbidden(sandbox: SandboxServer) -> None:
    service = reports_service(sandbox, scopes=[GOOGLE_DIRECTORY_USER_READONLY_SCOPE])
    with pytest.raises(HttpError) as caught:
        service.activities().list(userKey="all", applicationName="login").execute()
    assert caught.value.resp.status == 403
    assert error_of(caught.value)["errors"][0]["reason"] == "insufficientPermissions"  # type: ignore[index]


def test_a_non_admin_subject_cannot_read_activity_records(sandbox: SandboxServer, org: Org) -> None:
    add_person(org, "carol")
    service = reports_service(sandbox, subject="carol@example.com")
    with pytest.raises(HttpError) as caught:
        service.activities().list(userKey="all", applicationName="login").execute()
    assert caught.value.resp.status == 401
    assert "not authorized to read activity records" in str(error_of(caught.value)["message"])


def test_a_revoked_token_is_refreshed_transparently(seeded: Org, sandbox: SandboxServer) -> None:
    service = reports_service(sandbox)
    assert "items" in service.activities().list(userKey="all", applicationName="login").execute()
    with seeded.lock:
        seeded.credentials.google_access_tokens.clear()
    again = service.activities().list(userKey="all", applicationName="login").execute()
    assert len(again["items"]) == 11
    assert len(seeded.credentials.google_access_tokens) == 1


def test_injected_server_errors_carry_googles_envelope(sandbox: SandboxServer, knobs: Knobs) -> None:
    service = reports_service(sandbox)
    request = service.activities().list(userKey="all", applicationName="login")
    knobs.set("google.activities.list", fault_rate=1.0, faults=("503",))
    with pytest.raises(HttpError) as caught:
        request.execute()
    assert caught.value.resp.status == 503
    assert error_of(caught.value)["status"] == "UNAVAILABLE"
    assert knobs.injected["google.activities.list:503"] == 1
    knobs.clear()
    assert request.execute()["kind"] == "admin#reports#activities"


def test_old_activities_past_retention_are_not_served(org: Org, sandbox: SandboxServer) -> None:
    person = add_person(org, "dave")
    org.reports.append(login_activity(org, person.email, org.now() - timedelta(days=200)))
    org.reports.append(login_activity(org, person.email, org.now() - timedelta(days=10)))
    service = reports_service(sandbox)
    result = service.activities().list(userKey=person.email, applicationName="login").execute()
    assert len(result["items"]) == 1
    start = quote(rfc3339(datetime.now(UTC) + timedelta(days=1)))
    status, _ = raw_get(
        sandbox, LIST_PATH.format(user="all", app="login") + f"?startTime={start}", token=admin_token(sandbox)
    )
    assert status == 400
