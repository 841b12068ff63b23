"""Exactly one process drives the bot: a lease in Redis decides which.

Every process runs `Leadership.run`. Every `lease_ms / 4` it takes or renews the lease
(`SharedState.lead`); the holder polls Telegram (or registers the webhook), runs the attached
chats' sessions and makes them match the shared attachments (`TelegramBridge.reconcile`), so an
attachment recorded by any process shows in its chat within one beat. A process that loses the
lease (Redis unreachable, a pause longer than the lease) stops driving the bot at its next beat;
when the leader dies its lease expires and another process takes over within `lease_ms` plus a
beat, resuming every chat from Redis. A process that takes the lease but cannot start driving
the bot (Telegram unreachable just then) gives it back at once, to be taken again at a beat.
In webhook mode any process may receive Telegram's POST:
a process that does not lead queues the update (with its receive time) in Redis and the leader
takes it from there (`forward_updates`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from transports.telegram.bridge import TelegramBridge
from transports.telegram.shared import SharedState

log = logging.getLogger(__name__)


class Leadership:
    def __init__(
        self,
        shared: SharedState,
        bridge: TelegramBridge,
        *,
        lease_ms: int,
        lead: Callable[[], Awaitable[None]],
        follow: Callable[[], Awaitable[None]],
        feed: Callable[[dict[str, Any], int], None],
        webhook: bool,
    ) -> None:
        self.shared, self.bridge, self.lease_ms = shared, bridge, lease_ms
        self._lead, self._follow, self._feed, self._webhook = lead, follow, feed, webhook
        self.beat_s = lease_ms / 4000

    @property
    def leading(self) -> bool:
        return self.bridge.leading

    async def beat(self) -> None:
        """One round: take, keep or lose the lease, then act on it."""
        try:
            holds = await self.shared.lead(self.lease_ms)
        except Exception:
            log.exception("Telegram lease: Redis unreachable; not driving the bot meanwhile")
            holds = False
        if holds and not self.leading:
            log.info("this process now drives the Telegram bot (lease owner %s)", self.shared.owner)
            self.bridge.leading = True
            if not await self._took_over():
                return
        elif not holds and self.leading:
            log.warning("this process lost the Telegram lease; another one drives the bot")
            self.bridge.leading = False
            await self._follow()
        if self.leading:
            await self.bridge.reconcile()

    async def _took_over(self) -> bool:
        """Start driving the bot. If that fails (Telegram unreachable at that moment), stand by
        again and give the lease back: a process that held it without polling would keep every
        chat silent for as long as it lives, and its renewals would keep the others out."""
        try:
            await self._lead()
            return True
        except Exception:
            log.exception("could not start driving the Telegram bot; the lease is given back")
        self.bridge.leading = False
        with contextlib.suppress(Exception):
            await self._follow()
        await self.resign()
        return False

    async def run(self) -> None:
        while True:
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Telegram leadership beat failed")
            await asyncio.sleep(self.beat_s)

    async def forward_updates(self) -> None:
        """The leader handles webhook updates that other processes received."""
        while True:
            if not (self._webhook and self.leading):
                await asyncio.sleep(self.beat_s)
                continue
            try:
                item = await self.shared.pop_update(timeout_s=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not read forwarded Telegram updates")
                await asyncio.sleep(self.beat_s)
                continue
            if item is not None:
                with contextlib.suppress(Exception):
                    self._feed(*item)

    async def resign(self) -> None:
        with contextlib.suppress(Exception):
            await self.shared.resign()
