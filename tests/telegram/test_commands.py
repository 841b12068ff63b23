"""Webhook mode, the host's `/quiz PIN` flow (no secret in the group), stale buttons, no
takeover of a group, and plain members who cannot spend the group's budget."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from gameserver.telegram_wiring import EXTRA_COMMANDS, register_command
from tests.fakes import FakeTelegram
from tests.support import QUIET, create_game, host, quiz
from tests.telegram.play import answer, answer_data, join, posted
from tests.telegram.support import (
    GROUP,
    HOST_USER,
    attach,
    grant_host,
    live_server,
    make_settings,
    post_attach,
    wait_until,
)
from transports.telegram import ALLOWED_UPDATES
from transports.telegram.runtime import CommandCall

SECRET = "webhook_Secret-123"
NOISE = QUIET | {"answer_ack", "reveal", "leaderboard"}


def bot_texts(tg: FakeTelegram, chat_id: int) -> list[str]:
    return [m.text or "" for m in tg.messages(chat_id, bot_only=True)]


async def test_webhook_checks_the_secret_and_the_host_attaches_with_quiz(redis_url: str, tmp_path: Path) -> None:
    async with FakeTelegram() as tg, live_server(
        lambda port: make_settings(
            tg, redis_url, tmp_path, telegram_webhook_url=f"http://127.0.0.1:{port}/telegram/webhook",
            telegram_webhook_secret=SECRET, telegram_budget_window_s=5,
        )
    ) as server:
        url = f"{server.base_url}/telegram/webhook"
        assert tg.webhook_url == url and tg.allowed_updates == ALLOWED_UPDATES
        update = {"update_id": 1, "message": {
            "message_id": 1, "date": 0, "chat": {"id": GROUP, "type": "supergroup", "title": "G"},
            "from": {"id": 5, "is_bot": False, "first_name": "Eve"}, "text": "hello",
        }}
        assert (await tg.post_raw_webhook(url, update)).status_code == 403
        assert (await tg.post_raw_webhook(url, update, secret="wrong")).status_code == 403
        assert (await tg.post_raw_webhook(url, update, secret=SECRET)).status_code == 200

        game = await create_game(server.base_url, quiz(2, time_limit=5))
        pin, token = game["pin"], game["host_token"]
        hana, eve = tg.user(21, "Hana"), tg.user(22, "Eve")
        tg.set_admin(GROUP, 21)
        tg.set_admin(GROUP, tg.bot_id)  # so that it may delete a leaked token

        # an admin without the host grant is told to go private; nothing secret is posted
        tg.send_text(GROUP, hana, f"/quiz {pin}")
        await wait_until(lambda: any("prove you host it" in t for t in bot_texts(tg, GROUP)), what="instructions")
        # a token pasted in the group is deleted at once
        leak = tg.send_text(GROUP, hana, f"/host {pin} {token}")
        await wait_until(lambda: tg.message(GROUP, leak["message_id"]).deleted, what="leak deleted")
        # the deep link from the host screen, opened in a private chat, grants hosting
        async with httpx.AsyncClient() as http:
            info = (await http.get(
                f"{server.base_url}/api/games/{pin}/telegram", headers={"Authorization": f"Bearer {token}"}
            )).json()
        payload = info["host_link"].split("?start=", 1)[1]
        tg.send_text(21, hana, f"/start {payload}")
        await wait_until(lambda: any("You host game" in t for t in bot_texts(tg, 21)), what="grant")
        # a member who is not an admin cannot attach; the admin can
        tg.send_text(GROUP, eve, f"/quiz {pin} inline")
        await wait_until(lambda: any("Only an admin" in t for t in bot_texts(tg, GROUP)), what="refusal")
        tg.send_text(GROUP, hana, f"/quiz {pin} inline")
        await wait_until(lambda: any("Game PIN" in t for t in bot_texts(tg, GROUP)), what="lobby")
        assert await join(tg, GROUP, eve) == "✅ You're in as Eve!"
        session = server.runtime.bridge.sessions[GROUP]
        tg.send_text(GROUP, hana, f"/quiz {pin} inline")  # again: the lobby comes back, seats stay
        await wait_until(lambda: sum("Game PIN" in t for t in bot_texts(tg, GROUP)) == 2, what="second lobby")
        assert server.runtime.bridge.sessions[GROUP] is session
        assert await join(tg, GROUP, eve) == "You're already in as Eve"

        seen = [m.text or "" for m in tg.messages(GROUP, include_deleted=False)]
        assert not any(token in text for text in seen)
        assert all(token not in str(c.params) for c in tg.calls if c.chat_id == GROUP)
        deliveries = tg.webhook_deliveries
        assert deliveries and all(d.secret_sent and d.status_code == 200 for d in deliveries)


async def test_old_question_buttons_are_refused_with_a_toast(redis_url: str, tmp_path: Path) -> None:
    async with FakeTelegram() as tg, live_server(
        lambda port: make_settings(tg, redis_url, tmp_path, telegram_budget_window_s=5)
    ) as server:
        game = await create_game(server.base_url, quiz(2, time_limit=5))
        screen = await host(server.ws_url, game)
        await attach(server, game, GROUP, "inline", tg)
        ann, bob = tg.user(51, "Ann"), tg.user(52, "Bob")
        for user in (ann, bob):
            await join(tg, GROUP, user)
        await screen.send({"type": "start"})
        await screen.recv("question", skip=NOISE)
        first = await posted(tg, server, GROUP, 0)
        old = answer_data(tg, GROUP, first.message_id, 0)
        assert (await answer(tg, GROUP, first, ann, 0))[1] == "🔒 Locked in: A"
        assert (await answer(tg, GROUP, first, ann, 1))[1] == "Already answered"
        await screen.send({"type": "next"})  # close question 0 (Bob never answered)
        await screen.recv("reveal", skip=NOISE)
        await screen.send({"type": "next"})
        await screen.recv("question", skip=NOISE)
        second = await posted(tg, server, GROUP, 1)

        # a client still showing question 0's keyboard presses it (Telegram delivers it verbatim)
        query = tg.press_button(GROUP, first.message_id, bob, old, check=False)
        assert (await tg.callback_answer(query)).text == "⏱ Time's up"
        # buttons of an earlier game in this chat, or not ours at all
        stale = old.replace(server.runtime.bridge.sessions[GROUP].tag, "zzzzzz")
        query = tg.press_button(GROUP, second.message_id, bob, stale, check=False)
        assert (await tg.callback_answer(query)).text == "This game is over"
        query = tg.press_button(GROUP, second.message_id, bob, "something else", check=False)
        assert (await tg.callback_answer(query)).text == "This button is no longer active"
        # the running question still works
        assert (await answer(tg, GROUP, second, bob, 1))[1] == "🔒 Locked in: B"
        await screen.close()


async def test_no_takeover_of_a_group_by_another_host(redis_url: str, tmp_path: Path) -> None:
    async with FakeTelegram() as tg, live_server(
        lambda port: make_settings(tg, redis_url, tmp_path, telegram_budget_window_s=5)
    ) as server:
        first = await create_game(server.base_url, quiz(1, time_limit=5))
        screen = await host(server.ws_url, first)
        await attach(server, first, GROUP, "polling", tg)  # HOST_USER: granted, admin of GROUP
        bridge = server.runtime.bridge
        session = bridge.sessions[GROUP]

        other = await create_game(server.base_url, quiz(1, time_limit=5))
        mallory = 888
        # the other game's host token alone does not attach it anywhere
        refused = await post_attach(server, other, GROUP, "polling", admin_user_id=mallory)
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "no_telegram_grant")
        # nor does naming the group's real admin, who never proved to host the other game
        refused = await post_attach(server, other, GROUP, "polling", admin_user_id=HOST_USER)
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "no_telegram_grant")
        # a granted host who is not an admin of the group
        await grant_host(server, tg, other, mallory)
        refused = await post_attach(server, other, GROUP, "polling", admin_user_id=mallory)
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "not_chat_admin")
        # an admin who hosts another game: the running game stays
        tg.set_admin(GROUP, mallory)
        refused = await post_attach(server, other, GROUP, "polling", admin_user_id=mallory)
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "chat_busy")
        tg.send_text(GROUP, tg.user(mallory, "Mal"), f"/quiz {other['pin']}")
        await wait_until(lambda: any("another game" in t for t in bot_texts(tg, GROUP)), what="refusal")
        assert bridge.sessions[GROUP] is session and not session.stopped

        # once the first game is over, the group is free
        await screen.send({"type": "start"})
        await screen.recv("question", skip=NOISE)
        await screen.send({"type": "next"})
        await screen.recv("reveal", skip=NOISE)
        await screen.send({"type": "next"})
        await screen.recv("finished", skip=NOISE)
        accepted = await post_attach(server, other, GROUP, "inline", admin_user_id=mallory)
        assert accepted.status_code == 201, accepted.text
        assert bridge.sessions[GROUP].pin == other["pin"]
        await screen.close()


async def test_plain_members_cannot_spend_the_group_budget(redis_url: str, tmp_path: Path) -> None:
    async with FakeTelegram() as tg, live_server(lambda port: make_settings(tg, redis_url, tmp_path)) as server:
        game = await create_game(server.base_url, quiz(1, time_limit=5))
        eve = tg.user(66, "Eve")
        before = len(tg.ops(GROUP))
        for i in range(25):
            tg.send_text(GROUP, eve, f"/quiz {game['pin']}" if i % 2 else "/quiz 000000 inline")
        for _ in range(10):
            tg.send_text(GROUP, eve, "/host 123456 not-a-real-host-token-at-all")
        await wait_until(lambda: not tg.pending_updates(), what="updates handled")
        await asyncio.sleep(0.5)
        await server.runtime.bridge.outbox(GROUP).idle()
        assert len(tg.ops(GROUP)) - before == 1  # one answer to 35 commands
        assert len(bot_texts(tg, GROUP)) == 1  # updates are handled concurrently: either refusal
        assert not tg.calls_for("deleteMessage", GROUP)  # no secret was posted: nothing to delete
        # an admin is still answered at once
        tg.set_admin(GROUP, 21)
        tg.send_text(GROUP, tg.user(21, "Hana"), f"/quiz {game['pin']}")
        await wait_until(lambda: any("prove you host it" in t for t in bot_texts(tg, GROUP)), what="instructions")


async def test_an_extra_command_plugs_in_and_replies_through_the_outbox(redis_url: str, tmp_path: Path) -> None:
    seen: list[CommandCall] = []

    async def link(call: CommandCall) -> str | None:
        seen.append(call)
        return f"linked {call.args[0]}" if call.private and call.args else None

    register_command("tryhook", link)
    try:
        async with FakeTelegram() as tg, live_server(lambda port: make_settings(tg, redis_url, tmp_path)) as server:
            ann = tg.user(81, "Ann")
            tg.send_text(81, ann, "/tryhook ABC123")
            await wait_until(lambda: "linked ABC123" in bot_texts(tg, 81), what="the hook's reply")
            tg.send_text(GROUP, ann, "/tryhook XYZ")  # the hook answers None: nothing is sent
            await wait_until(lambda: len(seen) == 2, what="the second call")
            await server.runtime.bridge.outbox(GROUP).idle()
            assert bot_texts(tg, GROUP) == []
            assert (seen[0].user_id, seen[0].chat_id, seen[0].private, seen[0].args) == (81, 81, True, ("ABC123",))
            assert seen[1].chat_id == GROUP and not seen[1].private
    finally:
        EXTRA_COMMANDS.pop("tryhook", None)
