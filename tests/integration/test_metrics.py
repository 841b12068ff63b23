"""`GET /metrics` (Prometheus text): each metric moves when its event happens, on one process
and summed over the workers of `serve --workers 2`; the Telegram budget's use against the fake
Bot API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes import FakeTelegram
from tests.platform_support import platform_server
from tests.sql_support import SqlTarget
from tests.support import QUIET, Client, create_game, host, player, quiz, start_server
from tests.telegram.play import posted
from tests.telegram.support import GROUP, attach, live_server, make_settings, wait_until

#: The group budget of the Telegram test, and the outbox's priorities (metric labels).
BUDGET_OPS = 20
PRIORITIES = ("urgent", "normal", "background")


async def scrape(base_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as (name, sorted labels) -> value."""
    async with httpx.AsyncClient() as http:
        response = await http.get(base_url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "pid"))
            key = (sample.name, labels)
            samples[key] = samples.get(key, 0.0) + sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def forget_address_counters(redis_url: str) -> None:
    """Address budgets live in the shared Redis for their window: start from none."""
    client = aioredis.from_url(redis_url)
    try:
        for pattern in ("livequiz:ip:*", "livequiz:rl:*"):
            async for key in client.scan_iter(pattern):
                await client.delete(key)
    finally:
        await client.aclose()


async def test_every_metric_moves_with_its_event(
    sql_target: SqlTarget, tmp_path: Path, private_redis_url: str
) -> None:
    redis_url = private_redis_url  # its finished game is archived by this server alone
    await forget_address_counters(redis_url)
    env = {"LIVEQUIZ_PLATFORM_RATE_ANONYMOUS": "1", "LIVEQUIZ_IP_LOOKUP_MISS_LIMIT": "1"}
    with platform_server(sql_target, tmp_path / "server", redis_url, env) as server:
        before = await scrape(server.base_url)
        game = await create_game(server.base_url, quiz(n=1, time_limit=30))
        pin = game["pin"]
        the_host = await host(server.ws_url, game)
        ada, _ = await player(server.ws_url, pin, "Ada")
        bob, _ = await player(server.ws_url, pin, "Bob", codec="msgpack")
        during = await scrape(server.base_url)
        assert value(during, "livequiz_sockets", role="player", codec="quiz.v1.json") == 1
        assert value(during, "livequiz_sockets", role="player", codec="quiz.v1.msgpack") == 1
        assert value(during, "livequiz_sockets", role="host", codec="quiz.v1.json") == 1

        await the_host.send({"type": "start"})
        question = await ada.recv("question")
        await bob.recv("question")
        await ada.send({"type": "answer", "question": question["question"], "option": 0})
        await ada.recv("answer_ack")
        await ada.send({"type": "answer", "question": question["question"], "option": 1})
        assert (await ada.recv("error"))["code"] == "already_answered"
        await asyncio.sleep(2.5)  # the games gauge is refreshed by each process's 2 s watch
        active = await scrape(server.base_url)
        assert value(active, "livequiz_games", phase="ACTIVE") == 1
        await bob.send({"type": "answer", "question": question["question"], "option": 2})
        await bob.recv("answer_ack")
        await ada.recv("reveal")
        await the_host.recv("reveal", skip=("lobby", "answer_count", "question"))

        # Over limits: a socket's message rate, an address's unknown PINs, the platform's requests.
        for _ in range(40):
            await bob.send({"type": "ping", "t": 1})
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            assert (await http.get("/api/games/000001")).status_code == 404
            assert (await http.get("/api/games/000002")).status_code == 429
            assert (await http.get("/api/me/results")).status_code == 401
            assert (await http.get("/api/me/results")).status_code == 429
        await the_host.send({"type": "end"})
        await the_host.recv("finished", skip=("lobby", "answer_count", "leaderboard", "question", "reveal"))
        for client in (ada, bob, the_host):
            await client.close()
        await asyncio.sleep(1.0)  # sockets closed, results written
        after = await scrape(server.base_url)
    await forget_address_counters(redis_url)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("livequiz_answers_total", outcome="accepted") == 2
    assert grew("livequiz_answers_total", outcome="already_answered") == 1
    assert grew("livequiz_reveal_seconds_count") == 1
    assert grew("livequiz_fanout_seconds_count", kind="reveal") == 1
    assert grew("livequiz_fanout_seconds_count", kind="question") == 1
    assert grew("livequiz_redis_seconds_count", call="answer") >= 1
    assert grew("livequiz_redis_seconds_count", call="join") >= 1
    assert grew("livequiz_rate_limited_total", scope="socket") >= 1
    assert grew("livequiz_rate_limited_total", scope="ip") >= 1
    assert grew("livequiz_rate_limited_total", scope="platform") == 1
    assert grew("livequiz_results_stored_total") == 1
    assert value(after, "livequiz_sockets", role="player", codec="quiz.v1.json") == 0


async def test_two_workers_answer_for_both(tmp_path: Path, redis_url: str) -> None:
    server = start_server(tmp_path / "workers", redis_url, workers=2)
    try:
        game = await create_game(server.base_url, quiz(n=1))
        players: list[Client] = []
        for index in range(12):  # the kernel spreads the connections over both workers
            client, _ = await player(server.ws_url, game["pin"], f"P{index}")
            players.append(client)
        for _ in range(5):  # whichever worker answers the scrape, it counts both
            assert value(await scrape(server.base_url), "livequiz_sockets", role="player",
                         codec="quiz.v1.json") == 12
        for client in players:
            await client.close()
        await asyncio.sleep(0.5)
        assert value(await scrape(server.base_url), "livequiz_sockets", role="player", codec="quiz.v1.json") == 0
    finally:
        server.stop()


async def test_telegram_budget_use_moves_with_a_groups_operations(redis_url: str, tmp_path: Path) -> None:
    """Operations by chat kind and priority, the group budget's share each one found held, the
    busiest window, and 429s: against the fake Bot API, which records every call it got."""
    settings = {"telegram_budget_ops": BUDGET_OPS, "telegram_budget_window_s": 60.0}
    async with FakeTelegram(latency=0.02) as tg, live_server(
        lambda port: make_settings(tg, redis_url, tmp_path, **settings)
    ) as server:
        before = await scrape(server.base_url)
        game = await create_game(server.base_url, quiz(n=2, time_limit=30))
        screen = await host(server.ws_url, game)
        await attach(server, game, GROUP, "inline", tg)
        outbox = server.runtime.bridge.outbox(GROUP)
        await screen.send({"type": "start"})
        await screen.recv("question", skip=QUIET)
        await posted(tg, server, GROUP, 0)
        await wait_until(lambda: outbox.pending == 0, what="the question posted")
        await outbox.idle()
        tg.inject_429(None, retry_after=1, chat_id=GROUP)  # the results edit is refused once
        await screen.send({"type": "next"})
        await screen.recv("reveal", skip=QUIET | {"question"})
        await wait_until(lambda: [c for c in tg.ops(GROUP) if c.error_code == 429], what="a 429")
        await wait_until(lambda: tg.ops(GROUP)[-1].error_code != 429 and outbox.pending == 0, what="the retry")
        await outbox.idle()
        after = await scrape(server.base_url)
        sent = tg.ops(GROUP)  # every send and edit Telegram got for the group, the refused one too
        busiest = tg.max_ops_in_window(GROUP, 60.0)
        await screen.close()

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    by_priority = {p: grew("livequiz_telegram_ops_total", chat="group", priority=p) for p in PRIORITIES}
    assert sum(by_priority.values()) == len(sent), (by_priority, [c.method for c in sent])
    assert by_priority["urgent"] >= 3  # the question, the refused results edit, its retry
    assert grew("livequiz_telegram_ops_total", chat="private", priority="normal") >= 1  # the host's grant
    assert grew("livequiz_telegram_throttled_total") == 1
    assert grew("livequiz_telegram_budget_share_count") == len(sent)
    # The n-th operation of a fresh window holds n slots (more if another run spent in it).
    assert grew("livequiz_telegram_budget_share_sum") >= sum(range(1, len(sent) + 1)) / BUDGET_OPS - 1e-9
    assert value(after, "livequiz_telegram_budget_peak_share") >= busiest / BUDGET_OPS > 0
