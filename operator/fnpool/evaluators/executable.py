"""The executable evaluator: images mapped to local programs, one process per evaluation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import FunctionNotFound
from ..images import qualify
from .base import FunctionOutput
from .command import CommandRunner


class ExecutableEvaluator:
    """Answers the images of its command table, whose keys are qualified with the prefix."""

    def __init__(
        self,
        commands: Mapping[str, Sequence[str]],
        runner: CommandRunner,
        default_image_prefix: str = "",
    ) -> None:
        self._prefix = default_image_prefix
        self._commands = {image: list(command) for image, command in commands.items()}
        self._runner = runner

    def command_for(self, image: str) -> list[str]:
        command = self._commands.get(qualify(image, self._prefix))
        if command is None:
            raise FunctionNotFound(
                f"function image {image!r} is not configured for local execution"
            )
        return command

    async def evaluate(
        self, image: str, resource_list: bytes, timeout: float | None
    ) -> FunctionOutput:
        return await self._runner.run(image, self.command_for(image), resource_list, timeout)
