"""The fake Slack Web API: the methods holdfast uses to notify people and IT, and to read back what it sent.

Served at /api/<method> for slack_sdk.WebClient(base_url=".../api/"). Behaviour per the method reference
pages (https://docs.slack.dev/reference/methods/<method>) and https://docs.slack.dev/apis/web-api/:
- every answer is HTTP 200 with {"ok": true, ...} or {"ok": false, "error": "<code>"}, except rate limiting
  (HTTP 429, `Retry-After`, "ratelimited"; see sandbox.slack.limits) and injected server faults;
- the token comes in `Authorization: Bearer` (or a `token` argument in a form post or the query string):
  none gives `not_authed`, a wrong one `invalid_auth`;
- auth.test: the bot's identity (team "holdfast sandbox", user "holdfast", from the Org);
- users.lookupByEmail: `users_not_found` for an unknown address;
- conversations.open (users=U...): the 1:1 DM channel "D..." (the same one each time, then with
  "no_op"/"already_open"); `user_not_found`, `user_disabled`, `users_list_not_supplied`;
- chat.postMessage (channel id, #name, DM id, or a user id which posts to the bot's DM with them):
  `channel_not_found`, `not_in_channel` (a channel the bot was not invited to), `no_text` (neither text
  nor blocks nor attachments), `msg_too_long` (text over 40,000 characters: the limit Slack documents,
  past which it truncates), `invalid_blocks` / `invalid_blocks_format` (sandbox.slack.blocks); answers
  {"channel", "ts", "message"} and stores a SlackMessage in `org.slack_messages`;
- conversations.history (channel, limit <= 999, cursor, oldest, latest, inclusive), newest first, with
  `response_metadata.next_cursor` while `has_more`; `invalid_cursor`, `not_in_channel`;
- chat.update (channel, ts, text/blocks): `message_not_found`, `cant_update_message`.
Multi-person DMs, threads, attachments' contents and scopes are not modelled. Route names are
"slack.<method>" for the knobs; injected 5xx answers are JSON {"ok": false, "error": ...}.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, cast

from aiohttp import web
from aiohttp.typedefs import Middleware

from sandbox.knobs import Knobs, knobs_middleware
from sandbox.org import Org, SlackMessage, SlackUser
from sandbox.slack.blocks import BlocksError, parse_blocks
from sandbox.slack.limits import RateLimiter, SlackLimits

MAX_TEXT = 40_000
HISTORY_MAX_LIMIT = 999
HISTORY_DEFAULT_LIMIT = 100

SLACK_LIMITS = web.AppKey("slack_limits", SlackLimits)
SLACK_RATE_LIMITER = web.AppKey("slack_rate_limiter", RateLimiter)

Args = dict[str, Any]
MethodHandler = Callable[[Args], Awaitable[web.Response]]


def ok(**fields: Any) -> web.Response:
    return web.json_response({"ok": True, **fields})


def fail(error: str, **fields: Any) -> web.Response:
    return web.json_response({"ok": False, "error": error, **fields})


def server_error(status: int) -> web.Response:
    """Injected 5xx answers (Slack documents internal_error / service_unavailable / request_timeout)."""
    codes = {500: "internal_error", 503: "service_unavailable", 504: "request_timeout"}
    return web.json_response({"ok": False, "error": codes.get(status, "internal_error")}, status=status)


async def read_args(request: web.Request) -> Args:
    """Arguments from the query string and the body (form-encoded, multipart or JSON), as Slack reads them."""
    args: Args = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                # Slack reads the token of a JSON post only from the Authorization header.
                body.pop("token", None)
                args.update(body)
        else:
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
    return args


def _ts_key(ts: str) -> tuple[int, int] | None:
    secs, _, micro = ts.partition(".")
    if not secs.isdigit() or (micro and not micro.isdigit()):
        return None
    return int(secs), int(micro.ljust(6, "0")[:6]) if micro else 0


class SlackWorkspace:
    """The request handlers, sharing the org's Slack state."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.limiter = RateLimiter(lambda: org.slack_limits)
        self._last_ts: dict[str, tuple[int, int]] = {}

    # -- helpers ---------------------------------------------------------------------------------------

    def bot_profile(self) -> dict[str, Any]:
        org = self.org
        return {
            "id": org.slack_bot_id,
            "app_id": org.slack_app_id,
            "name": org.slack_bot_name,
            "icons": {},
            "deleted": False,
            "updated": 0,
            "team_id": org.slack_team_id,
        }

    def user_json(self, user: SlackUser) -> dict[str, Any]:
        org = self.org
        return {
            "id": user.id,
            "team_id": org.slack_team_id,
            "name": user.name,
            "deleted": user.deleted,
            "real_name": user.real_name,
            "tz": "Etc/UTC",
            "tz_label": "Coordinated Universal Time",
            "tz_offset": 0,
            "profile": {
                "real_name": user.real_name,
                "real_name_normalized": user.real_name,
                "display_name": user.name,
                "display_name_normalized": user.name,
                "email": user.email,
                "team": org.slack_team_id,
            },
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": user.is_bot,
            "is_app_user": False,
            "updated": 0,
        }

    def message_json(self, message: SlackMessage) -> dict[str, Any]:
        org = self.org
        if message.user is not None:  # a person's message: no bot fields
            return {
                "user": message.user,
                "type": "message",
                "ts": message.ts,
                "text": message.text,
                "team": org.slack_team_id,
            }
        body: dict[str, Any] = {
            "user": org.slack_bot_user_id,
            "type": "message",
            "ts": message.ts,
            "bot_id": org.slack_bot_id,
            "app_id": org.slack_app_id,
            "text": message.text,
            "team": org.slack_team_id,
            "bot_profile": self.bot_profile(),
        }
        if message.blocks is not None:
            body["blocks"] = message.blocks
        return body

    def open_im(self, user_id: str) -> tuple[str, bool]:
        """The bot's DM channel with `user_id` and whether it already existed. Call under org.lock."""
        existing = self.org.slack_ims.get(user_id)
        if existing is not None:
            return existing, True
        digest = hashlib.sha1(f"{self.org.slack_team_id}/{user_id}".encode()).hexdigest().upper()
        channel = "D" + digest[:10]
        self.org.slack_ims[user_id] = channel
        return channel, False

    def resolve_channel(self, raw: str, *, open_dm: bool) -> tuple[str | None, str | None]:
        """(channel id, error) for a channel argument: an id, a #name, a DM id, or (posting) a user id."""
        org = self.org
        with org.lock:
            name = raw.removeprefix("#")
            channel = raw if raw in org.slack_channels else None
            if channel is None:
                channel = next((cid for cid, cname in org.slack_channels.items() if cname == name), None)
            if channel is not None:
                if channel in org.slack_channels_without_bot:
                    return None, "not_in_channel"
                return channel, None
            if raw in org.slack_ims.values():
                return raw, None
            user = org.slack_users.get(raw)
            if open_dm and user is not None and not user.deleted:
                return self.open_im(user.id)[0], None
        return None, "channel_not_found"

    def next_ts(self, channel: str) -> str:
        """A message timestamp, unique and increasing within the channel as Slack's are."""
        now = self.org.now()
        key = (int(now.timestamp()), now.microsecond)
        last = self._last_ts.get(channel)
        if last is not None and key <= last:
            secs, micro = last
            key = (secs + 1, 0) if micro >= 999_999 else (secs, micro + 1)
        self._last_ts[channel] = key
        return f"{key[0]}.{key[1]:06d}"

    @staticmethod
    def content(args: Args) -> tuple[str, list[dict[str, Any]] | None, web.Response | None]:
        """(text, blocks, error answer) of a message-posting call."""
        try:
            blocks = parse_blocks(args.get("blocks"))
        except BlocksError as exc:
            return "", None, fail(exc.code, errors=[exc.detail], response_metadata={"messages": [
                f"[ERROR] {exc.detail}"
            ]})  # fmt: skip
        text = args.get("text")
        text = "" if text is None else str(text)
        attachments = args.get("attachments")
        if not text and not blocks and not attachments:
            return "", None, fail("no_text")
        if len(text) > MAX_TEXT:
            return "", None, fail("msg_too_long")
        return text, blocks, None

    # -- methods ---------------------------------------------------------------------------------------

    async def auth_test(self, args: Args) -> web.Response:
        org = self.org
        return ok(
            url=f"https://{org.slack_team_domain}.slack.com/",
            team=org.slack_team_name,
            user=org.slack_bot_name,
            team_id=org.slack_team_id,
            user_id=org.slack_bot_user_id,
            bot_id=org.slack_bot_id,
            is_enterprise_install=False,
        )

    async def users_lookup_by_email(self, args: Args) -> web.Response:
        email = str(args.get("email", "")).strip()
        if not email:
            return fail("invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: email"]})
        with self.org.lock:
            user = next((u for u in self.org.slack_users.values() if u.email.lower() == email.lower()), None)
            if user is None:
                return fail("users_not_found")
            return ok(user=self.user_json(user))

    async def conversations_open(self, args: Args) -> web.Response:
        org = self.org
        channel_arg = str(args.get("channel", "") or "")
        users = [u.strip() for u in str(args.get("users", "") or "").split(",") if u.strip()]
        with org.lock:
            if not users:
                if not channel_arg:
                    return fail("users_list_not_supplied")
                owner = next((u for u, d in org.slack_ims.items() if d == channel_arg), None)
                if owner is None:
                    return fail("channel_not_found")
                users, channel_arg = [owner], ""
            if len(users) > 8:
                return fail("too_many_users")
            if len(users) > 1:
                # Multi-person DMs are not modelled by the sandbox.
                return fail("method_not_supported_for_channel_type")
            user = org.slack_users.get(users[0])
            if user is None:
                return fail("user_not_found")
            if user.deleted:
                return fail("user_disabled")
            channel, existed = self.open_im(user.id)
        body: dict[str, Any] = {"channel": {"id": channel}}
        if str(args.get("return_im", "")).lower() in ("true", "1"):
            body["channel"] = {
                "id": channel,
                "created": 0,
                "is_im": True,
                "is_org_shared": False,
                "user": user.id,
                "is_user_deleted": False,
                "priority": 0,
            }
        if existed:
            body.update(no_op=True, already_open=True)
        return ok(**body)

    async def chat_post_message(self, args: Args) -> web.Response:
        raw = str(args.get("channel", "") or "")
        if not raw:
            return fail("channel_not_found")
        channel, error = self.resolve_channel(raw, open_dm=True)
        if channel is None:
            return fail(error or "channel_not_found")
        text, blocks, problem = self.content(args)
        if problem is not None:
            return problem
        org = self.org
        with org.lock:
            message = SlackMessage(
                channel=channel, ts=self.next_ts(channel), text=text, blocks=blocks, posted_at=org.now()
            )
            org.slack_messages.append(message)
        return ok(channel=channel, ts=message.ts, message=self.message_json(message))

    async def chat_update(self, args: Args) -> web.Response:
        raw = str(args.get("channel", "") or "")
        channel, error = self.resolve_channel(raw, open_dm=False)
        if channel is None:
            return fail(error or "channel_not_found")
        ts = str(args.get("ts", "") or "")
        text, blocks, problem = self.content(args)
        org = self.org
        with org.lock:
            message = next((m for m in org.slack_messages if m.channel == channel and m.ts == ts), None)
            if message is None:
                return fail("message_not_found")
            if problem is not None:
                return problem
            message.text = text
            message.blocks = blocks
        return ok(channel=channel, ts=ts, text=text, message=self.message_json(message))

    async def conversations_history(self, args: Args) -> web.Response:
        raw = str(args.get("channel", "") or "")
        channel, error = self.resolve_channel(raw, open_dm=False)
        if channel is None:
            return fail(error or "channel_not_found")
        try:
            limit = int(args.get("limit", HISTORY_DEFAULT_LIMIT) or HISTORY_DEFAULT_LIMIT)
        except ValueError:
            limit = HISTORY_DEFAULT_LIMIT
        limit = max(1, min(limit, HISTORY_MAX_LIMIT))
        inclusive = str(args.get("inclusive", "")).lower() in ("true", "1")
        oldest = _ts_key(str(args.get("oldest", "0") or "0"))
        if oldest is None:
            return fail("invalid_ts_oldest")
        latest: tuple[int, int] | None = None
        if args.get("latest"):
            latest = _ts_key(str(args["latest"]))
            if latest is None:
                return fail("invalid_ts_latest")
        before: tuple[int, int] | None = None
        cursor = str(args.get("cursor", "") or "")
        if cursor:
            before = _decode_cursor(cursor)
            if before is None:
                return fail("invalid_cursor")
        with self.org.lock:
            candidates = [m for m in self.org.slack_messages if m.channel == channel]
        selected: list[tuple[tuple[int, int], SlackMessage]] = []
        for message in candidates:
            key = _ts_key(message.ts)
            assert key is not None
            if key < oldest or (key == oldest and not inclusive and oldest != (0, 0)):
                continue
            if latest is not None and (key > latest or (key == latest and not inclusive)):
                continue
            if before is not None and key >= before:
                continue
            selected.append((key, message))
        selected.sort(key=lambda pair: pair[0], reverse=True)
        page, more = selected[:limit], len(selected) > limit
        body: dict[str, Any] = {
            "messages": [self.message_json(m) for _, m in page],
            "has_more": more,
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
        }
        if more:
            body["response_metadata"] = {"next_cursor": _encode_cursor(page[-1][0])}
        return ok(**body)

    def handlers(self) -> dict[str, MethodHandler]:
        return {
            "auth.test": self.auth_test,
            "users.lookupByEmail": self.users_lookup_by_email,
            "conversations.open": self.conversations_open,
            "conversations.history": self.conversations_history,
            "chat.postMessage": self.chat_post_message,
            "chat.update": self.chat_update,
        }

    def route(self, method: str, handler: MethodHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
        """Authenticate, apply the rate limit, then run the method."""

        async def serve(request: web.Request) -> web.Response:
            args = await read_args(request)
            scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
            token = credential.strip() if scheme.lower() == "bearer" else ""
            token = token or str(args.pop("token", "") or "")
            if not token:
                return fail("not_authed")
            if token != self.org.credentials.slack_bot_token:
                return fail("invalid_auth")
            channel = str(args.get("channel", "") or "") if method == "chat.postMessage" else None
            retry_after = self.limiter.check(method, channel)
            if retry_after is not None:
                return web.json_response(
                    {"ok": False, "error": "ratelimited"},
                    status=429,
                    headers={"Retry-After": str(retry_after)},
                )
            return await handler(args)

        return serve


def _encode_cursor(key: tuple[int, int]) -> str:
    return base64.b64encode(f"next_ts:{key[0]}.{key[1]:06d}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[int, int] | None:
    try:
        text = base64.b64decode(cursor, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not text.startswith("next_ts:"):
        return None
    return _ts_key(text.removeprefix("next_ts:"))


async def unknown_method(request: web.Request) -> web.Response:
    return fail("unknown_method", req_method=request.match_info.get("method", ""))


def create_app(org: Org, knobs: Knobs) -> web.Application:
    # cast: knobs_middleware is typed as a plain callable; aiohttp's Middleware is a protocol.
    app = web.Application(middlewares=[cast(Middleware, knobs_middleware(knobs, server_error))])
    workspace = SlackWorkspace(org)
    app[SLACK_LIMITS] = org.slack_limits
    app[SLACK_RATE_LIMITER] = workspace.limiter
    for method, handler in workspace.handlers().items():
        app.router.add_route("*", f"/api/{method}", workspace.route(method, handler), name=f"slack.{method}")
    app.router.add_route("*", "/api/{method}", unknown_method, name="slack.unknown")
    return app
