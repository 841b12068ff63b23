"""What the bot says in a chat. Pure functions of game data to HTML (parse_mode="HTML").

Everything from a quiz or a player's name is escaped. Lists are cut to what a phone screen
shows (and to Telegram's 4096 characters): the top of the leaderboard, the first names here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

LETTERS = "ABCDEFGHIJKL"
MEDALS = ("🥇", "🥈", "🥉")
MAX_NAMES = 20
MAX_TOP = 5
POLL_QUESTION_MAX = 300
POLL_OPTION_MAX = 100
BUTTON_MAX = 40


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(escape(n) for n in names[:MAX_NAMES])
    more = len(names) - MAX_NAMES
    return shown + (f" and {more} more" if more > 0 else "")


def lobby(title: str, pin: str, mode: str, count: int, here: Sequence[str], phase: str) -> str:
    how = "answer in the quiz polls" if mode == "polling" else "answer with the buttons"
    state = {
        "WAITING": "Waiting for the host to start…",
        "ACTIVE": "The game is on: join now and answer the next question!",
        "BETWEEN": "The game is on: join now and answer the next question!",
        "FINISHED": "This game is over.",
    }.get(phase, "")
    lines = [
        f"🎮 <b>{escape(title)}</b>",
        f"Game PIN <code>{escape(pin)}</code>: press <b>Join</b> to play with your Telegram name, then {how}.",
        "",
        f"👥 Players in the game: <b>{count}</b>",
    ]
    if here:
        lines.append(f"From this chat: {_names(here)}")
    if state:
        lines += ["", state]
    return "\n".join(lines)


def poll_question(index: int, total: int, text: str) -> str:
    return clip(f"{index + 1}/{total}. {text}", POLL_QUESTION_MAX)


def poll_options(options: Sequence[str]) -> list[str]:
    return [clip(option, POLL_OPTION_MAX) for option in options]


def fits_a_poll(index: int, total: int, text: str, options: Sequence[str]) -> bool:
    """Whether a quiz poll can show this question faithfully: the question uncut and the
    options, clipped to Telegram's 100 characters, still distinct (Telegram refuses duplicate
    options, and two options that differ only after the cut would look the same anyway).
    Otherwise the question goes out as a message with answer buttons, which has room."""
    clipped = poll_options(options)
    return (
        len(f"{index + 1}/{total}. {text}") <= POLL_QUESTION_MAX
        and 2 <= len(clipped) <= len(LETTERS)
        and len({option.casefold() for option in clipped}) == len(clipped)
        and all(option.strip() for option in clipped)
    )


def button_label(option_index: int, option: str) -> str:
    return clip(f"{LETTERS[option_index]} · {option}", BUTTON_MAX)


def question(
    index: int, total: int, text: str, options: Sequence[str], time_limit_ms: int, answered: int, closed: bool
) -> str:
    lines = [f"❓ <b>Question {index + 1}/{total}</b> · ⏱ {time_limit_ms // 1000} s", escape(text), ""]
    lines += [f"<b>{LETTERS[i]}</b>) {escape(option)}" for i, option in enumerate(options)]
    if closed:
        lines += ["", f"⏹ Closed · {answered} answered here"]
    elif answered:
        lines += ["", f"🙋 {answered} answered"]
    return "\n".join(lines)


def revealed(
    index: int,
    total: int,
    text: str,
    options: Sequence[str],
    correct: int,
    distribution: Sequence[int],
    top: Sequence[Mapping[str, Any]],
    here: Sequence[tuple[str, Mapping[str, Any]]],
) -> str:
    """A question message once it closed: the question, then its results (one edit instead of a
    second message: the group's budget is 20 operations a minute)."""
    lines = [f"❓ <b>Question {index + 1}/{total}</b> · ⏹ closed", escape(text), ""]
    for i, option in enumerate(options):
        count = f" · {distribution[i]}" if i < len(distribution) else ""
        mark = "✅ " if i == correct else ""
        lines.append(f"{mark}<b>{LETTERS[i]}</b>) {escape(option)}{count}")
    block = results(index, total, options, correct, [], top, here).split("\n", 1)
    return "\n".join(lines) + ("\n" + block[1] if len(block) > 1 else "")


def results(
    index: int,
    total: int,
    options: Sequence[str],
    correct: int,
    distribution: Sequence[int],
    top: Sequence[Mapping[str, Any]],
    here: Sequence[tuple[str, Mapping[str, Any]]],
) -> str:
    """After a question: the right answer, how the game voted, the top, and this chat's players."""
    right = options[correct] if 0 <= correct < len(options) else "?"
    lines = [f"✅ <b>Question {index + 1}/{total}</b>: the answer was <b>{LETTERS[correct]}) {escape(right)}</b>"]
    if distribution:
        lines.append("📊 " + " · ".join(f"{LETTERS[i]} {n}" for i, n in enumerate(distribution)))
    if top:
        lines += ["", "🏆 <b>Leaderboard</b>"]
        lines += [f"{row['rank']}. {escape(str(row['name']))} — {row['score']}" for row in top[:MAX_TOP]]
    if here:
        lines += ["", "<b>Here</b>"]
        for name, you in here[:MAX_NAMES]:
            mark = f"+{you.get('points', 0)}" if you.get("correct") else ("✗" if you.get("answered") else "—")
            lines.append(f"{escape(name)}: {mark} · {you.get('score', 0)} pts · #{you.get('rank', '?')}")
        if len(here) > MAX_NAMES:
            lines.append(f"… and {len(here) - MAX_NAMES} more")
    return "\n".join(lines)


def finished(podium: Sequence[Mapping[str, Any]], here: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """The end: the podium of the whole game, then where this chat's players finished."""
    lines = ["🏁 <b>Game over!</b>", ""]
    if podium:
        for row in podium[:3]:
            rank = int(row.get("rank", 0))
            medal = MEDALS[rank - 1] if 1 <= rank <= 3 else f"{rank}."
            lines.append(f"{medal} {escape(str(row['name']))} — {row['score']}")
    else:
        lines.append("Nobody played.")
    if here:
        lines += ["", "<b>This chat</b>"]
        ordered = sorted(here, key=lambda item: (int(item[1].get("rank", 10**9)), item[0]))
        for name, you in ordered[:MAX_NAMES]:
            answers = you.get("answers", 0)
            lines.append(f"#{you.get('rank', '?')} {escape(name)} — {you.get('score', 0)} pts, {answers} answered")
        if len(ordered) > MAX_NAMES:
            lines.append(f"… and {len(ordered) - MAX_NAMES} more")
    return "\n".join(lines)


def ask_for_token(bot_username: str, pin: str) -> str:
    return (
        f"To run game {escape(pin)} here, first prove you host it — privately: open "
        f"https://t.me/{escape(bot_username)} and send <code>/host {escape(pin)} HOST_TOKEN</code> "
        "(or use the Telegram link on your host screen). Then send /quiz again here. "
        "Never post the host token in a group."
    )


HOST_IN_PRIVATE = "⚠️ Send /host only in a private chat with me: the token is a secret."

HELP_PRIVATE = (
    "Hi! I bridge live quiz games into Telegram groups.\n\n"
    "Host: send <code>/host PIN HOST_TOKEN</code> here (or open the Telegram link on your host screen), "
    "then send <code>/quiz PIN</code> in your group (you must be an admin there). "
    "Add <code>inline</code> for answer buttons instead of quiz polls: <code>/quiz PIN inline</code>."
)


def refusal(code: str) -> str:
    """A toast for what the game refused a Telegram user (by error code)."""
    return {
        "locked": "🔒 The game is locked: no new players",
        "not_open": "⏳ Not yet: answers open in a moment",
        "too_late": "⏱ Time's up",
        "finished": "This game is over",
        "game_full": "The game is full",
        "unknown_game": "This game is over",
        "name_taken": "Could not find a free name for you",
        "name_invalid": "Your name cannot be used in the game",
        "kicked": "You were removed from this game",
    }.get(code, "Not possible right now")
