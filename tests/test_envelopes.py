"""The pub/sub envelopes: each kind survives its wire form unchanged, the wire form is the one
the Lua scripts and stored results use, and anything else is refused with `BadEnvelope`."""

from __future__ import annotations

import orjson
import pytest

from gameserver import envelopes
from gameserver.envelopes import BadEnvelope, LockSet, Message, Messages, PlayerKicked, PlayersJoined

REVEAL = {"type": "reveal", "question": 2, "correct": 1, "distribution": [0, 3]}
FINISHED = {"type": "finished", "podium": []}
RESULTS = [{"rank": 1, "name": "Ann", "score": 900, "answers": 3, "correct": 2}]


@pytest.mark.parametrize(
    "envelope",
    [
        Messages((Message(REVEAL, you={"p1": {"points": 500}}), Message({"type": "leaderboard", "top": []}))),
        Messages((Message(FINISHED, you={"p1": {"rank": 1}}, host={"results": RESULTS}),)),
        Messages(()),
        PlayersJoined((("p1", "Ann"), ("p2", "Bob")), 2),
        PlayerKicked("p2", 1),
        LockSet(True, 7),
        LockSet(False),
    ],
)
def test_every_envelope_reads_back_as_it_was_written(envelope: envelopes.Envelope) -> None:
    assert envelopes.from_json(envelope.to_json()) == envelope


def test_the_wire_form_is_the_one_lua_and_stored_results_use() -> None:
    reveal = Messages((Message(REVEAL, you={"p1": {"points": 500}}), Message({"type": "leaderboard"})))
    assert orjson.loads(reveal.to_json()) == {
        "e": "msgs",
        "msgs": [{"msg": REVEAL, "you": {"p1": {"points": 500}}}, {"msg": {"type": "leaderboard"}}],
    }
    # As JOIN_MANY and KICK encode them with cjson:
    lua_join = b'{"joined":[{"name":"Ann","id":"p1"}],"e":"join","count":1}'
    assert envelopes.from_json(lua_join) == PlayersJoined((("p1", "Ann"),), 1)
    assert envelopes.from_json(b'{"count":0,"id":"p1","e":"kick"}') == PlayerKicked("p1", 0)
    assert orjson.loads(LockSet(True, 3).to_json()) == {"e": "lock", "locked": True, "count": 3}


def test_what_the_messages_say_of_their_question_and_results() -> None:
    assert Messages((Message(REVEAL),)).question == 2
    assert Messages((Message(FINISHED),)).question is None
    assert Messages(()).question is None
    results = Messages((Message(FINISHED, host={"results": RESULTS}),))
    assert results.host_results == RESULTS
    with pytest.raises(BadEnvelope):
        _ = Messages((Message(REVEAL),)).host_results
    assert Message(REVEAL).kind == "reveal" and Message({}).kind == ""


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1, 2]",
        b'{"e": "nope"}',
        b'{"no": "kind"}',
        b'{"e": "msgs"}',
        b'{"e": "msgs", "msgs": [{"you": {}}]}',
        b'{"e": "join", "joined": [{"id": "p1"}], "count": 1}',
        b'{"e": "kick", "id": "p1", "count": "many"}',
        b'{"e": "lock"}',
    ],
)
def test_anything_else_is_a_bad_envelope(payload: bytes) -> None:
    with pytest.raises(BadEnvelope):
        envelopes.from_json(payload)
    with pytest.raises(BadEnvelope):
        Messages.from_json(PlayerKicked("p1", 0).to_json())
