"""The one interface every evaluator implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class FunctionOutput:
    """What a successful evaluation returns: the output ResourceList and the function's stderr."""

    resource_list: bytes
    log: bytes


class Evaluator(Protocol):
    """Evaluates the function named by `image` on `resource_list`.

    `timeout` is the time left for the whole evaluation (queueing included), or None for no
    limit. Failures are raised as `fnpool.errors.EvaluationError` subclasses; an evaluator that
    does not know the image raises `FunctionNotFound` so that a chain can fall through.
    """

    async def evaluate(
        self, image: str, resource_list: bytes, timeout: float | None
    ) -> FunctionOutput: ...
