"""Writing and reading the results of finished group games.

`record_game` is the one write: the game row and every player row in one transaction, keyed by
the game's `game_key`. A second call for the same game (another process finishing it, a re-run
after a crash) finds the key taken and writes nothing, so the results land exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.db import Database
from persistence.results.models import GameResult, PlayerResult

DELETED_USER = "deleted user"
INSERT_BATCH = 250


@dataclass(frozen=True)
class ResultLine:
    rank: int
    name: str
    score: int
    answers: int
    correct: int
    user_id: int | None = None

    def public(self) -> dict[str, object]:
        """The line as the results endpoints show it: never contact data, never the account."""
        return {"rank": self.rank, "name": self.name, "score": self.score,
                "answers": self.answers, "correct": self.correct}


@dataclass(frozen=True)
class FinishedGame:
    game_key: str
    pin: str
    title: str
    host_digest: str
    question_count: int
    finished_at: datetime
    lines: Sequence[ResultLine]
    host_user_id: int | None = None
    exam_id: int | None = None


async def record_game(db: Database, game: FinishedGame) -> bool:
    """Store a finished game once. True: stored now; False: it was stored before."""
    try:
        async with db.transaction() as session:
            if await _game_id(session, game.game_key) is not None:
                return False
            row = GameResult(
                game_key=game.game_key, pin=game.pin, title=game.title, host_digest=game.host_digest,
                question_count=game.question_count, player_count=len(game.lines), finished_at=game.finished_at,
                host_user_id=game.host_user_id, exam_id=game.exam_id,
            )
            session.add(row)
            await session.flush()
            # Plain rows in executemany batches, not ORM objects. Bounded batches: each is a
            # long stretch that holds the interpreter lock, so the socket loop (another thread,
            # gameserver.sqlworker) waits for it; at 10,000 players one batch stalled it 5-8 ms
            # (median worst stall), 250-row batches 2-6 ms (loadtests/bench_results.py).
            for start in range(0, len(game.lines), INSERT_BATCH):
                await session.exec(insert(PlayerResult), params=[
                    {"game_id": row.id, "rank": line.rank, "name": line.name, "score": line.score,
                     "answers": line.answers, "correct": line.correct, "user_id": line.user_id}
                    for line in game.lines[start:start + INSERT_BATCH]
                ])
    except IntegrityError:
        # Another process inserted the same game_key between our check and our insert; its
        # transaction holds the whole game, ours is rolled back whole.
        async with db.session() as session:
            if await _game_id(session, game.game_key) is not None:
                return False
        raise
    return True


async def _game_id(session: AsyncSession, game_key: str) -> int | None:
    return (await session.exec(select(GameResult.id).where(GameResult.game_key == game_key))).first()


async def latest_for_pin(db: Database, pin: str) -> tuple[GameResult, list[ResultLine]] | None:
    """The newest stored game of a PIN (PINs are reused once results expire from Redis)."""
    async with db.session() as session:
        game = (await session.exec(
            select(GameResult).where(GameResult.pin == pin).order_by(col(GameResult.finished_at).desc()).limit(1)
        )).first()
        if game is None:
            return None
        return game, await _lines(session, game)


async def _lines(session: AsyncSession, game: GameResult) -> list[ResultLine]:
    rows = (await session.exec(
        select(PlayerResult).where(PlayerResult.game_id == game.id)
        .order_by(col(PlayerResult.rank), col(PlayerResult.id))
    )).all()
    return [ResultLine(r.rank, r.name, r.score, r.answers, r.correct, r.user_id) for r in rows]


async def hosted_by(
    db: Database, user_id: int, *, limit: int, before_id: int | None
) -> list[tuple[GameResult, list[ResultLine]]]:
    """A page of the games a user hosted, newest first, with their results."""
    async with db.session() as session:
        query = select(GameResult).where(GameResult.host_user_id == user_id)
        if before_id is not None:
            query = query.where(col(GameResult.id) < before_id)
        games = (await session.exec(query.order_by(col(GameResult.id).desc()).limit(limit))).all()
        return [(game, await _lines(session, game)) for game in games]


@dataclass(frozen=True)
class PlayedGame:
    id: int
    pin: str
    title: str
    finished_at: datetime
    rank: int
    score: int
    answers: int
    correct: int
    players: int
    exam_id: int | None


async def played_by(db: Database, user_id: int, *, limit: int, before_id: int | None) -> list[PlayedGame]:
    """A page of the games a user played while signed in, newest first."""
    async with db.session() as session:
        query = (
            select(PlayerResult, GameResult)
            .join(GameResult, col(GameResult.id) == col(PlayerResult.game_id))
            .where(PlayerResult.user_id == user_id)
        )
        if before_id is not None:
            query = query.where(col(PlayerResult.id) < before_id)
        rows = (await session.exec(query.order_by(col(PlayerResult.id).desc()).limit(limit))).all()
    return [
        PlayedGame(line.id or 0, game.pin, game.title, game.finished_at, line.rank, line.score, line.answers,
                   line.correct, game.player_count, game.exam_id)
        for line, game in rows
    ]


async def forget_player(session: AsyncSession, user_id: int) -> None:
    """Account deletion: the user's lines stay, as "deleted user" and linked to no one's name."""
    await session.exec(
        update(PlayerResult).where(col(PlayerResult.user_id) == user_id).values(name=DELETED_USER)
    )


async def count_games(db: Database) -> int:
    async with db.session() as session:
        return int((await session.exec(select(func.count()).select_from(GameResult))).one())
