"""The running bot: python-telegram-bot's Application, the bridge, and how updates arrive.

Updates arrive by long polling (default) or, when a public webhook URL is configured, by the
server's webhook route, which checks the secret header, stamps the arrival time and puts the
update on the application's queue. Either way every update passes `StampingQueue`, which
remembers when it arrived: that instant, not when a handler got round to it, is an answer's
receive time. In polling mode "arrived" is when the first bytes of the getUpdates answer
carrying it were read off the socket (`StampingRequest`, PTB's public custom-request hook, on a
connection from `arrival`), not when the HTTP client or PTB had parsed the batch.

`allowed_updates` is always sent explicitly (Telegram keeps the last value given).

Extra commands (e.g. the accounts module's `/link CODE`) plug in with `add_command`: a
`CommandHook` gets who sent what where and returns the reply, which goes out through the
chat's outbox like every other message. The solo exams add two more hooks: `add_press` routes
the button presses whose `callback_data` starts with a prefix of theirs to a `PressHook` (ahead
of the game's buttons; the toast it returns answers the press, always: a press left unanswered
spins in the client), and `add_text` hands a private chat's plain text messages (not commands)
to a `TextHook`, saying which of the bot's messages they reply to.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    PollAnswerHandler,
    filters,
)
from telegram.request import HTTPXRequest

from transports.telegram.arrival import ArrivalClock, stamped_transport
from transports.telegram.bridge import BridgeConfig, TelegramBridge
from transports.telegram.handlers import Handlers
from transports.telegram.leader import Leadership
from transports.telegram.quiz_port import QuizPort
from transports.telegram.shared import SharedState

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query", "poll", "poll_answer", "my_chat_member"]
MAX_STAMPS = 10_000
OVERALL_PER_SECOND = 30  # Telegram's limit for one bot across all chats


class _RetryAfterHandled(logging.Filter):
    """AIORateLimiter (used without retries, for the bot-wide 30/s only) logs every 429 as an
    error with a traceback; the chat's outbox handles them, so those records are dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Rate limit hit after maximum")


_RATE_LIMITER_LOG = logging.getLogger("telegram.ext.AIORateLimiter")
if not any(isinstance(f, _RetryAfterHandled) for f in _RATE_LIMITER_LOG.filters):
    _RATE_LIMITER_LOG.addFilter(_RetryAfterHandled())


@dataclass(frozen=True)
class CommandCall:
    """One use of an extra command: who sent it, where, and its arguments."""

    user_id: int
    chat_id: int
    private: bool
    args: tuple[str, ...]
    bridge: TelegramBridge


CommandHook = Callable[[CommandCall], Awaitable["str | None"]]  # the reply (HTML), or None


@dataclass(frozen=True)
class PressCall:
    """One press of a button whose data carries a hook's prefix."""

    user_id: int
    chat_id: int  # 0 when Telegram no longer shows us the message (older than 48 h)
    message_id: int
    private: bool
    data: str
    message_html: str  # what the pressed message shows (HTML), "" when unknown
    bridge: TelegramBridge


PressHook = Callable[[PressCall], Awaitable[str]]  # the toast answering the press (at most 200 chars)
PRESS_PRIORITY_GROUP = -1  # before the game's catch-all button handler (group 0)
MAX_TOAST = 200


@dataclass(frozen=True)
class TextCall:
    """A plain text message in a private chat; `reply_to` is the bot's message it replies to."""

    user_id: int
    chat_id: int
    text: str
    reply_to: int | None
    bridge: TelegramBridge


TextHook = Callable[[TextCall], Awaitable["str | None"]]  # the reply (HTML), or None: not for it


class StampingRequest(HTTPXRequest):
    """The getUpdates connection, noting when each answer's first bytes were read: its updates
    arrived then."""

    def __init__(self) -> None:
        self.arrivals = ArrivalClock()
        super().__init__(connection_pool_size=1, httpx_kwargs={"transport": stamped_transport(self.arrivals)})
        self.answered_mono: float | None = None

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        self.arrivals.take()  # forget a read that belonged to no answer of ours
        result = await super().do_request(*args, **kwargs)
        self.answered_mono = self.arrivals.take() or time.monotonic()
        return result

    def take(self) -> float | None:
        answered, self.answered_mono = self.answered_mono, None
        return answered


class StampingQueue(asyncio.Queue[object]):
    """The application's update queue, remembering when each update arrived."""

    def __init__(self, source: StampingRequest | None = None) -> None:
        super().__init__()
        self._arrivals: OrderedDict[int, float] = OrderedDict()
        self._source = source
        self._batch: float | None = None

    def stamp(self, update_id: int, when: float) -> None:
        self._arrivals.setdefault(update_id, when)
        while len(self._arrivals) > MAX_STAMPS:
            self._arrivals.popitem(last=False)

    def put_nowait(self, item: object) -> None:
        if isinstance(item, Update):
            # PTB puts a getUpdates batch here right after parsing it: the batch's arrival
            answered = self._source.take() if self._source is not None else None
            if answered is not None:
                self._batch = answered
            self.stamp(item.update_id, self._batch if self._batch is not None else time.monotonic())
        super().put_nowait(item)

    def arrival(self, update_id: int) -> float | None:
        return self._arrivals.pop(update_id, None)


@dataclass(frozen=True)
class RuntimeConfig:
    token: str
    api_url: str = "https://api.telegram.org/bot"
    webhook_url: str = ""
    webhook_secret: str = ""
    bridge: BridgeConfig = field(default_factory=BridgeConfig)
    lease_ms: int = 5000  # with shared state: how soon another process takes over a dead leader


def derived_secret(token: str) -> str:
    """The webhook secret when none is configured: the same in every process of this bot (any
    of them may receive Telegram's POST), unguessable without the bot token."""
    digest = hmac.new(token.encode(), b"livequiz telegram webhook", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class TelegramRuntime:
    def __init__(self, config: RuntimeConfig, port: QuizPort, shared: SharedState | None = None) -> None:
        self.config = config
        self.port = port
        polling = StampingRequest()
        self.queue = StampingQueue(None if config.webhook_url else polling)
        builder = (
            ApplicationBuilder()
            .token(config.token)
            .base_url(config.api_url)
            .update_queue(self.queue)
            .concurrent_updates(64)
            .rate_limiter(AIORateLimiter(overall_max_rate=OVERALL_PER_SECOND, group_max_rate=0, max_retries=0))
        )
        if config.webhook_url:
            builder = builder.updater(None)
        else:
            builder = builder.get_updates_request(polling)
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.bridge = TelegramBridge(port, self.application.bot, config.bridge, shared=shared)
        #: Telegram echoes this in X-Telegram-Bot-Api-Secret-Token
        self.webhook_secret = config.webhook_secret or derived_secret(config.token)
        self._register(Handlers(self.bridge, self.queue.arrival))
        self.leadership = None if shared is None else Leadership(
            shared, self.bridge, lease_ms=config.lease_ms, lead=self._lead, follow=self._follow,
            feed=self.feed_at_ms, webhook=bool(config.webhook_url),
        )
        self._loops: list[asyncio.Task[None]] = []

    def _register(self, h: Handlers) -> None:
        app = self.application
        app.add_handler(CommandHandler("start", h.start))
        app.add_handler(CommandHandler("host", h.host))
        app.add_handler(CommandHandler("quiz", h.quiz))
        app.add_handler(CommandHandler("stopquiz", h.stopquiz))
        app.add_handler(CallbackQueryHandler(h.press))
        app.add_handler(PollAnswerHandler(h.poll_answer))
        app.add_handler(ChatMemberHandler(h.member, ChatMemberHandler.MY_CHAT_MEMBER))
        app.add_error_handler(h.error)

    def add_command(self, name: str, hook: CommandHook) -> None:
        """Answer `/name ...` with `hook` (before or after `start`)."""
        bridge = self.bridge

        async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            message, user = update.effective_message, update.effective_user
            if message is None or user is None:
                return
            call = CommandCall(
                user.id, message.chat.id, message.chat.type == "private", tuple(context.args or ()), bridge
            )
            reply = await hook(call)
            if reply:
                bridge.reply(message.chat.id, reply)

        self.application.add_handler(CommandHandler(name, handle))

    def add_press(self, prefix: str, hook: PressHook) -> None:
        """Answer presses of buttons whose data starts with `prefix` with `hook`'s toast; the
        game's own handler never sees them (ApplicationHandlerStop)."""
        bridge = self.bridge

        async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            query = update.callback_query
            if query is None:
                return
            message = query.message if isinstance(query.message, Message) else None
            call = PressCall(
                query.from_user.id, message.chat.id if message else 0, message.message_id if message else 0,
                message is not None and message.chat.type == ChatType.PRIVATE, query.data or "",
                message.text_html if message is not None and message.text else "", bridge,
            )
            try:
                toast = await hook(call)
            except Exception:
                log.exception("a button press failed")
                toast = "Something went wrong, try again"
            try:
                await query.answer(toast[:MAX_TOAST])
            except TelegramError as error:
                log.info("could not answer a button press: %s", error)
            raise ApplicationHandlerStop

        pattern = re.compile("^" + re.escape(prefix))
        self.application.add_handler(CallbackQueryHandler(handle, pattern=pattern), group=PRESS_PRIORITY_GROUP)

    def add_text(self, hook: TextHook) -> None:
        """Hand plain text messages in private chats to `hook`; its reply goes to the chat."""
        bridge, bot = self.bridge, self.application.bot

        async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            message, user = update.effective_message, update.effective_user
            if message is None or user is None or message.text is None:
                return
            replied = message.reply_to_message
            ours = replied is not None and replied.from_user is not None and replied.from_user.id == bot.id
            reply = await hook(TextCall(user.id, message.chat.id, message.text,
                                        replied.message_id if ours and replied is not None else None, bridge))
            if reply:
                bridge.reply(message.chat.id, reply)

        private_text = filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE
        self.application.add_handler(MessageHandler(private_text, handle))

    @property
    def mode(self) -> str:
        return "webhook" if self.config.webhook_url else "polling"

    @property
    def leading(self) -> bool:
        return self.bridge.leading

    async def start(self) -> None:
        """Alone: drive the bot. With shared state: drive it while this process holds the lease
        (tried once now, then every beat), else stand by: answer the HTTP API, queue webhooks."""
        await self.application.initialize()
        if self.leadership is None:
            await self._lead()
            return
        await self.leadership.beat()
        self._loops = [
            asyncio.create_task(self.leadership.run(), name="telegram-leadership"),
            asyncio.create_task(self.leadership.forward_updates(), name="telegram-forwarded-updates"),
        ]
        log.info("Telegram bridge ready as @%s (%s, %s)", self.application.bot.username, self.mode,
                 "driving the bot" if self.leading else "standing by")

    async def _lead(self) -> None:
        app = self.application
        if self.config.webhook_url:
            await app.bot.set_webhook(
                self.config.webhook_url, secret_token=self.webhook_secret, allowed_updates=ALLOWED_UPDATES
            )
        else:
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, allowed_updates=ALLOWED_UPDATES)
        if not app.running:
            await app.start()
        log.info("Telegram bridge started as @%s (%s)", app.bot.username, self.mode)

    async def _follow(self) -> None:
        """Stop driving the bot (another process does): no polling, no sessions here."""
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        await self.bridge.stop()

    def feed_at_ms(self, data: dict[str, Any], received_ms: int) -> None:
        """An update another process received at `received_ms` (server clock)."""
        self.feed(data, time.monotonic() - max(0, self.port.now_ms() - received_ms) / 1000)

    def secret_ok(self, header: str | None) -> bool:
        """Constant-time check of the webhook secret header."""
        return header is not None and hmac.compare_digest(header.encode(), self.webhook_secret.encode())

    def feed(self, data: dict[str, Any], arrived: float) -> None:
        """One webhook update: stamped with its arrival, queued for the handlers."""
        update = Update.de_json(data, self.application.bot)
        self.queue.stamp(update.update_id, arrived)
        self.queue.put_nowait(update)

    async def stop(self) -> None:
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        leading = self.leading
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await self.bridge.stop()
        if self.leadership is not None and leading:
            await self.leadership.resign()  # the next process need not wait for the lease to expire
        await app.shutdown()
