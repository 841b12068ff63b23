"""The game report as an .xlsx workbook: `GET /api/games/{pin}/report.xlsx` (host token).

Sheets: "Summary" (every question, hardest first: fewest correct answers of those who played),
"Results" (place, name, score, answers, correct, as the results CSV), then one sheet per
question in the same hardest-first order: who answered what and how fast.

"How fast" is an answer's server receive time minus the moment that question's answers opened
(`opens_at`: after its lead-in, the moment the timer and the points start), in seconds to the
millisecond; the Summary's average is the mean over the question's answers. A question whose
opening was not recorded has no times (empty cells), rather than times measured from anything
else. Read through the store's public methods only (load, quiz, players, answers, opens_at,
final_results).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gameserver.http_api import error_response, hosted_game
from gameserver.quizzes import Question, Quiz
from gameserver.store import GameStore
from scoring import Answer
from statemachine import Phase

LETTERS = "ABCDEF"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class QuestionReport:
    index: int
    question: Question
    answers: dict[str, Answer]  # player_id -> first answer
    opens_ms: int | None = None  # when its answers opened (server ms); None if not recorded

    def seconds(self, answer: Answer) -> float | None:
        """How long after the question's answers opened `answer` was received."""
        if self.opens_ms is None:
            return None
        return round((answer.received_ms - self.opens_ms) / 1000, 3)

    @property
    def average_seconds(self) -> float | None:
        times = [s for s in map(self.seconds, self.answers.values()) if s is not None]
        return round(sum(times) / len(times), 3) if times else None

    @property
    def correct_count(self) -> int:
        return sum(1 for a in self.answers.values() if a.option == self.question.correct)

    def correct_share(self, players: int) -> float:
        return self.correct_count / players if players else 0.0


async def read_reports(store: GameStore, pin: str, quiz: Quiz) -> list[QuestionReport]:
    """Every question's first answers and when its answers opened, read-only."""
    opens = await store.opens_at(pin)
    return [
        QuestionReport(i, q, await store.answers(pin, i), opens.get(i)) for i, q in enumerate(quiz.questions)
    ]


def hardest_first(reports: list[QuestionReport], players: int) -> list[QuestionReport]:
    return sorted(reports, key=lambda r: (r.correct_share(players), r.index))


def _append(sheet: Any, row: list[Any]) -> None:
    sheet.append(row)
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"  # a name like "=cmd()" stays text, never a formula


def build_report(
    title: str, players: dict[str, str], reports: list[QuestionReport], results: list[dict[str, Any]]
) -> bytes:
    import openpyxl
    from openpyxl.styles import Font

    bold = Font(bold=True)
    book = openpyxl.Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "Summary"
    _append(summary, [title])
    summary["A1"].font = Font(bold=True, size=14)
    _append(summary, [
        "Question", "Text", "Correct answer", "Answered", "Correct", "Correct %", "Players",
        "Average seconds after answers opened",
    ])
    for cell in summary[2]:
        cell.font = bold
    count = len(players)
    ordered = hardest_first(reports, count)
    for r in ordered:
        q = r.question
        _append(summary, [
            f"Q{r.index + 1}", q.text, f"{LETTERS[q.correct]}. {q.options[q.correct]}",
            len(r.answers), r.correct_count, round(100 * r.correct_share(count), 1), count,
            r.average_seconds,
        ])
    summary.column_dimensions["B"].width = 60
    summary.column_dimensions["C"].width = 30

    table = book.create_sheet("Results")
    _append(table, ["Place", "Name", "Score", "Answers", "Correct"])
    for cell in table[1]:
        cell.font = bold
    for row in results:
        _append(table, [row.get("rank"), row.get("name"), row.get("score"), row.get("answers"), row.get("correct")])
    table.column_dimensions["B"].width = 28

    for r in ordered:
        sheet = book.create_sheet(f"Q{r.index + 1}")
        q = r.question
        _append(sheet, [q.text])
        sheet["A1"].font = bold
        _append(sheet, ["Name", "Answer", "Correct", "Seconds after answers opened"])
        for cell in sheet[2]:
            cell.font = bold
        answered = sorted(r.answers.items(), key=lambda item: item[1].received_ms)
        for player_id, answer in answered:
            option = q.options[answer.option] if 0 <= answer.option < len(q.options) else "?"
            _append(sheet, [
                players.get(player_id, player_id), f"{LETTERS[answer.option]}. {option}",
                "yes" if answer.option == q.correct else "no", r.seconds(answer),
            ])
        for player_id, name in players.items():
            if player_id not in r.answers:
                _append(sheet, [name, "", "no answer", None])
        sheet.column_dimensions["A"].width = 28
        sheet.column_dimensions["B"].width = 40
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def game_report(request: Request) -> Response:
    record = await hosted_game(request)
    if isinstance(record, Response):
        return record
    pin, live = record.pin, request.app.state.live
    stored = await live.store.final_results(pin) if record.state.phase is Phase.FINISHED else None
    if stored is None:
        return error_response(409, "not_finished", "the report is available once the game has finished")
    results = stored.host_results
    quiz = await live.store.quiz(pin)
    players = await live.store.players(pin)
    # Players who left still have answers and a results row: name them from the results.
    for row in results:
        if row.get("player_id") and row["player_id"] not in players:
            players[str(row["player_id"])] = str(row.get("name", ""))
    reports = await read_reports(live.store, pin, quiz)
    body = build_report(record.title, players, reports, results)
    return Response(
        body, media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="livequiz-{pin}.xlsx"', "Cache-Control": "no-store"},
    )


def report_routes() -> list[Route]:
    return [Route("/api/games/{pin}/report.xlsx", game_report, methods=["GET"])]
