"""Minimal Block Kit validation for chat.postMessage / chat.update, so malformed notifications fail as on Slack.

Per https://docs.slack.dev/reference/block-kit/blocks: `blocks` is a JSON array of at most 50 block objects
(https://docs.slack.dev/messaging#payloads says "up to 50 blocks" per message), each with a known `type`,
an optional `block_id` of at most 255 characters; text objects (https://docs.slack.dev/reference/block-kit/composition-objects/text-object)
are `plain_text` or `mrkdwn` with a `text` of 1..3000 characters; a section needs `text` or `fields`
(at most 10), a header a `plain_text` of at most 150 characters. Slack answers `invalid_blocks_format` when
`blocks` is not a JSON array and `invalid_blocks` when a block is not valid; only those checks are made.
"""

from __future__ import annotations

import json
from typing import Any

MAX_BLOCKS = 50
BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)


class BlocksError(Exception):
    """`code` is the Slack error string ("invalid_blocks" or "invalid_blocks_format")."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _text_object(value: object, where: str, *, plain_only: bool = False, max_len: int = 3000) -> None:
    if not isinstance(value, dict):
        raise BlocksError("invalid_blocks", f"{where} must be a text object")
    kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if value.get("type") not in kinds:
        raise BlocksError("invalid_blocks", f"{where}.type must be one of {', '.join(kinds)}")
    text = value.get("text")
    if not isinstance(text, str) or not 1 <= len(text) <= max_len:
        raise BlocksError("invalid_blocks", f"{where}.text must be 1..{max_len} characters")


def _block(block: object, index: int) -> None:
    where = f"blocks[{index}]"
    if not isinstance(block, dict):
        raise BlocksError("invalid_blocks", f"{where} must be an object")
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        raise BlocksError("invalid_blocks", f"{where}.type {kind!r} is not a known block type")
    block_id = block.get("block_id")
    if block_id is not None and (not isinstance(block_id, str) or len(block_id) > 255):
        raise BlocksError("invalid_blocks", f"{where}.block_id must be a string of at most 255 characters")
    if kind == "section":
        fields = block.get("fields")
        if "text" not in block and not fields:
            raise BlocksError("invalid_blocks", f"{where} needs text or fields")
        if "text" in block:
            _text_object(block["text"], f"{where}.text")
        if fields is not None:
            if not isinstance(fields, list) or len(fields) > 10:
                raise BlocksError("invalid_blocks", f"{where}.fields must be a list of at most 10")
            for n, item in enumerate(fields):
                _text_object(item, f"{where}.fields[{n}]", max_len=2000)
    elif kind == "header":
        _text_object(block.get("text"), f"{where}.text", plain_only=True, max_len=150)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
            raise BlocksError("invalid_blocks", f"{where}.elements must be a list of 1..10")


def parse_blocks(raw: object) -> list[dict[str, Any]] | None:
    """The validated blocks of a request (a JSON array, or its text in a form post); None if absent."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise BlocksError("invalid_blocks_format", "blocks is not valid JSON") from exc
    if not isinstance(raw, list):
        raise BlocksError("invalid_blocks_format", "blocks must be a JSON array")
    if len(raw) > MAX_BLOCKS:
        raise BlocksError("invalid_blocks", f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for index, block in enumerate(raw):
        _block(block, index)
    return [dict(block) for block in raw]
