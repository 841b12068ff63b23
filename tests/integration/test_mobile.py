"""The mobile way in, end to end: MessagePack binary frames next to JSON text frames in one game.

A phone joins over HTTP (`POST /api/games/{pin}/players`) and then `resume`s on a socket that
speaks `quiz.v1.msgpack`; another phone `join`s on such a socket directly; a web player and the
host speak JSON. Every broadcast must reach both codecs as the same message with the same
fields and the same value types, and personal fields (`you`) must be spliced in per player.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import msgpack
import websockets

from tests.support import Client, ServerProcess, create_game, host, player, quiz

MSGPACK = "quiz.v1.msgpack"


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types, all the way down (1 == 1.0 == True would hide a codec slip)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def without(message: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k not in keys}


def no_bytes(value: Any) -> bool:
    """A msgpack message carries strings as str, never as bin: the same values as JSON."""
    if isinstance(value, bytes):
        return False
    if isinstance(value, dict):
        return all(isinstance(k, str) and no_bytes(v) for k, v in value.items())
    if isinstance(value, list):
        return all(no_bytes(v) for v in value)
    return True


async def http_join(base_url: str, pin: str, name: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post(f"/api/games/{pin}/players", json={"name": name})
    assert response.status_code == 201, response.text
    seat = response.json()
    assert set(seat) == {"player_id", "token", "name"} and seat["name"] == name
    return dict(seat)


async def resume(ws_url: str, pin: str, token: str, codec: str = "msgpack") -> tuple[Client, dict[str, Any]]:
    client = await Client.connect(f"{ws_url}/ws/play/{pin}", codec)
    await client.send({"type": "resume", "token": token})
    return client, await client.recv("joined")


async def test_msgpack_and_json_players_play_one_game(server: ServerProcess) -> None:
    game = await create_game(server.base_url, quiz(n=2, time_limit=20))
    pin = game["pin"]
    the_host = await host(server.ws_url, game)

    # Mia: HTTP join, then resume over a msgpack socket (the mobile app's way in).
    seat = await http_join(server.base_url, pin, "Мия 📱")
    mia, mia_joined = await resume(server.ws_url, pin, seat["token"])
    assert mia.ws.subprotocol == MSGPACK
    assert mia_joined == {
        "type": "joined", "player_id": seat["player_id"], "token": seat["token"], "name": "Мия 📱",
        "pin": pin, "phase": "WAITING", "score": 0,
    }
    assert (await mia.recv("lobby", skip=()))["count"] >= 1
    # Max: join directly over msgpack. Jo: the web page, JSON.
    max_, max_joined = await player(server.ws_url, pin, "Max", codec="msgpack")
    jo, jo_joined = await player(server.ws_url, pin, "Jo")
    assert max_.ws.subprotocol == MSGPACK and jo.ws.subprotocol == "quiz.v1.json"
    assert max_joined.keys() == jo_joined.keys() == mia_joined.keys()
    assert same(without(max_joined, "player_id", "token", "name"), without(jo_joined, "player_id", "token", "name"))

    seen: set[str] = set()
    while len(seen) < 3:
        seen |= {p["name"] for p in (await the_host.recv("lobby", skip=("answer_count",)))["joined"]}
    assert seen == {"Мия 📱", "Max", "Jo"}

    # Protocol details on a msgpack socket: ping/pong and errors come back as binary frames too.
    await max_.send({"type": "ping", "t": 12.5})
    pong = await max_.recv("pong", skip=("lobby",))
    assert pong["t"] == 12.5 and isinstance(pong["server_time"], int)
    await max_.send_raw('{"type": "ping", "t": 1}')  # a text frame on a msgpack socket
    assert (await max_.recv("error"))["code"] == "bad_message"
    await max_.send_raw(b"\xc1\xc1")
    assert (await max_.recv("error"))["code"] == "bad_message"
    await max_.send({"type": "start"})
    assert (await max_.recv("error"))["code"] == "not_host"

    players = {"mia": mia, "max": max_, "jo": jo}
    scores = {"mia": 0, "max": 0, "jo": 0}
    await the_host.send({"type": "start"})

    # -- question 0: everyone online -------------------------------------------------------
    questions = {name: await client.recv("question") for name, client in players.items()}
    host_question = await the_host.recv("question")
    assert all(same(q, questions["jo"]) for q in questions.values())
    assert same(host_question, questions["jo"])
    assert questions["mia"]["question"] == 0 and "correct" not in questions["mia"]
    correct, wrong = 0, 1
    for name, option in (("mia", correct), ("max", correct), ("jo", wrong)):
        await players[name].send({"type": "answer", "question": 0, "option": option})
        ack = await players[name].recv("answer_ack")
        assert same(ack, {"type": "answer_ack", "question": 0, "accepted": True})
        if name == "mia":
            # A second answer is refused while the question is open (Jo has not answered yet:
            # after the last answer the question closes, and the refusal would be not_active).
            await mia.send({"type": "answer", "question": 0, "option": correct})
            assert (await mia.recv("error"))["code"] == "already_answered"
            # Mia first by more than one point's worth of time (20 ms at 20 s): answers a
            # millisecond apart tie on points and time, and the tie-break (names) would list Max.
            await asyncio.sleep(0.1)

    reveals = {name: await client.recv("reveal") for name, client in players.items()}
    host_reveal = await the_host.recv("reveal")
    assert "you" not in host_reveal and host_reveal["correct"] == correct
    assert host_reveal["distribution"] == [2, 1, 0, 0]
    for name, reveal in reveals.items():
        assert same(without(reveal, "you"), host_reveal)
        you = reveal["you"]
        assert set(you) == {"answered", "correct", "points", "score", "rank"}
        assert you["answered"] is True and you["correct"] is (name != "jo")
        scores[name] += you["points"]
        assert you["score"] == scores[name]
    assert reveals["mia"]["you"]["points"] > 0 and reveals["max"]["you"]["points"] > 0
    assert reveals["jo"]["you"] == {"answered": True, "correct": False, "points": 0, "score": 0, "rank": 3}
    assert reveals["mia"]["you"]["rank"] == 1

    boards = {name: await client.recv("leaderboard") for name, client in players.items()}
    host_board = await the_host.recv("leaderboard")
    assert all(same(board, host_board) for board in boards.values())
    assert [row["name"] for row in host_board["top"]] == ["Мия 📱", "Max", "Jo"]
    assert [row["score"] for row in host_board["top"]] == [scores["mia"], scores["max"], 0]

    # -- the phone drops between questions and comes back over msgpack with its token -------
    await max_.close()
    await asyncio.sleep(0.2)
    await the_host.send({"type": "next"})
    mia_q1 = await mia.recv("question")
    jo_q1 = await jo.recv("question")
    await the_host.recv("question")
    assert same(mia_q1, jo_q1)
    max_, max_again = await resume(server.ws_url, pin, max_joined["token"])
    players["max"] = max_
    assert max_again["player_id"] == max_joined["player_id"] and max_again["score"] == scores["max"]
    assert max_again["phase"] == "ACTIVE"
    current = await max_.recv("question")
    assert current["answered"] is False
    assert same(without(current, "answered", "server_time"), without(jo_q1, "server_time"))
    assert "correct" not in current

    for name, option in (("jo", 1), ("max", 0), ("mia", 1)):
        await players[name].send({"type": "answer", "question": 1, "option": option})
        await players[name].recv("answer_ack")
    reveals = {name: await client.recv("reveal") for name, client in players.items()}
    host_reveal = await the_host.recv("reveal")
    assert host_reveal["correct"] == 1 and host_reveal["distribution"] == [1, 2, 0, 0]
    for name, reveal in reveals.items():
        assert same(without(reveal, "you"), host_reveal)
        assert reveal["you"]["correct"] is (name != "max")
        scores[name] += reveal["you"]["points"]
        assert reveal["you"]["score"] == scores[name]
    boards = {name: await client.recv("leaderboard") for name, client in players.items()}
    host_board = await the_host.recv("leaderboard")
    assert all(same(board, host_board) for board in boards.values())

    # -- finished ---------------------------------------------------------------------------
    await the_host.send({"type": "next"})
    finals = {name: await client.recv("finished") for name, client in players.items()}
    host_final = await the_host.recv("finished")
    podium = host_final["podium"]
    assert len(podium) == 3 and sorted(row["score"] for row in podium) == sorted(scores.values())
    # Competition ranking ("1, 2, 2, 4"): ties are likely here, both phones answering at once.
    assert all(row["rank"] == 1 + sum(s > row["score"] for s in scores.values()) for row in podium)
    ranks = {row["name"]: row["rank"] for row in podium}
    for name, final in finals.items():
        assert "results" not in final
        assert same(without(final, "you"), without(host_final, "results"))
        shown = {"mia": "Мия 📱", "max": "Max", "jo": "Jo"}[name]
        assert same(final["you"], {"rank": ranks[shown], "score": scores[name], "answers": 2})
    assert [row["name"] for row in host_final["results"]] == [row["name"] for row in podium]
    assert all(set(row) == {"rank", "name", "score", "answers", "correct"} for row in host_final["results"])
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        auth = {"Authorization": f"Bearer {game['host_token']}"}
        response = await http.get(f"/api/games/{pin}/results", headers=auth)
    assert response.status_code == 200 and same(response.json()["results"], host_final["results"])

    # -- the wire: binary frames for msgpack, text for JSON, and the same fields per type ------
    for client in (mia, max_):
        assert client.raw and all(isinstance(frame, bytes) for frame in client.raw)
        assert all(no_bytes(message) for message in client.received)
        pairs = zip(client.raw, client.received, strict=True)
        assert all(same(msgpack.unpackb(frame, raw=False), msg) for frame, msg in pairs)
    for client in (jo, the_host):
        assert client.raw and all(isinstance(frame, str) for frame in client.raw)
    fields: dict[str, dict[str, set[frozenset[str]]]] = {"json": {}, "msgpack": {}}
    for codec, clients in (("json", [jo]), ("msgpack", [mia, max_])):
        for client in clients:
            for message in client.received:
                if message["type"] not in ("error", "pong", "joined"):
                    fields[codec].setdefault(message["type"], set()).add(frozenset(without(message, "answered")))
    assert fields["json"] == fields["msgpack"]
    assert {"lobby", "question", "answer_ack", "reveal", "leaderboard", "finished"} <= set(fields["json"])
    for client in (mia, max_, jo, the_host):
        await client.close()


async def test_mobile_handshake_and_token_checks(server: ServerProcess) -> None:
    game = await create_game(server.base_url)
    pin = game["pin"]
    # A bad token on a msgpack socket is a binary `error` frame; the socket stays open.
    phone = await Client.connect(f"{server.ws_url}/ws/play/{pin}", "msgpack")
    await phone.send({"type": "resume", "token": "not-a-token"})
    error = await phone.recv("error")
    assert error["code"] == "bad_token" and isinstance(phone.raw[-1], bytes)
    seat = await http_join(server.base_url, pin, "Zoë")
    await phone.send({"type": "resume", "token": seat["token"]})
    assert (await phone.recv("joined"))["player_id"] == seat["player_id"]
    await phone.close()

    # The mobile subprotocol is chosen among others offered; offering none gets JSON text.
    async with websockets.connect(
        f"{server.ws_url}/ws/play/{pin}", subprotocols=["chat", MSGPACK]  # type: ignore[list-item]
    ) as ws:
        assert ws.subprotocol == MSGPACK
        await ws.send(msgpack.packb({"type": "ping", "t": 1}))
        frame = await asyncio.wait_for(ws.recv(), 10)
        assert isinstance(frame, bytes) and msgpack.unpackb(frame)["type"] == "pong"
    async with websockets.connect(f"{server.ws_url}/ws/play/{pin}") as ws:
        assert ws.subprotocol is None
        await ws.send('{"type": "ping", "t": 1}')
        frame = await asyncio.wait_for(ws.recv(), 10)
        assert isinstance(frame, str) and '"pong"' in frame

    # HTTP join refusals the app must handle before it ever opens a socket.
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        taken = await http.post(f"/api/games/{pin}/players", json={"name": "zoë"})
        assert taken.status_code == 409 and taken.json()["error"]["code"] == "name_taken"
        unknown = await http.post("/api/games/000000/players", json={"name": "Ann"})
        assert unknown.status_code == 404
