"""Okta's error responses: the JSON error object and the codes the fake returns.

Every Okta API error has the shape {errorCode, errorSummary, errorLink, errorId, errorCauses}
(https://developer.okta.com/docs/reference/error-codes/ and the "Errors" section of
https://developer.okta.com/docs/reference/api-overview/); `errorLink` repeats the code. Handlers raise
`OktaError`; the app's outer middleware renders it.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Mapping, Sequence

from aiohttp import web

_ALPHABET = string.ascii_letters + string.digits + "_-"

# Summaries as Okta words them (error-code table, System Log and Users API reference pages).
SUMMARIES: dict[str, str] = {
    "E0000001": "Api validation failed",
    "E0000003": "The request body was not well-formed.",
    "E0000006": "You do not have permission to perform the requested action",
    "E0000007": "Not found",
    "E0000008": "The requested path was not found",
    "E0000009": "Internal Server Error",
    "E0000011": "Invalid token provided",
    "E0000016": "Activation failed because the user is already active",
    "E0000022": "The endpoint does not support the provided HTTP method",
    "E0000030": (
        "Bad request. Invalid date. Dates must be of the form yyyy-MM-dd'T'HH:mm:ss.SSSZZ, "
        "e.g. 2013-01-01T12:00:00.000-07:00."
    ),
    "E0000031": "Invalid search criteria.",
    "E0000032": "Unlock is not allowed for this user.",
    "E0000033": "Bad request. Can't specify a search query and filter in the same request.",
    "E0000038": "This operation is not allowed in the user's current status.",
    "E0000047": "API call exceeded rate limit due to too many requests.",
    "E0000053": "Invalid filter",
}


def new_id(prefix: str = "", length: int = 25) -> str:
    """An opaque Okta-style identifier (errorId, X-Okta-Request-Id)."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length - len(prefix)))


class OktaError(Exception):
    """An Okta API error; `causes` become `errorCauses[].errorSummary`."""

    def __init__(
        self,
        status: int,
        code: str,
        summary: str | None = None,
        *,
        causes: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.summary = summary if summary is not None else SUMMARIES.get(code, code)
        self.causes = list(causes)
        self.headers = dict(headers or {})
        super().__init__(f"{status} {code} {self.summary}")

    def body(self) -> dict[str, object]:
        return {
            "errorCode": self.code,
            "errorSummary": self.summary,
            "errorLink": self.code,
            "errorId": new_id("oae"),
            "errorCauses": [{"errorSummary": c} for c in self.causes],
        }

    def response(self) -> web.Response:
        return web.Response(
            status=self.status,
            text=json.dumps(self.body()),
            content_type="application/json",
            headers=self.headers,
        )


def validation_failed(*causes: str, field: str | None = None) -> OktaError:
    """400 E0000001 "Api validation failed: <field>" with one errorCause per problem."""
    summary = f"Api validation failed: {field}" if field else "Api validation failed"
    return OktaError(400, "E0000001", summary, causes=causes)


def not_found(resource_id: str, kind: str) -> OktaError:
    """404 E0000007 as Okta words it: "Not found: Resource not found: <id> (<Type>)"."""
    return OktaError(404, "E0000007", f"Not found: Resource not found: {resource_id} ({kind})")


def server_error(status: int) -> web.Response:
    """The 5xx body for injected faults (knobs): Okta's E0000009 Internal Server Error."""
    summary = "Internal Server Error" if status == 500 else f"Internal Server Error ({status})"
    return OktaError(status, "E0000009", summary).response()
