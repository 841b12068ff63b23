"""In-process fakes of external services used by the test-suite."""

from __future__ import annotations

from tests.fakes.telegram_api import (
    RATE_LIMITED_METHODS,
    Call,
    CallbackAnswer,
    ChatMessage,
    FakePoll,
    FakeTelegram,
    FakeTelegramEvent,
    WebhookDelivery,
    serve_asgi,
)

__all__ = [
    "RATE_LIMITED_METHODS",
    "Call",
    "CallbackAnswer",
    "ChatMessage",
    "FakePoll",
    "FakeTelegram",
    "FakeTelegramEvent",
    "WebhookDelivery",
    "serve_asgi",
]
