"""python-telegram-bot handlers: commands, button presses, quiz votes, membership changes.

Commands:
- `/start` in a private chat; with a deep-link payload `h<pin><host token>` it grants host
  rights like `/host`.
- `/host PIN HOST_TOKEN` in a private chat: checks the token, grants host rights for the PIN.
  Sent in a group with a real host token, it is deleted at once (if the bot may) and the
  sender warned.
- `/quiz PIN [polling|inline]` in a group, by an admin holding the grant: attaches the game
  (never over another game still running there).
- `/stopquiz` in a group, by an admin: detaches the chat's game.

A plain member's commands in a group cost the group's budget like anything the bot posts, so
they are answered at most once per `MEMBER_REPLY_EVERY_S` per chat and otherwise ignored.
Every press is answered with `answerCallbackQuery` at once (not rate-limited by Telegram); every
message to a chat goes through that chat's outbox.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from statemachine.errors import ClientError
from transports.telegram import callbacks, texts
from transports.telegram.bridge import MODES, TelegramBridge
from transports.telegram.outbox import Op, Outgoing, Priority

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
GROUPS = (ChatType.GROUP, ChatType.SUPERGROUP)


class Handlers:
    def __init__(self, bridge: TelegramBridge, arrival: Callable[[int], float | None]) -> None:
        self.bridge = bridge
        self.arrival = arrival

    def _received(self, update: Update) -> float:
        """When our server got the update (stamped on arrival), else now."""
        return self.arrival(update.update_id) or time.monotonic()

    # -- private chat --------------------------------------------------------------------

    async def start(self, update: Update, context: Context) -> None:
        message, user = update.effective_message, update.effective_user
        if message is None or user is None or message.chat.type != ChatType.PRIVATE:
            return
        link = callbacks.parse_host_link(context.args[0]) if context.args else None
        if link is None:
            self.bridge.reply(message.chat.id, texts.HELP_PRIVATE)
            return
        await self._grant(message.chat.id, user.id, *link)

    async def host(self, update: Update, context: Context) -> None:
        message, user = update.effective_message, update.effective_user
        if message is None or user is None:
            return
        args = context.args or []
        if message.chat.type != ChatType.PRIVATE:
            leaked = len(args) == 2 and await self._verifies(args[0], args[1])
            if leaked:  # a real secret in a group: delete it whatever it costs
                self._delete_now(message.chat.id, message.message_id)
            if leaked or self.bridge.may_tell_member(message.chat.id):
                self.bridge.reply(message.chat.id, texts.HOST_IN_PRIVATE)
            return
        if len(args) != 2:
            self.bridge.reply(message.chat.id, "Usage: <code>/host PIN HOST_TOKEN</code>")
            return
        await self._grant(message.chat.id, user.id, args[0], args[1])

    async def _grant(self, chat_id: int, user_id: int, pin: str, token: str) -> None:
        try:
            granted = await self.bridge.grant(user_id, pin, token)
        except ClientError:
            granted = False
        if not granted:
            self.bridge.reply(chat_id, "That PIN and host token do not match a running game.")
            return
        self.bridge.reply(
            chat_id,
            f"✅ You host game <code>{pin}</code>. Now send <code>/quiz {pin}</code> in your group "
            f"(or <code>/quiz {pin} inline</code> for answer buttons). You must be an admin there.",
        )

    async def _verifies(self, pin: str, token: str) -> bool:
        try:
            return await self.bridge.port.verify_host(pin, token)
        except ClientError:
            return False

    def _delete_now(self, chat_id: int, message_id: int) -> None:
        bot = self.bridge.bot

        async def render() -> Outgoing:
            return Outgoing(call=lambda: bot.delete_message(chat_id, message_id))

        self.bridge.outbox(chat_id).put(Op(Priority.URGENT, render))

    # -- groups --------------------------------------------------------------------------

    async def quiz(self, update: Update, context: Context) -> None:
        message, user = update.effective_message, update.effective_user
        if message is None or user is None:
            return
        chat_id = message.chat.id
        if message.chat.type not in GROUPS:
            self.bridge.reply(chat_id, texts.HELP_PRIVATE)
            return
        if not await self.bridge.is_admin(chat_id, user.id):
            if self.bridge.may_tell_member(chat_id):
                self.bridge.reply(chat_id, "Only an admin of this group can start a quiz here.")
            return
        args = context.args or []
        mode = args[1].lower() if len(args) > 1 else "polling"
        if not args or not args[0].isdigit() or len(args[0]) != 6 or mode not in MODES:
            self.bridge.reply(chat_id, "Usage: <code>/quiz PIN</code> or <code>/quiz PIN inline</code>")
            return
        pin = args[0]
        if not await self.bridge.is_granted(user.id, pin):
            username = self.bridge.bot.username
            button = InlineKeyboardButton("🔑 Prove you host it", url=f"https://t.me/{username}?start=host")
            self.bridge.reply(chat_id, texts.ask_for_token(username, pin), InlineKeyboardMarkup([[button]]))
            return
        try:
            await self.bridge.attach(pin, chat_id, mode)
        except ClientError as error:
            self.bridge.reply(chat_id, f"Cannot run game {pin} here: {error.message}.")

    async def stopquiz(self, update: Update, context: Context) -> None:
        message, user = update.effective_message, update.effective_user
        if message is None or user is None or message.chat.type not in GROUPS:
            return
        if not await self.bridge.is_admin(message.chat.id, user.id):
            return
        if message.chat.id in self.bridge.sessions:
            await self.bridge.detach(message.chat.id)
            self.bridge.reply(message.chat.id, "The quiz is no longer shown here.")

    async def member(self, update: Update, context: Context) -> None:
        """The bot was removed from a chat: stop showing its game there."""
        change = update.my_chat_member
        if change is not None and change.new_chat_member.status in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED):
            await self.bridge.detach(change.chat.id)

    # -- answers -------------------------------------------------------------------------

    async def press(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is None:
            return
        received = self._received(update)
        chat = query.message.chat if query.message is not None else None
        if chat is None:
            text = "This button is no longer active"
        else:
            try:
                text = await self.bridge.press(chat.id, query.from_user, query.data, received)
            except Exception:
                log.exception("button press failed")
                text = "Something went wrong, try again"
        try:
            await query.answer(text)
        except TelegramError as error:
            log.info("could not answer a button press: %s", error)

    async def poll_answer(self, update: Update, context: Context) -> None:
        answer = update.poll_answer
        if answer is not None:
            await self.bridge.poll_answer(answer.poll_id, answer.user, tuple(answer.option_ids), self._received(update))

    async def error(self, update: object, context: Context) -> None:
        log.error("Telegram update failed: %s", context.error, exc_info=context.error)

