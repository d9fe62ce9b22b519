"""The executable evaluator's YAML config: which local command answers which images.

```yaml
functions:
  - images: [ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4.5, set-namespace:v0.4.5]
    command: [/usr/local/bin/set-namespace]   # relative paths resolve against this file
defaultImagePrefix: ghcr.io/kptdev/krm-functions-catalog/   # optional: qualifies bare names
```
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import InvalidRequest
from ..images import parse_image, qualify
from ..krm import load_yaml


class ConfigError(ValueError):
    """The config file is unusable; the message names the file and the offending entry."""


class FunctionEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    images: list[str] = Field(min_length=1)
    command: list[str] = Field(min_length=1)

    @field_validator("images")
    @classmethod
    def _valid_images(cls, images: list[str]) -> list[str]:
        for image in images:
            try:
                parse_image(image)
            except InvalidRequest as exc:
                raise ValueError(exc.message) from None
        return images

    @field_validator("command")
    @classmethod
    def _non_empty_program(cls, command: list[str]) -> list[str]:
        if not command[0]:
            raise ValueError("command[0] (the program) must not be empty")
        return command


class ExecutableConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    functions: list[FunctionEntry] = Field(default_factory=list)
    default_image_prefix: str = Field(default="", alias="defaultImagePrefix")


def load_executable_config(path: Path) -> tuple[ExecutableConfig, dict[str, list[str]]]:
    """Load and validate `path`; return the config and its image → absolute command table."""
    try:
        document = load_yaml(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    try:
        config = ExecutableConfig.model_validate(document or {})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc)}") from None
    return config, _command_table(path, config)


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        location = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
        problems.append(f"{location.lstrip('.') or 'top level'}: {error['msg']}")
    return "; ".join(problems)


def _command_table(path: Path, config: ExecutableConfig) -> dict[str, list[str]]:
    """Image (qualified with the default prefix) → absolute command; duplicates are errors."""
    table: dict[str, list[str]] = {}
    for index, entry in enumerate(config.functions):
        program = path.parent / entry.command[0] if "/" in entry.command[0] else None
        if program is not None:
            program = program.resolve()
            if not os.access(program, os.X_OK) or not program.is_file():
                raise ConfigError(
                    f"{path}: functions[{index}].command[0]: {program} is not an executable file"
                )
        command = [str(program) if program else entry.command[0], *entry.command[1:]]
        for image in entry.images:
            qualified = qualify(image, config.default_image_prefix)
            if qualified in table:
                raise ConfigError(
                    f"{path}: functions[{index}].images: {image!r} is already configured"
                    + (f" (as {qualified!r})" if qualified != image else "")
                )
            table[qualified] = command
    return table
