"""Concurrency cap, bounded queue, and graceful SIGTERM, each on a server of its own.

The `test/gated` function blocks until the test opens its gate, so what is running, queued or
refused is decided by the test, not by timing.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import grpc
import pytest

from tests.waiting import async_wait_for

from .conftest import request, start_server, stub

RESOURCE_LIST = b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n"


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals open at one instant."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


async def test_concurrency_cap_and_queue_overflow(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--max-concurrency", "2", "--max-queue-length", "1")
    try:
        async with server.channel() as channel:
            evaluate = stub(channel).EvaluateFunction
            calls = [
                asyncio.ensure_future(evaluate(request("test/gated", RESOURCE_LIST)))
                for _ in range(2)
            ]
            await async_wait_for(lambda: len(server.function_pids()) == 2, 10, "2 functions")
            # two run; of three more, one queues and two are refused at once
            extra = [
                asyncio.ensure_future(evaluate(request("test/gated", RESOURCE_LIST)))
                for _ in range(3)
            ]
            await async_wait_for(
                lambda: sum(call.done() for call in extra) == 2, 10, "two refusals"
            )
            refused = [call.exception() for call in extra if call.done()]
            assert [e.code() for e in refused] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2  # type: ignore[union-attr]
            assert "2 running and 1 queued" in (refused[0].details() or "")  # type: ignore[union-attr]
            assert len(server.function_pids()) == 2  # the queued one has not started
            server.open_gate()
            queued = [call for call in extra if not call.done()]
            for response in await asyncio.gather(*calls, *queued):
                assert response.resource_list == RESOURCE_LIST
            intervals = server.gated_intervals()
            assert len(intervals) == 3
            assert max_overlap(intervals) == 2
    finally:
        assert server.stop() == 0


async def test_sigterm_finishes_in_flight_and_refuses_new(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        async with server.channel() as channel:
            evaluate = stub(channel).EvaluateFunction
            in_flight = asyncio.ensure_future(evaluate(request("test/gated", RESOURCE_LIST)))
            await async_wait_for(lambda: len(server.function_pids()) == 1, 10, "the function")
            server.proc.send_signal(signal.SIGTERM)
            await async_wait_for(
                lambda: b"refusing new calls" in server.log.read_bytes(), 10, "shutdown to begin"
            )
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await evaluate(request("example/identity", RESOURCE_LIST), timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            # refused while still serving the in-flight call, not because the server is gone
            assert not in_flight.done()
            assert server.proc.poll() is None
            server.open_gate()
            response = await in_flight
            assert response.resource_list == RESOURCE_LIST
        await async_wait_for(lambda: server.proc.poll() is not None, 15, "the server to exit")
        assert server.proc.returncode == 0, server.log.read_text()
    finally:
        server.stop()
