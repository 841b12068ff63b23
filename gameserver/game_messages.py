"""The wire messages of a game's steps, as every socket of the game gets them.

Built once per step and published inside the step's Lua script (`envelopes.Messages`); the
welcome of a (re)connecting socket and the catch-up after a lost subscription rebuild the
running question from the stored state with the same function, so a late socket sees what the
others saw. The reveal and leaderboard of a closed question are `reveal.py`'s; the message
classes are `wire_messages.py`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from gameserver.envelopes import Message, Messages
from gameserver.quizzes import Quiz
from gameserver.wire_messages import Finished, QuestionShown
from scoring import Standing, podium, results, you_final
from statemachine import GameState

__all__ = ["final_results", "question_shown"]


def question_shown(quiz: Quiz, state: GameState, now_ms: int, *, answered: bool | None = None) -> QuestionShown:
    """The running question as players see it: never the correct option. `opens_at` is when
    answers are taken (after the "get ready" lead-in; equal to when it was shown without one),
    `deadline` is `opens_at` plus the time limit; both on the server clock, like `server_time`.
    `answered` is for a resuming player only."""
    question = quiz.questions[state.question]
    return QuestionShown(
        question=state.question,
        total=state.question_count,
        text=question.text,
        options=question.options,
        time_limit_ms=question.time_limit_ms,
        opens_at=state.opens_ms,
        deadline=state.deadline_ms,
        server_time=now_ms,
        answered=answered,
    )


def final_results(standings: Sequence[Standing]) -> Messages:
    """The game's end: the podium for everyone, each player's own line as `you`, and the full
    table for hosts only (`results`, also what the report and the archive read)."""
    finished = Finished(tuple(podium(standings))).to_wire()
    you = {standing.player_id: you_final(standing) for standing in standings}
    return Messages((Message(finished, you=you, host={"results": results(standings)}),))
