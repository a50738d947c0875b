"""The fake Google Workspace: the OAuth token endpoint and the Admin SDK Reports API's activities.list.

Built for the real client stack: google.oauth2.service_account.Credentials (with `with_subject` for
domain-wide delegation) refreshing against the key file's `token_uri` (this app's `/token`), and
googleapiclient's `build("admin", "reports_v1", static_discovery=True,
client_options={"api_endpoint": <this app>})` over httplib2 trusting the sandbox CA. Route names
("google.token", "google.activities.list") are what the knobs act on; injected 5xx answers carry Google's
JSON error envelope.
"""

from __future__ import annotations

from typing import cast

from aiohttp import web
from aiohttp.typedefs import Middleware

from sandbox.google.activities import make_list_handler
from sandbox.google.errors import server_error
from sandbox.google.oauth import make_token_handler
from sandbox.knobs import Knobs, knobs_middleware
from sandbox.org import Org
from sandbox.server import GOOGLE_DELEGATED_ADMIN_LOCAL

ACTIVITIES_PATH = "/admin/reports/v1/activity/users/{userKey}/applications/{applicationName}"


def super_admin(org: Org) -> str:
    """The Workspace super admin the sandbox's service account impersonates (HOLDFAST_GOOGLE__DELEGATED_ADMIN)."""
    return f"{GOOGLE_DELEGATED_ADMIN_LOCAL}@{org.domain}"


def create_app(org: Org, knobs: Knobs) -> web.Application:
    # cast: knobs_middleware is typed as a plain callable; aiohttp's Middleware is a protocol.
    app = web.Application(middlewares=[cast(Middleware, knobs_middleware(knobs, server_error))])
    admin = super_admin(org)
    app.router.add_post("/token", make_token_handler(org, admin), name="google.token")
    app.router.add_get(ACTIVITIES_PATH, make_list_handler(org, admin), name="google.activities.list", allow_head=False)
    return app
