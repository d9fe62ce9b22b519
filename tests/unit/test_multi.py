from __future__ import annotations

import pytest
from fnpool.errors import FunctionFailed, FunctionNotFound
from fnpool.evaluators import FunctionOutput
from fnpool.evaluators.multi import MultiEvaluator


class Fixed:
    """An evaluator that knows some images and answers with its own name."""

    def __init__(self, name: str, images: set[str], fail: bool = False) -> None:
        self.name, self.images, self.fail, self.calls = name, images, fail, 0

    async def evaluate(
        self, image: str, resource_list: bytes, timeout: float | None
    ) -> FunctionOutput:
        self.calls += 1
        if image not in self.images:
            raise FunctionNotFound(image)
        if self.fail:
            raise FunctionFailed("boom")
        return FunctionOutput(self.name.encode(), b"")


async def test_first_evaluator_that_knows_the_image_wins_in_configured_order() -> None:
    first, second = Fixed("first", {"a"}), Fixed("second", {"a", "b"})
    chain = MultiEvaluator([first, second])
    assert (await chain.evaluate("a", b"", None)).resource_list == b"first"
    assert (await chain.evaluate("b", b"", None)).resource_list == b"second"


async def test_falls_through_only_on_not_found() -> None:
    first, second = Fixed("first", {"a"}, fail=True), Fixed("second", {"a"})
    with pytest.raises(FunctionFailed):
        await MultiEvaluator([first, second]).evaluate("a", b"", None)
    assert second.calls == 0


async def test_not_found_when_nobody_knows_the_image() -> None:
    with pytest.raises(FunctionNotFound, match="'zzz'"):
        await MultiEvaluator([Fixed("x", set())]).evaluate("zzz", b"", None)
