"""Telegram's limits, end to end: a brisk host within the group's budget, and a 429.

The fake enforces the budget itself (20 sends/edits per group per rolling 60 s, 429 beyond)
with a 0.6 s round trip, so any excess or any lost question shows in its log. The brisk game
runs in Telegram's numbers: 10 s questions, the host moving on 2 s after each reveal, 20
questions (four minutes of budget), in each mode: answer buttons (a question and its results
are one message and one edit; what is left shows who answered) and quiz polls (a poll and a
results message; its close_date is the question's deadline). It runs on a `ScaledClock`
shared by the game server and the fake Bot API, `SPEED` times faster than real time; the
bridge's budget counts in real seconds (`time.monotonic`), so it is given the same 60 s as
`60 / SPEED` real seconds, which is exactly the fake's window (tests/fakes/scaled_clock.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.fakes import FakeTelegram
from tests.fakes.scaled_clock import ScaledClock
from tests.support import QUIET, create_game, host, player, quiz
from tests.telegram.host_moves import close_when_answered
from tests.telegram.play import Carried, ServerReceipts, answer, carried, join, posted
from tests.telegram.support import GROUP, attach, expected_scores, live_server, make_settings, results, wait_until
from transports.telegram.callbacks import AnswerPress, parse_press

BUDGET, WINDOW_S = 20, 60.0  # Telegram's, per group
QUESTIONS, TIME_LIMIT_S, HOST_PAUSE_S, LATENCY_S = 20, 10, 2.0, 0.6
#: how much faster than real time the brisk game runs (Telegram seconds per real second)
SPEED = 5.0
NOISE = QUIET | {"answer_ack", "reveal", "leaderboard"}


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", ["inline", "polling"])
async def test_brisk_host_gets_every_question_posted_within_the_budget(
    mode: str, redis_url: str, tmp_path: Path
) -> None:
    clock = ScaledClock(SPEED)
    async with FakeTelegram(
        group_rate_limit=(BUDGET, WINDOW_S), latency=LATENCY_S, threaded=True, clock=clock
    ) as tg, live_server(
        lambda port: make_settings(
            tg, redis_url, tmp_path, telegram_budget_ops=BUDGET, telegram_budget_window_s=clock.real_s(WINDOW_S),
            # Telegram's seconds too (the app runs on `clock`): how often the lobby and the sweep run
            lobby_interval_ms=1000, sweep_interval_ms=3000,
        ),
        clock,
    ) as server:
        # its budget counts on the machine's clock, so its window is given in real seconds above
        assert server.runtime.bridge.clock is time.monotonic, "the bridge reads another clock now: adjust the window"
        body = quiz(QUESTIONS, time_limit=TIME_LIMIT_S)
        game = await create_game(server.base_url, body)
        screen = await host(server.ws_url, game)
        await attach(server, game, GROUP, mode, tg)
        members = [tg.user(30 + i, f"M{i}") for i in range(4)]
        started = clock.monotonic()
        await screen.send({"type": "start"})
        deadlines: dict[int, int] = {}
        slowest_post_s = 0.0
        for q in range(QUESTIONS):
            deadlines[q] = (await screen.recv("question", skip=NOISE))["deadline"]
            post = await posted(tg, server, GROUP, q)
            delay_s = post.call.wall - (deadlines[q] / 1000 - TIME_LIMIT_S)
            assert delay_s < 4, f"question {q} posted late: {delay_s:.1f} s after it began"
            slowest_post_s = max(slowest_post_s, delay_s)
            assert (post.poll_id is not None) == (mode == "polling")
            for i, user in enumerate(members[: 1 + q % len(members)]):  # nobody pressed Join
                _, toast = await answer(tg, GROUP, post, user, (body["questions"][q]["correct"] + i) % 4)
                assert mode == "polling" or (toast is not None and toast.startswith("🔒 Locked in"))
            await screen.recv("reveal", timeout=15)
            await clock.sleep(HOST_PAUSE_S)  # the brisk host
            await screen.send({"type": "next"})
        await screen.recv("finished", skip=NOISE)
        played_s = clock.monotonic() - started
        await wait_until(lambda: any((m.text or "").startswith("🏁") for m in tg.messages(GROUP)), timeout=30)
        await wait_until(lambda: server.runtime.bridge.outboxes[GROUP].pending == 0, timeout=30)

        assert not [c for c in tg.calls if c.error_code == 429]
        busiest = tg.max_ops_in_window(GROUP, WINDOW_S)
        assert busiest <= BUDGET
        texts = [m.text or "" for m in tg.messages(GROUP, bot_only=True)]
        indicator_edits = []
        if mode == "inline":  # each question's message became its results, its buttons gone
            questions = [m for m in tg.messages(GROUP, bot_only=True) if m.text and m.text.startswith("❓")]
            assert len(questions) == QUESTIONS and all("⏹ closed" in (m.text or "") for m in questions)
            assert not any(isinstance(parse_press(d), AnswerPress) for m in questions for d in m.callback_data)
            edits = tg.calls_for("editMessageText", GROUP)
            indicator_edits = [c for c in edits if "answered" in str(c.params.get("text")) and c.ok]
            assert indicator_edits, "what is left of the budget shows who answered"
        else:  # every question a quiz poll, each followed by its results
            assert len(tg.polls(GROUP)) == QUESTIONS
            assert sum("the answer was" in t for t in texts) == QUESTIONS
        table = await results(server, game)
        assert table["M0"]["answers"] == QUESTIONS
        ops = len(tg.ops(GROUP))
        print(
            f"\nbrisk game ({mode}): {ops} operations in {played_s:.0f} s (window {WINDOW_S:.0f} s): "
            f"{ops / played_s * WINDOW_S:.1f} per window on average, busiest window {busiest}, "
            f"{len(indicator_edits)} indicator edits, slowest post {slowest_post_s:.1f} s after its question began"
        )
        await screen.close()


@pytest.mark.alone  # every answer's stamp within 20 ms of when the server got its bytes
async def test_a_429_pauses_the_chat_and_answers_keep_the_server_clock(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    receipts = ServerReceipts()  # when the server got each update (see test_full_game)
    receipts.install(monkeypatch)
    async with FakeTelegram(latency=0.3, threaded=True) as tg, live_server(
        lambda port: make_settings(tg, redis_url, tmp_path, telegram_budget_ops=20, telegram_budget_window_s=5)
    ) as server:
        body = quiz(3, time_limit=5)
        game = await create_game(server.base_url, body)
        pin = game["pin"]
        screen = await host(server.ws_url, game)
        await attach(server, game, GROUP, "polling", tg)
        ann = tg.user(41, "Ann")
        await join(tg, GROUP, ann)
        web, _ = await player(server.ws_url, pin, "Cleo")
        await screen.send({"type": "start"})
        deadlines: dict[int, int] = {}
        retry_after = 1  # Telegram counts it in whole seconds: its shortest pause
        stamps: list[tuple[int, Carried]] = []
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
            assert post.poll_id is not None
            stamps.append((q, await carried(tg, 41, poll_id=post.poll_id)))
            # both answers are in: the host moves on rather than sitting out the time limit
            reveal = await close_when_answered(screen, q, 2, skip=NOISE)
            assert sum(reveal["distribution"]) == 2, (q, reveal["distribution"])
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
        ann_id = next(p for p, n in (await server.live.store.players(pin)).items() if n == "Ann")
        for q, update in stamps:  # scored by when the server got the vote, not by when the poll went out
            recorded = (await server.live.store.answers(pin, q))[ann_id].received_ms
            assert abs(recorded - receipts.ms(update.update_id)) <= 20, (q, recorded - receipts.ms(update.update_id))
        await web.close()
        await screen.close()

