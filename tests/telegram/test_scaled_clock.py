"""The fake Bot API on a `ScaledClock` (what test_limits' brisk games run on): Telegram's
numbers — 20 operations a minute per group, a 5 s shortest poll, the round trip — on a clock
ten times faster than the machine's, so a minute of budget passes in six real seconds."""

from __future__ import annotations

import datetime as dtm
import time

import pytest
from telegram import Bot
from telegram.error import RetryAfter

from tests.fakes import FakeTelegram
from tests.fakes.scaled_clock import ScaledClock

GROUP, OTHER_GROUP = -1001234567890, -1009876543210
SPEED = 10.0


def seconds(value: float | dtm.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


async def test_the_clock_runs_speed_times_faster_and_its_timers_with_it() -> None:
    clock = ScaledClock(SPEED)
    real, scaled, wall_ms = time.monotonic(), clock.monotonic(), clock.now_ms()
    await clock.sleep(2.0)
    took = time.monotonic() - real
    assert 0.2 <= took < 0.5  # two of its seconds: a fifth of a real one
    assert clock.monotonic() - scaled == pytest.approx(took * SPEED, rel=0.01)
    assert clock.now_ms() - wall_ms == pytest.approx(took * SPEED * 1000, rel=0.01)


async def test_a_minute_of_group_budget_passes_in_six_real_seconds() -> None:
    clock = ScaledClock(SPEED)
    async with FakeTelegram(group_rate_limit=(20, 60.0), latency=0.6, clock=clock) as tg:
        bot = Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url)
        async with bot:
            started, began = time.monotonic(), clock.monotonic()
            for i in range(20):  # 20 round trips of 0.6 s: 12 s, of which 1.2 real
                await bot.send_message(GROUP, f"m{i}")
            with pytest.raises(RetryAfter) as refused:  # the 21st within the minute
                await bot.send_message(GROUP, "one too many")
            assert 60 - (clock.monotonic() - began) - 1 <= seconds(refused.value.retry_after) <= 60
            first = tg.ops(GROUP)[0]
            await clock.sleep(first.mono + 60 - clock.monotonic())  # the first one's minute is over
            await bot.send_message(GROUP, "next minute")
            assert time.monotonic() - started < 8  # a Telegram minute and 22 round trips
            assert tg.max_ops_in_window(GROUP, 60, include_failed=False) == 20
            # a poll's open period is Telegram's seconds too
            await bot.send_poll(OTHER_GROUP, "Q", ["a", "b"], type="quiz", correct_option_ids=[0], open_period=5)
            await clock.sleep(4.5)
            assert not tg.polls(OTHER_GROUP)[-1].is_closed
            await clock.sleep(1.0)
            assert tg.polls(OTHER_GROUP)[-1].is_closed
