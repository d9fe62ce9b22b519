"""`fnpool wrapper` (from the Python package) serves one entrypoint, whatever the image says."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from tests.launch import launch_fnpool

from .conftest import request, stub

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RL = b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: [{kind: A}]\n"


async def test_wrapper_serves_its_entrypoint_and_stops_on_sigterm(tmp_path: Path) -> None:
    entrypoint = str(EXAMPLES / "bin" / "set-label")
    proc, port = launch_fnpool(
        ["wrapper", "--host", "127.0.0.1", "--port", "0", "--", entrypoint],
        tmp_path / "wrapper.log",
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            body = RL + b"functionConfig: {data: {a: b}}\n"
            response = await stub(channel).EvaluateFunction(request("any/image:tag", body))
            assert b"a: b" in response.resource_list
            assert response.log.startswith(b"set-label:")
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await stub(channel).EvaluateFunction(request("any/image:tag", RL))
            assert failed.value.code() == grpc.StatusCode.INTERNAL
            assert "functionConfig data is empty" in (failed.value.details() or "")
        proc.terminate()
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
