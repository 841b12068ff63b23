"""Input hygiene at the edge: quiz texts and names that would show nothing or scramble the shared
screen are refused with stable codes; emoji names are welcome and counted as a reader counts
them; the public sample endpoint carries no answer keys."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import Client, ServerProcess, create_game, player, quiz


def one_question(**overrides: Any) -> dict[str, Any]:
    question = {"text": "Which?", "options": ["Yes", "No"], "correct": 0, "time_limit": 10} | overrides
    return {"title": "Quiz", "questions": [question]}


BAD_QUIZZES = {
    "title of spaces": {"title": "    ", "questions": one_question()["questions"]},
    "title with NUL": {"title": "Quiz\x00", "questions": one_question()["questions"]},
    "title with RTL override": {"title": "Quiz \u202egnp.exe", "questions": one_question()["questions"]},
    "title with a newline": {"title": "Line one\nLine two", "questions": one_question()["questions"]},
    "text of zero-width spaces": one_question(text="\u200b\u200b"),
    "text of Braille blanks": one_question(text="\u2800\u2800\u2800"),
    "text of Hangul fillers": one_question(text="\u3164"),
    "option of zero-width spaces": one_question(options=["Yes", "\u200b"]),
    "option of a Braille blank": one_question(options=["\u2800", "No"]),
    "option of a Hangul filler": one_question(options=["Yes", "\u3164 "]),
    "duplicate options": one_question(options=["Paris", "Rome", "Paris"]),
    "duplicate options by case and spaces": one_question(options=["Paris", " paris ", "Rome"]),
    "duplicate options hidden by a zero-width space": one_question(options=["Paris", "Par\u200bis"]),
}


@pytest.mark.parametrize("label", list(BAD_QUIZZES))
async def test_quiz_texts_that_show_nothing_or_break_the_screen_are_refused(server: ServerProcess, label: str) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.post("/api/games", json=BAD_QUIZZES[label])
    assert response.status_code == 422, (label, response.text)
    error = response.json()["error"]
    assert error["code"] == "invalid_quiz"
    assert error["details"] and all(isinstance(d["msg"], str) for d in error["details"])


async def test_ordinary_quiz_texts_are_kept(server: ServerProcess) -> None:
    body = {
        "title": "  Geografiya — Oʻzbekiston 🇺🇿  ",
        "questions": [{"text": "Line one\nline two: 👨‍👩‍👧?", "options": ["Toshkent", "Samarqand", "Тошкент"],
                       "correct": 0, "time_limit": 10}],
    }
    game = await create_game(server.base_url, body)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        info = (await http.get(f"/api/games/{game['pin']}")).json()
    assert info["title"] == "Geografiya — Oʻzbekiston 🇺🇿"


@pytest.mark.parametrize(
    "name",
    ["\u3164", "\u2800\u2800", "\u115f\u1160", "\u0301", "\uffa0", "\u200d", "a\u200db", "x\u0301" + "\u0301" * 20],
)
async def test_names_that_render_as_nothing_are_refused(server: ServerProcess, name: str) -> None:
    game = await create_game(server.base_url)
    client = await Client.connect(f"{server.ws_url}/ws/play/{game['pin']}")
    await client.send({"type": "join", "name": name})
    assert (await client.recv("error"))["code"] == "name_invalid"
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.post(f"/api/games/{game['pin']}/players", json={"name": name})
    assert response.status_code == 422 and response.json()["error"]["code"] == "name_invalid"
    await client.close()


@pytest.mark.parametrize(
    "name",
    ["👨‍👩‍👧", "Ann 👩🏽‍💻", "🏴‍☠️ Pirate", "🏴󠁧󠁢󠁥󠁮󠁧󠁿", "🇺🇿 Olim", "👨‍👩‍👧‍👦" * 24, "नमस्ते", "Zoë"],
)
async def test_emoji_names_are_accepted_and_counted_in_graphemes(server: ServerProcess, name: str) -> None:
    game = await create_game(server.base_url)
    client, joined = await player(server.ws_url, game["pin"], name)
    assert joined["name"] == name
    await client.close()


async def test_names_longer_than_24_graphemes_are_refused(server: ServerProcess) -> None:
    game = await create_game(server.base_url)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.post(f"/api/games/{game['pin']}/players", json={"name": "👨‍👩‍👧" * 25})
    assert response.status_code == 422 and response.json()["error"]["code"] == "name_invalid"


async def test_sample_endpoint_publishes_no_answer_keys_and_the_sample_still_plays(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        names = [s["name"] for s in (await http.get("/api/samples")).json()["samples"]]
        assert "solar-system" in names
        for name in names:
            preview = (await http.get(f"/api/samples/{name}")).json()
            assert preview["sample"] == name
            assert preview["questions"] and all("correct" not in q for q in preview["questions"]), name
            assert "correct" not in (await http.get(f"/api/samples/{name}")).text
            # The host page posts the preview back as it is: the server plays the stored sample.
            created = await http.post("/api/games", json=preview)
            assert created.status_code == 201, created.text
            assert created.json()["question_count"] == len(preview["questions"])
        unknown = await http.post("/api/games", json={"sample": "../etc/passwd"})
        assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "invalid_quiz"
    # The answer key is the stored one: answering with it scores.
    game = await create_game(server.base_url, {"sample": "demo"})
    from tests.support import host

    the_host = await host(server.ws_url, game)
    ann, _ = await player(server.ws_url, game["pin"], "Ann")
    from gameserver.quizzes import load_sample

    stored = load_sample("demo")
    assert stored is not None
    await the_host.send({"type": "start"})
    await ann.recv("question")
    await ann.send({"type": "answer", "question": 0, "option": stored["questions"][0]["correct"]})
    await ann.recv("answer_ack")
    reveal = await ann.recv("reveal", skip=("lobby", "answer_count", "question"))
    assert reveal["you"]["correct"] is True
    await ann.close()
    await the_host.close()


async def test_plain_quiz_still_creates(server: ServerProcess) -> None:
    game = await create_game(server.base_url, quiz(n=2))
    assert game["question_count"] == 2
