"""Bounded admission: so many evaluations run, a bounded number wait, the rest are refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..errors import DeadlineExceeded, ResourceExhausted


class AdmissionQueue:
    """At most `concurrency` holders at once and at most `queue_length` waiters.

    Refusing at once when the queue is full (RESOURCE_EXHAUSTED) keeps memory and latency
    bounded under overload instead of letting requests pile up until they time out.
    """

    def __init__(self, concurrency: int, queue_length: int) -> None:
        if concurrency < 1 or queue_length < 0:
            raise ValueError("concurrency must be >= 1 and queue_length >= 0")
        self.concurrency = concurrency
        self.queue_length = queue_length
        self._slots = asyncio.Semaphore(concurrency)
        self._running = 0
        self._waiting = 0

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return self._waiting

    @asynccontextmanager
    async def slot(self, timeout: float | None) -> AsyncIterator[None]:
        """Hold one slot for the body; wait at most `timeout` seconds for it."""
        if self._slots.locked():
            if self._waiting >= self.queue_length:
                raise ResourceExhausted(
                    f"too many evaluations: {self._running} running and {self._waiting} "
                    "queued (the configured limits); retry later"
                )
            self._waiting += 1
            try:
                async with asyncio.timeout(timeout):
                    await self._slots.acquire()
            except TimeoutError:
                raise DeadlineExceeded(
                    f"no evaluation slot became free within {timeout:.3g}s"
                ) from None
            finally:
                self._waiting -= 1
        else:
            await self._slots.acquire()
        self._running += 1
        try:
            yield
        finally:
            self._running -= 1
            self._slots.release()
