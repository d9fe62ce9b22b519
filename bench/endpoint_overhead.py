"""Evaluation through `fnpool serve --local` vs running the same executable directly.

Both sides run from this process with the same thread-pool concurrency: "direct" spawns the
program with `subprocess.run` (the floor any runner pays), "endpoint" makes the gRPC call to a
real server on loopback, which spawns the same program. Rounds alternate the two sides so noise
on this shared machine hits both alike; the ratios are what to read.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
from fnpool.krm import build_resource_list, config_map_function_config, dump_yaml
from fnpool.proto import evaluator_pb2, evaluator_pb2_grpc

from tests.launch import launch_fnpool

ROOT = Path(__file__).resolve().parents[1]
MAX_MESSAGE = 6 * 1024 * 1024
FUNCTIONS = {
    "identity (/bin/cat)": ("bench/identity", ["/bin/cat"]),
    "set-label (example)": ("bench/set-label", [str(ROOT / "examples/bin/set-label")]),
}
SIZES = {"10KB": 10_000, "1MB": 1_000_000, "5MB": 5_000_000}
# requests per side per (function, size, concurrency): bounded so the whole run takes minutes
REQUESTS = {"10KB": 240, "1MB": 48, "5MB": 16}
ROUNDS = 2


def resource_list(size: int) -> bytes:
    """A ResourceList of ConfigMaps of about `size` bytes, with a set-label functionConfig."""
    payload = "v" * 200
    count = max(1, size // 290)
    items = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"cm-{i}"},
            "data": {"k": payload},
        }
        for i in range(count)
    ]
    return dump_yaml(
        build_resource_list(items, config_map_function_config({"team": "blue"}))
    ).encode()


@dataclass
class Sample:
    latencies: list[float]
    wall: float

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.wall

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(call: Callable[[], None], requests: int, concurrency: int) -> Sample:
    latencies: list[float] = []

    def timed() -> None:
        start = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(timed) for _ in range(requests)]:
            future.result()
    return Sample(latencies, time.perf_counter() - start)


def merge(samples: list[Sample]) -> Sample:
    return Sample([x for s in samples for x in s.latencies], sum(s.wall for s in samples))


def start_server(config: Path, concurrency: int, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    args = ["serve", "--local", "--port", "0", "--config", str(config)]
    args += ["--max-concurrency", str(concurrency), "--max-queue-length", "64"]
    return launch_fnpool(args, log)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tenth of the requests")
    args = parser.parse_args(argv)
    scale = 0.1 if args.quick else 1.0
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "functions.yaml"
        config.write_text(
            "functions:\n"
            + "".join(
                f"  - images: [{img}]\n    command: {cmd}\n" for img, cmd in FUNCTIONS.values()
            )
        )
        proc, port = start_server(config, 8, Path(tmp) / "server.log")
        try:
            return run_all(port, scale)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def run_all(port: int, scale: float) -> int:
    channel = grpc.insecure_channel(
        f"127.0.0.1:{port}",
        options=[
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.max_receive_message_length", MAX_MESSAGE),
        ],
    )
    stub = evaluator_pb2_grpc.FunctionEvaluatorStub(channel)
    print(
        f"# fnpool bench — {time.strftime('%Y-%m-%d %H:%M')} — {platform.node()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, grpcio {grpc.__version__}"
    )
    print(
        "| function | size | conc | direct p50 ms | endpoint p50 ms | p50 overhead ms | "
        "direct p99 ms | endpoint p99 ms | direct req/s | endpoint req/s | p50 ratio | "
        "throughput ratio |"
    )
    print("|" + "---|" * 12)
    for name, (image, command) in FUNCTIONS.items():
        for size_name, size in SIZES.items():
            body = resource_list(size)
            request = evaluator_pb2.EvaluateFunctionRequest(image=image, resource_list=body)

            def direct(command: list[str] = command, body: bytes = body) -> None:
                done = subprocess.run(command, input=body, capture_output=True, check=False)
                assert done.returncode == 0, done.stderr

            def endpoint(request: evaluator_pb2.EvaluateFunctionRequest = request) -> None:
                stub.EvaluateFunction(request, timeout=120)

            for concurrency in (1, 8):
                per_round = max(concurrency, int(REQUESTS[size_name] * scale) // ROUNDS)
                endpoint()  # warm the connection and the page cache
                direct_samples, endpoint_samples = [], []
                for _ in range(ROUNDS):
                    direct_samples.append(measure(direct, per_round, concurrency))
                    endpoint_samples.append(measure(endpoint, per_round, concurrency))
                d, e = merge(direct_samples), merge(endpoint_samples)
                dp50, ep50 = d.percentile(50) * 1e3, e.percentile(50) * 1e3
                print(
                    f"| {name} | {size_name} | {concurrency} | {dp50:.2f} | {ep50:.2f} | "
                    f"{ep50 - dp50:+.2f} | {d.percentile(99) * 1e3:.2f} | "
                    f"{e.percentile(99) * 1e3:.2f} | {d.throughput:.1f} | {e.throughput:.1f} | "
                    f"{ep50 / dp50:.2f} | {e.throughput / d.throughput:.2f} |",
                    flush=True,
                )
    channel.close()
    print(
        "\np50 ratio = endpoint/direct latency (lower is better); "
        "throughput ratio = endpoint/direct requests per second (higher is better)."
    )
    return 0
