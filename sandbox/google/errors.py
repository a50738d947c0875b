"""Google's error answers: the JSON error envelope of googleapis.com APIs and the OAuth token endpoint's.

- API errors: {"error": {"code", "message", "errors": [{"message", "domain", "reason", ...}], "status"}}
  (https://cloud.google.com/apis/design/errors#http_mapping and the legacy `errors` list the Admin SDK still
  sends; googleapiclient's HttpError reads `error.message` and `error.errors[].reason`).
- OAuth errors: {"error": "<code>", "error_description": "..."} (RFC 6749 section 5.2), as
  https://oauth2.googleapis.com/token answers; google-auth raises RefreshError with that body.
"""

from __future__ import annotations

import json

from aiohttp import web

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_AUTH_HELP = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)


def api_error(
    code: int,
    message: str,
    reason: str,
    *,
    domain: str = "global",
    location: tuple[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    detail: dict[str, str] = {"message": message, "domain": domain, "reason": reason}
    if location is not None:
        detail["location"], detail["locationType"] = location
    body = {"error": {"code": code, "message": message, "errors": [detail], "status": _STATUS[code]}}
    return web.json_response(body, status=code, headers=headers, dumps=json.dumps)


def missing_credentials() -> web.Response:
    return web.Response(
        status=401,
        content_type="application/json",
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
        text=json.dumps(
            {
                "error": {
                    "code": 401,
                    "message": "Request is missing required authentication credential. " + _AUTH_HELP,
                    "errors": [
                        {
                            "message": "Login Required.",
                            "domain": "global",
                            "reason": "required",
                            "location": "Authorization",
                            "locationType": "header",
                        }
                    ],
                    "status": "UNAUTHENTICATED",
                }
            }
        ),
    )


def invalid_credentials() -> web.Response:
    return api_error(
        401,
        "Request had invalid authentication credentials. " + _AUTH_HELP,
        "authError",
        location=("Authorization", "header"),
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
    )


def insufficient_scopes() -> web.Response:
    return api_error(
        403,
        "Request had insufficient authentication scopes.",
        "insufficientPermissions",
        headers={
            "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="insufficient_scope", '
            'scope="https://www.googleapis.com/auth/admin.reports.audit.readonly"'
        },
    )


def invalid_argument(message: str) -> web.Response:
    return api_error(400, message, "invalid")


def server_error(status: int) -> web.Response:
    """The 5xx answers the knobs inject (backendError is what googleapis.com sends for both)."""
    messages = {
        500: "Internal error encountered.",
        503: "The service is currently unavailable.",
        504: "The request timed out. Please try again.",
    }
    return api_error(status, messages.get(status, "Internal error encountered."), "backendError")


def oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)
