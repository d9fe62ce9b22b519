"""Run a function's command under the admission limits and interpret its exit like Porch does.

Shared by the executable evaluator (image → configured command) and the in-pod wrapper (one
fixed entrypoint), so both answer exactly the same way.
"""

from __future__ import annotations

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

# gRPC carries the status message in a trailer; clients refuse trailers beyond a few KiB, so
# the stderr and results quoted in an error message are cut to their most useful part.
MESSAGE_PART_LIMIT = 4096


@dataclass(frozen=True)
class RunLimits:
    """Bounds applied to every function run."""

    concurrency: int
    queue_length: int
    timeout: float | None
    output_limit: int


class CommandRunner:
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
        return interpret(image, result)


def _min_timeout(a: float | None, b: float | None) -> float | None:
    present = [t for t in (a, b) if t is not None]
    return min(present) if present else None


def interpret(image: str, result: ProcessOutput) -> FunctionOutput:
    """Exit 0 is success whatever the results say; non-zero is INTERNAL quoting results + stderr."""
    if result.exit_code == 0:
        return FunctionOutput(result.stdout, result.stderr)
    stderr = _tail(result.stderr.decode("utf-8", "replace"))
    try:
        results = parse_resource_list(result.stdout).get("results")
    except ResourceListError:
        raise FunctionFailed(
            f"failed to evaluate function {_quote(image)}: exit code {result.exit_code}, "
            f"no ResourceList on stdout, stderr: {stderr}"
        ) from None
    summary = _tail(summarize_results(results)) or "none"
    raise FunctionFailed(
        f"failed to evaluate function {_quote(image)} with structured results: {summary} "
        f"and stderr: {stderr}"
    )


def _quote(image: str) -> str:
    """Quote like Go's %q, as Porch's messages do, for callers that match on them."""
    return json.dumps(image)


def _tail(text: str) -> str:
    text = text.strip()
    if len(text) <= MESSAGE_PART_LIMIT:
        return text
    return "…" + text[-MESSAGE_PART_LIMIT:]
