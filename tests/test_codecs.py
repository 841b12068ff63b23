"""Property tests of the wire codecs (transports/codecs.py).

Every message of PROTOCOL.md, with realistic random field values, survives both codecs
unchanged; a broadcast spliced with `prepare()` + `extend()` is byte for byte the frame of the
merged message; and whatever arrives on a socket (random bytes, random text, valid encodings of
wrong shapes, absurd nesting) is either a message or `BadMessage`, never another exception.
"""

from __future__ import annotations

from typing import Any

import msgpack
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statemachine.errors import BadMessage
from transports.codecs import (
    CODECS,
    JSON_SUBPROTOCOL,
    MSGPACK_SUBPROTOCOL,
    Codec,
    JsonCodec,
    MsgpackCodec,
    pick_codec,
)

CODEC_LIST: list[Codec] = [JsonCodec(), MsgpackCodec()]
CODEC_IDS = ["json", "msgpack"]
FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- field values ---------------------------------------------------------------------------

# Names as players type them: any script, emoji, accents; 1-24 code points (never surrogates,
# which no UTF-8 frame can carry).
names = st.text(min_size=1, max_size=24)
free_text = st.text(max_size=200)
URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
tokens = st.text(alphabet=URLSAFE, min_size=8, max_size=48)
player_ids = st.text(alphabet=URLSAFE, min_size=12, max_size=12)
pins = st.integers(100_000, 999_999).map(str)
phases = st.sampled_from(["WAITING", "ACTIVE", "BETWEEN", "FINISHED"])
counts = st.integers(0, 10_000)
question_numbers = st.integers(0, 199)
ranks = st.integers(1, 10_000)
scores = st.integers(0, 200 * 1000)
points = st.integers(0, 1000)
epoch_ms = st.integers(1_600_000_000_000, 4_000_000_000_000)
client_clock = st.one_of(epoch_ms, st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**63), 2**63 - 1))
error_codes = st.sampled_from([
    "bad_message", "unknown_type", "name_taken", "name_invalid", "bad_token", "locked", "game_full",
    "finished", "not_host", "not_active", "wrong_question", "too_late", "already_answered",
    "invalid_option", "rate_limited",
])


def obj(kind: str, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"type": st.just(kind), **fields})


Message = st.SearchStrategy[dict[str, Any]]


def with_optional(base: Message, **optional: st.SearchStrategy[Any]) -> Message:
    """`base` plus any subset of the optional fields (those sent only to some recipients)."""
    return st.tuples(base, st.fixed_dictionaries({}, optional=optional)).map(lambda pair: {**pair[0], **pair[1]})


seat = st.fixed_dictionaries({"player_id": player_ids, "name": names})
reveal_you = st.fixed_dictionaries(
    {"answered": st.booleans(), "correct": st.booleans(), "points": points, "score": scores, "rank": ranks}
)
final_you = st.fixed_dictionaries({"rank": ranks, "score": scores, "answers": st.integers(0, 200)})
top_row = st.fixed_dictionaries({"rank": ranks, "name": names, "score": scores})
podium_row = st.fixed_dictionaries({"rank": ranks, "name": names, "score": scores, "answers": st.integers(0, 200)})
result_row = st.fixed_dictionaries(
    {"rank": ranks, "name": names, "score": scores, "answers": st.integers(0, 200), "correct": st.integers(0, 200)}
)
options = st.lists(st.text(min_size=1, max_size=150), min_size=2, max_size=6)

# -- every message of PROTOCOL.md ------------------------------------------------------------

SERVER_MESSAGES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "joined": obj("joined", player_id=player_ids, token=tokens, name=names, pin=pins, phase=phases, score=scores),
    "lobby": with_optional(
        obj("lobby", count=counts),
        joined=st.lists(seat, max_size=20), left=st.lists(player_ids, max_size=20), locked=st.booleans(),
    ),
    "hosting": obj(
        "hosting", pin=pins, title=st.text(min_size=1, max_size=200), phase=phases,
        players=st.lists(seat, max_size=30), question_count=st.integers(1, 200),
    ),
    "question": with_optional(
        obj(
            "question", question=question_numbers, total=st.integers(1, 200), text=st.text(min_size=1, max_size=500),
            options=options, time_limit_ms=st.integers(5, 120).map(lambda s: s * 1000), deadline=epoch_ms,
            server_time=epoch_ms,
        ),
        answered=st.booleans(),
    ),
    "answer_count": obj("answer_count", question=question_numbers, answered=counts, players=counts),
    "answer_ack": obj("answer_ack", question=question_numbers, accepted=st.just(True)),
    "reveal": with_optional(
        obj("reveal", question=question_numbers, correct=st.integers(0, 5),
            distribution=st.lists(counts, min_size=2, max_size=6)),
        you=reveal_you,
    ),
    "leaderboard": obj("leaderboard", question=question_numbers, top=st.lists(top_row, max_size=10)),
    "finished": with_optional(
        obj("finished", podium=st.lists(podium_row, max_size=3)),
        you=final_you, results=st.lists(result_row, max_size=40),
    ),
    "kicked": obj("kicked"),
    "error": with_optional(obj("error", code=error_codes, message=free_text), question=question_numbers),
    "pong": obj("pong", t=client_clock, server_time=epoch_ms),
}

CLIENT_MESSAGES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "join": obj("join", name=names),
    "resume": obj("resume", token=tokens),
    "answer": obj("answer", question=question_numbers, option=st.integers(0, 5)),
    "ping": obj("ping", t=client_clock),
    "host": obj("host", token=tokens),
    "start": obj("start"),
    "next": obj("next"),
    "end": obj("end"),
    "kick": obj("kick", player_id=player_ids),
    "lock": obj("lock"),
    "unlock": obj("unlock"),
}

ALL_MESSAGES = {**SERVER_MESSAGES, **CLIENT_MESSAGES}
any_message = st.sampled_from(sorted(ALL_MESSAGES)).flatmap(lambda kind: ALL_MESSAGES[kind])


def test_the_catalogue_covers_protocol_md() -> None:
    server_to_client = {
        "joined", "lobby", "hosting", "question", "answer_count", "answer_ack", "reveal", "leaderboard",
        "finished", "kicked", "error", "pong",
    }
    client_to_server = {"join", "resume", "answer", "ping", "host", "start", "next", "end", "kick", "lock", "unlock"}
    assert set(SERVER_MESSAGES) == server_to_client
    assert set(CLIENT_MESSAGES) == client_to_server


# -- round trips -----------------------------------------------------------------------------


def as_wire(codec: Codec, frame: str | bytes) -> None:
    """The frame kind the codec promises: binary for msgpack, text for JSON."""
    assert isinstance(frame, bytes if codec.binary else str)


@pytest.mark.parametrize("kind", sorted(ALL_MESSAGES))
@pytest.mark.parametrize("codec", CODEC_LIST, ids=CODEC_IDS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_message_round_trips(codec: Codec, kind: str, data: st.DataObject) -> None:
    message = data.draw(ALL_MESSAGES[kind])
    frame = codec.encode(message)
    as_wire(codec, frame)
    assert codec.decode(frame) == message
    # ... and a client with a stock library reads the same thing.
    stock = msgpack.unpackb(frame, raw=False) if codec.binary else orjson.loads(frame)
    assert stock == message


@given(message=any_message)
@FAST
def test_json_and_msgpack_carry_the_same_message(message: dict[str, Any]) -> None:
    json_codec, msgpack_codec = CODECS[JSON_SUBPROTOCOL], CODECS[MSGPACK_SUBPROTOCOL]
    assert json_codec.decode(json_codec.encode(message)) == msgpack_codec.decode(msgpack_codec.encode(message))


# -- prepare + extend ------------------------------------------------------------------------


@st.composite
def split_message(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A message split into a shared part and personal fields, as the hub does for broadcasts."""
    message = draw(any_message)
    keys = list(message)
    personal = draw(st.sets(st.sampled_from(keys))) if keys else set()
    shared = {k: v for k, v in message.items() if k not in personal}
    extra = {k: v for k, v in message.items() if k in personal}
    return shared, extra


@pytest.mark.parametrize("codec", CODEC_LIST, ids=CODEC_IDS)
@given(parts=split_message())
@FAST
def test_prepare_then_extend_is_encoding_the_merged_message(
    codec: Codec, parts: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    shared, extra = parts
    prepared = codec.prepare(shared)
    assert prepared.frame == codec.encode(shared)
    frame = codec.extend(prepared, extra)
    as_wire(codec, frame)
    merged = {**shared, **extra}
    assert frame == codec.encode(merged)
    stock = msgpack.unpackb(frame, raw=False) if codec.binary else orjson.loads(frame)
    assert stock == merged
    encoded = frame if isinstance(frame, bytes) else frame.encode()
    assert codec.extend_bytes(prepared, extra) == encoded  # the bytes path the raw writer uses
    for key, value in extra.items():  # the hub's per-player splice: one field onto the shared bytes
        assert codec.splicer(prepared, key)(value) == codec.extend_bytes(prepared, {key: value})


@pytest.mark.parametrize("codec", CODEC_LIST, ids=CODEC_IDS)
@given(
    shared=st.sampled_from(["reveal", "finished"]).flatmap(lambda kind: SERVER_MESSAGES[kind]),
    yous=st.lists(st.one_of(reveal_you, final_you), min_size=1, max_size=5),
)
@FAST
def test_one_prepared_broadcast_serves_many_players(
    codec: Codec, shared: dict[str, Any], yous: list[dict[str, Any]]
) -> None:
    shared = {k: v for k, v in shared.items() if k not in ("you", "results")}
    prepared = codec.prepare(shared)
    splice = codec.splicer(prepared, "you")
    for you in yous:  # the same Prepared, extended once per player, never mutated
        assert codec.decode(codec.extend(prepared, {"you": you})) == {**shared, "you": you}
        assert codec.decode(splice(you)) == {**shared, "you": you}
    host_frame = codec.extend(prepared, {"results": []})
    assert codec.decode(host_frame) == {**shared, "results": []}
    assert codec.extend(prepared, {}) == prepared.frame


@pytest.mark.parametrize("codec", CODEC_LIST, ids=CODEC_IDS)
@given(n=st.integers(0, 40))
@FAST
def test_extend_across_map_size_boundaries(codec: Codec, n: int) -> None:
    """MessagePack switches from fixmap to map16 at 16 keys: the spliced header must follow."""
    shared = {"type": "wide", **{f"k{i}": i for i in range(n)}}
    extra = {f"x{i}": [i, "é"] for i in range(n % 20)}
    assert codec.extend(codec.prepare(shared), extra) == codec.encode({**shared, **extra})


# -- hostile input ---------------------------------------------------------------------------


def decodes_or_refuses(codec: Codec, data: str | bytes) -> None:
    try:
        message = codec.decode(data)
    except BadMessage:
        return
    assert isinstance(message, dict) and isinstance(message["type"], str)


@pytest.mark.parametrize("codec", CODEC_LIST, ids=CODEC_IDS)
@given(data=st.binary(max_size=300))
@FAST
def test_random_bytes_are_a_message_or_bad_message(codec: Codec, data: bytes) -> None:
    decodes_or_refuses(codec, data)


@pytest.mark.parametrize("codec", CODEC_LIST, ids=CODEC_IDS)
@given(data=st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=300))
@FAST
def test_random_text_is_a_message_or_bad_message(codec: Codec, data: str) -> None:
    """Any code points, lone surrogates included."""
    decodes_or_refuses(codec, data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=20,
)
msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.text(max_size=8) | st.binary(max_size=4) | st.integers(), inner, max_size=5),
    max_leaves=20,
)


@given(value=json_values | st.dictionaries(st.just("type"), json_values))
@FAST
def test_valid_json_of_any_shape_is_a_message_or_bad_message(value: Any) -> None:
    decodes_or_refuses(CODECS[JSON_SUBPROTOCOL], orjson.dumps(value).decode())
    decodes_or_refuses(CODECS[JSON_SUBPROTOCOL], orjson.dumps(value))


@given(value=msgpack_values | st.dictionaries(st.just("type"), msgpack_values))
@FAST
def test_valid_msgpack_of_any_shape_is_a_message_or_bad_message(value: Any) -> None:
    try:
        frame = msgpack.packb(value, use_bin_type=True, strict_types=False)
    except (OverflowError, ValueError, TypeError):
        return
    decodes_or_refuses(CODECS[MSGPACK_SUBPROTOCOL], frame)


@given(body=st.binary(min_size=1, max_size=60), ext_type=st.integers(0, 127))
@FAST
def test_msgpack_extension_types_are_refused(body: bytes, ext_type: int) -> None:
    frame = msgpack.packb({"type": "join", "name": msgpack.ExtType(ext_type, body)})
    with pytest.raises(BadMessage):
        CODECS[MSGPACK_SUBPROTOCOL].decode(frame)


@pytest.mark.parametrize(
    ("codec", "data"),
    [
        (JsonCodec(), "[" * 100_000),
        (JsonCodec(), '{"type":' * 50_000),
        (JsonCodec(), b"\xff\xfe{}"),
        (JsonCodec(), '{"type": "join", "name": "\ud800"}'),
        (JsonCodec(), "1e400"),
        (JsonCodec(), ""),
        (MsgpackCodec(), b"\x91" * 100_000),
        (MsgpackCodec(), b"\x81\xa4type" * 50_000),
        (MsgpackCodec(), b"\xdf\xff\xff\xff\xff"),  # a map claiming 4 billion entries
        (MsgpackCodec(), b"\xdd\xff\xff\xff\xff"),  # an array claiming 4 billion items
        (MsgpackCodec(), b"\xdb\xff\xff\xff\xff"),  # a str claiming 4 GB
        (MsgpackCodec(), b"\xc1"),  # never used
        (MsgpackCodec(), msgpack.packb({"type": "a"}) + b"\x00"),  # trailing bytes
        (MsgpackCodec(), b""),
        (MsgpackCodec(), msgpack.packb({"type": "ping", "t": msgpack.Timestamp(0)})),  # ext -1
        (MsgpackCodec(), msgpack.packb({"type": "join", "name": "x" * 70_000})),
        (MsgpackCodec(), '{"type": "join", "name": "text frame"}'),
    ],
    ids=lambda value: None if isinstance(value, (str, bytes)) else type(value).__name__,
)
def test_hostile_frames_are_bad_message(codec: Codec, data: str | bytes) -> None:
    with pytest.raises(BadMessage):
        codec.decode(data)


def test_pick_codec_by_subprotocol() -> None:
    assert pick_codec([]).subprotocol == JSON_SUBPROTOCOL
    assert pick_codec(["chat", "quiz.v1.msgpack"]).subprotocol == MSGPACK_SUBPROTOCOL
    assert pick_codec(["quiz.v1.json", "quiz.v1.msgpack"]).subprotocol == JSON_SUBPROTOCOL
    assert pick_codec(["quiz.v2.cbor"]).subprotocol == JSON_SUBPROTOCOL
    assert CODECS[MSGPACK_SUBPROTOCOL].binary and not CODECS[JSON_SUBPROTOCOL].binary
