"""The quizzes of the games a process serves, kept in memory: bounded, and keyed by the game.

A quiz never changes once its game exists, so a process keeps it rather than reading ~1 MB
from Redis for every answer check and every question message. Two things went wrong with a
plain dict by PIN: it never shrank (every game a long-running process ever served stayed,
~1.1 MB each), and a PIN handed to a new game after the old one's results expired found the
*old* quiz (players saw old questions scored with the new answer key). So entries are keyed
by (PIN, game id), the game id being a nonce written once when the game is created, and the
cache holds at most `max_bytes` of quiz (least recently used first out) and `max_games`
games. For the answer fast path, which knows only the PIN and must not ask Redis, the cache
remembers the game id it last saw for each PIN it holds: every game record this process
reads (a join, a load) updates it, so a player of a new game on an old PIN (who joined or
resumed through a record) never meets the old quiz.
"""

from __future__ import annotations

from collections import OrderedDict

from gameserver.quizzes import Quiz

__all__ = ["QuizCache"]

#: Defaults: a 200-question quiz of long texts is ~1 MB, so 64 MiB holds dozens of the largest
#: games and thousands of ordinary ones; beyond that a game's quiz is read again (one GET).
MAX_BYTES = 64 * 1024 * 1024
MAX_GAMES = 2_000


class QuizCache:
    def __init__(self, max_bytes: int = MAX_BYTES, max_games: int = MAX_GAMES) -> None:
        self.max_bytes = max_bytes
        self.max_games = max_games
        self.bytes = 0
        self._entries: OrderedDict[tuple[str, str], tuple[Quiz, int]] = OrderedDict()
        self._current: dict[str, str] = {}  # PIN -> game id, for PINs with an entry

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, pin: str, game_id: str | None = None) -> Quiz | None:
        """The quiz of game `game_id` at `pin` (by default the game last seen at `pin`)."""
        key = (pin, game_id if game_id is not None else self._current.get(pin, ""))
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, pin: str, game_id: str, quiz: Quiz, size: int) -> None:
        """Keep `quiz` (`size` bytes as stored) as game `game_id`'s, the current one at `pin`."""
        self.seen(pin, game_id)
        key = (pin, game_id)
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        self._entries[key] = (quiz, size)
        self._current[pin] = game_id
        self.bytes += size
        while self._entries and (self.bytes > self.max_bytes or len(self._entries) > self.max_games):
            self._evict_oldest()

    def seen(self, pin: str, game_id: str) -> None:
        """A record of game `game_id` at `pin` was read: an older game's quiz there is dropped."""
        current = self._current.get(pin)
        if current is not None and current != game_id:
            self.forget(pin)

    def forget(self, pin: str) -> None:
        """Drop every quiz kept for `pin` (its game is gone, or no socket of it is here)."""
        self._current.pop(pin, None)
        for key in [key for key in self._entries if key[0] == pin]:
            self.bytes -= self._entries.pop(key)[1]

    def _evict_oldest(self) -> None:
        (pin, game_id), (_, size) = self._entries.popitem(last=False)
        self.bytes -= size
        if self._current.get(pin) == game_id:
            del self._current[pin]
