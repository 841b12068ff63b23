"""The bot's `/link CODE` answer on SQLite and PostgreSQL: only in a private chat, one code
argument, and the account is linked to the sender."""

from __future__ import annotations

from dataclasses import dataclass

from gameserver.platform.telegram_link import LINKED, PRIVATE_ONLY, REFUSED, USAGE, link_command
from persistence.accounts import service, telegram
from persistence.db import Database


@dataclass(frozen=True)
class Call:
    user_id: int
    private: bool
    args: tuple[str, ...]


async def test_link_command_links_the_sender_in_a_private_chat_only(database: Database) -> None:
    made = await service.register(database, {"username": "linker", "password": "password 12", "first_name": "L"})
    code = (await telegram.new_link_code(database, made.user.id or 0)).code
    answer = link_command(database)
    assert await answer(Call(31, False, (code,))) == PRIVATE_ONLY
    assert await answer(Call(31, True, ())) == USAGE
    assert await answer(Call(31, True, ("WRONG234",))) == REFUSED
    assert await answer(Call(31, True, (code,))) == LINKED
    assert await answer(Call(32, True, (code,))) == REFUSED  # once only
    linked = await telegram.user_of_telegram(database, 31)
    assert linked is not None and linked.id == made.user.id
