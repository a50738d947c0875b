"""Fuzzing the evidence parsers (hypothesis): bad input never raises, is never lost, and is flagged.

okta_record / google_record take whatever a provider sends (any JSON value, any text); split_json_array
takes a page body. Properties: no exception; raw is the input, exactly; columns always fit the table;
a well-formed record is not flagged and any one missing or mistyped field is; split_json_array agrees
with json.loads; and fuzzed records appended to a chain still verify.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sandbox.records import Actor, ClientInfo, EventSpec, Target, google_activity, okta_log_event
from store.anchors import Anchor, read_anchors, write_anchor
from store.db import make_engine, migrate, transaction
from store.evidence import append, chain_head, record_hash
from store.records import EvidenceRecord, google_record, okta_record, split_json_array
from store.schema import evidence_events
from store.verify import verify_source

STAMP = "2026-12-04T10:00:00.000Z"
FIXED_WIDTH_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", re.ASCII)
WIDTHS = {"uuid": 128, "event_type": 128, "actor_id": 128, "actor_alternate_id": 320, "actor_type": 64,
          "outcome": 32, "client_ip": 64, "country": 128, "city": 128, "transaction_id": 128}  # fmt: skip

# Any JSON value a provider could send. Strings may hold NUL and lone surrogates ("\ud800" is valid JSON).
any_text = st.text(alphabet=st.characters(codec=None), max_size=24) | st.sampled_from(["", "\x00", "\ud800", "x" * 400])
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=16,
)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC))
okta_times = times.map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z")
maybe = lambda good: good | json_values  # noqa: E731 (a value of the right shape, or anything at all)

# Okta-shaped objects with every field possibly missing, mistyped or hostile: reach the deep branches.
okta_shaped = st.fixed_dictionaries(
    {},
    optional={
        "uuid": maybe(st.uuids().map(str)),
        "published": maybe(okta_times | st.sampled_from(["2026-12-04T10:00:00Z\n", "٢٠٢٦-12-04T10:00:00Z"])),
        "eventType": maybe(st.sampled_from(["user.session.start", "user.account.reset_password", "Bad Type"])),
        "actor": maybe(st.fixed_dictionaries({}, optional={"id": maybe(any_text), "alternateId": maybe(any_text)})),
        "target": maybe(
            st.lists(st.fixed_dictionaries({"type": st.just("User")}, optional={"id": maybe(any_text)}), max_size=3)
        ),
        "client": maybe(
            st.fixed_dictionaries(
                {}, optional={"ipAddress": maybe(any_text), "geographicalContext": maybe(st.just({"city": "x"}))}
            )
        ),
        "outcome": maybe(st.fixed_dictionaries({}, optional={"result": maybe(any_text)})),
        "transaction": maybe(st.fixed_dictionaries({}, optional={"id": maybe(any_text)})),
    },
)
google_shaped = st.fixed_dictionaries(
    {},
    optional={
        "id": maybe(
            st.fixed_dictionaries(
                {}, optional={"time": maybe(okta_times), "uniqueQualifier": maybe(st.integers().map(str))}
            )
        ),
        "actor": maybe(st.fixed_dictionaries({}, optional={"email": maybe(any_text), "profileId": maybe(any_text)})),
        "events": maybe(
            st.lists(
                st.fixed_dictionaries(
                    {}, optional={"name": maybe(any_text), "parameters": maybe(st.lists(json_values, max_size=2))}
                ),
                max_size=3,
            )
        ),
        "ipAddress": maybe(any_text),
    },
)
anything = json_values | okta_shaped | google_shaped

# Well-formed records, as the fakes build them from the vendors' documented shapes.
names = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00 "), min_size=1, max_size=30)


@st.composite
def log_events(draw: st.DrawFn) -> dict[str, Any]:
    who = Target(draw(names), draw(names), draw(names))
    country = draw(st.none() | names)
    spec = EventSpec(
        event_type=draw(
            st.sampled_from(["user.session.start", "user.mfa.factor.update", "system.mfa.factor.deactivate"])
        ),
        published=draw(times),
        actor=Actor(draw(names), draw(names), draw(names)),
        targets=tuple(draw(st.lists(st.just(who), max_size=2))),
        client=ClientInfo(ip=draw(st.none() | names), user_agent=draw(st.none() | names), country=country),
        outcome=draw(st.sampled_from(["SUCCESS", "FAILURE", "DENY"])),
        uuid=str(draw(st.uuids())),
    )
    return okta_log_event(spec)


@st.composite
def activities(draw: st.DrawFn) -> dict[str, Any]:
    return google_activity(
        application=draw(st.sampled_from(["login", "user_accounts", "admin"])),
        time=draw(times),
        actor_email=draw(names),
        actor_profile_id=draw(names),
        customer_id="C03az79cb",
        events=[(draw(names), draw(names), draw(st.dictionaries(names, names | st.integers(), max_size=3)))],
        ip_address=draw(st.none() | names),
        unique_qualifier=str(draw(st.integers())),
        owner_domain="example.com",
    )


def assert_columns_fit(record: EvidenceRecord) -> None:
    assert FIXED_WIDTH_TIME.fullmatch(record.published)
    for name in (*WIDTHS, "target_ids", "target_logins", "user_agent"):
        value = getattr(record, name)
        if value is not None:
            assert len(value) <= WIDTHS.get(name, len(value)), name
            assert "\x00" not in value, name
            value.encode()  # valid UTF-8: no lone surrogates
    assert set(record.flags) <= {"malformed", "oversize", "unknown_event_type", "raw_escaped"}
    record.raw.encode()
    assert "\x00" not in record.raw  # PostgreSQL text cannot hold it


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(value=anything)
def test_any_json_value_becomes_a_record_with_its_exact_text_and_fitting_columns(value: Any) -> None:
    for parse in (okta_record, google_record):
        as_received = json.dumps(value)
        record = parse(value, raw=as_received, ingested_at=STAMP)
        assert record.raw == as_received
        assert_columns_fit(record)
        reserialised = parse(value, ingested_at=STAMP)  # no text from the wire: re-serialised losslessly
        assert json.loads(reserialised.raw) == value
        assert_columns_fit(reserialised)
        if not isinstance(value, dict):
            assert "malformed" in record.flags


@settings(max_examples=300)
@given(text=st.text(alphabet=st.characters(codec="utf-8")))
def test_any_text_becomes_a_record_with_that_exact_text(text: str) -> None:
    for parse in (okta_record, google_record):
        record = parse(text, raw=text, ingested_at=STAMP)
        if "\x00" in text:  # not storable in PostgreSQL text: kept as its JSON string literal, exactly
            assert "raw_escaped" in record.flags and json.loads(record.raw) == text
        else:
            assert record.raw == text and "raw_escaped" not in record.flags
        assert "malformed" in record.flags
        assert_columns_fit(record)


@settings(max_examples=200)
@given(event=log_events())
def test_a_well_formed_log_event_is_not_flagged(event: dict[str, Any]) -> None:
    record = okta_record(event, raw=json.dumps(event), ingested_at=STAMP)
    assert record.flags == ()
    assert record.uuid == event["uuid"] and record.published == event["published"]


@settings(max_examples=200)
@given(activity=activities())
def test_a_well_formed_activity_is_not_flagged(activity: dict[str, Any]) -> None:
    assert google_record(activity, ingested_at=STAMP).flags == ()


OKTA_FIELDS = [  # (path, required, type Okta documents)
    (("uuid",), True, str),
    (("published",), True, str),
    (("eventType",), True, str),
    (("actor",), False, dict),
    (("actor", "id"), False, str),
    (("actor", "alternateId"), False, str),
    (("client",), False, dict),
    (("client", "ipAddress"), False, str),
    (("outcome",), False, dict),
    (("outcome", "result"), False, str),
    (("transaction",), False, dict),
    (("transaction", "id"), False, str),
    (("target",), False, list),
]
GOOGLE_FIELDS = [
    (("id",), True, dict),
    (("id", "time"), True, str),
    (("id", "uniqueQualifier"), True, str),
    (("events",), True, list),
    (("actor",), False, dict),
    (("actor", "email"), False, str),
    (("actor", "profileId"), False, str),
]
WRONG = {str: json_values.filter(lambda v: not isinstance(v, str) and v is not None),
         dict: json_values.filter(lambda v: not isinstance(v, dict) and v is not None),
         list: json_values.filter(lambda v: not isinstance(v, list) and v is not None)}  # fmt: skip


def _damage(body: dict[str, Any], path: tuple[str, ...], value: Any, *, remove: bool) -> dict[str, Any]:
    damaged = json.loads(json.dumps(body))
    parent = damaged
    for key in path[:-1]:
        parent = parent[key]
    if remove:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return damaged


@settings(max_examples=300)
@given(event=log_events(), field=st.sampled_from(OKTA_FIELDS), remove=st.booleans(), data=st.data())
def test_a_missing_or_mistyped_okta_field_is_flagged(
    event: dict[str, Any], field: tuple[tuple[str, ...], bool, type], remove: bool, data: st.DataObject
) -> None:
    path, required, kind = field
    assume(not remove or required)  # an optional field may be absent
    damaged = _damage(event, path, None if remove else data.draw(WRONG[kind]), remove=remove)
    record = okta_record(damaged, raw=json.dumps(damaged), ingested_at=STAMP)
    assert "malformed" in record.flags


@settings(max_examples=300)
@given(activity=activities(), field=st.sampled_from(GOOGLE_FIELDS), remove=st.booleans(), data=st.data())
def test_a_missing_or_mistyped_google_field_is_flagged(
    activity: dict[str, Any], field: tuple[tuple[str, ...], bool, type], remove: bool, data: st.DataObject
) -> None:
    path, required, kind = field
    assume(not remove or required)
    wrong = data.draw(WRONG[kind].filter(lambda v: not isinstance(v, int) or path[-1] != "uniqueQualifier"))
    damaged = _damage(activity, path, None if remove else wrong, remove=remove)
    assert "malformed" in google_record(damaged, ingested_at=STAMP).flags


def test_hostile_values_are_cleaned_in_the_columns_flagged_and_kept_exactly_in_raw() -> None:
    text = '{"uuid":"u1","published":"2026-12-04T10:00:00Z\\n","eventType":"user.session.start",' + (
        '"actor":{"id":"00u\\u0000evil","alternateId":"\\ud800@example.com"},"outcome":{"result":"' + "S" * 40 + '"}}'
    )
    record = okta_record(json.loads(text), raw=text, ingested_at=STAMP)
    assert record.raw == text
    assert record.published == STAMP  # a newline after the Z is not Okta's format
    assert (record.actor_id, record.actor_alternate_id, record.outcome) == ("00uevil", "?@example.com", "S" * 32)
    assert "malformed" in record.flags


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _beyond_64_bits_as_float(value: Any) -> Any:
    """split_json_array reads objects with orjson, which reads an integer beyond 64 bits as a float."""
    if isinstance(value, dict):
        return {k: _beyond_64_bits_as_float(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_beyond_64_bits_as_float(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return float(value)
    return value


def _same(left: Any, right: Any) -> bool:
    left, right = _beyond_64_bits_as_float(left), _beyond_64_bits_as_float(right)
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)


@settings(max_examples=300)
@given(
    items=st.lists(json_values, max_size=6),
    indent=st.none() | st.integers(0, 3),
    pad=st.sampled_from(["", " ", "\n\t"]),
)
def test_split_json_array_agrees_with_json_loads_and_keeps_each_elements_text(
    items: list[Any], indent: int | None, pad: str
) -> None:
    text = pad + json.dumps(items, indent=indent) + pad
    parts = split_json_array(text)
    assert parts is not None
    assert _same([value for _, value in parts], json.loads(text))
    position = 0
    for raw, value in parts:
        assert _same(json.loads(raw), value)
        position = text.index(raw, position) + len(raw)  # each element's text, in order, byte for byte


@settings(max_examples=300)
@given(value=json_values.filter(lambda v: not isinstance(v, list)))
def test_split_json_array_returns_none_for_anything_but_an_array(value: Any) -> None:
    assert split_json_array(json.dumps(value)) is None


@settings(max_examples=500)
@given(text=st.text(alphabet=st.sampled_from('[]{},:"\\ \n0123456789.eE+-truefalsn') | st.characters(), max_size=40))
def test_split_json_array_never_raises_and_agrees_with_json_loads_on_any_text(text: str) -> None:
    parts = split_json_array(text)
    try:
        expected = json.loads(text)
    except ValueError:
        expected = None
    if isinstance(expected, list):
        assert parts is not None and _same([v for _, v in parts], expected)
    else:
        assert parts is None


def test_split_json_array_survives_nesting_deeper_than_the_parser_allows() -> None:
    assert split_json_array("[" * 100_000 + "]" * 100_000) is None
    assert split_json_array("[" + "[" * 100_000 + "]" * 100_000 + ",1]") is None


def test_appending_fuzzed_records_keeps_the_chain_verifiable() -> None:
    """SQLite only: the chain property does not depend on the engine (test_evidence_chain covers both)."""
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'fuzz.sqlite'}")
        migrate(engine)
        anchors = Path(folder) / "anchors.jsonl"

        @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(batch=st.lists(anything | log_events() | st.text(max_size=30), max_size=8))
        def append_and_verify(batch: list[Any]) -> None:
            texts = [json.dumps(value) if not isinstance(value, str) else value for value in batch]
            # Text no column can hold (NUL, lone surrogates) is stored as its JSON string literal.
            as_stored = [json.dumps(text) if "\x00" in text or not _utf8(text) else text for text in texts]
            records = [
                okta_record(value, raw=text, ingested_at=STAMP) for value, text in zip(batch, texts, strict=True)
            ]
            with transaction(engine, write=True) as conn:
                first = chain_head(conn, "okta")[0] + 1
                result = append(conn, "okta", records, ingested_at=STAMP)
            if result.stored:
                write_anchor(anchors, Anchor(STAMP, "okta", first, result.head_seq, result.head_hash))
            with transaction(engine) as conn:
                report = verify_source(conn, "okta", read_anchors(anchors))
                stored = {r.raw for r in conn.execute(evidence_events.select().where(evidence_events.c.seq >= first))}
            assert report.ok, report.problem
            assert set(as_stored) <= stored | {r.raw for r in records if r.raw not in stored and result.duplicates}

        append_and_verify()
        engine.dispose()


def _reference_hash(prev_hash: str, source: str, seq: int, ingested_at: str, record: EvidenceRecord) -> str:
    """record_hash as first specified: every stored chain was hashed this way, so it must never change."""
    parts: list[str] = []
    names = [n for n in EvidenceRecord._fields if n != "flags"]
    for value in (prev_hash, source, seq, ingested_at, *(getattr(record, n) for n in names)):
        parts.append("~" if value is None else f"{len(str(value))}:{value}")
    flags = ",".join(record.flags)
    parts.append(f"{len(flags)}:{flags}")
    return hashlib.sha256("".join(parts).encode()).hexdigest()


@settings(max_examples=200)
@given(value=anything | log_events(), seq=st.integers(1, 10**15))
def test_the_record_hash_format_never_changes(value: Any, seq: int) -> None:
    record = okta_record(value, ingested_at=STAMP)
    assert record_hash("ab" * 32, "okta", seq, STAMP, record) == _reference_hash("ab" * 32, "okta", seq, STAMP, record)
