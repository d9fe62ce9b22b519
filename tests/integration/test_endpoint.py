"""The real endpoint over real gRPC: every row of the error table that applies without a cluster.

After each test the module's server must still answer a good request: bad input never breaks it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from fnpool.krm import dump_yaml, load_yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.waiting import async_wait_for

from .conftest import ServerProcess, pid_alive, request, stub

RESOURCE_LIST = dump_yaml(
    {
        "apiVersion": "config.kubernetes.io/v1",
        "kind": "ResourceList",
        "items": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}],
        "functionConfig": {"apiVersion": "v1", "kind": "ConfigMap", "data": {"team": "blue"}},
    }
).encode()


@pytest.fixture
async def channel(server: ServerProcess) -> AsyncIterator[grpc.aio.Channel]:
    async with server.channel() as ch:
        yield ch
    # the server survives whatever the test sent it
    async with server.channel() as ch:
        response = await stub(ch).EvaluateFunction(
            request("example/set-label", RESOURCE_LIST), timeout=10
        )
        assert b"team: blue" in response.resource_list


async def expect_status(call: object, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    assert info.value.code() == code, info.value.details()
    return info.value.details() or ""


async def test_success_returns_output_and_stderr(channel: grpc.aio.Channel) -> None:
    response = await stub(channel).EvaluateFunction(request("example/set-label", RESOURCE_LIST))
    output = load_yaml(response.resource_list)
    assert output["items"][0]["metadata"]["labels"] == {"team": "blue"}
    assert response.log == b"set-label: set 1 label(s) on 1 resource(s)\n"


async def test_bare_name_is_qualified_with_the_default_prefix(channel: grpc.aio.Channel) -> None:
    image = "ghcr.io/fnpool/examples/set-label:v1"
    response = await stub(channel).EvaluateFunction(request(image, RESOURCE_LIST))
    assert b"team: blue" in response.resource_list


async def test_function_failure_is_internal_with_results_and_stderr(
    channel: grpc.aio.Channel,
) -> None:
    details = await expect_status(
        stub(channel).EvaluateFunction(request("example/fail", RESOURCE_LIST)),
        grpc.StatusCode.INTERNAL,
    )
    assert details == (
        'failed to evaluate function "example/fail" with structured results: '
        "[error] this function always fails and stderr: fail: failing on purpose"
    )


async def test_failure_without_resource_list_quotes_exit_code_and_stderr(
    channel: grpc.aio.Channel,
) -> None:
    details = await expect_status(
        stub(channel).EvaluateFunction(request("test/exit-no-output", RESOURCE_LIST)),
        grpc.StatusCode.INTERNAL,
    )
    assert "exit code 3" in details
    assert "no ResourceList here" in details


async def test_long_multiline_stderr_reaches_the_client_cut_to_its_tail(
    channel: grpc.aio.Channel,
) -> None:
    details = await expect_status(
        stub(channel).EvaluateFunction(request("test/noisy-failure", RESOURCE_LIST)),
        grpc.StatusCode.INTERNAL,
    )
    assert "exit code 1" in details
    assert details.endswith("line 2000: é%")
    assert "line 1: é%" not in details


async def test_unknown_image_is_not_found(channel: grpc.aio.Channel) -> None:
    details = await expect_status(
        stub(channel).EvaluateFunction(request("example/unknown:v1", RESOURCE_LIST)),
        grpc.StatusCode.NOT_FOUND,
    )
    assert "example/unknown:v1" in details


@pytest.mark.parametrize("image", ["", "Upper/Case", "a b", "x:tag:tag", "ghcr.io/x@sha256:12"])
async def test_empty_or_malformed_image_is_invalid_argument(
    channel: grpc.aio.Channel, image: str
) -> None:
    details = await expect_status(
        stub(channel).EvaluateFunction(request(image, RESOURCE_LIST)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert ("must not be empty" if not image else "malformed image reference") in details


async def test_malformed_request_bytes_are_invalid_argument(channel: grpc.aio.Channel) -> None:
    raw = channel.unary_unary("/evaluator.FunctionEvaluator/EvaluateFunction")
    details = await expect_status(raw(b"\x0a\xff\xff\xff\x0f"), grpc.StatusCode.INVALID_ARGUMENT)
    assert "not an EvaluateFunctionRequest" in details


async def test_oversized_request_is_resource_exhausted(channel: grpc.aio.Channel) -> None:
    big = b"x" * (6 * 1024 * 1024 + 1)
    await expect_status(
        stub(channel).EvaluateFunction(request("example/identity", big)),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    )


async def test_request_just_under_the_limit_round_trips(channel: grpc.aio.Channel) -> None:
    body = b"x" * (6 * 1024 * 1024 - 4096)
    response = await stub(channel).EvaluateFunction(request("example/identity", body))
    assert response.resource_list == body


async def test_oversized_function_output_is_resource_exhausted(channel: grpc.aio.Channel) -> None:
    details = await expect_status(
        stub(channel).EvaluateFunction(request("test/big-output", RESOURCE_LIST)),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    )
    assert "message size limit" in details


async def test_timeout_kills_the_function_and_its_children(
    channel: grpc.aio.Channel, server: ServerProcess
) -> None:
    before = set(server.function_pids())
    details = await expect_status(
        stub(channel).EvaluateFunction(request("test/spawn-sleep", RESOURCE_LIST)),
        grpc.StatusCode.DEADLINE_EXCEEDED,
    )
    assert "did not finish within 3s" in details
    pids = server.new_function_pids(before)
    assert len(pids) == 2  # the function and its grandchild
    await async_wait_for(lambda: not any(map(pid_alive, pids)), 5, "the function to be killed")


async def test_caller_deadline_is_honoured_and_kills_the_function(
    channel: grpc.aio.Channel, server: ServerProcess
) -> None:
    before = set(server.function_pids())
    await expect_status(
        stub(channel).EvaluateFunction(request("test/spawn-sleep", RESOURCE_LIST), timeout=0.5),
        grpc.StatusCode.DEADLINE_EXCEEDED,
    )
    pids = await async_wait_for(
        lambda: server.new_function_pids(before), 5, "the function to start"
    )
    await async_wait_for(lambda: not any(map(pid_alive, pids)), 5, "the function to be killed")


async def test_client_cancellation_kills_the_function(
    channel: grpc.aio.Channel, server: ServerProcess
) -> None:
    before = set(server.function_pids())
    call = stub(channel).EvaluateFunction(request("test/spawn-sleep", RESOURCE_LIST))
    pids = await async_wait_for(
        lambda: server.new_function_pids(before), 5, "the function to start"
    )
    assert all(map(pid_alive, pids))
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await async_wait_for(lambda: not any(map(pid_alive, pids)), 5, "the function to be killed")


async def test_children_left_behind_are_killed_when_the_function_exits(
    channel: grpc.aio.Channel, server: ServerProcess
) -> None:
    before = set(server.function_pids())
    response = await stub(channel).EvaluateFunction(
        request("test/leave-behind", RESOURCE_LIST), timeout=10
    )
    assert response.resource_list == RESOURCE_LIST
    pids = server.new_function_pids(before)
    assert len(pids) == 2
    await async_wait_for(lambda: not any(map(pid_alive, pids)), 5, "the children to be killed")


async def test_escaped_child_holding_stdout_does_not_hold_the_evaluation(
    channel: grpc.aio.Channel, server: ServerProcess
) -> None:
    escaped = server.piddir.parent / "escaped"
    try:
        started = time.monotonic()
        response = await stub(channel).EvaluateFunction(
            request("test/leave-behind-escape", RESOURCE_LIST), timeout=10
        )
        assert response.resource_list == RESOURCE_LIST
        assert time.monotonic() - started < 2.5  # the 1 s drain grace, not the 3 s time-out
    finally:
        os.kill(int(escaped.read_text()), signal.SIGKILL)


async def test_health_and_reflection(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "evaluator.FunctionEvaluator"):
        response = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == health_pb2.HealthCheckResponse.SERVING
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    reflect = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def ask() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    names = set()
    async for answer in reflect.ServerReflectionInfo(ask()):
        names |= {s.name for s in answer.list_services_response.service}
    assert "evaluator.FunctionEvaluator" in names
