"""Who may do what with the bot: host grants, and how often plain members are answered.

A grant says that a Telegram user proved, in a private chat with the bot, to hold a game's host
token (`/host PIN TOKEN` or the host page's deep link); attaching the game to a group needs it
plus admin rights there. Grants last `ttl_s`, in this process and (with shared state) in Redis
for every process. A plain member's commands in a group are answered at most once per
`every_s` per chat: a group has ~20 operations a minute and they belong to the game.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from statemachine.errors import ClientError
from transports.telegram.quiz_port import QuizPort
from transports.telegram.shared import SharedState

MAX_ENTRIES = 10_000


class HostGrants:
    def __init__(self, port: QuizPort, shared: SharedState | None, ttl_s: float, clock: Callable[[], float]) -> None:
        self.port, self.shared, self.ttl_s, self.clock = port, shared, ttl_s, clock
        self.grants: OrderedDict[tuple[int, str], float] = OrderedDict()  # -> expiry on `clock`

    async def grant(self, user_id: int, pin: str, host_token: str) -> bool:
        """Remember that this user proved to host game `pin`; False for a wrong token."""
        if not await self.port.verify_host(pin, host_token):
            return False
        key = (user_id, pin)
        self.grants.pop(key, None)
        self.grants[key] = self.clock() + self.ttl_s
        while len(self.grants) > MAX_ENTRIES:
            self.grants.popitem(last=False)
        if self.shared is not None:
            await self.shared.grant(user_id, pin, self.port.now_ms() + round(self.ttl_s * 1000))
        return True

    async def is_granted(self, user_id: int, pin: str) -> bool:
        """Whether the user proved to host `pin` (in any process) and the game still exists."""
        expires = self.grants.get((user_id, pin))
        granted = expires is not None and self.clock() <= expires
        if not granted and self.shared is not None:
            until_ms = await self.shared.grant_expiry(user_id, pin)
            granted = until_ms is not None and self.port.now_ms() <= until_ms
        if not granted:
            return False
        try:
            await self.port.summary(pin)
        except ClientError:
            return False  # the game is gone
        return True


class MemberReplies:
    def __init__(self, every_s: float, clock: Callable[[], float]) -> None:
        self.every_s, self.clock = every_s, clock
        self._last: OrderedDict[int, float] = OrderedDict()

    def may_reply(self, chat_id: int) -> bool:
        """Whether a reply to a plain member's command may go to this chat now (and count it)."""
        now = self.clock()
        last = self._last.get(chat_id)
        if last is not None and now - last < self.every_s:
            return False
        self._last.pop(chat_id, None)
        self._last[chat_id] = now
        while len(self._last) > MAX_ENTRIES:
            self._last.popitem(last=False)
        return True
