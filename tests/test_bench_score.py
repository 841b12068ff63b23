"""The scoring benchmark runs end to end at a tiny size, against a real Redis (its figures are
for docs/performance.md, never asserted here: timings on a shared box are noise)."""

from __future__ import annotations

from redis.asyncio import Redis

from benchmarks.bench_score import _one_run


async def test_both_questions_are_closed_scored_and_published(embedded_redis_url: str) -> None:
    redis = Redis.from_url(embedded_redis_url)
    try:
        before = set(await redis.keys("game:*"))
        timings = await _one_run(redis, players=20)
        assert set(timings) == {
            "close_and_score_ms",
            "published_seen_ms",
            "close_and_score_ms_q2_with_totals",
            "published_seen_ms_q2_with_totals",
        }
        assert all(ms > 0 for ms in timings.values())
        assert timings["published_seen_ms"] >= timings["close_and_score_ms"]
        assert set(await redis.keys("game:*")) == before  # the benchmark's game is deleted
    finally:
        await redis.aclose()
