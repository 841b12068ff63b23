"""The bot's side of linking a Telegram account: `/link CODE` in a private chat with the bot.

`link_command(db)` is a bot command hook (the shape of `transports.telegram.runtime.CommandHook`:
it gets who sent what where and returns the reply). `install()` registers `/link` with the
bridge's extra commands (`gameserver.telegram_wiring.register_command`) when the accounts
routes are built; the hook finds this process's database through the bridge's port, which
is the server's `ServerPort`. The code is the one `POST /api/me/telegram` gave the user.

Only private chats count: in a group, anyone reading along could copy the code, and the
account would be tied to whoever sent it there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from gameserver.port import ServerPort
from persistence.accounts.telegram import link_telegram
from persistence.db import Database

UNAVAILABLE = "Linking is not available right now. Try again later."
USAGE = "Send <code>/link CODE</code> here with the code from your LiveQuiz profile page."
PRIVATE_ONLY = "Send /link to me in a private chat, not in a group."
LINKED = "Your Telegram account is now linked to your LiveQuiz account."
REFUSED = "That code is wrong, used or expired. Get a new one on your profile page."


class LinkCall(Protocol):
    """What a command hook is given (`transports.telegram.runtime.CommandCall`)."""

    @property
    def user_id(self) -> int: ...

    @property
    def private(self) -> bool: ...

    @property
    def args(self) -> tuple[str, ...]: ...


def link_command(db: Database) -> Callable[[LinkCall], Awaitable[str | None]]:
    async def answer(call: LinkCall) -> str | None:
        if not call.private:
            return PRIVATE_ONLY
        if len(call.args) != 1:
            return USAGE
        return LINKED if await link_telegram(db, call.args[0], call.user_id) else REFUSED

    return answer


class BridgeCall(LinkCall, Protocol):
    """A command call that also carries the bridge (whose `port` serves this process)."""

    @property
    def bridge(self) -> object: ...


async def link_from_bot(call: BridgeCall) -> str | None:
    port = getattr(call.bridge, "port", None)
    db = port.live.db if isinstance(port, ServerPort) else None
    if db is None:
        return UNAVAILABLE
    return await link_command(db)(call)


def install() -> None:
    """Have the bot answer `/link CODE` (every bridge this process starts)."""
    from gameserver.telegram_wiring import register_command

    register_command("link", link_from_bot)
