"""One error tree for the whole server (DESIGN.md principle 3).

`ClientError` is the client's fault (bad input, not allowed, too late): it carries the stable
wire `code` from PROTOCOL.md and, where the protocol asks for it, a WebSocket close code.
`ServerError` is ours. Only transports turn these into wire messages or HTTP answers; the
core raises them and never formats anything.
"""

from __future__ import annotations

from typing import Any, ClassVar


class QuizError(Exception):
    """Root of every error the quiz server raises on purpose."""


class ServerError(QuizError):
    """A fault of the server (Redis down, a bug): never the client's doing."""


class ClientError(QuizError):
    """A refused request. `code` is stable and documented; `message` is for humans."""

    code: ClassVar[str] = "bad_message"
    #: WebSocket close code to send after the error, or None to keep the socket open.
    close_code: ClassVar[int | None] = None
    #: HTTP status for the same refusal on the HTTP API.
    http_status: ClassVar[int] = 400

    def __init__(self, message: str = "", *, question: int | None = None, **details: Any) -> None:
        super().__init__(message or self.code.replace("_", " "))
        self.message = message or self.code.replace("_", " ")
        self.question = question
        self.details = details


class BadMessage(ClientError):
    code = "bad_message"


class UnknownType(ClientError):
    code = "unknown_type"


class NameTaken(ClientError):
    code = "name_taken"
    http_status = 409


class NameInvalid(ClientError):
    code = "name_invalid"
    http_status = 422


class BadToken(ClientError):
    code = "bad_token"
    http_status = 401


class BadHostToken(ClientError):
    code = "bad_token"
    close_code = 4401
    http_status = 403


class Locked(ClientError):
    code = "locked"
    http_status = 423


class GameFull(ClientError):
    code = "game_full"
    http_status = 409


class Finished(ClientError):
    code = "finished"
    http_status = 410


class NotHost(ClientError):
    code = "not_host"
    http_status = 403


class NotActive(ClientError):
    code = "not_active"
    http_status = 409


class NotOpen(ClientError):
    """An answer during the question's "get ready" lead-in: shown, not yet taking answers."""

    code = "not_open"
    http_status = 409


class WrongQuestion(ClientError):
    code = "wrong_question"
    http_status = 409


class TooLate(ClientError):
    code = "too_late"
    http_status = 409


class AlreadyAnswered(ClientError):
    code = "already_answered"
    http_status = 409


class InvalidOption(ClientError):
    code = "invalid_option"
    http_status = 422


class RateLimited(ClientError):
    code = "rate_limited"
    http_status = 429


class RateAbuse(ClientError):
    """Flooding went on after `rate_limited`: the socket is closed (PROTOCOL close 1008)."""

    code = "rate_limited"
    close_code = 1008
    http_status = 429


class UnknownGame(ClientError):
    code = "unknown_game"
    close_code = 4404
    http_status = 404


class Kicked(ClientError):
    code = "kicked"
    close_code = 4403
    http_status = 403


class InvalidQuiz(ClientError):
    code = "invalid_quiz"
    http_status = 422


class IllegalTransition(ClientError):
    """An event the current phase has no row for. Mapped to a precise code by the caller
    (`not_active`, `finished`, ...); the state is left unchanged."""

    code = "not_active"
    http_status = 409
