"""Okta System Log reads: one page of `/api/v1/logs` per call, raw events as received.

Polling semantics (https://developer.okta.com/docs/reference/api/system-log/#polling-requests): `since` and
no `until`; the response always carries a `next` link, and an empty page means "caught up". The `next`
link's `after` cursor is what holdfast stores to resume exactly where it stopped.
The SDK's typed `list_log_events` is not used here: it drops unknown fields and fails a whole page on one
malformed event, and evidence must be kept exactly as received. Each page becomes evidence records as it
arrives (store.records.okta_records): exact text plus columns, bad events flagged, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from okta.client import Client

from playbook.when import okta_time
from store.records import EvidenceRecord, okta_records
from tasks.okta import buckets
from tasks.okta.calls import RetryPolicy, relative_path, send
from tasks.okta.ratelimit import RateLimiter

LOGS_BUCKET = buckets.LOGS
MAX_PAGE = 1000  # Okta's maximum `limit` for /api/v1/logs


@dataclass(frozen=True)
class LogPage:
    records: list[EvidenceRecord]  # one per event, text as received; a body that is not an array is one
    next_path: str | None  # path + query of the `next` link (holds the `after` cursor)
    request_id: str | None

    @property
    def empty(self) -> bool:
        return not self.records


def first_page_path(since: datetime, *, limit: int = MAX_PAGE) -> str:
    """A polling request: since, no until, oldest first."""
    query = urlencode({"since": okta_time(since), "limit": limit, "sortOrder": "ASCENDING"})
    return f"/api/v1/logs?{query}"


async def fetch_log_page(
    client: Client, limiter: RateLimiter, path: str, policy: RetryPolicy | None = None, *, received_at: str
) -> LogPage:
    """GET one page. See https://developer.okta.com/docs/api/openapi/okta-management/management/tag/SystemLog/

    `received_at` (Okta time format) stands in for an event's `published` when that is missing or bad.
    """
    response = await send(client, "GET", path, bucket=LOGS_BUCKET, limiter=limiter, policy=policy)
    next_url = response.links.get("next")
    next_path = relative_path(next_url) if next_url else None
    return LogPage(okta_records(response.body, ingested_at=received_at), next_path, response.request_id)
