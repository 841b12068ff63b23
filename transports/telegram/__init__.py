"""Telegram groups bridged into live games (python-telegram-bot).

The bridge acts like a screen plus a set of players: it listens to a game through the
`transports.port.GamePort` and joins and answers for the chat's Telegram users. See
`session` (one game in one chat), `outbox` (per-chat queue, budget, 429), `runtime` (the bot).
"""

from __future__ import annotations

from transports.telegram.bridge import MODES, BridgeConfig, TelegramBridge
from transports.telegram.quiz_port import QuizPort
from transports.telegram.runtime import ALLOWED_UPDATES, RuntimeConfig, TelegramRuntime
from transports.telegram.session import ChatSession

__all__ = [
    "ALLOWED_UPDATES",
    "MODES",
    "BridgeConfig",
    "ChatSession",
    "QuizPort",
    "RuntimeConfig",
    "TelegramBridge",
    "TelegramRuntime",
]
