"""A mixed game on one PIN: a Telegram group (quiz polls or answer buttons) beside a JSON and a
msgpack web player, with the Bot API answering at once (polls) or after a 0.3 s round trip (buttons).

One clock: every Telegram answer is stamped when our server received the update (measured
here where the server's event loop got the bytes of the getUpdates answer carrying it) and
scored against the server's deadline, within 20 ms worth of points of the formula by that
receipt; an answer after the deadline is refused exactly like a web one at the same instant.
Members who never pressed Join play by answering, and the group holds each question open
until its deadline although every joined player answered long before.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from scoring.points import points
from tests.fakes import FakeTelegram
from tests.support import QUIET, create_game, host, player, quiz
from tests.telegram.play import Carried, ServerReceipts, answer, answer_data, carried, join, posted
from tests.telegram.support import GROUP, attach, expected_scores, live_server, make_settings, results, wait_until

pytestmark = pytest.mark.alone  # every answer's stamp within 20 ms of when the server got its bytes

QUESTIONS = 2
LIMIT_S = 7  # long enough for a poll to close at the deadline itself (Telegram wants >= 5 s)
NOISE = QUIET | {"answer_ack", "reveal", "leaderboard"}


async def sleep_until_ms(wall_ms: float) -> None:
    await asyncio.sleep(max(0.0, wall_ms / 1000 - time.time()))


# Each mode and each latency once, not their cross product: the mode decides how an answer
# arrives (a poll answer or a button press), the latency when; no check here depends on both,
# and each case runs alone (the whole suite waits), ~16 s.
@pytest.mark.parametrize(("mode", "latency"), [("polling", 0.0), ("inline", 0.3)])
async def test_mixed_game_one_clock_for_telegram_and_web(
    mode: str, latency: float, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    receipts = ServerReceipts()
    receipts.install(monkeypatch)
    # the fake runs on its own thread and loop, as Telegram would not share our event loop
    async with FakeTelegram(latency=latency, group_rate_limit=(20, 60.0), threaded=True) as tg, live_server(
        lambda port: make_settings(tg, redis_url, tmp_path)
    ) as server:
        body = quiz(QUESTIONS, time_limit=LIMIT_S)
        game = await create_game(server.base_url, body)
        pin = game["pin"]
        screen = await host(server.ws_url, game)
        await attach(server, game, GROUP, mode, tg)

        ann, bob, cy, late = tg.user(11, "Ann"), tg.user(12, "Bob", "Smith"), tg.user(13, "Cy"), tg.user(14, "Lu")
        assert await join(tg, GROUP, ann) == "✅ You're in as Ann!"  # only Ann presses Join
        web, _ = await player(server.ws_url, pin, "Jo")
        packed, _ = await player(server.ws_url, pin, "Max", codec="msgpack")
        tardy, _ = await player(server.ws_url, pin, "Tardy")
        await screen.send({"type": "start"})

        deadlines: dict[int, int] = {}
        stamps: list[tuple[int, int, Carried]] = []  # (user id, question, the update and its getUpdates answer)
        for q in range(QUESTIONS):
            deadlines[q] = (await screen.recv("question"))["deadline"]
            correct = body["questions"][q]["correct"]
            for client in (web, packed, tardy):
                await client.recv("question", skip=NOISE)
            await web.send({"type": "answer", "question": q, "option": correct})
            await packed.send({"type": "answer", "question": q, "option": (correct + 1) % 4})
            post = await posted(tg, server, GROUP, q)
            assert (post.poll_id is not None) == (mode == "polling")
            for user, option in ((ann, correct), (bob, correct), (cy, (correct + 2) % 4)):
                await asyncio.sleep(0.3)
                _, toast = await answer(tg, GROUP, post, user, option)
                if mode == "inline":
                    assert toast == f"🔒 Locked in: {'ABCD'[option]}"
                data = None if post.poll_id else answer_data(tg, GROUP, post.message_id, option)
                stamps.append((user["id"], q, await carried(tg, user["id"], poll_id=post.poll_id, data=data)))

            # everyone joined has answered, but the group may still answer: no early close
            with pytest.raises(TimeoutError):
                await screen.recv("reveal", timeout=0.5)

            # just after the deadline: a web answer and a Telegram answer at the same instant
            await sleep_until_ms(deadlines[q] + 30)
            await tardy.send({"type": "answer", "question": q, "option": correct})
            if post.poll_id is not None:
                tg.vote(post.poll_id, late, [correct])  # Telegram may still take it (close_date is whole seconds)
            else:
                query = tg.press_button(GROUP, post.message_id, late, answer_data(tg, GROUP, post.message_id, correct))
                assert (await tg.callback_answer(query)).text == "⏱ Time's up"
            error = await tardy.recv("error", skip=NOISE)
            assert error["code"] == "too_late"
            reveal = await screen.recv("reveal")
            assert reveal["question"] == q and sum(reveal["distribution"]) == 5  # Jo, Max, Ann, Bob, Cy
            await screen.recv("leaderboard")
            await screen.send({"type": "next"})
        await screen.recv("finished")

        table = await results(server, game)
        assert set(table) == {"Ann", "Bob Smith", "Cy", "Jo", "Max", "Tardy"}  # Lu was always late
        assert {name: row["score"] for name, row in table.items()} == await expected_scores(
            server, pin, body, deadlines
        )
        assert table["Tardy"]["answers"] == 0

        # each Telegram answer was stamped when the server received it: within 20 ms worth of points
        # of the formula by that receipt (where the event loop got the bytes; the stamp is taken one
        # loop turn later, when the HTTP client reads them). How long the fake, a thread of this
        # process on a shared box, took to get the bytes there is no part of the server's clock: it
        # is printed, not bounded. Timing answers from the post, as once, put them 150+ ms off.
        players = {name: pid for pid, name in (await server.live.store.players(pin)).items()}
        ids = {11: players["Ann"], 12: players["Bob Smith"], 13: players["Cy"]}
        errors_ms: list[float] = []
        transit_ms: list[float] = []
        limit_ms = LIMIT_S * 1000
        for user_id, q, update in stamps:
            recorded = (await server.live.store.answers(pin, q))[ids[user_id]].received_ms
            receipt = receipts.ms(update.update_id)
            errors_ms.append(recorded - receipt)
            transit_ms.append(receipt - update.sent_ms)
            assert abs(recorded - receipt) <= 20, (user_id, q, recorded - receipt)
            deadline = deadlines[q]
            by_receipt = points(correct=True, received_ms=round(receipt), deadline_ms=deadline, time_limit_ms=limit_ms)
            scored = points(correct=True, received_ms=recorded, deadline_ms=deadline, time_limit_ms=limit_ms)
            assert abs(scored - by_receipt) <= 20 * 1000 // limit_ms + 1  # 20 ms worth of points (+ rounding)

        print(
            f"\n{mode} at {latency} s: stamp - server receipt {min(errors_ms):.1f} .. {max(errors_ms):.1f} ms; "
            f"fake -> server {min(transit_ms):.1f} .. {max(transit_ms):.1f} ms"
        )

        # what the group saw: every question with its results, and the podium
        await wait_until(lambda: any((m.text or "").startswith("🏁") for m in tg.messages(GROUP)), what="podium")
        texts = [m.text or "" for m in tg.messages(GROUP, bot_only=True)]
        if mode == "polling":
            assert sum("the answer was" in t for t in texts) == QUESTIONS
            for q, poll in enumerate(tg.polls(GROUP)):
                assert poll.type == "quiz" and not poll.is_anonymous
                assert poll.close_date == -(-deadlines[q] // 1000)  # the server deadline, rounded up
                assert poll.correct_option_ids == [body["questions"][q]["correct"]]
        else:
            assert sum("⏹ closed" in t for t in texts) == QUESTIONS  # each question became its results
        assert not [c for c in tg.calls if c.error_code == 429]
        assert tg.max_ops_in_window(GROUP, 60) <= 20
        for client in (web, packed, tardy, screen):
            await client.close()

