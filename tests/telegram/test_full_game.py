"""A full game: three Telegram players in a group plus one web player, in each mode.

Scores must match the points formula for everyone; a Telegram answer's time must be measured
from when the question reached Telegram to when our server received the answer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.fakes import FakeTelegram
from tests.support import QUIET, create_game, host, player, quiz
from tests.telegram.play import answer, join, posted
from tests.telegram.support import GROUP, attach, expected_scores, live_server, make_settings, results, wait_until

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

QUESTIONS = 3
LIMIT_S = 5
NOISE = QUIET | {"answer_ack", "reveal", "leaderboard"}


@pytest.mark.parametrize("mode", ["polling", "inline"])
async def test_full_game_three_telegram_players_and_one_web_player(mode: str, redis_url: str, tmp_path: Path) -> None:
    async with FakeTelegram() as tg, live_server(
        lambda port: make_settings(tg, redis_url, tmp_path, telegram_budget_ops=20, telegram_budget_window_s=4)
    ) as server:
        body = quiz(QUESTIONS, time_limit=LIMIT_S)
        game = await create_game(server.base_url, body)
        pin = game["pin"]
        screen = await host(server.ws_url, game)
        await attach(server, game, GROUP, mode)

        ann, ann2, bob = tg.user(11, "Ann"), tg.user(12, "Ann"), tg.user(13, "Bob", "Smith")
        assert await join(tg, GROUP, ann) == "✅ You're in as Ann!"
        assert await join(tg, GROUP, ann2) == "✅ You're in as Ann (2)!"
        assert await join(tg, GROUP, ann2) == "You're already in as Ann (2)"
        if mode == "inline":
            assert await join(tg, GROUP, bob) == "✅ You're in as Bob Smith!"
        # in polling mode Bob joins by answering the first poll
        web, _ = await player(server.ws_url, pin, "Cleo")
        await screen.send({"type": "start"})

        deadlines: dict[int, int] = {}
        votes: list[tuple[int, int, float, float]] = []  # (user id, question, vote time, post arrival)
        for q in range(QUESTIONS):
            deadlines[q] = (await screen.recv("question"))["deadline"]
            await web.recv("question", skip=NOISE)
            post = await posted(tg, server, GROUP, mode, q)
            correct = body["questions"][q]["correct"]
            plan = [(bob, correct), (ann, correct), (ann2, (correct + 1 + q) % 4)]
            for user, option in plan:
                await asyncio.sleep(0.25)
                when, toast = await answer(tg, GROUP, post, user, option)
                votes.append((user["id"], q, when, post.call.mono))
                if mode == "inline":
                    assert toast == f"🔒 Locked in: {'ABCD'[option]}"
            await wait_until(lambda q=q: len(server.runtime.bridge.sessions[GROUP].questions[q].answered) == 3)
            await web.send({"type": "answer", "question": q, "option": correct})
            reveal = await screen.recv("reveal")  # everyone answered: it closes at once
            assert reveal["question"] == q and sum(reveal["distribution"]) == 4
            await screen.recv("leaderboard")
            await screen.send({"type": "next"})
        finished = await screen.recv("finished")
        assert len(finished["podium"]) == 3

        table = await results(server, game)
        assert set(table) == {"Ann", "Ann (2)", "Bob Smith", "Cleo"}
        expected = await expected_scores(server, pin, body, deadlines)
        assert {name: row["score"] for name, row in table.items()} == expected
        assert all(row["answers"] == QUESTIONS for row in table.values())
        assert table["Bob Smith"]["score"] > table["Ann (2)"]["score"] >= 0

        # Telegram answer time = (our receive time - when the post returned), from the opening
        players = {name: pid for pid, name in (await server.live.store.players(pin)).items()}
        ids = {11: players["Ann"], 12: players["Ann (2)"], 13: players["Bob Smith"]}
        for user_id, q, when, post_arrival in votes:
            recorded = (await server.live.store.answers(pin, q))[ids[user_id]].received_ms
            elapsed_ms = recorded - (deadlines[q] - LIMIT_S * 1000)
            assert abs(elapsed_ms - (when - post_arrival) * 1000) < 500, (user_id, q, elapsed_ms)

        # what the group saw: each question, its results, and the podium with its own players
        texts = [m.text or "" for m in tg.messages(GROUP, bot_only=True)]
        assert sum("the answer was" in t for t in texts) == QUESTIONS
        podium = await wait_until(lambda: [t for t in texts_of(tg) if t.startswith("🏁 Game over!")], what="podium")
        assert all(name in podium[0] for name in ("Ann (2)", "Bob Smith", "This chat"))
        if mode == "polling":
            polls = tg.polls(GROUP)
            assert len(polls) == QUESTIONS
            for q, poll in enumerate(polls):
                assert poll.type == "quiz" and not poll.is_anonymous and poll.open_period == LIMIT_S
                assert poll.correct_option_ids == [body["questions"][q]["correct"]]
        else:
            assert tg.calls_for("editMessageText", GROUP), "the answered indicator is edited in"
        assert not [c for c in tg.calls if c.error_code == 429]
        assert tg.max_ops_in_window(GROUP, 4) <= 20
        await web.close()
        await screen.close()


def texts_of(tg: FakeTelegram) -> list[str]:
    return [m.text or "" for m in tg.messages(GROUP, bot_only=True)]

