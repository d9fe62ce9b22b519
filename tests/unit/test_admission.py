from __future__ import annotations

import asyncio

import pytest
from fnpool.errors import DeadlineExceeded, ResourceExhausted
from fnpool.evaluators.admission import AdmissionQueue


async def test_refuses_when_running_and_queue_are_full() -> None:
    queue = AdmissionQueue(concurrency=1, queue_length=1)
    release = asyncio.Event()

    async def hold() -> None:
        async with queue.slot(None):
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0)
    assert (queue.running, queue.waiting) == (1, 1)
    with pytest.raises(ResourceExhausted, match="1 running and 1 queued"):
        async with queue.slot(None):
            pass
    release.set()
    await asyncio.gather(holder, waiter)
    assert (queue.running, queue.waiting) == (0, 0)


async def test_waiting_is_bounded_by_the_timeout() -> None:
    queue = AdmissionQueue(concurrency=1, queue_length=5)
    async with queue.slot(None):
        with pytest.raises(DeadlineExceeded, match="no evaluation slot"):
            async with queue.slot(0.05):
                pass
        assert queue.waiting == 0


def test_rejects_nonsense_limits() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        AdmissionQueue(0, 1)
