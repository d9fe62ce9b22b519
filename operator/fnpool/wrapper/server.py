"""Serve one fixed entrypoint; the request's image is informational, as in Porch's wrapper."""

from __future__ import annotations

from collections.abc import Sequence

from ..endpoint.server import ServerOptions, serve_until_signalled
from ..evaluators.base import FunctionOutput
from ..evaluators.command import CommandRunner, RunLimits


class EntrypointEvaluator:
    """Runs the pod's function entrypoint for every request, whatever image it names."""

    def __init__(self, entrypoint: Sequence[str], runner: CommandRunner) -> None:
        if not entrypoint:
            raise ValueError("the wrapper needs the function's entrypoint after `--`")
        self._entrypoint = list(entrypoint)
        self._runner = runner

    async def evaluate(
        self, image: str, resource_list: bytes, timeout: float | None
    ) -> FunctionOutput:
        return await self._runner.run(image, self._entrypoint, resource_list, timeout)


async def run_wrapper(entrypoint: Sequence[str], options: ServerOptions, limits: RunLimits) -> None:
    evaluator = EntrypointEvaluator(entrypoint, CommandRunner(limits))
    await serve_until_signalled(evaluator, options)
