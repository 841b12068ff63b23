"""One bridge across the workers of `livequiz serve --workers 2`, and failover when its leader dies.

The worker that drives the bot is the one named in the lease key (`telegram:{bot}:leader` holds
"<host>:<pid>:<random>"). The test has it spend most of the group's budget on a brisk game,
SIGKILLs it, and shows: another process holds the lease and polls within seconds; no live
process's getUpdates is ever answered 409 (the fake answers a second concurrent getUpdates so,
like Telegram): only the dead worker's own last long poll may be, on its own connection; the
game goes on in the group (questions posted after the kill, presses answered and scored); and
the new leader keeps to what the old one spent, so no rolling window of the group holds more
than 20 operations and nothing gets a 429.

Time is scaled: the group's budget window is 20 s instead of Telegram's 60 (the fake enforces
the same 20 operations per window), so the test does not wait a whole minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from redis.asyncio import Redis

from tests.fakes import ChatMessage, FakeTelegram
from tests.support import QUIET, Client, ServerProcess, create_game, host, quiz, start_server
from tests.telegram.support import GROUP, HOST_USER, wait_until
from transports.telegram.callbacks import AnswerPress, JoinPress, parse_press
from transports.telegram.shared import key_prefix

LEASE_MS = 2000
BUDGET, WINDOW_S = 20, 20.0
BEFORE_KILL = 6  # questions played (posted + results) by the first leader: 12 operations + the lobby's
AFTER_KILL = 4  # questions the new leader plays at once: 8 more operations, which the window has no room for
NOISE = QUIET | {"answer_ack", "leaderboard", "answer_count"}


async def lease_holder(redis: Redis, bot_id: str) -> int | None:
    """The pid of the process holding the bot's lease, from the lease key."""
    owner = await redis.get(key_prefix(bot_id) + "leader")
    return int(owner.decode().split(":")[1]) if owner is not None else None


def parent_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def ports_to(pid: int, remote_port: int) -> set[int]:
    """The local ports of the process's TCP connections to 127.0.0.1:`remote_port` (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, remote, inode = fields[1], fields[2], fields[9]
                if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                    ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def open_question(tg: FakeTelegram, question: int) -> tuple[ChatMessage, dict[int, str]] | None:
    """The group's message for `question` while its answer buttons are up: (message, option -> data)."""
    for message in tg.messages(GROUP, bot_only=True):
        presses = {d: parse_press(d) for d in message.callback_data}
        options = {p.option: d for d, p in presses.items() if isinstance(p, AnswerPress) and p.question == question}
        if options:
            return message, options
    return None


def closed(tg: FakeTelegram, question: int, total: int) -> bool:
    """The question's message shows its results (the leader's edit reached the group)."""
    head = f"❓ Question {question + 1}/{total} · ⏹ closed"
    return any((m.text or "").startswith(head) for m in tg.messages(GROUP, bot_only=True))


async def play(tg: FakeTelegram, screen: Client, question: int, total: int, member: dict[str, object]) -> None:
    """Question `question` is open: it reaches the group, a member answers, the host closes it."""
    message, options = await wait_until(
        lambda: open_question(tg, question), timeout=WINDOW_S + 10, what=f"question {question} in the group"
    )
    query = tg.press_button(GROUP, message.message_id, member, options[question % 4])
    assert (await tg.callback_answer(query, timeout=10)).text == f"🔒 Locked in: {'ABCD'[question % 4]}"
    await screen.send({"type": "next"})  # the host closes it (the group holds it open otherwise)
    await screen.recv("reveal", skip=NOISE, timeout=10)


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram(group_rate_limit=(BUDGET, WINDOW_S), latency=0.1) as fake:  # its own thread
        yield fake


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_two_workers_one_poller_failover_keeps_the_game_and_the_budget(
    tg: FakeTelegram, redis_url: str, tmp_path: Path
) -> None:
    env = {
        "LIVEQUIZ_TELEGRAM_TOKEN": tg.token,
        "LIVEQUIZ_TELEGRAM_API_URL": tg.base_url,
        "LIVEQUIZ_TELEGRAM_LEASE_MS": str(LEASE_MS),
        "LIVEQUIZ_TELEGRAM_BUDGET_WINDOW_S": str(WINDOW_S),
        "LIVEQUIZ_NEXT_REPEAT_WINDOW_MS": "0",  # the scripted host closes a question as soon as it is answered
    }
    server: ServerProcess = start_server(tmp_path, redis_url, env, workers=2, log_level="info")
    redis = Redis.from_url(redis_url)
    bot_id = tg.token.split(":")[0]
    screen: Client | None = None
    try:
        leader = 0
        deadline = time.monotonic() + 30
        while not leader:
            leader = await lease_holder(redis, bot_id) or 0
            assert time.monotonic() < deadline, "no worker took the Telegram lease"
            await asyncio.sleep(0.1)
        assert parent_of(leader) == server.process.pid, "the lease is held by one of the server's workers"
        await tg.wait_for_call("getUpdates", timeout=10)

        total = BEFORE_KILL + AFTER_KILL
        body = quiz(total, time_limit=int(WINDOW_S) + 15)  # a question posted late is still open
        game = await create_game(server.base_url, body)
        pin, headers = game["pin"], {"Authorization": f"Bearer {game['host_token']}"}
        screen = await host(server.ws_url, game)
        async with httpx.AsyncClient() as http:
            info = (await http.get(f"{server.base_url}/api/games/{pin}/telegram", headers=headers)).json()
            tg.set_admin(GROUP, HOST_USER)
            tg.send_text(HOST_USER, tg.user(HOST_USER, "Host"), f"/start {info['host_link'].split('?start=')[1]}")
            await wait_until(lambda: any("You host game" in (m.text or "") for m in tg.messages(HOST_USER)))
            attached = await http.post(
                f"{server.base_url}/api/games/{pin}/telegram", headers=headers,
                json={"chat_id": GROUP, "mode": "inline", "admin_user_id": HOST_USER},
            )
            assert attached.status_code == 201, attached.text
        await wait_until(
            lambda: any(isinstance(parse_press(d), JoinPress) for m in tg.messages(GROUP) for d in m.callback_data),
            timeout=10, what="the lobby",
        )
        ann, bob = tg.user(71, "Ann"), tg.user(72, "Bob")

        # the first leader spends most of the group's window on a brisk start
        await screen.send({"type": "start"})
        for q in range(BEFORE_KILL):
            if q:
                await screen.send({"type": "next"})
            await screen.recv("question", skip=NOISE | {"reveal"})
            await play(tg, screen, q, total, ann)
        await wait_until(lambda: closed(tg, BEFORE_KILL - 1, total), timeout=10, what="the last results edit")
        spent = len(tg.ops(GROUP))
        assert spent >= BUDGET - 6, f"the first leader spent only {spent} operations"

        dead_ports = ports_to(leader, urlsplit(tg.base_url).port or 0)  # its connections to "Telegram"
        assert dead_ports, "the leader talks to the fake Bot API"
        killed_at = time.monotonic()
        os.kill(leader, signal.SIGKILL)

        # the lease is watched before anything else the test does, so its time is the takeover's own
        new_leader = 0
        while new_leader in (0, leader):
            new_leader = await lease_holder(redis, bot_id) or 0
            if new_leader in (0, leader):
                waited = time.monotonic() - killed_at
                assert waited < LEASE_MS / 1000 + 5, (
                    f"nobody took the lease over in {waited:.1f} s (holder {new_leader or 'none'}); "
                    f"the server's log ends:\n{server.log_tail()}"
                )
                await asyncio.sleep(0.05)
        lease_taken_s = time.monotonic() - killed_at

        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):  # its worker may be the dead one: no closing handshake to wait for
                await screen.close()
        screen = await host(server.ws_url, game)  # the host's page reconnects
        first_poll = await tg.wait_for_call("getUpdates", predicate=lambda c: c.mono > killed_at, timeout=15)
        polled_s = first_poll.mono - killed_at
        assert polled_s < LEASE_MS / 1000 + 3

        # the game carries on in the group, through the new leader, as fast as the host goes
        for q in range(BEFORE_KILL, total):
            await screen.send({"type": "next"})
            await screen.recv("question", skip=NOISE | {"reveal"})
            await play(tg, screen, q, total, bob if q % 2 else ann)
        await wait_until(lambda: closed(tg, total - 1, total), timeout=WINDOW_S + 10, what="the last results")
        await screen.send({"type": "end"})
        await screen.recv("finished", skip=NOISE | {"reveal"})
        async with httpx.AsyncClient() as http:
            table = (await http.get(f"{server.base_url}/api/games/{pin}/results", headers=headers)).json()["results"]
        answers = {row["name"]: row["answers"] for row in table}
        assert answers == {"Ann": BEFORE_KILL + AFTER_KILL // 2, "Bob": AFTER_KILL // 2}
        scores = {row["name"]: row["score"] for row in table}
        assert scores["Bob"] > 0  # his presses through the new leader were scored (all right answers)

        # one poller at a time: no getUpdates of a live process was answered 409; only the dead
        # worker's last long poll, still pending at "Telegram" when it died, may have been (when
        # the new leader polled), on one of the dead worker's own connections
        conflicts = [c for c in tg.calls_for("getUpdates") if c.error_code == 409]
        assert len(conflicts) <= 1, conflicts
        assert all(c.mono < killed_at and c.client_port in dead_ports for c in conflicts), (conflicts, dead_ports)
        # the budget held across the failover: no 429, never more than 20 in any window
        assert not [c for c in tg.calls if c.error_code == 429]
        busiest = tg.max_ops_in_window(GROUP, WINDOW_S)
        assert busiest <= BUDGET
        after = [c for c in tg.ops(GROUP) if c.mono > killed_at]
        first_window = [c for c in after if c.mono < after[0].mono + WINDOW_S]
        spent_before = [c for c in tg.ops(GROUP) if after[0].mono - WINDOW_S < c.mono <= killed_at]
        print(
            f"\nfailover across 2 workers: lease taken {lease_taken_s:.2f} s and polling {polled_s:.2f} s after "
            f"the SIGKILL; the old leader spent {len(spent_before)} operations in the window the new one "
            f"started in, the new leader's first window {len(first_window)}; busiest window {busiest} "
            f"(budget {BUDGET} per {WINDOW_S:.0f} s)"
        )
    except BaseException:
        start = tg.calls[0].mono if tg.calls else 0.0
        calls = [(round(c.mono - start, 2), c.method, c.error_code) for c in tg.calls[-30:]]
        print(f"\nthe fake Bot API's last calls (s since the first, method, error): {calls}")
        print(f"the server's log ends:\n{server.log_tail(80)}")
        raise
    finally:
        if screen is not None:
            with contextlib.suppress(Exception):
                await screen.close()
        await redis.aclose()
        server.stop()
