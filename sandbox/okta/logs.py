"""System Log API of the fake Okta: GET /api/v1/logs over millions of stored events.

Faithful to https://developer.okta.com/docs/reference/api/system-log/ ("List events"):
- `since` (default 7 days before `until`), `until` (default now), `after` (opaque cursor from rel="next"),
  `filter` (SCIM: all operators but `[ ]`; not on `published`), `q` (keywords, all must match exactly,
  case-insensitive, hyphenated values also split; at most 10 keywords of 40 characters), `sortOrder`
  (ASCENDING default, DESCENDING), `limit` (0 to 1000, default 100; larger values are capped at 1000).
- Polling requests (no `until`, ASCENDING) follow persistence order and ALWAYS carry a rel="next" link, even
  on an empty page; bounded requests (with `until`) follow `published` and have no next link on the last page.
- Retention: nothing older than 90 days is returned; such queries still succeed. A `since` more than 180 days
  back is refused with E0000053 "Invalid parameter: The since parameter is over 180 days prior to the
  current day."; malformed dates get E0000001 with one errorCause per problem, bad filters E0000053 or
  E0000031, as in the page's "Errors" section.
The cursor is "<published epoch ms>_<seq>" (Okta's look like "1648112954504_1"). Cheap parts of the filter
(eventType eq/sw, actor.id, actor.alternateId, target.id eq) narrow the SQL scan on indexed columns; the full
filter and keywords run in Python on those candidates, and one request scans at most `MAX_SCAN` rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web

from sandbox.okta.errors import OktaError, validation_failed
from sandbox.okta.filters import (
    And,
    Compare,
    Dialect,
    FilterError,
    Node,
    Or,
    equality_terms,
    evaluate,
    parse,
    parse_date,
    path_getter,
)
from sandbox.okta.users import base_url
from sandbox.org import Org, iso
from sandbox.systemlog import StoredEvent

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
DEFAULT_WINDOW = timedelta(days=7)
RETENTION = timedelta(days=90)
MAX_SINCE_AGE = timedelta(days=180)
MAX_SCAN = 20_000  # rows examined per request when a filter or keywords run in Python
BATCH = 2_000
MAX_KEYWORDS = 10
MAX_KEYWORD_LENGTH = 40

LOG_DIALECT = Dialect(
    any_attribute=True,
    allow_not=True,
    forbidden_attributes=frozenset({"published"}),
    unsupported_pairs=frozenset({("co", "debugContext.debugData.url"), ("co", "debugContext.debugData.requestUri")}),
)


@dataclass(frozen=True)
class Cursor:
    published: str
    seq: int

    def encode(self) -> str:
        ms = int(parse_date(self.published).timestamp() * 1000)
        return f"{ms}_{self.seq}"

    @classmethod
    def decode(cls, raw: str) -> Cursor:
        m = re.fullmatch(r"(\d{1,15})_(\d{1,18})", raw)
        if m is None:
            raise OktaError(
                400, "E0000029", "Invalid paging request. Ensure the pagination cursor has not been altered"
            )
        published = iso(datetime.fromtimestamp(int(m.group(1)) / 1000, tz=UTC))
        return cls(published, int(m.group(2)))

    @classmethod
    def of(cls, event: StoredEvent) -> Cursor:
        return cls(event.published, event.seq)


def _parse_time(name: str, raw: str) -> datetime:
    try:
        return parse_date(raw)
    except ValueError:
        raise OktaError(
            400,
            "E0000001",
            f"Api validation failed: '{name}': The date format in your query is not recognized. Please enter dates "
            f"using ISO8601 string format.. '{name}': must be a valid date-time or empty.",
            causes=[
                f"{name}: The date format in your query is not recognized. "
                "Please enter dates using ISO8601 string format.",
                f"{name}: must be a valid date-time or empty.",
            ],
        ) from None


def _keywords(raw: str | None) -> list[str]:
    if raw is None:
        return []
    words = [w.lower() for w in raw.split()]
    if any(len(w) > MAX_KEYWORD_LENGTH for w in words) or len(words) > MAX_KEYWORDS:
        raise OktaError(
            400,
            "E0000001",
            "Api validation failed: 'q': Freeform search cannot contain items longer than 40 characters. Please "
            "shorten the items in your search or use an advanced filter to query by specific fields.",
        )
    return words


def _tokens(value: object, out: set[str]) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _tokens(v, out)
    elif isinstance(value, list):
        for v in value:
            _tokens(v, out)
    elif isinstance(value, str):
        lowered = value.lower()
        out.add(lowered)
        for word in lowered.split():
            out.add(word)
            if "-" in word:
                out.update(p for p in word.split("-") if p)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        out.add(str(value))


def _keywords_match(event: dict[str, object], keywords: list[str]) -> bool:
    tokens: set[str] = set()
    _tokens(event, tokens)
    return all(k in tokens for k in keywords)


def _pushdown(node: Node | None) -> dict[str, list[str]]:
    """SQL-side narrowing implied by the filter (a superset of the matches)."""
    if node is None:
        return {}
    constraints: dict[str, list[str]] = {}
    for attr, key in (
        ("eventType", "event_types"),
        ("actor.id", "actor_ids"),
        ("actor.alternateId", "actor_alternate_ids"),
        ("target.id", "target_ids"),
    ):
        terms = equality_terms(node, attr)
        if terms:
            constraints[key] = sorted(terms)
    if "event_types" not in constraints:
        prefixes = _prefix_terms(node)
        if prefixes:
            constraints["event_type_prefixes"] = sorted(prefixes)
    return constraints


def _prefix_terms(node: Node) -> set[str] | None:
    """`eventType sw "x"` (or an `or` of them, or one inside an `and`) -> the prefixes."""
    if isinstance(node, Compare):
        if node.attr == "eventType" and node.op in ("sw", "eq") and isinstance(node.value, str):
            return {node.value}
        return None
    if isinstance(node, Or):
        union: set[str] = set()
        for part in node.parts:
            terms = _prefix_terms(part)
            if terms is None:
                return None
            union |= terms
        return union
    if isinstance(node, And):
        for part in node.parts:
            terms = _prefix_terms(part)
            if terms is not None:
                return terms
    return None


class LogsApi:
    def __init__(self, org: Org) -> None:
        self.org = org

    async def list_events(self, request: web.Request) -> web.Response:
        """GET /api/v1/logs."""
        query = request.query
        now = self.org.now()
        until = _parse_time("until", query["until"]) if query.get("until") else None
        since = _parse_time("since", query["since"]) if query.get("since") else (until or now) - DEFAULT_WINDOW
        if since < now - MAX_SINCE_AGE:
            raise OktaError(
                400, "E0000053", "Invalid parameter: The since parameter is over 180 days prior to the current day."
            )
        order = query.get("sortOrder", "ASCENDING")
        if order not in ("ASCENDING", "DESCENDING"):
            raise validation_failed("sortOrder: must be one of ASCENDING, DESCENDING", field="sortOrder")
        descending = order == "DESCENDING"
        limit = _limit(query.get("limit"))
        keywords = _keywords(query.get("q"))
        node: Node | None = None
        if query.get("filter"):
            node = _parse_filter(query["filter"])
        after = Cursor.decode(query["after"]) if query.get("after") else None
        polling = until is None and not descending
        retention_floor = iso(now - RETENTION)
        pushdown = _pushdown(node)
        python_filter = node is not None or bool(keywords)
        store = self.org.system_log

        # Polling follows persistence order (seq) from the first event published at or after `since`;
        # bounded and descending requests follow (published, seq) within [since, until).
        last: Cursor | None = after
        if polling and last is None:
            first = store.first_seq_since(iso(since))
            last = Cursor(iso(since), first - 1 if first is not None else store.last_seq())
        matches: list[StoredEvent] = []
        scanned = 0
        exhausted = False
        while limit and len(matches) < limit and scanned < MAX_SCAN:
            want = BATCH if python_filter else limit - len(matches)
            if polling:
                assert last is not None
                rows = store.scan_persisted(after_seq=last.seq, min_published=retention_floor, limit=want, **pushdown)
            else:
                rows = store.scan(
                    since=max(iso(since), retention_floor),
                    until=iso(until) if until is not None else None,
                    after=(last.published, last.seq) if last else None,
                    descending=descending,
                    limit=want,
                    **pushdown,
                )
            for row in rows:
                scanned += 1
                last = Cursor.of(row)
                if python_filter and not self._matches(row, node, keywords):
                    continue
                matches.append(row)
                if len(matches) == limit:
                    break
            if len(rows) < want and (not rows or last == Cursor.of(rows[-1])):
                exhausted = True
                break
        body = "[" + ",".join(row.body for row in matches) + "]"
        response = web.Response(text=body, content_type="application/json")
        base = base_url(request)
        response.headers.add("Link", f'<{base}{request.path_qs}>; rel="self"')
        if (polling or not exhausted) and last is not None:
            next_query = dict(query)
            next_query["after"] = last.encode()
            response.headers.add("Link", f'<{base}{request.url.with_query(next_query).path_qs}>; rel="next"')
        return response

    @staticmethod
    def _matches(row: StoredEvent, node: Node | None, keywords: list[str]) -> bool:
        if keywords:
            lowered = row.body.lower()
            if not all(k in lowered for k in keywords):
                return False  # cheap reject before parsing
        event = row.as_dict()
        if node is not None and not evaluate(node, path_getter(event), LOG_DIALECT):
            return False
        return not keywords or _keywords_match(event, keywords)


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise validation_failed("limit: must be an integer between 0 and 1000", field="limit") from None
    if value < 0:
        raise validation_failed("limit: must be an integer between 0 and 1000", field="limit")
    return min(value, MAX_LIMIT)


def _parse_filter(expr: str) -> Node:
    try:
        return parse(expr, LOG_DIALECT)
    except FilterError as exc:
        if exc.kind == "unsupported":
            raise OktaError(400, "E0000031", str(exc)) from exc
        if exc.kind == "attribute":
            raise OktaError(400, "E0000053", str(exc)) from exc
        raise OktaError(400, "E0000053", f"Invalid filter '{expr}': {exc}") from exc
