"""Members who never pressed Join, and options that Telegram would clip into duplicates."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from tests.fakes import FakeTelegram
from tests.support import QUIET, create_game, host, player, quiz
from tests.telegram.host_moves import close_when_answered
from tests.telegram.play import answer, answer_data, posted
from tests.telegram.support import GROUP, attach, live_server, make_settings, results, wait_until

MEMBERS = 40
QUESTIONS = 3
NOISE = QUIET | {"answer_ack", "reveal", "leaderboard"}


@pytest.mark.parametrize("mode", ["polling", "inline"])
async def test_forty_members_who_never_joined_lose_no_answer(mode: str, redis_url: str, tmp_path: Path) -> None:
    async with FakeTelegram(latency=0.3, threaded=True) as tg, live_server(
        lambda port: make_settings(tg, redis_url, tmp_path)
    ) as server:
        body = quiz(QUESTIONS, time_limit=10)  # the host closes each question once all 41 answered
        game = await create_game(server.base_url, body)
        pin = game["pin"]
        screen = await host(server.ws_url, game)
        await attach(server, game, GROUP, mode, tg)
        web, _ = await player(server.ws_url, pin, "Web")
        members = [tg.user(1000 + i, f"Member {i}") for i in range(MEMBERS)]
        rng = random.Random(16)
        await screen.send({"type": "start"})
        for q in range(QUESTIONS):
            await screen.recv("question", skip=NOISE)
            await web.recv("question", skip=NOISE)
            # the only joined player answers at once: "everyone answered" must not close it
            await web.send({"type": "answer", "question": q, "option": 0})
            post = await posted(tg, server, GROUP, q)
            order = members[:]
            rng.shuffle(order)
            queries = []
            for user in order:  # 40 answers over ~1.5 s (several getUpdates rounds), well before the deadline
                await asyncio.sleep(rng.uniform(0, 0.075))
                option = rng.randrange(4)
                if post.poll_id is not None:
                    assert tg.vote(post.poll_id, user, [option])
                else:
                    data = answer_data(tg, GROUP, post.message_id, option)
                    queries.append(tg.press_button(GROUP, post.message_id, user, data))
            toasts = [(await tg.callback_answer(query)).text for query in queries]
            assert all(t is not None and t.startswith("🔒 Locked in") for t in toasts), toasts
            # every answer is in: the host moves on rather than sitting out the time limit
            reveal = await close_when_answered(screen, q, MEMBERS + 1, skip=NOISE)
            assert sum(reveal["distribution"]) == MEMBERS + 1, reveal["distribution"]
            await screen.send({"type": "next"})
        await screen.recv("finished", skip=NOISE)

        table = await results(server, game)
        assert len(table) == MEMBERS + 1
        assert all(table[f"Member {i}"]["answers"] == QUESTIONS for i in range(MEMBERS))
        await web.close()
        await screen.close()


async def test_options_clipped_alike_go_out_as_buttons(redis_url: str, tmp_path: Path) -> None:
    long = "The treaty signed in the spring of that year by every delegation present at the conference in Vienna, "
    assert len(long) > 100  # Telegram's limit for a poll option
    body = quiz(2, time_limit=6)
    body["questions"][0]["options"] = [long + "first draft", long + "second draft", "Neither", "Both"]
    body["questions"][0]["correct"] = 1
    async with FakeTelegram() as tg, live_server(lambda port: make_settings(tg, redis_url, tmp_path)) as server:
        game = await create_game(server.base_url, body)
        screen = await host(server.ws_url, game)
        await attach(server, game, GROUP, "polling", tg)
        ann = tg.user(51, "Ann")
        await screen.send({"type": "start"})
        await screen.recv("question", skip=NOISE)
        first = await posted(tg, server, GROUP, 0)
        assert first.poll_id is None  # a poll would show two identical options, or be refused
        assert long + "second draft" in (tg.message(GROUP, first.message_id).text or "")
        _, toast = await answer(tg, GROUP, first, ann, 1)
        assert toast == "🔒 Locked in: B"
        await screen.send({"type": "next"})
        await screen.recv("reveal", skip=NOISE)
        await screen.send({"type": "next"})
        await screen.recv("question", skip=NOISE)
        second = await posted(tg, server, GROUP, 1)
        assert second.poll_id is not None  # the next question fits a poll again
        assert not [c for c in tg.calls if c.method == "sendPoll" and not c.ok]
        await wait_until(lambda: "⏹ closed" in (tg.message(GROUP, first.message_id).text or ""), what="results")
        await screen.send({"type": "end"})
        await screen.recv("finished", skip=NOISE)
        table = await results(server, game)
        assert table["Ann"]["answers"] == 1 and table["Ann"]["score"] > 0
        await screen.close()
