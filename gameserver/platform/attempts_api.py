"""Solo attempts over HTTP (PLATFORM.md "Solo attempts"): the web page, the mobile app and
scripts start, answer and finish attempts here with a session cookie or a Bearer token.

A paid exam's start moves money, so it runs once per `Idempotency-Key`: the payment and the
new attempt are one SQL transaction (a refused start pays nothing; a retried one pays once).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gameserver.http_api import ORJSONResponse
from gameserver.platform.exams_api import exam_or_404, id_param, may_edit
from gameserver.platform.http import PlatformError, database_of, endpoint, invalid, json_body, page_of, require_user
from persistence.accounts.tokens import Principal
from persistence.exams import account_hooks, attempts, bank, proctoring
from persistence.exams.attempts import AttemptError, Started, Taker
from persistence.exams.models import Attempt, Exam
from persistence.exams.scoring import expected, is_correct
from persistence.ielts.grading import is_grader
from persistence.ielts.outcome import result_fields as ielts_result_fields
from persistence.ielts.outcome import results_of as ielts_results_of
from persistence.types import iso
from persistence.wallet.errors import WalletError
from persistence.wallet.idempotency import Outcome, check_key, fingerprint, run_once
from persistence.wallet.service import pay_for_exam

SOLO = ("web", "bot", "mobile")
Handler = Callable[[Request], Awaitable[Response]]


def attempts_endpoint(function: Handler) -> Handler:
    """`endpoint`, with the attempts' and the wallet's refusals as the platform's JSON errors."""

    @functools.wraps(function)
    async def wrapped(request: Request) -> Response:
        try:
            return await function(request)
        except (AttemptError, WalletError) as refusal:
            raise PlatformError(refusal.status, refusal.code, refusal.message, refusal.details) from refusal

    return endpoint(wrapped)  # type: ignore[no-any-return]


def started_body(run: Started, exam: Exam) -> dict[str, Any]:
    attempt = run.attempt
    return {"id": attempt.id, "exam_id": exam.id, "platform": attempt.platform, "state": attempt.state,
            "mode": exam.mode, "started_at": iso(attempt.started_at), "deadline": iso(attempt.deadline),
            "proctoring": {"fullscreen": exam.proctor_fullscreen, "camera": exam.proctor_camera},
            "questions": run.questions}


def result_of(attempt: Attempt) -> dict[str, Any] | None:
    if attempt.state != "finished":
        return None
    return {"score": attempt.score, "max": attempt.max_score, "percent": attempt.percent, "passed": attempt.passed,
            "state": attempt.state, "ended_by": attempt.ended_by}


def summary(attempt: Attempt) -> dict[str, Any]:
    return {"id": attempt.id, "exam_id": attempt.exam_id, "user_id": attempt.user_id,
            "telegram_id": attempt.telegram_id, "platform": attempt.platform, "state": attempt.state,
            "started_at": iso(attempt.started_at), "deadline": iso(attempt.deadline),
            "finished_at": iso(attempt.finished_at), "paid": attempt.paid, "result": result_of(attempt)}


def listed(attempt: Attempt, graded: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """A list entry: the summary, its result with the bands/overall/CEFR of an IELTS or CEFR
    attempt (`graded`: those fields by attempt id, fetched for the whole page at once)."""
    body = summary(attempt)
    if body["result"] is not None:
        body["result"] |= graded.get(attempt.id or 0, {})
    return body


def attempt_id_of(request: Request) -> int:
    return id_param(request, "attempt_id", "attempt")


@attempts_endpoint
async def start_attempt(request: Request) -> Response:
    principal = await require_user(request)
    exam = await exam_or_404(request)
    data = await json_body(request)
    platform = data.get("platform")
    if platform not in SOLO:
        raise invalid("platform is web, bot or mobile",
                      [{"loc": ["body", "platform"], "msg": "web, bot or mobile", "type": "enum"}])
    preview = data.get("preview") is True and exam.free_question_limit is not None
    taker = Taker(principal.user_id)
    db = database_of(request)
    if exam.price == 0 or preview:
        run = await attempts.start(db, exam, taker, platform, preview=preview)
        return ORJSONResponse(started_body(run, exam), status_code=201)
    key = check_key(request.headers.get("idempotency-key"))

    async def pay_and_start(session: AsyncSession) -> Outcome:
        try:
            run = await attempts.start_in(session, exam, taker, platform)
        except AttemptError as refusal:  # stored with the key: a retry answers the same
            raise WalletError(refusal.status, refusal.code, refusal.message, refusal.details) from refusal
        if exam.owner_id is None:
            raise WalletError(409, "owner_deleted", "this exam has no owner to pay")
        assert exam.id is not None
        await pay_for_exam(session, principal.user_id, exam.owner_id, exam.price, exam_id=exam.id,
                           ref=f"exam:{exam.id}:attempt:{run.attempt.id}")
        run.attempt.paid = exam.price
        session.add(run.attempt)
        return Outcome(201, started_body(run, exam))

    outcome = await run_once(db, principal.user_id, key, fingerprint(request.method, request.url.path, data),
                             pay_and_start)
    return ORJSONResponse(outcome.body, status_code=outcome.status)


async def visible_attempt(request: Request, principal: Principal) -> tuple[Attempt, Exam]:
    """The attempt if the caller took it, owns its exam, grades it or is an admin; 404 otherwise."""
    db = database_of(request)
    attempt, exam = await attempts.load(db, attempt_id_of(request))
    if (attempt.user_id != principal.user_id and not may_edit(principal, exam)
            and not await is_grader(db, exam.id or 0, principal.user_id)):  # IELTS/CEFR graders see, to grade
        raise attempts.not_found()
    return attempt, exam


@attempts_endpoint
async def put_answer(request: Request) -> Response:
    principal = await require_user(request)
    data = await json_body(request)
    await attempts.answer(database_of(request), attempt_id_of(request), Taker(principal.user_id),
                          int(request.path_params["n"]), data)
    return Response(status_code=204)


@attempts_endpoint
async def answer_feedback(request: Request) -> Response:
    """A trainer shows each result at once (001 §2.4.1): the answer given, whether it is right,
    and the right one. Other exams show results only at the end."""
    principal = await require_user(request)
    attempt, exam = await visible_attempt(request, principal)
    n = int(request.path_params["n"])
    if exam.mode != "trainer" and attempt.state != "finished":
        raise PlatformError(409, "feedback_at_end", "this exam shows its results when the attempt is finished")
    answers = await attempts.answers_of(database_of(request), attempt.id or 0)
    questions = bank.questions(exam)
    if n not in attempts.positions(attempt) or n not in answers or n >= len(questions):
        raise PlatformError(404, "not_found", "no answer to that question yet")
    return ORJSONResponse({"n": n, "answer": answers[n], "correct": is_correct(questions[n], answers[n]),
                           "expected": expected(questions[n])})


@attempts_endpoint
async def finish_attempt(request: Request) -> Response:
    principal = await require_user(request)
    db = database_of(request)
    attempt = await attempts.finish(db, attempt_id_of(request), Taker(principal.user_id))
    body = result_of(attempt) or {}
    exam = await bank.get(db, attempt.exam_id)
    modules = await attempts.modules_of(db, attempt, exam) if exam is not None else None
    if modules is not None:
        body["modules"] = modules
    if exam is not None:
        body |= await ielts_result_fields(db, attempt, exam)  # bands/CEFR of IELTS and CEFR exams
    return ORJSONResponse(body)


@attempts_endpoint
async def post_event(request: Request) -> Response:
    principal = await require_user(request)
    data = await json_body(request)
    outcome = await proctoring.record_event(database_of(request), attempt_id_of(request), Taker(principal.user_id),
                                            data.get("type"), data.get("face_count"))
    return ORJSONResponse(outcome)


@attempts_endpoint
async def get_attempt(request: Request) -> Response:
    principal = await require_user(request)
    attempt, exam = await visible_attempt(request, principal)
    db = database_of(request)
    answers = await attempts.answers_of(db, attempt.id or 0)
    events = await proctoring.events_of(db, attempt.id or 0)
    body = summary(attempt) | {
        "modules": await attempts.modules_of(db, attempt, exam),
        "questions": attempts.served_questions(exam, attempt),
        "answers": [{"n": n, **value} for n, value in sorted(answers.items())],
        "proctoring": {"violations": sum(1 for e in events if e.violation),
                       "events": [proctoring.event_view(e) for e in events]},
    }
    if body["result"] is not None:
        body["result"] |= await ielts_result_fields(db, attempt, exam)  # bands/CEFR of IELTS and CEFR exams
    return ORJSONResponse(body)


@attempts_endpoint
async def exam_attempts(request: Request) -> Response:
    """The owner of an exam (or an admin) sees every attempt at it, violations counted (one
    query for the page, as the IELTS/CEFR results are)."""
    principal = await require_user(request)
    exam = await exam_or_404(request)
    if not may_edit(principal, exam):
        raise PlatformError(403, "forbidden", "only the exam's owner sees its attempts")
    page = page_of(request)
    db = database_of(request)
    await attempts.finish_overdue(db)
    found = await attempts.of_exam(db, exam.id or 0, limit=page.limit, before_id=page.cursor)
    violations = await proctoring.violations_of(db, [a.id for a in found if a.id is not None])
    graded = await ielts_results_of(db, found, {exam.id or 0: exam})
    items = [listed(attempt, graded) | {"violations": violations.get(attempt.id or 0, 0)} for attempt in found]
    next_cursor = str(found[-1].id) if len(found) == page.limit else None
    return ORJSONResponse({"items": items, "next_cursor": next_cursor})


@attempts_endpoint
async def my_attempts(request: Request) -> Response:
    principal = await require_user(request)
    page = page_of(request)
    db = database_of(request)
    found = await attempts.of_user(db, principal.user_id, limit=page.limit, before_id=page.cursor)
    graded = await ielts_results_of(db, found)
    next_cursor = str(found[-1].id) if len(found) == page.limit else None
    return ORJSONResponse({"items": [listed(a, graded) for a in found], "next_cursor": next_cursor})


def _install_exams_bot() -> None:
    from gameserver.platform import exams_bot  # imports the bridge: only with a bot configured

    exams_bot.install()


def attempts_routes() -> list[Route]:
    from gameserver.platform.snapshots_api import snapshot_routes
    from gameserver.telegram_wiring import register_setup

    register_setup(_install_exams_bot)  # the bot's /exams, /take, /a, /finish (solo attempts in a private chat)
    account_hooks.install()  # attempts in the user's data export

    return [
        Route("/api/exams/{exam_id:int}/attempts", start_attempt, methods=["POST"]),
        Route("/api/exams/{exam_id:int}/attempts", exam_attempts, methods=["GET"]),
        Route("/api/me/attempts", my_attempts, methods=["GET"]),
        Route("/api/attempts/{attempt_id:int}", get_attempt, methods=["GET"]),
        Route("/api/attempts/{attempt_id:int}/answers/{n:int}", put_answer, methods=["PUT"]),
        Route("/api/attempts/{attempt_id:int}/answers/{n:int}", answer_feedback, methods=["GET"]),
        Route("/api/attempts/{attempt_id:int}/finish", finish_attempt, methods=["POST"]),
        Route("/api/attempts/{attempt_id:int}/events", post_event, methods=["POST"]),
        *snapshot_routes(),
    ]
