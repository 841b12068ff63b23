"""The collector tuning that keeps full collections out of big games (gameserver/gcwatch.py)."""

from __future__ import annotations

import gc
import logging
import weakref
from collections.abc import Iterator

import pytest

from gameserver.gcwatch import Freezer, GcWatch


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_freezer_freezes_each_wave_of_connections_and_thaws_when_they_leave() -> None:
    freezer = Freezer(step=100)
    keep = [object() for _ in range(10)]
    freezer.observe(99)
    assert gc.get_freeze_count() == 0  # below one step: nothing frozen yet
    freezer.observe(100)
    frozen = gc.get_freeze_count()
    assert frozen > 0
    keep += [[i] for i in range(1000)]
    freezer.observe(150)
    assert gc.get_freeze_count() == frozen  # half a step more: no new freeze
    freezer.observe(200)
    assert gc.get_freeze_count() > frozen
    freezer.observe(100)  # a step's worth of sockets closed: everything back to the collector
    assert gc.get_freeze_count() == 0
    assert keep


def test_gc_watch_times_collections_and_logs_slow_ones(caplog: pytest.LogCaptureFixture) -> None:
    watch = GcWatch(slow_ms=0.0)
    watch.install()
    try:
        with caplog.at_level(logging.WARNING, logger="gameserver.gcwatch"):
            gc.collect()
    finally:
        watch.uninstall()
    assert watch.pauses_ms and all(p >= 0 for p in watch.pauses_ms)
    assert "garbage collection of generation 2" in caplog.text
    gc.collect()
    assert len(watch.pauses_ms) == 1  # uninstalled: no longer timed


async def test_gc_hold_disables_collection_while_any_room_holds_and_gives_it_back() -> None:
    from gameserver.gcwatch import GcHold

    assert gc.isenabled()
    hold = GcHold(max_hold_s=60)
    hold.hold("111111")
    hold.hold("222222")
    assert not gc.isenabled()
    hold.release("111111")
    assert not gc.isenabled()  # the other room's question is still open
    hold.release("222222")
    assert gc.isenabled()
    hold.release("222222")  # releasing twice is harmless
    assert gc.isenabled()


async def test_gc_hold_gives_the_collector_back_after_its_time_limit() -> None:
    import asyncio

    from gameserver.gcwatch import GcHold

    hold = GcHold(max_hold_s=0.05)
    hold.hold("111111")  # and the reveal never comes
    assert not gc.isenabled()
    await asyncio.sleep(0.2)
    assert gc.isenabled() and not hold.holding


def test_a_wave_freeze_collects_the_young_generation_only_and_frees_its_garbage() -> None:
    generations: list[int] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            generations.append(info["generation"])

    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: garbage once dropped, and only the collector frees it

    gc.collect()
    freezer = Freezer(step=10)
    node = Node()
    dead = weakref.ref(node)
    alive = [[i] for i in range(100)]
    gc.callbacks.append(note)
    try:
        del node
        freezer.observe(10)
    finally:
        gc.callbacks.remove(note)
    assert generations == [0]  # one collection, of generation 0: not a pass over generation 1
    assert gc.get_freeze_count() > 0
    assert dead() is None  # collected before the freeze, not frozen
    assert alive
