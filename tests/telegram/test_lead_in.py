"""A quiz with a "get ready" lead-in: a Telegram group reads the question while web players
see their countdown, and takes answers from `opens_at` like everyone else."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.fakes import FakeTelegram
from tests.support import QUIET, create_game, host, quiz
from tests.telegram.host_moves import close_when_answered
from tests.telegram.play import answer, answer_data, posted
from tests.telegram.support import GROUP, attach, live_server, make_settings

NOISE = QUIET | {"answer_ack", "leaderboard"}


@pytest.mark.parametrize("mode", ["polling", "inline"])
async def test_the_group_answers_from_opens_at(mode: str, redis_url: str, tmp_path: Path) -> None:
    body = quiz(1, time_limit=6) | {"settings": {"lead_in_s": 3}}
    async with FakeTelegram(latency=0.2, threaded=True) as tg, live_server(
        lambda port: make_settings(tg, redis_url, tmp_path)
    ) as server:
        game = await create_game(server.base_url, body)
        screen = await host(server.ws_url, game)
        await attach(server, game, GROUP, mode, tg)
        ann, bob = tg.user(71, "Ann"), tg.user(72, "Bob")
        await screen.send({"type": "start"})
        question = await screen.recv("question", skip=NOISE)
        opens_at = question["opens_at"]
        assert question["deadline"] - opens_at == 6000 and opens_at > question["server_time"] + 2000
        post = await posted(tg, server, GROUP, 0)
        correct = body["questions"][0]["correct"]
        if mode == "inline":  # shown during the lead-in; a press before opens_at is not taken
            assert post.call.wall * 1000 < opens_at - 1000
            query = tg.press_button(GROUP, post.message_id, ann, answer_data(tg, GROUP, post.message_id, correct))
            assert (await tg.callback_answer(query)).text == "⏳ Not yet: answers open in a moment"
        else:  # a poll takes votes as soon as it is there: it goes out when answers open
            assert post.call.wall * 1000 >= opens_at - 50
        await asyncio.sleep(max(0.0, opens_at / 1000 - time.time()) + 0.3)
        for user in (ann, bob):
            _, toast = await answer(tg, GROUP, post, user, correct)
            assert toast is None or toast == f"🔒 Locked in: {'ABCD'[correct]}"
        reveal = await close_when_answered(screen, 0, 2, skip=NOISE)  # both in: the host moves on
        assert sum(reveal["distribution"]) == 2
        answers = await server.live.store.answers(game["pin"], 0)
        assert len(answers) == 2 and all(a.received_ms >= opens_at for a in answers.values())
        await screen.close()
