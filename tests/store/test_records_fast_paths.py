"""The fast paths of store/records.py give exactly what the careful ones give.

split_json_array cuts an array of objects at `},{` and parses each piece with orjson; okta_record reads a
usual LogEvent in one pass. Both fall back to a careful reader for anything else. These properties hold
each fast path to its reference on hostile input (strings holding the cut itself, braces, nesting, escapes),
and check that the usual input really takes the fast path.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import store.records as records
from sandbox.records import Actor, ClientInfo, EventSpec, Target, okta_log_event
from store.db import make_engine, migrate
from store.records import okta_record, okta_records, split_json_array

STAMP = "2026-12-04T10:00:00.000Z"
_DECODER = json.JSONDecoder()

# Strings that sit exactly where the fast path cuts, or that unbalance its brace count.
hostile = st.sampled_from(["},{", "}, {", '"},{"', "{", "}", "[", "]", "\\", "\\u0000", "é", "\ud800"]) | st.text(
    max_size=8
)
scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | hostile
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile, inner, max_size=3), max_leaves=10
)
objects = st.dictionaries(hostile, values, max_size=5)
layouts = st.sampled_from([{"separators": (",", ":")}, {"separators": (", ", ": ")}, {"indent": 2}, {"indent": "\t"}])


def _reference(text: str) -> list[tuple[str, Any]] | None:
    """Element texts and values, one raw_decode at a time: the standard library's reading of the array."""
    body = text.strip(" \t\n\r")
    if not body.startswith("["):
        return None
    try:
        whole = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(whole, list):
        return None
    found, pos = [], 1
    for _ in whole:
        pos = len(body) - len(body[pos:].lstrip(" \t\n\r,"))  # the next element's start
        value, end = _DECODER.raw_decode(body, pos)
        found.append((body[pos:end], value))
        pos = end
    return found


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@settings(max_examples=400)
@given(items=st.lists(objects, max_size=6), layout=layouts, ascii=st.booleans(), pad=st.sampled_from(["", " \n"]))
def test_an_array_of_objects_splits_into_the_exact_texts_and_values_of_its_elements(
    items: list[dict[str, Any]], layout: dict[str, Any], ascii: bool, pad: str
) -> None:
    text = pad + json.dumps(items, ensure_ascii=ascii, **layout) + pad
    expected = _reference(text)
    got = split_json_array(text)
    assert got is not None and expected is not None
    assert [raw for raw, _ in got] == [raw for raw, _ in expected]
    assert [_canonical(v) for _, v in got] == [_canonical(v) for _, v in expected]


@pytest.mark.parametrize(
    "text",
    ["[{},]", "[,{}]", "[{}", "[{}]]", "[{}] x", "[{},,{}]", '[{"a":1}{"b":2}]', '[{"a":"},{"}', "[1,]"],
)
def test_what_is_not_a_json_array_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        json.loads(text)  # the premise: the standard library refuses it too
    assert split_json_array(text) is None


def test_a_page_that_is_not_an_array_is_kept_whole_as_one_flagged_record() -> None:
    body = '[{"uuid":"u1"},'  # cut off mid-page
    (record,) = okta_records(body, ingested_at=STAMP)
    assert record.raw == body and "malformed" in record.flags


def test_a_page_keeps_every_event_with_its_text_byte_for_byte() -> None:
    events = [_usual_event(n) for n in range(3)]
    body = "[\n  " + ",\n  ".join(json.dumps(e, indent=1) for e in events) + "\n]"
    got = okta_records(body, ingested_at=STAMP)
    assert [r.raw for r in got] == [json.dumps(e, indent=1) for e in events]
    assert [r.uuid for r in got] == [e["uuid"] for e in events]
    assert all(r.flags == () for r in got)


def _usual_event(n: int, *, system: bool = False) -> dict[str, Any]:
    client = (
        ClientInfo()
        if system
        else ClientInfo(ip="203.0.113.9", user_agent="Mozilla/5.0", city="Lisbon", country="Portugal")
    )
    who = Target(f"00u{n:017d}", f"Person{n}@Example.com", f"Person {n}")  # logins keep the case they were given
    return okta_log_event(
        EventSpec(
            event_type="user.account.reset_password",
            published=datetime(2026, 9, 1, 12, 0, n, tzinfo=UTC),
            actor=Actor("0oa1" if system else who.id, "system@okta.com" if system else who.alternate_id, "Okta"),
            targets=(who,),
            client=client,
            uuid=f"{n:08x}-0000-4000-8000-000000000000",
        )
    )


@pytest.mark.parametrize("system", [False, True], ids=["person", "okta-internal (null client objects)"])
def test_the_usual_log_event_takes_the_fast_path(system: bool) -> None:
    event = _usual_event(7, system=system)
    raw = json.dumps(event)
    fast = records._okta_well_formed(event, raw)
    assert fast is not None and fast.flags == ()
    assert fast == records._okta_record_carefully(event, raw=raw, ingested_at=STAMP)


def _mutations(event: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The event with one value anywhere in it replaced by anything (hostile strings, objects, nulls...)."""
    paths: list[tuple[Any, ...]] = []

    def walk(value: Any, path: tuple[Any, ...]) -> None:
        paths.append(path)
        children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, child in children:
            walk(child, (*path, key))

    walk(event, ())

    def put(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
        copy: Any = json.loads(json.dumps(event))
        if not path:
            return value  # type: ignore[no-any-return]
        parent = copy
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value
        return copy  # type: ignore[no-any-return]

    anything = values | st.text(st.characters(codec="ascii"), max_size=12) | st.text(max_size=400)
    return st.builds(put, st.sampled_from(paths), anything | st.sampled_from(["", "a.b", None]))


@settings(max_examples=500)
@given(data=st.data(), system=st.booleans(), ascii=st.booleans())
def test_the_fast_path_reads_any_event_exactly_as_the_careful_path_or_leaves_it(
    data: st.DataObject, system: bool, ascii: bool
) -> None:
    event = data.draw(_mutations(_usual_event(1, system=system)))
    raw = json.dumps(event, ensure_ascii=ascii)
    fast = records._okta_well_formed(event, raw)
    careful = records._okta_record_carefully(event, raw=raw, ingested_at=STAMP)
    assert fast is None or fast == careful
    assert okta_record(event, raw=raw, ingested_at=STAMP) == careful


def test_a_new_sqlite_store_uses_16_kib_pages(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA page_size").fetchone() == (16384,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_the_object_border_only_matches_json_whitespace() -> None:
    assert records._OBJECT_BORDER.fullmatch("} ,\n\t\r{")
    assert not records._OBJECT_BORDER.fullmatch("}\u00a0,{")  # not JSON whitespace
