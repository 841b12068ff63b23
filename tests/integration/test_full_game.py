"""A whole game over real sockets against a real server process and a real Redis engine."""

from __future__ import annotations

import asyncio
import time

import httpx

from scoring import points
from tests.support import ServerProcess, create_game, host, player, quiz

JITTER_MS = 250  # send-to-receive time on a loaded CI box; bounds the points tolerance


def expected_points(sent_ms: int, deadline: int, limit_ms: int) -> tuple[int, int]:
    """Points bounds for an answer sent at sent_ms and received within JITTER_MS after."""
    high = points(correct=True, received_ms=sent_ms, deadline_ms=deadline, time_limit_ms=limit_ms)
    low = points(correct=True, received_ms=sent_ms + JITTER_MS, deadline_ms=deadline, time_limit_ms=limit_ms)
    return low, high


async def test_whole_game_three_players(server: ServerProcess) -> None:
    game = await create_game(server.base_url, quiz(n=3, time_limit=20))
    pin = game["pin"]
    assert len(pin) == 6 and pin.isdigit()
    assert game["question_count"] == 3 and game["skipped"] == 0

    the_host = await host(server.ws_url, game)
    lobby = await the_host.recv("lobby", skip=())
    assert lobby["count"] == 0
    players = {}
    for name in ("Ada", "Bob", "Cyd"):
        players[name] = await player(server.ws_url, pin, name)
    joined_names: list[str] = []
    while len(joined_names) < 3:
        message = await the_host.recv("lobby", skip=("answer_count",))
        joined_names += [p["name"] for p in message["joined"]]
    assert sorted(joined_names) == ["Ada", "Bob", "Cyd"]

    totals = {"Ada": 0, "Bob": 0, "Cyd": 0}
    await the_host.send({"type": "start"})
    for index in range(3):
        questions = {}
        for name, (client, _) in players.items():
            questions[name] = await client.recv("question")
        q = questions["Ada"]
        assert q["question"] == index and q["total"] == 3 and q["options"] == ["A0", "B1", "C2", "D3"]
        assert q["time_limit_ms"] == 20_000 and q["deadline"] - q["server_time"] <= 20_000
        host_q = await the_host.recv("question")
        assert host_q["deadline"] == q["deadline"]
        correct = index % 4
        wrong = (correct + 1) % 4

        # Ada answers at once, Bob after a moment, Cyd wrong.
        sent = {}
        for name, option, pause in (("Ada", correct, 0.0), ("Bob", correct, 0.8), ("Cyd", wrong, 0.1)):
            await asyncio.sleep(pause)
            sent[name] = time.time_ns() // 1_000_000
            client = players[name][0]
            await client.send({"type": "answer", "question": index, "option": option})
            ack = await client.recv("answer_ack")
            assert ack == {"type": "answer_ack", "question": index, "accepted": True}

        # Everyone answered: the question closes early, long before its 20 s deadline.
        reveals = {name: await client.recv("reveal", timeout=5) for name, (client, _) in players.items()}
        host_reveal = await the_host.recv("reveal", timeout=5)
        assert host_reveal["correct"] == correct and "you" not in host_reveal
        assert host_reveal["distribution"][correct] == 2 and host_reveal["distribution"][wrong] == 1
        assert sum(host_reveal["distribution"]) == 3
        for name in ("Ada", "Bob"):
            you = reveals[name]["you"]
            low, high = expected_points(sent[name], q["deadline"], 20_000)
            assert you["answered"] and you["correct"]
            assert low <= you["points"] <= high, (name, you, low, high)
            totals[name] += you["points"]
            assert you["score"] == totals[name]
        cyd = reveals["Cyd"]["you"]
        assert cyd == {"answered": True, "correct": False, "points": 0, "score": 0, "rank": 3}
        assert reveals["Ada"]["you"]["points"] > reveals["Bob"]["you"]["points"]
        assert reveals["Ada"]["you"]["rank"] == 1 and reveals["Bob"]["you"]["rank"] == 2

        boards = [await client.recv("leaderboard") for client, _ in players.values()]
        board = await the_host.recv("leaderboard")
        assert all(b == board for b in boards)
        assert [row["name"] for row in board["top"]] == ["Ada", "Bob", "Cyd"]
        assert [row["score"] for row in board["top"]] == [totals["Ada"], totals["Bob"], 0]
        await the_host.send({"type": "next"})

    finished = {name: await client.recv("finished") for name, (client, _) in players.items()}
    host_finished = await the_host.recv("finished")
    podium = host_finished["podium"]
    assert [p["name"] for p in podium] == ["Ada", "Bob", "Cyd"]
    assert [p["rank"] for p in podium] == [1, 2, 3]
    assert podium[0] == {"rank": 1, "name": "Ada", "score": totals["Ada"], "answers": 3}
    assert finished["Bob"]["you"] == {"rank": 2, "score": totals["Bob"], "answers": 3}
    assert finished["Cyd"]["you"] == {"rank": 3, "score": 0, "answers": 3}
    assert "results" not in finished["Ada"]
    results = host_finished["results"]
    assert results[0] == {"rank": 1, "name": "Ada", "score": totals["Ada"], "answers": 3, "correct": 3}
    assert results[2] == {"rank": 3, "name": "Cyd", "score": 0, "answers": 3, "correct": 0}

    async with httpx.AsyncClient(base_url=server.base_url) as http:
        ok = await http.get(f"/api/games/{pin}/results", headers={"Authorization": f"Bearer {game['host_token']}"})
        assert ok.status_code == 200 and ok.json()["results"] == results
        assert (await http.get(f"/api/games/{pin}/results")).status_code == 401
        wrong_token = await http.get(f"/api/games/{pin}/results", headers={"Authorization": "Bearer nope"})
        assert wrong_token.status_code == 403
        info = (await http.get(f"/api/games/{pin}")).json()
        assert info == {"pin": pin, "title": "Test quiz", "phase": "FINISHED", "players": 3, "question_count": 3}
        late = await http.post(f"/api/games/{pin}/players", json={"name": "Late"})
        assert late.status_code == 410 and late.json()["error"]["code"] == "finished"

    # No message sent to anyone before a reveal carried the correct option.
    for client in [the_host, *(c for c, _ in players.values())]:
        for message in client.received:
            if message["type"] in ("question", "lobby", "joined", "hosting", "answer_ack", "answer_count"):
                assert "correct" not in message, message
        await client.close()


async def test_players_get_lobby_counts_only_until_the_first_question(server: ServerProcess) -> None:
    """A count broadcast to every player costs the loop ~10-25 µs per socket: one landing
    inside a question would time that question's answers late, so after the first question
    only the host hears of late joiners."""
    game = await create_game(server.base_url, quiz(n=2, time_limit=20))
    the_host = await host(server.ws_url, game)
    ada, _ = await player(server.ws_url, game["pin"], "Ada")
    lobby = await ada.recv("lobby", skip=())
    assert lobby["count"] == 1
    await the_host.send({"type": "start"})
    await ada.recv("question", skip=("lobby",))
    await player(server.ws_url, game["pin"], "Bob")  # joins the running game
    late = []
    while True:
        message = await the_host.recv("lobby", skip=("answer_count", "question"))
        late += [p["name"] for p in message["joined"]]
        if "Bob" in late:
            break
    # the host has had Bob's lobby update; wait two more intervals for any player broadcast
    await asyncio.sleep(0.8)
    since_bob = []
    try:
        while True:
            since_bob.append(await ada.next_message(timeout=0.2))
    except TimeoutError:
        pass
    assert [m for m in since_bob if m["type"] == "lobby"] == []
