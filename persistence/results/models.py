"""Tables of the group results area: one row per finished live game, one per player."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from persistence.accounts.models import User  # noqa: F401  (the table our foreign keys name must be known)
from persistence.types import UTCDateTime, utcnow


class GameResult(SQLModel, table=True):
    """A finished game. `game_key` ("PIN:created_ms") names one game for ever, although PINs
    are reused: its uniqueness is what makes the write exactly-once."""

    __tablename__ = "game_results"
    __table_args__ = (Index("ix_game_results_host", "host_user_id", "finished_at"),
                      Index("ix_game_results_pin", "pin", "finished_at"))

    id: int | None = Field(default=None, primary_key=True)
    game_key: str = Field(max_length=64, unique=True)
    pin: str = Field(max_length=6)
    exam_id: int | None = Field(default=None)
    title: str = Field(max_length=200)
    host_user_id: int | None = Field(default=None, foreign_key="users.id")
    host_digest: str = Field(max_length=64)  # the host token's digest: it still reads the results
    question_count: int
    player_count: int
    finished_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PlayerResult(SQLModel, table=True):
    """One player's line: display name, score and counts only — never phone or email."""

    __tablename__ = "player_results"
    __table_args__ = (Index("ix_player_results_game", "game_id", "rank"),
                      Index("ix_player_results_user", "user_id"))

    id: int | None = Field(default=None, primary_key=True)
    game_id: int = Field(foreign_key="game_results.id")
    rank: int
    name: str = Field(max_length=64)
    score: int
    answers: int
    correct: int
    user_id: int | None = Field(default=None, foreign_key="users.id")
