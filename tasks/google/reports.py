"""Google Workspace Reports: activities of the applications the playbook corroborates against.

`activities.list` returns newest first, paged by pageToken
(https://developers.google.com/admin-sdk/reports/reference/rest/v1/activities/list). Gmail logs require
startTime and endTime at most 30 days apart, so longer windows are read in 30-day slices.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from google.auth.exceptions import GoogleAuthError
from googleapiclient.errors import HttpError

from config.errors import ProviderError
from playbook.when import okta_time

# login: sign-ins; user_accounts: password changes; admin: admin console actions; gmail: reset mail delivery.
APPLICATIONS = ("login", "user_accounts", "admin", "gmail")
GMAIL_MAX_WINDOW = timedelta(days=30)
RETRIES = 5  # googleapiclient retries 429 and 5xx itself with exponential backoff


def _windows(application: str, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    if application != "gmail":
        yield start, end
        return
    cursor = start
    while cursor < end:
        yield cursor, min(cursor + GMAIL_MAX_WINDOW, end)
        cursor += GMAIL_MAX_WINDOW


def _provider_error(err: HttpError) -> ProviderError:
    status = int(err.resp.status)
    reason = err.reason if isinstance(err.reason, str) else "request failed"
    return ProviderError("google", reason, status=status, retryable=status in (429, 500, 502, 503, 504))


def list_activities(
    service: Any, application: str, start: datetime, end: datetime, *, customer_id: str | None = None
) -> list[dict[str, Any]]:
    """Every activity of `application` in [start, end], oldest first (the order the store appends in)."""
    found: list[dict[str, Any]] = []
    activities = service.activities()
    for window_start, window_end in _windows(application, start, end):
        params: dict[str, Any] = {
            "userKey": "all",
            "applicationName": application,
            "startTime": okta_time(window_start),
            "endTime": okta_time(window_end),
            "maxResults": 1000,
        }
        if customer_id and customer_id != "my_customer":
            params["customerId"] = customer_id
        request = activities.list(**params)
        while request is not None:
            try:
                response = request.execute(num_retries=RETRIES)
            except HttpError as err:
                raise _provider_error(err) from None
            except (OSError, TimeoutError) as err:
                raise ProviderError("google", f"connection failed ({type(err).__name__})", retryable=True) from None
            except GoogleAuthError as err:  # the service account's token request failed (token endpoint down, refused)
                retryable = bool(getattr(err, "retryable", False))
                raise ProviderError(
                    "google", f"token request failed ({type(err).__name__})", retryable=retryable
                ) from None
            found.extend(response.get("items", []))
            request = activities.list_next(request, response)
    # Google pages newest first; the store appends oldest first.
    found.sort(key=lambda a: str((a.get("id") or {}).get("time", "")) if isinstance(a, dict) else "")
    return found
