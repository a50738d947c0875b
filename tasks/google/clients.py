"""Settings -> a Google Admin SDK Reports client (service account with domain-wide delegation).

httplib2 keeps its own CA list (FACTS.md): the configured CA bundle is handed to it explicitly, and the
same Http object carries the token refreshes, so nothing is ever fetched without verification.
"""

from __future__ import annotations

from typing import Any

import httplib2
from google.oauth2 import service_account
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build

from config.settings import GoogleSettings

REPORTS_SCOPE = "https://www.googleapis.com/auth/admin.reports.audit.readonly"


def reports_service(settings: GoogleSettings, *, timeout_s: float = 60.0) -> Any:
    """`admin` `reports_v1` service; see https://developers.google.com/admin-sdk/reports/v1/get-start/overview"""
    credentials = service_account.Credentials.from_service_account_file(
        str(settings.service_account_file), scopes=[REPORTS_SCOPE], subject=settings.delegated_admin
    )
    ca_certs = str(settings.ca_bundle) if settings.ca_bundle else None
    http = AuthorizedHttp(credentials, http=httplib2.Http(ca_certs=ca_certs, timeout=timeout_s))
    client_options = {"api_endpoint": settings.api_endpoint} if settings.api_endpoint else None
    return build(
        "admin",
        "reports_v1",
        http=http,
        static_discovery=True,
        cache_discovery=False,
        client_options=client_options,
    )
