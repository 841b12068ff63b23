"""The fake Bot API server, driven by the real python-telegram-bot 22.8 client."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import threading
import time
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import (
    Bot,
    ChatMemberAdministrator,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    PollAnswer,
    Update,
)
from telegram.error import BadRequest, Conflict, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    PollAnswerHandler,
)

from tests.fakes import Call, FakeTelegram, serve_asgi

# PTB 22.8 warns when reading int-valued time periods (retry_after, open_period) unless PTB_TIMEDELTA=1.
GROUP = -1001234567890
OTHER_GROUP = -1009876543210
ALLOWED = ["message", "callback_query", "poll", "poll_answer", "my_chat_member"]


def make_bot(tg: FakeTelegram) -> Bot:
    return Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url)


def seconds(value: float | dtm.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d.upper(), callback_data=d) for d in data]])


async def test_raw_json_form_and_multipart_bodies_case_insensitive() -> None:
    async with FakeTelegram() as tg, httpx.AsyncClient(base_url=f"{tg.base_url}{tg.token}/") as http:
        markup = {"inline_keyboard": [[{"text": "Join", "callback_data": "join:1"}]]}
        r = await http.post("SENDMESSAGE", json={"chat_id": GROUP, "text": "json", "reply_markup": markup})
        assert r.status_code == 200 and r.json()["result"]["reply_markup"] == markup
        r = await http.post(
            "sendmessage", data={"chat_id": str(GROUP), "text": "123", "reply_markup": json.dumps(markup)}
        )
        assert r.json()["result"]["text"] == "123"  # plain string fields are never JSON-decoded
        r = await http.post(
            "sendMessage",
            files={"chat_id": (None, str(GROUP)), "text": (None, "multi\r\npart"), "x": ("f", b"1")},
        )
        assert r.status_code == 200, r.text
        r = await http.get("getMe")
        assert r.json()["result"]["is_bot"] is True
        r = await http.post("sendSticker", json={"chat_id": GROUP})
        assert r.status_code == 404 and r.json() == {
            "ok": False,
            "error_code": 404,
            "description": "Not Found",
        }

        texts = [(m.text, m.reply_markup) for m in tg.messages(GROUP)]
        assert texts == [("json", markup), ("123", markup), ("multi\r\npart", None)]
        assert [c.method for c in tg.calls] == [
            "sendMessage",
            "sendMessage",
            "sendMessage",
            "getMe",
            "sendSticker",
        ]
        assert tg.calls[1].chat_id == GROUP and tg.calls[1].params["reply_markup"] == markup


async def test_edits_not_modified_markup_rendering_and_callback_answers() -> None:
    async with FakeTelegram() as tg, make_bot(tg) as bot:
        msg = await bot.send_message(
            GROUP, "<b>Lobby</b> &amp; 1 player", parse_mode="HTML", reply_markup=keyboard("join")
        )
        assert msg.text == "Lobby & 1 player" and msg.entities[0].type == "bold"
        assert msg.from_user is not None and msg.from_user.id == tg.bot_id
        with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
            await bot.edit_message_text(
                "<b>Lobby</b> &amp; 1 player",
                GROUP,
                msg.message_id,
                parse_mode="HTML",
                reply_markup=keyboard("join"),
            )
        with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
            await bot.edit_message_reply_markup(GROUP, msg.message_id, reply_markup=keyboard("join"))
        # Same text but without bold is a different message: allowed.  No reply_markup -> keyboard removed.
        edited = await bot.edit_message_text("Lobby & 1 player", GROUP, msg.message_id)
        assert isinstance(edited, Message) and edited.reply_markup is None and edited.edit_date is not None
        [current] = tg.messages(GROUP)
        assert (current.text, current.entities, current.reply_markup, current.edit_count) == (
            "Lobby & 1 player",
            [],
            None,
            1,
        )
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
            await bot.send_message(GROUP, "score < 5", parse_mode="HTML")
        with pytest.raises(BadRequest, match="reserved"):
            await bot.send_message(GROUP, "Done.", parse_mode="MarkdownV2")
        md = await bot.send_message(GROUP, r"*Q1* 2\.5 pts", parse_mode="MarkdownV2", reply_markup=keyboard("a"))
        assert md.text == "Q1 2.5 pts"

        ann = tg.user(7, "Ann", username="ann")
        query_id = tg.press_button(GROUP, md.message_id, ann, "a")
        with pytest.raises(ValueError, match="no button"):
            tg.press_button(GROUP, md.message_id, ann, "b")
        assert await bot.answer_callback_query(query_id, text="Got it", show_alert=True)
        answer = await tg.callback_answer(query_id, 1.0)
        assert (answer.text, answer.show_alert) == ("Got it", True)
        with pytest.raises(BadRequest, match=r"(?i)query is too old"):
            await bot.answer_callback_query(query_id, text="again")
        [update] = await bot.get_updates()
        assert update.callback_query is not None and update.callback_query.data == "a"
        assert update.callback_query.message is not None
        assert update.callback_query.message.message_id == md.message_id

        assert await bot.delete_message(GROUP, msg.message_id)
        with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
            await bot.delete_message(GROUP, msg.message_id)
        assert [m.message_id for m in tg.messages(GROUP)] == [md.message_id]


@pytest.mark.parametrize("threaded", [False, True], ids=["same-loop", "threaded"])
async def test_quiz_poll_vote_comes_back_as_poll_answer(threaded: bool) -> None:
    async with FakeTelegram(threaded=threaded) as tg, make_bot(tg) as bot:
        sent = await bot.send_poll(
            GROUP,
            "2 + 2?",
            ["3", "4", "5"],
            type="quiz",
            is_anonymous=False,
            correct_option_ids=[1],
            open_period=30,
            explanation="basic maths",
        )
        poll = sent.poll
        assert poll is not None
        assert (poll.type, poll.is_anonymous, poll.is_closed, poll.allows_revoting) == (
            "quiz",
            False,
            False,
            False,
        )
        assert poll.correct_option_ids == (1,) and seconds(poll.open_period or 0) == 30
        assert poll.close_date is not None and [o.voter_count for o in poll.options] == [0, 0, 0]
        persistent = [o.persistent_id for o in poll.options]
        assert len(set(persistent)) == 3

        ann, bob = tg.user(7, "Ann"), tg.user(8, "Bob", "Builder", "bob")
        assert tg.vote(poll.id, ann, [1])
        assert tg.vote(poll.id, bob, [0])
        assert not tg.vote(poll.id, ann, [2])  # quizzes do not allow changing the answer
        assert tg.events[-1].kind == "vote_rejected" and tg.events[-1].detail["reason"] == "revoting is not allowed"

        updates = await bot.get_updates(timeout=1, allowed_updates=ALLOWED)
        answers = [u.poll_answer for u in updates]
        assert all(isinstance(a, PollAnswer) for a in answers) and len(answers) == 2
        first = answers[0]
        assert first is not None and first.user is not None
        assert (first.poll_id, first.user.id, first.option_ids) == (poll.id, 7, (1,))
        assert first.option_persistent_ids == (persistent[1],)
        assert updates[0].update_id < updates[1].update_id

        stopped = await bot.stop_poll(GROUP, sent.message_id)
        assert stopped.is_closed and [o.voter_count for o in stopped.options] == [1, 1, 0]
        assert stopped.total_voter_count == 2
        [closed] = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1)
        assert closed.poll is not None and closed.poll.is_closed and closed.update_id > updates[-1].update_id
        with pytest.raises(BadRequest, match=r"(?i)poll has already been closed"):
            await bot.stop_poll(GROUP, sent.message_id)
        assert tg.polls(GROUP)[0].votes == {7: [1], 8: [0]}


async def test_poll_auto_closes_at_close_date_with_poll_update() -> None:
    async with FakeTelegram(min_open_period=1) as tg, make_bot(tg) as bot:
        sent = await bot.send_poll(
            GROUP,
            "Fast?",
            ["yes", "no"],
            type="quiz",
            is_anonymous=False,
            correct_option_ids=[0],
            open_period=1,
        )
        assert sent.poll is not None
        started = time.monotonic()
        updates = await bot.get_updates(timeout=5, allowed_updates=ALLOWED)
        elapsed = time.monotonic() - started
        assert 0.7 < elapsed < 2.0, elapsed  # returned as soon as the close update was queued
        [update] = updates
        assert update.poll is not None and update.poll.id == sent.poll.id and update.poll.is_closed

        assert not tg.vote(sent.poll.id, tg.user(7, "Ann"), [0])
        rejected = [e for e in tg.events if e.kind == "vote_rejected"]
        assert rejected and rejected[-1].detail["reason"] == "poll is closed"
        assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()
        assert tg.poll(sent.poll.id).rejected_votes[0]["user_id"] == 7


async def test_inject_429_surfaces_as_retry_after() -> None:
    async with FakeTelegram() as tg, make_bot(tg) as bot:
        tg.inject_429("sendMessage", retry_after=7)
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(GROUP, "hello")
        assert seconds(info.value.retry_after) == 7
        assert (await bot.send_message(GROUP, "hello")).text == "hello"

        tg.inject_429(retry_after=3, count=2, chat_id=OTHER_GROUP)  # any operation, one chat only
        assert await bot.send_message(GROUP, "unaffected")
        for _ in range(2):
            with pytest.raises(RetryAfter):
                await bot.send_poll(OTHER_GROUP, "Q", ["a", "b"])
        assert await bot.send_poll(OTHER_GROUP, "Q", ["a", "b"])
        assert await bot.get_updates() == ()  # the wildcard never hits getUpdates

        failed = [c for c in tg.calls if not c.ok]
        assert [(c.method, c.chat_id, c.error_code) for c in failed] == [
            ("sendMessage", GROUP, 429),
            ("sendPoll", OTHER_GROUP, 429),
            ("sendPoll", OTHER_GROUP, 429),
        ]
        assert len(tg.messages(GROUP)) == 2  # the refused call did not post anything


async def test_call_log_rolling_window_and_group_rate_limit() -> None:
    async with FakeTelegram(group_rate_limit=(6, 60.0)) as tg, make_bot(tg) as bot:
        ann = tg.user(7, "Ann")
        lobby = await bot.send_message(GROUP, "lobby", reply_markup=keyboard("join"))
        await bot.send_message(GROUP, "q1")
        await bot.send_message(OTHER_GROUP, "elsewhere")
        for _ in range(3):  # answerCallbackQuery is not rate-limited and not counted
            await bot.answer_callback_query(tg.press_button(GROUP, lobby.message_id, ann, "join"))
        await bot.edit_message_text("lobby (1)", GROUP, lobby.message_id, reply_markup=keyboard("join"))
        await asyncio.sleep(0.5)
        await bot.edit_message_reply_markup(GROUP, lobby.message_id)
        await bot.send_message(GROUP, "q2")

        times = [c.mono for c in tg.ops(GROUP)]
        assert len(times) == 5
        gap = times[3] - times[2]  # >= 0.5 s; the bursts themselves take a few ms
        assert times[2] - times[0] < gap
        assert tg.max_ops_in_window(GROUP, gap) == 3  # half-open window: [t, t + gap)
        assert tg.max_ops_in_window(GROUP, times[4] - times[0] + 1e-6) == 5
        assert tg.max_ops_in_window(GROUP, 10) == 5
        assert tg.max_ops_in_window(OTHER_GROUP, 10) == 1
        assert tg.max_ops_in_window(GROUP, 10, methods=["answerCallbackQuery"]) == 3
        assert tg.max_ops_in_window(GROUP, 10, methods=["sendMessage"]) == 3
        assert [c.method for c in tg.ops(GROUP)][-2:] == ["editMessageReplyMarkup", "sendMessage"]
        call = tg.calls_for("sendMessage", GROUP)[0]
        assert call.wall > 0 and call.ok and call.error_code is None and call.params["text"] == "lobby"

        await bot.send_message(GROUP, "sixth")
        with pytest.raises(RetryAfter) as info:  # optional emulation of ~20/min per group
            await bot.send_message(GROUP, "seventh")
        assert 55 <= seconds(info.value.retry_after) <= 60
        assert tg.max_ops_in_window(GROUP, 60, include_failed=False) == 6


def test_max_ops_in_window_on_synthetic_log() -> None:
    tg = FakeTelegram()  # the log can be inspected without starting the server
    for t, method, chat in [
        (0.0, "sendMessage", GROUP),
        (1.0, "editMessageText", GROUP),
        (1.5, "answerCallbackQuery", GROUP),
        (2.0, "sendPoll", OTHER_GROUP),
        (2.9, "stopPoll", GROUP),
        (3.0, "deleteMessage", GROUP),
        (4.0, "editMessageReplyMarkup", GROUP),
    ]:
        tg.calls.append(Call(mono=t, wall=t, method=method, chat_id=chat, params={}, ok=True))
    # counted GROUP ops at 0.0, 1.0, 2.9, 3.0, 4.0 (answerCallbackQuery and the other chat excluded)
    assert tg.max_ops_in_window(GROUP, 3.0) == 3  # half-open: 0.0 and 3.0 are not in one 3 s window
    assert tg.max_ops_in_window(GROUP, 3.01) == 4
    assert tg.max_ops_in_window(GROUP, 4.01) == 5
    assert tg.max_ops_in_window(GROUP, 0.5) == 2
    assert tg.max_ops_in_window(GROUP, 10, methods=["answercallbackquery"]) == 1
    assert tg.max_ops_in_window(OTHER_GROUP, 10) == 1
    assert tg.max_ops_in_window(-1, 10) == 0


async def test_application_long_polling_receives_message_callback_and_poll_answer() -> None:
    seen: dict[str, object] = {}
    got_answer = asyncio.Event()

    async def quiz_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        seen["args"] = list(context.args or [])
        await context.bot.send_message(update.effective_chat.id, "Quiz lobby", reply_markup=keyboard("join"))

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.message is not None
        await query.answer(f"Welcome {query.from_user.first_name}")
        await context.bot.send_poll(
            query.message.chat.id,
            "Capital of France?",
            ["Rome", "Paris"],
            type="quiz",
            is_anonymous=False,
            correct_option_ids=[1],
            open_period=30,
        )

    async def on_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen["answer"] = update.poll_answer
        got_answer.set()

    async with FakeTelegram() as tg:
        app: Application = (  # type: ignore[type-arg]
            ApplicationBuilder().token(tg.token).base_url(tg.base_url).base_file_url(tg.base_file_url).build()
        )
        app.add_handler(CommandHandler("quiz", quiz_command))
        app.add_handler(CallbackQueryHandler(on_button))
        app.add_handler(PollAnswerHandler(on_answer))
        async with app:
            await app.updater.start_polling(allowed_updates=ALLOWED, timeout=5)  # type: ignore[union-attr]
            await app.start()
            try:
                ann = tg.user(7, "Ann", username="ann")
                sent = tg.send_text(GROUP, ann, "/quiz 123456", "supergroup")
                assert sent["entities"] == [{"type": "bot_command", "offset": 0, "length": 5}]
                await tg.wait_for_call("sendMessage", chat_id=GROUP)
                lobby = tg.messages(GROUP, bot_only=True)[-1]
                assert lobby.text == "Quiz lobby" and lobby.callback_data == ["join"]

                query_id = tg.press_button(GROUP, lobby.message_id, ann, "join")
                answer = await tg.callback_answer(query_id, 5.0)
                assert answer.text == "Welcome Ann" and not answer.show_alert

                await tg.wait_for_call("sendPoll", chat_id=GROUP)
                [poll] = tg.polls(GROUP)
                assert tg.vote(poll.id, ann, [1])
                await asyncio.wait_for(got_answer.wait(), 5)
            finally:
                await app.updater.stop()  # type: ignore[union-attr]
                await app.stop()

    assert seen["args"] == ["123456"]
    poll_answer = seen["answer"]
    assert isinstance(poll_answer, PollAnswer) and poll_answer.user is not None
    assert (poll_answer.poll_id, poll_answer.user.id, poll_answer.option_ids) == (poll.id, 7, (1,))
    assert poll_answer.option_persistent_ids == (poll.persistent_ids[1],)
    assert tg.allowed_updates == ALLOWED
    assert any(c.method == "deleteWebhook" for c in tg.calls)  # PTB's polling bootstrap


async def test_webhook_mode_one_in_flight_per_poll_and_secret() -> None:
    received: list[dict[str, Any]] = []
    in_flight: dict[str, int] = {}
    max_in_flight = 0

    async def hook(request: Request) -> Response:
        nonlocal max_in_flight
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != "s3cret_token":
            return Response(status_code=403)
        update = await request.json()
        key = str(update.get("poll_answer", {}).get("poll_id"))
        in_flight[key] = in_flight.get(key, 0) + 1
        max_in_flight = max(max_in_flight, in_flight[key])
        await asyncio.sleep(0.03)
        in_flight[key] -= 1
        received.append(update)
        return JSONResponse({})

    receiver = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    async with FakeTelegram() as tg, make_bot(tg) as bot, serve_asgi(receiver) as base:
        url = f"{base}/hook"
        assert await bot.set_webhook(url, secret_token="s3cret_token", allowed_updates=ALLOWED)
        info = await bot.get_webhook_info()
        assert info.url == url and info.pending_update_count == 0 and info.allowed_updates == tuple(ALLOWED)
        with pytest.raises(Conflict):
            await bot.get_updates()

        sent = await bot.send_poll(GROUP, "Pick", ["a", "b", "c"], is_anonymous=False, open_period=60)
        assert sent.poll is not None
        for uid in (1, 2, 3, 4):
            assert tg.vote(sent.poll.id, tg.user(uid, f"U{uid}"), [uid % 3])
        await tg.wait_webhook_idle(5)

        assert max_in_flight == 1
        assert [u["poll_answer"]["user"]["id"] for u in received] == [1, 2, 3, 4]
        ids = [u["update_id"] for u in received]
        assert ids == sorted(ids) and len(set(ids)) == 4
        assert all(d.secret_sent and d.status_code == 200 for d in tg.webhook_deliveries)
        parsed = Update.de_json(received[0], bot)
        assert parsed.poll_answer is not None and parsed.poll_answer.option_ids == (1,)

        assert (await tg.post_raw_webhook(url, received[0], secret="wrong")).status_code == 403
        assert (await tg.post_raw_webhook(url, received[0])).status_code == 403
        assert (await tg.post_raw_webhook(url, received[0], secret="s3cret_token")).status_code == 200

        assert await bot.delete_webhook()
        tg.send_text(GROUP, tg.user(1, "U1"), "back to polling")
        [update] = await bot.get_updates(timeout=1)
        assert update.message is not None and update.message.text == "back to polling"


async def test_long_poll_wakes_early_and_second_poller_conflicts() -> None:
    async with FakeTelegram() as tg, make_bot(tg) as bot, make_bot(tg) as other:
        started = time.monotonic()
        pending = asyncio.create_task(bot.get_updates(timeout=5))
        await asyncio.sleep(0.2)
        tg.send_text(GROUP, tg.user(7, "Ann"), "hi")
        [update] = await pending
        assert time.monotonic() - started < 1.0
        assert update.message is not None and update.message.text == "hi"

        pending = asyncio.create_task(bot.get_updates(offset=update.update_id + 1, timeout=5))
        await asyncio.sleep(0.2)
        assert await other.get_updates(offset=update.update_id + 1) == ()
        with pytest.raises(Conflict, match="terminated by other getUpdates"):
            await pending

        # allowed_updates is sticky: once narrowed, other kinds are dropped (and reported as events).
        assert await bot.get_updates(allowed_updates=["message"]) == ()
        assert tg.allowed_updates == ["message"]
        tg.bot_membership(GROUP, tg.user(7, "Ann"))
        tg.send_text(GROUP, tg.user(7, "Ann"), "still here")
        [only] = await bot.get_updates(timeout=1)
        assert only.message is not None and only.message.text == "still here"
        assert [(e.kind, e.detail["kind"]) for e in tg.events] == [("update_filtered", "my_chat_member")]


async def test_chat_members_admins_and_bot_membership() -> None:
    async with FakeTelegram() as tg, make_bot(tg) as bot:
        owner, admin, player, stranger = (tg.user(i, n) for i, n in [(1, "Olga"), (2, "Adam"), (3, "Pia"), (4, "Sam")])
        tg.bot_membership(GROUP, owner, "member", title="Quiz night")
        tg.set_admin(GROUP, owner["id"], owner=True)
        tg.set_admin(GROUP, admin["id"])
        hello = tg.send_text(GROUP, player, "hello")

        assert isinstance(await bot.get_chat_member(GROUP, 1), ChatMemberOwner)
        admin_member = await bot.get_chat_member(GROUP, 2)
        assert isinstance(admin_member, ChatMemberAdministrator) and admin_member.can_delete_messages
        assert isinstance(await bot.get_chat_member(GROUP, 3), ChatMemberMember)
        assert isinstance(await bot.get_chat_member(GROUP, stranger["id"]), ChatMemberLeft)
        assert {m.user.id for m in await bot.get_chat_administrators(GROUP)} == {1, 2}

        with pytest.raises(BadRequest, match=r"(?i)can't be deleted"):
            await bot.delete_message(GROUP, hello["message_id"])
        tg.set_admin(GROUP, tg.bot_id)
        assert await bot.delete_message(GROUP, hello["message_id"])

        update, message = await bot.get_updates(allowed_updates=ALLOWED)
        assert message.message is not None and message.message.text == "hello"
        assert update.my_chat_member is not None
        assert update.my_chat_member.chat.title == "Quiz night"
        assert update.my_chat_member.new_chat_member.status == "member"


def test_threaded_mode_and_private_chat_needs_start() -> None:
    with FakeTelegram() as tg, httpx.Client(base_url=f"{tg.base_url}{tg.token}/") as http:
        ann = tg.user(42, "Ann")
        r = http.post("sendMessage", json={"chat_id": 42, "text": "hi"})
        assert r.status_code == 403 and "can't initiate conversation" in r.json()["description"]
        start = tg.send_text(42, ann, "/start join_AbC123", "private")
        assert start["chat"] == {"id": 42, "type": "private", "first_name": "Ann"}
        assert start["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
        r = http.post("sendMessage", data={"chat_id": "42", "text": "welcome"})
        assert r.status_code == 200, r.text

        seen: list[str] = []
        worker = threading.Thread(target=lambda: seen.extend(m.text or "" for m in tg.messages(42)))
        worker.start()
        worker.join()
        assert seen == ["/start join_AbC123", "welcome"]
        assert tg.max_ops_in_window(42, 1.0) == 2  # the 403 attempt counts too


async def test_latency_is_a_round_trip_and_in_flight_calls_count_against_the_group() -> None:
    async with FakeTelegram(latency=0.3, group_rate_limit=(3, 60.0)) as tg, make_bot(tg) as bot:
        started = time.monotonic()
        await bot.send_message(GROUP, "one")
        took = time.monotonic() - started
        assert 0.3 <= took < 0.6
        call = tg.calls_for("sendMessage", GROUP)[0]
        assert call.mono - started == pytest.approx(0.15, abs=0.08)  # half a trip to reach Telegram
        assert call.answered_mono >= call.mono
        # three more at once: two fit (the first still counts), the third is refused with 429,
        # although none of them had been answered when the others arrived
        outcomes = await asyncio.gather(
            *(bot.send_message(GROUP, f"burst {i}") for i in range(3)), return_exceptions=True
        )
        refused = [o for o in outcomes if isinstance(o, RetryAfter)]
        assert len(refused) == 1 and 55 <= seconds(refused[0].retry_after) <= 60
        assert tg.max_ops_in_window(GROUP, 60, include_failed=False) == 3
        tg.latency = 0.0  # settable at any time
        started = time.monotonic()
        await bot.get_me()
        assert time.monotonic() - started < 0.2


async def test_poll_options_must_be_distinct_and_within_limits() -> None:
    async with FakeTelegram() as tg, make_bot(tg) as bot:
        with pytest.raises(BadRequest, match=r"(?i)poll_option_duplicate"):
            await bot.send_poll(GROUP, "Q", ["same", "same"], type="quiz", correct_option_ids=[0])
        with pytest.raises(BadRequest, match=r"(?i)poll_answer_invalid"):
            await bot.send_poll(GROUP, "Q", ["x" * 101, "y"])
        with pytest.raises(BadRequest, match=r"(?i)poll_question_invalid"):
            await bot.send_poll(GROUP, "Q" * 301, ["a", "b"])
        assert tg.polls(GROUP) == []
        assert await bot.send_poll(GROUP, "Q" * 300, ["x" * 100, "y"])


async def test_get_updates_reports_what_it_handed_out() -> None:
    async with FakeTelegram(latency=0.1) as tg, make_bot(tg) as bot:
        tg.send_text(GROUP, tg.user(7, "Ann"), "hello")
        updates = await bot.get_updates(timeout=1)
        call = tg.calls_for("getUpdates")[-1]
        assert [u["update_id"] for u in call.result] == [u.update_id for u in updates]
        assert time.monotonic() - call.answered_mono >= 0.05  # the answer still had half a trip to go
