"""Concurrency cap, bounded queue, and graceful SIGTERM, each on a server of its own."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import grpc
import pytest

from tests.waiting import async_wait_for

from .conftest import request, start_server, stub

RESOURCE_LIST = b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n"


async def test_concurrency_cap_and_queue_overflow(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--max-concurrency", "2", "--max-queue-length", "1")
    try:
        async with server.channel() as channel:
            evaluate = stub(channel).EvaluateFunction
            running = [
                asyncio.ensure_future(evaluate(request("test/record-sleep", RESOURCE_LIST)))
                for _ in range(2)
            ]
            await async_wait_for(lambda: len(server.function_pids()) == 2, 10, "2 functions")
            # two run, so of three more exactly one may queue and two must be refused at once
            extra = [evaluate(request("test/record-sleep", RESOURCE_LIST)) for _ in range(3)]
            outcomes = await asyncio.gather(*extra, return_exceptions=True)
            refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
            assert [o.code() for o in refused] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2
            assert "2 running and 1 queued" in (refused[0].details() or "")
            assert sum(1 for o in outcomes if not isinstance(o, BaseException)) == 1
            for response in await asyncio.gather(*running):
                assert response.resource_list == RESOURCE_LIST
            # the queued one ran only after a slot freed: never more than 2 at once
            assert len(server.function_pids()) == 3
    finally:
        assert server.stop() == 0


async def test_sigterm_finishes_in_flight_and_refuses_new(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    async with server.channel() as channel:
        evaluate = stub(channel).EvaluateFunction
        in_flight = asyncio.ensure_future(evaluate(request("test/record-sleep", RESOURCE_LIST)))
        await async_wait_for(lambda: len(server.function_pids()) == 1, 10, "the function to start")
        server.proc.send_signal(signal.SIGTERM)
        await async_wait_for(
            lambda: b"refusing new calls" in server.log.read_bytes(), 10, "shutdown to begin"
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await evaluate(request("example/identity", RESOURCE_LIST), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        response = await in_flight
        assert response.resource_list == RESOURCE_LIST
    await async_wait_for(lambda: server.proc.poll() is not None, 15, "the server to exit")
    assert server.proc.returncode == 0, server.log.read_text()
