"""The wire message classes send exactly what the server sent before they existed.

`GOLDEN` holds the JSON bytes the server's builders produced for one sample of each message
before they were typed (captured from that code, commit 0c81c22): the builders now go
through `gameserver.wire_messages`, and the bytes must not change, since clients are written
against docs/protocol.md. Each class's `to_wire()` is also checked against the protocol's
field list and value types, and the hub's own messages are checked as they leave a socket.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any

import orjson
import pytest

from gameserver.clock import FakeClock
from gameserver.connection import Connection
from gameserver.envelopes import LockSet, PlayerKicked, PlayersJoined
from gameserver.game_messages import final_results, question_shown
from gameserver.gamesync import game_step
from gameserver.hub import Hub, Room
from gameserver.iplimits import IpRateLimited
from gameserver.quizzes import Question, Quiz
from gameserver.reveal import reveal_event
from gameserver.service import GameService
from gameserver.store import GameRecord
from gameserver.wire_messages import (
    AnswerAck,
    AnswerCount,
    ErrorMessage,
    Finished,
    Hosting,
    HostLobby,
    Joined,
    Kicked,
    Leaderboard,
    Lobby,
    Pong,
    QuestionShown,
    Reveal,
    ServerMessage,
)
from gameserver.ws import ack_message, error_message
from gameserver.wsprotocol import RawWriter
from scoring import Answer, Totals, rank
from statemachine import GameState, Phase
from statemachine.errors import NotActive, TooLate
from tests.test_hub_delivery import OpenProtocol, RecordingTransport
from transports.codecs import CODECS, JSON_SUBPROTOCOL

GOLDEN = {
    'question': (
        '{"type":"question","question":1,"total":2,"text":"2+2","options":["4","5"],"time_limit_ms":5000'
        ',"opens_at":1700000004000,"deadline":1700000009000,"server_time":1700000001234}'
    ),
    'reveal_envelope': (
        '{"e":"msgs","msgs":[{"msg":{"type":"reveal","question":1,"correct":0,"distribution":[2,1]},"you'
        '":{"p1":{"answered":true,"correct":true,"points":600,"score":1500,"rank":1},"p3":{"answered":tr'
        'ue,"correct":true,"points":980,"score":980,"rank":2},"p4":{"answered":false,"correct":false,"po'
        'ints":0,"score":500,"rank":3},"p2":{"answered":true,"correct":false,"points":0,"score":0,"rank"'
        ':4}}},{"msg":{"type":"leaderboard","question":1,"top":[{"rank":1,"name":"Ada","score":1500},{"r'
        'ank":2,"name":"Cy 🦊","score":980},{"rank":3,"name":"dee","score":500},{"rank":4,"name":"Bjørn",'
        '"score":0}]}}]}'
    ),
    'finished_envelope': (
        '{"e":"msgs","msgs":[{"msg":{"type":"finished","podium":[{"rank":1,"name":"Cy 🦊","score":1900,"a'
        'nswers":2},{"rank":1,"name":"Ada","score":1900,"answers":2},{"rank":3,"name":"Bjørn","score":70'
        '0,"answers":2}]},"you":{"p3":{"rank":1,"score":1900,"answers":2},"p1":{"rank":1,"score":1900,"a'
        'nswers":2},"p2":{"rank":3,"score":700,"answers":2},"p4":{"rank":4,"score":0,"answers":0}},"host'
        '":{"results":[{"rank":1,"name":"Cy 🦊","score":1900,"answers":2,"correct":2},{"rank":1,"name":"A'
        'da","score":1900,"answers":2,"correct":2},{"rank":3,"name":"Bjørn","score":700,"answers":2,"cor'
        'rect":1},{"rank":4,"name":"dee","score":0,"answers":0,"correct":0}]}}]}'
    ),
    'lobby_player': '{"type":"lobby","count":5}',
    'lobby_host': '{"type":"lobby","count":5,"joined":[],"left":[],"locked":true}',
    'question_resumed': (
        '{"type":"question","question":1,"total":2,"text":"2+2","options":["4","5"],"time_limit_ms":5000'
        ',"opens_at":1700000004000,"deadline":1700000009000,"server_time":1700000002000,"answered":true}'
    ),
    'question_host': (
        '{"type":"question","question":1,"total":2,"text":"2+2","options":["4","5"],"time_limit_ms":5000'
        ',"opens_at":1700000004000,"deadline":1700000009000,"server_time":1700000002000}'
    ),
    'lobby_host_flush': (
        '{"type":"lobby","count":1,"joined":[{"player_id":"a","name":"Ada"},{"player_id":"b","name":"Bjø'
        'rn"}],"left":["b"],"locked":true}'
    ),
    'lobby_player_flush': '{"type":"lobby","count":1}',
    'lobby_listener': '{"type":"lobby","count":1}',
    'kicked': '{"type":"kicked"}',
    'answer_count': '{"type":"answer_count","question":1,"answered":3,"players":7}',
    'unknown_game': '{"type":"error","code":"unknown_game","message":"this game no longer exists"}',
}

QUIZ = Quiz(
    'Größen "quiz"',
    (Question("Wie heißt 🦊?", ("Fuchs", "Dachs", "ß"), 0, 20_000), Question("2+2", ("4", "5"), 0, 5_000)),
    lead_in_ms=4000,
)
ACTIVE = GameState(
    2, (20_000, 5_000), Phase.ACTIVE, question=1, opened_ms=1_700_000_000_000, deadline_ms=1_700_000_009_000,
    lead_in_ms=4000,
)
WAITING = GameState(2, (20_000, 5_000), locked=True)


def _dumps(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


def test_the_running_question_is_sent_as_before() -> None:
    assert _dumps(question_shown(QUIZ, ACTIVE, 1_700_000_001_234).to_wire()) == GOLDEN["question"]


def test_a_reveal_and_its_leaderboard_are_published_as_before() -> None:
    names = {"p1": "Ada", "p2": "Bjørn", "p3": "Cy 🦊", "p4": "dee"}
    recorded = {
        "p1": Answer(0, 1_700_000_006_000), "p2": Answer(1, 1_700_000_007_500), "p3": Answer(0, 1_700_000_004_100),
        "gone": Answer(0, 1_700_000_005_000),  # a kicked player's answer: void
    }
    totals = {"p1": Totals(900, 1, 1, 3000), "p2": Totals(0, 1, 0, 0), "p4": Totals(500, 1, 1, 9000)}
    _, event = reveal_event(1, QUIZ.questions[1], ACTIVE.deadline_ms, names, recorded, totals)
    assert event.to_json().decode() == GOLDEN["reveal_envelope"]


def test_the_final_results_are_published_as_before() -> None:
    standings = rank([
        ("p1", "Ada", Totals(1900, 2, 2, 4000)), ("p2", "Bjørn", Totals(700, 2, 1, 1200)),
        ("p3", "Cy 🦊", Totals(1900, 2, 2, 3000)), ("p4", "dee", Totals(0, 0, 0, 0)),
    ])
    assert final_results(standings).to_json().decode() == GOLDEN["finished_envelope"]


class _Store:
    """What `GameService.current_messages` and the hub's pacing read of the store."""

    published = None

    async def quiz(self, pin: str, game_id: str | None = None) -> Quiz:
        return QUIZ

    async def has_answered(self, pin: str, question: int, player_id: str) -> bool:
        return True

    def forget(self, pin: str) -> None:
        pass

    def forget_exists(self, pin: str) -> None:
        pass

    async def answer_counts_many(self, pairs: list[tuple[str, int]]) -> list[tuple[int, int]]:
        return [(3, 7) for _ in pairs]


async def test_a_welcome_shows_the_current_phase_as_before() -> None:
    service = GameService(_Store(), None, FakeClock(1_700_000_002_000))  # type: ignore[arg-type]
    waiting = GameRecord("123456", "t", "digest", 5, WAITING)
    active = GameRecord("123456", "t", "digest", 5, ACTIVE)
    sent = {
        "lobby_player": await service.current_messages("123456", player_id="p1", record=waiting),
        "lobby_host": await service.current_messages("123456", host=True, record=waiting),
        "question_resumed": await service.current_messages("123456", player_id="p1", record=active),
        "question_host": await service.current_messages("123456", host=True, record=active),
    }
    assert {name: [_dumps(message) for message in messages] for name, messages in sent.items()} == {
        name: [GOLDEN[name]] for name in sent
    }


class _WebSocket:
    """The ASGI side of a socket, for its close after `kicked` / `unknown_game`."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any]) -> None:
        self.events.append(event)


class _Listener:
    def __init__(self) -> None:
        self.got: list[str] = []

    def deliver(self, message: Mapping[str, Any], personal: Mapping[str, Mapping[str, Any]]) -> None:
        self.got.append(orjson.dumps(message).decode())


def _socket(room: Room, role: str, player_id: str | None = None) -> tuple[Connection, RecordingTransport]:
    transport = RecordingTransport([], 0)
    conn = Connection(
        _WebSocket(), CODECS[JSON_SUBPROTOCOL], room.pin, role, max_queue=10,  # type: ignore[arg-type]
        raw=RawWriter(OpenProtocol(transport)),  # type: ignore[arg-type]
    )
    if player_id is None:
        room.hosts.add(conn)
    else:
        conn.player_id = player_id
        room.players[player_id] = {conn}
    return conn, transport


def _payloads(transport: RecordingTransport) -> list[str]:
    return [(frame[2:] if frame[1] < 126 else frame[4:]).decode() for frame in transport.frames]


async def test_the_hubs_own_messages_leave_the_sockets_as_before() -> None:
    clock = FakeClock()
    hub = Hub(None, _Store(), lobby_interval_ms=100, now_ms=clock.now_ms, clock=clock)  # type: ignore[arg-type]
    room = hub.rooms["123456"] = Room("123456")
    sockets = [_socket(room, "host"), _socket(room, "player", "a"), _socket(room, "player", "b")]
    (_, host), (_, player), (_, kicked) = sockets
    listener = _Listener()
    room.listeners.add(listener)
    await hub.dispatch(room, PlayersJoined((("a", "Ada"), ("b", "Bjørn")), 2))
    await hub.dispatch(room, PlayerKicked("b", 1))
    await hub.dispatch(room, LockSet(True, None))
    await clock.advance(10)
    hub._count_answers(room, 1)
    for _ in range(3):  # the counter task: its poll, then the send
        await asyncio.sleep(0)
    room.counting = None
    await clock.advance(1)
    hub.game_gone(room.pin)
    assert _payloads(host) == [GOLDEN["lobby_host_flush"], GOLDEN["answer_count"], GOLDEN["unknown_game"]]
    assert _payloads(player) == [GOLDEN["lobby_player_flush"], GOLDEN["unknown_game"]]
    assert _payloads(kicked) == [GOLDEN["kicked"]]
    assert listener.got == [GOLDEN["lobby_listener"]]
    for conn, _ in sockets:
        await conn.finish()


# One sample of every message, and the fields docs/protocol.md gives it, in wire order.
SAMPLES: list[tuple[ServerMessage, dict[str, type | tuple[type, ...]]]] = [
    (Joined("p1", "tok", "Ada", "123456", "WAITING", 0),
     {"player_id": str, "token": str, "name": str, "pin": str, "phase": str, "score": int}),
    (Hosting("123456", "Quiz", "WAITING", ({"player_id": "p1", "name": "Ada"},), 3),
     {"pin": str, "title": str, "phase": str, "players": list, "question_count": int}),
    (Lobby(4), {"count": int}),
    (HostLobby(4, ({"player_id": "p1", "name": "Ada"},), ("p2",), False),
     {"count": int, "joined": list, "left": list, "locked": bool}),
    (QuestionShown(0, 3, "Q?", ("a", "b"), 20_000, 1_000, 21_000, 900),
     {"question": int, "total": int, "text": str, "options": list, "time_limit_ms": int, "opens_at": int,
      "deadline": int, "server_time": int}),
    (QuestionShown(0, 3, "Q?", ("a", "b"), 20_000, 1_000, 21_000, 900, answered=False),
     {"question": int, "total": int, "text": str, "options": list, "time_limit_ms": int, "opens_at": int,
      "deadline": int, "server_time": int, "answered": bool}),
    (AnswerCount(0, 2, 5), {"question": int, "answered": int, "players": int}),
    (AnswerAck(0), {"question": int, "accepted": bool}),
    (Reveal(0, 1, (2, 3)), {"question": int, "correct": int, "distribution": list}),
    (Leaderboard(0, ({"rank": 1, "name": "Ada", "score": 900},)), {"question": int, "top": list}),
    (Finished(({"rank": 1, "name": "Ada", "score": 900, "answers": 1},)), {"podium": list}),
    (Kicked(), {}),
    (Pong(12.5, 1_000), {"t": (int, float), "server_time": int}),
    (ErrorMessage("bad_message", "no"), {"code": str, "message": str}),
    (ErrorMessage("too_late", "late", question=2), {"code": str, "message": str, "question": int}),
    (ErrorMessage("rate_limited", "slow down", retry_after=7), {"code": str, "message": str, "retry_after": int}),
]


@pytest.mark.parametrize(("message", "fields"), SAMPLES, ids=lambda value: getattr(value, "TYPE", ""))
def test_every_message_has_exactly_the_protocols_fields(
    message: ServerMessage, fields: dict[str, type | tuple[type, ...]]
) -> None:
    wire = message.to_wire()
    assert list(wire) == ["type", *fields]
    assert wire["type"] == message.TYPE
    for name, kind in fields.items():
        assert isinstance(wire[name], kind), name
    assert orjson.loads(orjson.dumps(wire)) == wire  # plain JSON values only


@pytest.mark.parametrize(("message", "fields"), SAMPLES, ids=lambda value: getattr(value, "TYPE", ""))
def test_a_message_is_a_frozen_value(message: ServerMessage, fields: object) -> None:
    assert not hasattr(message, "__dict__")  # slotted
    if dataclasses.fields(message):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(message, dataclasses.fields(message)[0].name, None)


def test_the_lists_on_the_wire_are_fresh_lists() -> None:
    """The wire dict may be changed by whoever holds it (a held copy, a merge) without
    reaching into the value it came from."""
    shown = QuestionShown(0, 3, "Q?", ("a", "b"), 20_000, 1_000, 21_000, 900)
    shown.to_wire()["options"].append("c")
    assert shown.to_wire()["options"] == ["a", "b"]


def test_the_socket_sessions_acks_and_errors_are_what_the_classes_build() -> None:
    """`ws.py` builds these itself; they must stay the classes' shapes."""
    assert _dumps(ack_message(3)) == _dumps(AnswerAck(3).to_wire())
    late = TooLate("too late")
    late.question = 3
    assert _dumps(error_message(late)) == _dumps(ErrorMessage("too_late", "too late", question=3).to_wire())
    assert _dumps(error_message(NotActive("closed"))) == _dumps(ErrorMessage("not_active", "closed").to_wire())
    limited = IpRateLimited("slow down", 7)
    assert _dumps(error_message(limited)) == _dumps(
        ErrorMessage("rate_limited", "slow down", retry_after=7).to_wire()
    )


def test_steps_of_the_game_are_told_from_the_classes_types() -> None:
    question = QuestionShown(2, 3, "Q?", ("a", "b"), 20_000, 1_000, 21_000, 900).to_wire()
    assert game_step(question) == (2, 1)
    assert game_step(Reveal(2, 0, (1, 0)).to_wire()) == (2, 2)
    assert game_step(Leaderboard(2, ()).to_wire()) == (2, 3)
    assert game_step(Finished(()).to_wire()) > game_step(question)  # type: ignore[operator]
    assert game_step(Lobby(3).to_wire()) is None
