"""Telegram's limits, end to end: the per-group budget over a 20-question game, and a 429."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import FakeTelegram
from tests.support import QUIET, create_game, host, player, quiz
from tests.telegram.play import answer, join, posted
from tests.telegram.support import GROUP, attach, expected_scores, live_server, make_settings, results, wait_until

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

BUDGET, WINDOW_S = 20, 3.0
NOISE = QUIET | {"answer_ack", "reveal", "leaderboard"}


async def test_twenty_questions_never_exceed_the_group_budget(redis_url: str, tmp_path: Path) -> None:
    # The fake enforces the same limit: any excess would show up as a 429 in its log.
    async with FakeTelegram(group_rate_limit=(BUDGET, WINDOW_S)) as tg, live_server(
        lambda port: make_settings(
            tg, redis_url, tmp_path, telegram_budget_ops=BUDGET, telegram_budget_window_s=WINDOW_S
        )
    ) as server:
        body = quiz(20, time_limit=5)
        game = await create_game(server.base_url, body)
        screen = await host(server.ws_url, game)
        await attach(server, game, GROUP, "inline", tg)
        ann, bob = tg.user(31, "Ann"), tg.user(32, "Bob")
        for user in (ann, bob):
            assert (await join(tg, GROUP, user)).startswith("✅")
        await screen.send({"type": "start"})
        for q in range(20):
            await screen.recv("question", skip=NOISE)
            post = await posted(tg, server, GROUP, q)
            correct = body["questions"][q]["correct"]
            _, toast = await answer(tg, GROUP, post, ann, correct)
            assert toast is not None and toast.startswith("🔒 Locked in")
            if q % 2 == 0:
                await answer(tg, GROUP, post, bob, (correct + 1) % 4)  # everyone answered: closes
            else:
                await screen.send({"type": "next"})  # the host closes it early
            await screen.recv("reveal")
            await screen.send({"type": "next"})
        await screen.recv("finished", skip=NOISE)
        await wait_until(lambda: any((m.text or "").startswith("🏁") for m in tg.messages(GROUP)), timeout=20)
        await wait_until(lambda: server.runtime.bridge.outboxes[GROUP].pending == 0, timeout=20)

        assert tg.max_ops_in_window(GROUP, WINDOW_S) <= BUDGET
        assert not [c for c in tg.calls if c.error_code == 429]
        assert sum("the answer was" in (m.text or "") for m in tg.messages(GROUP)) == 20
        table = await results(server, game)
        assert table["Ann"]["answers"] == 20 and table["Bob"]["answers"] == 10
        assert table["Ann"]["score"] > 0 and table["Bob"]["score"] == 0
        await screen.close()


async def test_a_429_pauses_the_chat_and_the_game_still_completes(redis_url: str, tmp_path: Path) -> None:
    async with FakeTelegram() as tg, live_server(
        lambda port: make_settings(tg, redis_url, tmp_path, telegram_budget_ops=20, telegram_budget_window_s=5)
    ) as server:
        body = quiz(3, time_limit=6)
        game = await create_game(server.base_url, body)
        pin = game["pin"]
        screen = await host(server.ws_url, game)
        await attach(server, game, GROUP, "polling", tg)
        ann = tg.user(41, "Ann")
        await join(tg, GROUP, ann)
        web, _ = await player(server.ws_url, pin, "Cleo")
        await screen.send({"type": "start"})
        deadlines: dict[int, int] = {}
        retry_after = 2
        for q in range(3):
            if q == 1:  # between questions, once the chat is quiet: the next operation gets a 429
                await wait_until(lambda: server.runtime.bridge.outboxes[GROUP].pending == 0)
                await server.runtime.bridge.outboxes[GROUP].idle()
                tg.inject_429(None, retry_after=retry_after, chat_id=GROUP)
            if q > 0:
                await screen.send({"type": "next"})
            deadlines[q] = (await screen.recv("question", skip=NOISE))["deadline"]
            await web.recv("question", skip=NOISE)
            post = await posted(tg, server, GROUP, q)
            await answer(tg, GROUP, post, ann, body["questions"][q]["correct"])
            await web.send({"type": "answer", "question": q, "option": body["questions"][q]["correct"]})
            await screen.recv("reveal")
        await screen.send({"type": "next"})
        await screen.recv("finished", skip=NOISE)
        await wait_until(lambda: any((m.text or "").startswith("🏁") for m in tg.messages(GROUP)), timeout=15)

        chat_calls = [c for c in tg.calls if c.chat_id == GROUP]
        refused = [c for c in chat_calls if c.error_code == 429]
        assert len(refused) == 1
        after = [c for c in chat_calls if c.mono > refused[0].mono]
        assert after, "the chat was served again after the pause"
        assert after[0].mono - refused[0].mono >= retry_after  # nothing at all during retry_after
        assert after[0].method == refused[0].method == "sendPoll"  # the refused question came first

        table = await results(server, game)
        assert table["Ann"]["answers"] == 3  # the late question still took Ann's answer
        assert {n: r["score"] for n, r in table.items()} == await expected_scores(server, pin, body, deadlines)
        await web.close()
        await screen.close()
