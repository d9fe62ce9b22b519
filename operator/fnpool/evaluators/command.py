"""Run a function's command under the admission limits and interpret its exit like Porch does.

Shared by the executable evaluator (image → configured command) and the in-pod wrapper (one
fixed entrypoint), so both answer exactly the same way.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..errors import FunctionFailed
from ..krm import ResourceListError, parse_resource_list, summarize_results
from .admission import AdmissionQueue
from .base import FunctionOutput
from .process import ProcessOutput, run_process

# gRPC carries the status message percent-encoded in a trailer, and clients refuse metadata
# beyond 8 KiB; the stderr and results quoted in an error message are each cut to their last
# part that encodes into this many bytes.
MESSAGE_PART_LIMIT = 3000


@dataclass(frozen=True)
class RunLimits:
    """Bounds applied to every function run."""

    concurrency: int
    queue_length: int
    timeout: float | None
    output_limit: int


class CommandRunner:
    """Runs commands within `limits`; one per evaluator, so its limits are that evaluator's."""

    def __init__(self, limits: RunLimits, env: dict[str, str] | None = None) -> None:
        self.limits = limits
        self.admission = AdmissionQueue(limits.concurrency, limits.queue_length)
        # one thread per running function: admission already bounds how many run at once
        self._executor = ThreadPoolExecutor(limits.concurrency, thread_name_prefix="function")
        self._env = env

    async def run(
        self, image: str, argv: Sequence[str], resource_list: bytes, timeout: float | None
    ) -> FunctionOutput:
        """Evaluate `argv` for `image`; `timeout` (the caller's) is capped by the configured one."""
        budget = _min_timeout(timeout, self.limits.timeout)
        started = time.monotonic()
        async with self.admission.slot(budget):
            remaining = None if budget is None else max(0.0, budget - (time.monotonic() - started))
            result = await run_process(
                argv,
                resource_list,
                executor=self._executor,
                timeout=remaining,
                output_limit=self.limits.output_limit,
                env=self._env,
            )
        if result.exit_code == 0:
            return FunctionOutput(result.stdout, result.stderr)
        # parsing up to a message's worth of YAML must not stall the event loop
        raise await asyncio.to_thread(failure, image, result)


def _min_timeout(a: float | None, b: float | None) -> float | None:
    present = [t for t in (a, b) if t is not None]
    return min(present) if present else None


def failure(image: str, result: ProcessOutput) -> FunctionFailed:
    """The INTERNAL error for a non-zero exit, quoting results and stderr as Porch's wrapper."""
    stderr = _tail(result.stderr.decode("utf-8", "replace"))
    try:
        results = parse_resource_list(result.stdout).get("results")
    except ResourceListError:
        return FunctionFailed(
            f"failed to evaluate function {_quote(image)}: exit code {result.exit_code}, "
            f"no ResourceList on stdout, stderr: {stderr}"
        )
    summary = _tail(summarize_results(results)) or "none"
    return FunctionFailed(
        f"failed to evaluate function {_quote(image)} with structured results: {summary} "
        f"and stderr: {stderr}"
    )


def _quote(image: str) -> str:
    """Quote like Go's %q, as Porch's messages do, for callers that match on them."""
    return json.dumps(image)


def _encoded_size(char: str) -> int:
    """Bytes `char` takes in a grpc-message trailer (printable ASCII but % is sent as is)."""
    return 1 if " " <= char <= "~" and char != "%" else 3 * len(char.encode())


def _tail(text: str) -> str:
    """The end of `text` that fits MESSAGE_PART_LIMIT encoded bytes, marked when cut."""
    text = text.strip()
    budget = MESSAGE_PART_LIMIT
    for start in range(len(text) - 1, -1, -1):
        budget -= _encoded_size(text[start])
        if budget < 0:
            return "..." + text[start + 1 :]
    return text
