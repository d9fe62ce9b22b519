"""`fnpool wrapper` (from the Python package) serves one entrypoint, whatever the image says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from tests.waiting import wait_for

from .conftest import SERVING, request, stub

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RL = b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: [{kind: A}]\n"


async def test_wrapper_serves_its_entrypoint_and_stops_on_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "wrapper.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fnpool.cli.main",
                "wrapper",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--",
                str(EXAMPLES / "bin" / "set-label"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        match = wait_for(lambda: SERVING.search(log.read_bytes()), 30, "the wrapper to listen")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{int(match.group(1))}") as channel:
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
