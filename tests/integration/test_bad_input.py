"""Bad input gets a stable error code and harms no other socket or game."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import msgpack
import pytest

from tests.support import Client, ServerProcess, create_game, host, player, quiz


async def test_malformed_messages_get_codes_and_the_socket_stays(server: ServerProcess) -> None:
    game = await create_game(server.base_url)
    client = await Client.connect(f"{server.ws_url}/ws/play/{game['pin']}")
    cases = [
        ("this is not json", "bad_message"),
        ("[1, 2, 3]", "bad_message"),
        ('"a string"', "bad_message"),
        ('{"no_type": 1}', "bad_message"),
        ('{"type": 5}', "bad_message"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "answer", "question": 0, "option": 0}', "bad_message"),  # join first
        ('{"type": "join"}', "bad_message"),
        ('{"type": "join", "name": 7}', "bad_message"),
        ('{"type": "resume", "token": "no-such-token"}', "bad_token"),
        ('{"type": "resume", "token": ["list"]}', "bad_message"),
    ]
    for frame, code in cases:
        await client.send_raw(frame)
        error = await client.recv("error")
        assert error["code"] == code, (frame, error)
        assert isinstance(error["message"], str) and error["message"]
    await client.send({"type": "join", "name": "Ann"})
    await client.recv("joined")
    for frame, code in [
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "answer", "question": "0", "option": 1}', "bad_message"),
        ('{"type": "answer", "question": 0, "option": true}', "bad_message"),
        ('{"type": "answer", "question": 0, "option": 1}', "not_active"),
        ('{"type": "join", "name": "Again"}', "bad_message"),
    ]:
        await client.send_raw(frame)
        assert (await client.recv("error"))["code"] == code, frame
    await client.send({"type": "ping", "t": 123})
    pong = await client.recv("pong", skip=("lobby",))
    assert pong["t"] == 123 and isinstance(pong["server_time"], int)
    await client.close()


@pytest.mark.parametrize(
    ("name", "code"),
    [("", "name_invalid"), ("   ", "name_invalid"), ("x" * 25, "name_invalid"), ("bad\x07name", "name_invalid"),
     ("zero\u200bwidth", "name_invalid"), ("ANN", "name_taken"), ("ann", "name_taken"), (" Ann ", "name_taken")],
)
async def test_names_are_checked(server: ServerProcess, name: str, code: str) -> None:
    game = await create_game(server.base_url)
    first, joined = await player(server.ws_url, game["pin"], "Ann")
    assert joined["name"] == "Ann"
    client = await Client.connect(f"{server.ws_url}/ws/play/{game['pin']}")
    await client.send({"type": "join", "name": name})
    assert (await client.recv("error"))["code"] == code
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.post(f"/api/games/{game['pin']}/players", json={"name": name})
        assert response.json()["error"]["code"] == code
        assert response.status_code == (409 if code == "name_taken" else 422)
    await client.close()
    await first.close()


async def test_max_name_length_is_accepted(server: ServerProcess) -> None:
    game = await create_game(server.base_url)
    client, joined = await player(server.ws_url, game["pin"], "y" * 24)
    assert joined["name"] == "y" * 24
    await client.close()


async def test_oversized_frame_closes_1009_and_bystanders_carry_on(server: ServerProcess) -> None:
    game = await create_game(server.base_url, quiz(n=1))
    the_host = await host(server.ws_url, game)
    bystander, _ = await player(server.ws_url, game["pin"], "Calm")
    vandal, _ = await player(server.ws_url, game["pin"], "Big")
    await vandal.send_raw('{"type":"ping","t":"' + "x" * 5000 + '"}')
    assert await vandal.closed_with() == 1009
    await the_host.send({"type": "start"})
    assert (await bystander.recv("question"))["question"] == 0
    await bystander.close()
    await the_host.close()


async def test_flood_is_rate_limited_then_closed_1008(server: ServerProcess) -> None:
    game = await create_game(server.base_url)
    flooder, _ = await player(server.ws_url, game["pin"], "Flood")
    calm, _ = await player(server.ws_url, game["pin"], "Calm")
    for i in range(60):
        try:
            await flooder.send({"type": "ping", "t": i})
        except Exception:
            break
    codes = []
    close_code = None
    try:
        while True:
            message = await flooder.next_message(5)
            if message["type"] == "error":
                codes.append(message["code"])
    except Exception as closed:
        close_code = getattr(getattr(closed, "rcvd", None), "code", None)
    assert "rate_limited" in codes and set(codes) == {"rate_limited"}
    assert close_code == 1008
    await calm.send({"type": "ping", "t": 1})
    assert (await calm.recv("pong"))["t"] == 1
    await calm.close()


async def test_unknown_pin_closes_4404(server: ServerProcess) -> None:
    for pin in ("000001", "12345", "abcdef"):
        client = await Client.connect(f"{server.ws_url}/ws/play/{pin}")
        assert await client.closed_with() == 4404
    client = await Client.connect(f"{server.ws_url}/ws/host/999999")
    assert await client.closed_with() == 4404
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        assert (await http.get("/api/games/000001")).status_code == 404
        assert (await http.post("/api/games/000001/players", json={"name": "A"})).status_code == 404


async def test_silent_socket_is_closed_1008(server: ServerProcess) -> None:
    game = await create_game(server.base_url)
    client = await Client.connect(f"{server.ws_url}/ws/play/{game['pin']}")
    assert await client.closed_with(timeout=8) == 1008  # test server: 2 s first-message timeout


async def test_msgpack_garbage_is_bad_message(server: ServerProcess) -> None:
    game = await create_game(server.base_url)
    client = await Client.connect(f"{server.ws_url}/ws/play/{game['pin']}", codec="msgpack")
    for frame in (b"\xc1\xc1", msgpack.packb([1, 2]), msgpack.packb({"type": 3}), "text frame"):
        await client.send_raw(frame)
        assert (await client.recv("error"))["code"] == "bad_message"
    await client.close()


INVALID_QUIZZES = [
    ({"questions": []}, ["title"]),
    ({"title": "t", "questions": []}, ["questions"]),
    ({"title": "t", "questions": [{"text": "q", "options": ["a"], "correct": 0, "time_limit": 10}]},
     ["questions", 0, "options"]),
    ({"title": "t", "questions": [{"text": "q", "options": ["a", "b"], "correct": 2, "time_limit": 10}]},
     ["questions", 0]),
    ({"title": "t", "questions": [{"text": "q", "options": ["a", "b"], "correct": 0, "time_limit": 4}]},
     ["questions", 0, "time_limit"]),
    ({"title": "t", "questions": [{"text": "q", "options": ["a", "b"], "correct": 0, "time_limit": 121}]},
     ["questions", 0, "time_limit"]),
    ({"title": "t", "questions": [{"text": "q", "options": ["a", ""], "correct": 0, "time_limit": 10}]},
     ["questions", 0, "options"]),
    ({"title": "t", "questions": [{"type": "multi_select", "text": "q"}]}, ["questions"]),
]


@pytest.mark.parametrize(("body", "loc"), INVALID_QUIZZES)
async def test_invalid_quizzes_are_422_with_details(
    server: ServerProcess, body: dict[str, Any], loc: list[str | int],
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.post("/api/games", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_quiz" and error["details"]
    assert any(detail["loc"][: len(loc)] == loc for detail in error["details"]), error


async def test_not_json_quiz_and_skipped_types(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.post("/api/games", content=b"{nope")
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_quiz"
        body = quiz(n=2)
        body["questions"].append({"type": "multi_select", "text": "skipped", "options": ["a"]})
        created = await http.post("/api/games", json=body)
        assert created.status_code == 201
        assert created.json()["question_count"] == 2 and created.json()["skipped"] == 1


async def test_pins_are_unique_six_digit(server: ServerProcess) -> None:
    games = await asyncio.gather(*(create_game(server.base_url) for _ in range(50)))
    pins = [g["pin"] for g in games]
    assert len(set(pins)) == 50
    assert all(len(p) == 6 and p.isdigit() for p in pins)
    assert len({g["host_token"] for g in games}) == 50
    assert all(len(g["host_token"]) >= 40 for g in games)
