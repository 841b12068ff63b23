"""What the Telegram bridge needs of the server: the bridge port, plus a question's answer key.

A native quiz poll must name its correct option when it is sent, before the reveal; the
generic `GamePort` never gives it out. The server adds it for bridges attached by a game's host
(`gameserver.telegram_wiring.TelegramServerPort`).
"""

from __future__ import annotations

from typing import Protocol

from transports.port import GamePort


class QuizPort(GamePort, Protocol):
    async def correct_option(self, pin: str, question: int) -> int:
        """The right option of a question. Only asked for games attached by their host."""
