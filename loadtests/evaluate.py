"""Judge a run from the merged records: latencies, lost answers, score mismatches.

Pure: takes the players' tuples (swarm.Player.result) and the hosts' summaries
(host.Host.summary), returns figures. Unit-tested on hand-made records.

Definitions (also in docs/performance.md):

- join latency: connect start → `joined` arrival, per player; join_s: the storm's start (`go`)
  → the last `joined`.
- arrival: the kernel's receive stamp of the message's bytes at the player's socket (see
  `wsclient`); each latency is also reported as `*_app_ms`, from the moment the client process
  handled the message, which adds the load generator's own lag on a shared box.
- fan-out: `question` arrival − its `server_time`.
- ack: `answer_ack` arrival − the answer's send time.
- reveal: `reveal` arrival − the close moment. The close moment is the `deadline` when the
  question ran to its deadline; when every joined player of the game answered before it, the
  last answer's send time (the server closes on the last answer, which it can't receive before
  it was sent: so this is an upper bound of the true latency); when the host forced it with
  `next`, that send time. `reveal_spread` is the arrival minus the host's own reveal arrival.
- results: `finished` arrival − the send time of the host's message that ended the game (its
  `next` after the last question, or `end`). The load generator's players close their socket
  as soon as they have it, as a real player may, so the server handles those closes while it
  still delivers to the others.
- lost answer: sent and neither acked nor refused; or acked but the player's reveal is missing
  (while the socket stayed open) or says `answered: false`; per game and question the
  distribution must also hold exactly the acked options: a shortfall counts as lost where the
  per-player checks did not already count it.
- score mismatch, per (player, question) with a reveal: a correct answer whose points differ
  from points(deadline − send time) by more than the tolerance in points (the issue's check:
  server-side lag before the answer is stamped counts against the server); of those, the ones
  outside [points(at ack), points(at send)] ± tolerance are also counted as
  `score_window_violations` (no receive moment explains them: a scoring bug, not lag);
  a wrong or missing answer with points ≠ 0; `you.correct` ≠ whether we chose the correct
  option; `you.answered` true for an answer never sent; `you.score` ≠ the sum of the points so far.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from loadtests.metrics import expected_window, score_ok, strict_ok, summarize
from loadtests.swarm import (
    R_ACK,
    R_ACK_APP,
    R_CHOSE_CORRECT,
    R_DEADLINE,
    R_LIMIT,
    R_OPTION,
    R_Q,
    R_QRECV,
    R_QRECV_APP,
    R_REFUSED,
    R_REVEAL,
    R_REVEAL_APP,
    R_SENT,
    R_SERVER_TIME,
    R_YOU_ANSWERED,
    R_YOU_CORRECT,
    R_YOU_POINTS,
    R_YOU_SCORE,
)

MAX_EXAMPLES = 20


def _close_refs(
    players: list[tuple[Any, ...]], hosts: list[dict[str, Any]]
) -> dict[tuple[int, int], tuple[float, str]]:
    """(game, q) -> (close moment ms, how it closed: deadline | all_answered | forced)."""
    joined: Counter[int] = Counter()
    answered: Counter[tuple[int, int]] = Counter()
    last_sent: dict[tuple[int, int], float] = {}
    for p in players:
        game, join_error, recs = p[1], p[5], p[10]
        if join_error is not None:
            continue
        joined[game] += 1
        for r in recs:
            if r[R_SENT] is not None:
                key = (game, r[R_Q])
                answered[key] += 1
                last_sent[key] = max(last_sent.get(key, 0.0), r[R_SENT])
    refs: dict[tuple[int, int], tuple[float, str]] = {}
    for h in hosts:
        g = h["game"]
        for q, qm in h["questions"].items():
            q = int(q)
            deadline = qm.get("deadline")
            forced = h["forced_next"].get(q)
            key = (g, q)
            if forced is not None and (deadline is None or forced < deadline):
                refs[key] = (forced, "forced")
            elif (
                answered[key] >= joined[g] > 0 and key in last_sent and (deadline is None or last_sent[key] < deadline)
            ):
                refs[key] = (last_sent[key], "all_answered")
            elif deadline is not None:
                refs[key] = (float(deadline), "deadline")
    return refs


def evaluate(
    players: list[tuple[Any, ...]],
    hosts: list[dict[str, Any]],
    correct: list[int],
    tolerance_ms: float,
    go_ms: float,
    questions_played: int | None = None,
) -> dict[str, Any]:
    """All figures of a run (see the module docstring for the definitions)."""
    host_by_game = {h["game"]: h for h in hosts}
    refs = _close_refs(players, hosts)
    join_lat: list[float] = []
    join_errors: Counter[str] = Counter()
    last_joined = 0.0
    fanout: list[float] = []
    ack: list[float] = []
    reveal: list[float] = []
    # Per question index (all games): one slow question shows as such, not as a fat tail.
    fanout_by_q: defaultdict[int, list[float]] = defaultdict(list)
    reveal_by_q: defaultdict[int, list[float]] = defaultdict(list)
    fanout_app: list[float] = []
    ack_app: list[float] = []
    reveal_app: list[float] = []
    results: list[float] = []
    spread: list[float] = []
    score_dev: list[float] = []
    refused: Counter[str] = Counter()
    lost_examples: list[dict[str, Any]] = []
    mismatch_examples: list[dict[str, Any]] = []
    lost_by_gq: Counter[tuple[int, int]] = Counter()
    acked_opts: dict[tuple[int, int], Counter[int]] = defaultdict(Counter)
    mismatches = 0
    sent = acked = 0
    missing_question = missing_reveal = 0
    disconnected = 0
    final_mismatch = 0
    unjudged = 0
    window_violations = 0
    close_kinds: Counter[str] = Counter()
    for k in refs.values():
        close_kinds[k[1]] += 1

    for p in players:
        idx, game, _server, j0, j1, jerr, close_code, closed_ms, finished_ms, final_score, recs = p
        if jerr is not None:
            join_errors[jerr] += 1
            continue
        join_lat.append(j1 - j0)
        last_joined = max(last_joined, j1)
        if close_code is not None and not finished_ms and close_code != 1000:
            disconnected += 1
        host = host_by_game.get(game)
        seen = {r[R_Q] for r in recs}
        if host is not None:
            for q in host["questions"]:
                if int(q) not in seen and (not closed_ms or closed_ms > host["questions"][q]["recv"] + 5000):
                    missing_question += 1
        # the socket was open through every reveal: it got `finished`, or never closed
        stayed = bool(finished_ms) or not closed_ms
        total = 0
        for r in sorted(recs, key=lambda r: (r[R_Q] is None, r[R_Q])):
            q = r[R_Q]
            if r[R_QRECV] is not None and r[R_SERVER_TIME] is not None:
                fanout.append(r[R_QRECV] - r[R_SERVER_TIME])
                if q is not None:
                    fanout_by_q[q].append(fanout[-1])
                if r[R_QRECV_APP] is not None:
                    fanout_app.append(r[R_QRECV_APP] - r[R_SERVER_TIME])
            has_reveal = r[R_REVEAL] is not None
            if has_reveal:
                ref = refs.get((game, q))
                if ref is not None:
                    reveal.append(r[R_REVEAL] - ref[0])
                    if q is not None:
                        reveal_by_q[q].append(reveal[-1])
                    if r[R_REVEAL_APP] is not None:
                        reveal_app.append(r[R_REVEAL_APP] - ref[0])
                hrev = host["reveals"].get(q) if host else None
                if hrev is not None:
                    spread.append(r[R_REVEAL] - hrev["recv"])
            elif r[R_QRECV] is not None and stayed:
                missing_reveal += 1

            problem = None
            if r[R_SENT] is not None and host is not None and q not in host["reveals"]:
                # the host never saw this question close (aborted run, lost reveal): nothing
                # to judge the answer against; counted apart, and the run is not clean anyway
                unjudged += 1
                continue
            if r[R_SENT] is not None:
                sent += 1
                if r[R_ACK] is not None:
                    acked += 1
                    ack.append(r[R_ACK] - r[R_SENT])
                    if r[R_ACK_APP] is not None:
                        ack_app.append(r[R_ACK_APP] - r[R_SENT])
                    acked_opts[(game, q)][r[R_OPTION]] += 1
                    if has_reveal and not r[R_YOU_ANSWERED]:
                        problem = "acked, reveal says answered=false"
                    elif not has_reveal and stayed:
                        problem = "acked, no reveal"
                elif r[R_REFUSED] is not None:
                    refused[r[R_REFUSED]] += 1
                else:
                    problem = "never acked"
            if problem:
                lost_by_gq[(game, q)] += 1
                if len(lost_examples) < MAX_EXAMPLES:
                    lost_examples.append({"player": idx, "game": game, "question": q, "why": problem})

            if not has_reveal:
                continue
            got = r[R_YOU_POINTS]
            why = None
            if problem:  # counted as lost already; its points are judged by the running total only
                if isinstance(got, int):
                    total += got
                continue
            answered = r[R_SENT] is not None and r[R_ACK] is not None
            if answered and r[R_DEADLINE] is not None and r[R_LIMIT]:
                chose_correct = bool(r[R_CHOSE_CORRECT])
                if chose_correct:
                    exp, _lo, _hi = expected_window(r[R_DEADLINE], r[R_LIMIT], r[R_SENT], r[R_ACK], tolerance_ms)
                    if isinstance(got, int):
                        score_dev.append(exp - got)
                if not isinstance(got, int) or not score_ok(
                    got, chose_correct, r[R_DEADLINE], r[R_LIMIT], r[R_SENT], r[R_ACK], tolerance_ms
                ):
                    why = "points outside [at ack, at send]"
                    window_violations += 1
                elif not strict_ok(got, chose_correct, r[R_DEADLINE], r[R_LIMIT], r[R_SENT], tolerance_ms):
                    why = "points != expected(send) within tolerance"
                elif r[R_YOU_CORRECT] is not None and bool(r[R_YOU_CORRECT]) != chose_correct:
                    why = "you.correct"
            elif not answered:
                if r[R_SENT] is None and r[R_YOU_ANSWERED]:
                    why = "answered=true without an answer"
                elif got not in (0, None):
                    why = "points for no answer"
            if isinstance(got, int):
                total += got
            if why is None and isinstance(r[R_YOU_SCORE], int) and r[R_YOU_SCORE] != total:
                why = "score != sum of points"
            if why:
                mismatches += 1
                if len(mismatch_examples) < MAX_EXAMPLES:
                    mismatch_examples.append(
                        {
                            "player": idx,
                            "game": game,
                            "question": q,
                            "why": why,
                            "points": got,
                            "score": r[R_YOU_SCORE],
                            "sent": r[R_SENT],
                            "ack": r[R_ACK],
                            "deadline": r[R_DEADLINE],
                            "limit": r[R_LIMIT],
                        }
                    )
        finish_sent = host.get("finish_sent") if host is not None else None
        if finished_ms and finish_sent is not None:
            results.append(finished_ms - finish_sent)
        if finished_ms and isinstance(final_score, int) and final_score != total:
            final_mismatch += 1

    # distributions: the host's reveal must count exactly the acked options
    dist_mismatch = 0
    lost = 0
    keys = set(acked_opts) | set(lost_by_gq)
    for h in hosts:
        for q in h["reveals"]:
            keys.add((h["game"], int(q)))
    for key in keys:
        g, q = key
        hg = host_by_game.get(g)
        rev = hg["reveals"].get(q) if hg else None
        deficit = 0
        if rev is not None and isinstance(rev.get("distribution"), list):
            dist = rev["distribution"]
            opts = acked_opts.get(key, Counter())
            for o in set(opts) | set(range(len(dist))):
                have = dist[o] if isinstance(o, int) and 0 <= o < len(dist) else 0
                diff = opts.get(o, 0) - have
                if diff:
                    dist_mismatch += abs(diff)
                    deficit += max(0, diff)
        lost += max(lost_by_gq.get(key, 0), deficit)

    return {
        "joined": len(join_lat),
        "join_failed": sum(join_errors.values()),
        "join_errors": dict(join_errors),
        "join_s": round((last_joined - go_ms) / 1000.0, 3) if join_lat else None,
        "join_ms": summarize(join_lat),
        "fanout_ms": summarize(fanout),
        "ack_ms": summarize(ack),
        "reveal_ms": summarize(reveal),
        "fanout_app_ms": summarize(fanout_app),
        "ack_app_ms": summarize(ack_app),
        "reveal_app_ms": summarize(reveal_app),
        "reveal_spread_ms": summarize(spread),
        "results_ms": summarize(results),
        "fanout_ms_by_question": {str(q): summarize(v) for q, v in sorted(fanout_by_q.items())},
        "reveal_ms_by_question": {str(q): summarize(v) for q, v in sorted(reveal_by_q.items())},
        "score_dev_points": summarize(score_dev),
        "close_kinds": dict(close_kinds),
        "answers_sent": sent,
        "answers_acked": acked,
        "answers_refused": dict(refused),
        "lost_answers": lost,
        "unjudged_answers": unjudged,
        "distribution_mismatch": dist_mismatch,
        "score_mismatches": mismatches + final_mismatch,
        "final_score_mismatches": final_mismatch,
        "score_window_violations": window_violations,
        "missing_questions": missing_question,
        "missing_reveals": missing_reveal,
        "disconnected": disconnected,
        "lost_examples": lost_examples,
        "mismatch_examples": mismatch_examples,
        "_samples": {
            "fanout_ms": fanout,
            "ack_ms": ack,
            "reveal_ms": reveal,
            "join_ms": join_lat,
            "fanout_app_ms": fanout_app,
            "ack_app_ms": ack_app,
            "reveal_app_ms": reveal_app,
            "results_ms": results,
        },
    }
