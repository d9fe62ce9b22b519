"""An explicitly ordered chain of evaluators (Porch picked its order by map iteration: random)."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import FunctionNotFound
from .base import Evaluator, FunctionOutput


class MultiEvaluator:
    """Tries each evaluator in order, falling through only on FunctionNotFound."""

    def __init__(self, evaluators: Sequence[Evaluator]) -> None:
        if not evaluators:
            raise ValueError("MultiEvaluator needs at least one evaluator")
        self._evaluators = tuple(evaluators)

    async def evaluate(
        self, image: str, resource_list: bytes, timeout: float | None
    ) -> FunctionOutput:
        for evaluator in self._evaluators:
            try:
                return await evaluator.evaluate(image, resource_list, timeout)
            except FunctionNotFound:
                continue
        raise FunctionNotFound(f"no evaluator provides function image {image!r}")
