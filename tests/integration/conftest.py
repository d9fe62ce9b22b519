"""Fixtures that run the real `fnpool serve --local` on loopback and talk to it over gRPC."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from fnpool.proto import evaluator_pb2, evaluator_pb2_grpc

from tests.launch import launch_fnpool

HERE = Path(__file__).resolve().parent
FUNCTIONS_CONFIG = HERE / "functions.yaml"


@dataclass
class ServerProcess:
    """A running `fnpool serve --local` subprocess and where to reach it."""

    proc: subprocess.Popen[bytes]
    port: int
    piddir: Path
    log: Path
    started_pids: set[int] = field(default_factory=set)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def channel(self, max_message_size: int = 64 * 1024 * 1024) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(
            self.address,
            options=[
                ("grpc.max_send_message_length", max_message_size),
                ("grpc.max_receive_message_length", max_message_size),
            ],
        )

    def function_pids(self) -> dict[int, list[int]]:
        """Pid files written by test functions: leader pid → all pids it recorded."""
        result = {}
        for path in self.piddir.iterdir():
            pids = [int(p) for p in path.read_text().split()]
            if pids:
                result[int(path.name)] = pids
        return result

    def open_gate(self) -> None:
        """Let every `test/gated` function (waiting or yet to come) finish."""
        (self.piddir.parent / "gate").touch()

    def gated_intervals(self) -> list[tuple[float, float]]:
        """(start, end) of every `test/gated` function that has finished."""
        times = self.piddir.parent / "times"
        return [
            (float(start), float(end))
            for start, end in (path.read_text().split() for path in times.iterdir())
        ]

    def new_function_pids(self, before: set[int]) -> list[int]:
        """Every pid recorded by functions whose leader is not in `before`."""
        return [
            p for leader, pids in self.function_pids().items() if leader not in before for p in pids
        ]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


def start_server(tmp: Path, *flags: str) -> ServerProcess:
    """`fnpool serve --local` over the test functions, on a free loopback port."""
    piddir = tmp / "pids"
    piddir.mkdir(parents=True, exist_ok=True)
    (tmp / "times").mkdir(exist_ok=True)
    log = tmp / "server.log"
    args = ["serve", "--local", "--port", "0", "--config", str(FUNCTIONS_CONFIG), *flags]
    proc, port = launch_fnpool(args, log, {**os.environ, "FNPOOL_TEST_PIDDIR": str(piddir)})
    return ServerProcess(proc, port, piddir, log)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(
        tmp_path_factory.mktemp("server"),
        "--timeout",
        "3",
        "--max-concurrency",
        "4",
        "--max-queue-length",
        "8",
    )
    yield srv
    assert srv.stop() == 0, srv.log.read_text()


def request(image: str, resource_list: bytes) -> evaluator_pb2.EvaluateFunctionRequest:
    return evaluator_pb2.EvaluateFunctionRequest(image=image, resource_list=resource_list)


def stub(channel: grpc.aio.Channel) -> evaluator_pb2_grpc.FunctionEvaluatorStub:
    return evaluator_pb2_grpc.FunctionEvaluatorStub(channel)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
