from __future__ import annotations

from pathlib import Path

import pytest
from fnpool.errors import FunctionNotFound
from fnpool.evaluators.command import CommandRunner, RunLimits
from fnpool.evaluators.executable import ExecutableEvaluator
from fnpool.evaluators.executable_config import ConfigError, load_executable_config

LIMITS = RunLimits(concurrency=1, queue_length=0, timeout=None, output_limit=1024)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "functions.yaml"
    path.write_text(text)
    return path


def test_relative_commands_resolve_against_the_file(tmp_path: Path) -> None:
    program = tmp_path / "bin" / "fn"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    path = write(
        tmp_path,
        "functions:\n  - images: [a/fn:v1, fn:v1]\n    command: [bin/fn, --flag]\n"
        "  - images: [cat]\n    command: [cat]\n"
        "defaultImagePrefix: ghcr.io/org/\n",
    )
    config, table = load_executable_config(path)
    assert config.default_image_prefix == "ghcr.io/org/"
    assert table == {
        "a/fn:v1": [str(program), "--flag"],
        "ghcr.io/org/fn:v1": [str(program), "--flag"],
        "ghcr.io/org/cat": ["cat"],
    }
    evaluator = ExecutableEvaluator(table, CommandRunner(LIMITS), config.default_image_prefix)
    assert evaluator.command_for("ghcr.io/org/fn:v1") == [str(program), "--flag"]
    assert evaluator.command_for("fn:v1") == [str(program), "--flag"]
    with pytest.raises(FunctionNotFound):
        evaluator.command_for("other:v1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "functions: [{images: [], command: [x]}]",
            r"functions\[0\]\.images: List should have at least 1",
        ),
        (
            "functions: [{images: [Bad], command: [x]}]",
            r"functions\[0\]\.images: Value error, malformed",
        ),
        (
            "functions: [{images: [a], command: [x], extra: 1}]",
            r"functions\[0\]\.extra: Extra inputs",
        ),
        (
            "functions: [{images: [a], command: [./missing]}]",
            r"functions\[0\]\.command\[0\]: .* not an executable",
        ),
        (
            "functions: [{images: [a], command: [x]}, {images: [a], command: [y]}]",
            r"functions\[1\]\.images: 'a' is already",
        ),
        ("functions: {", "not valid YAML"),
        ("unknown: 1", "unknown: Extra inputs"),
    ],
)
def test_errors_name_the_file_and_the_entry(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"^{path}: .*{message}"):
        load_executable_config(path)


def test_a_bare_name_and_its_qualified_form_are_duplicates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "defaultImagePrefix: ghcr.io/org/\n"
        "functions: [{images: [fn:v1], command: [x]}, {images: [ghcr.io/org/fn:v1], command: [y]}]",
    )
    with pytest.raises(
        ConfigError, match=r"functions\[1\]\.images: 'ghcr.io/org/fn:v1' is already"
    ):
        load_executable_config(path)
    path.write_text(
        "defaultImagePrefix: ghcr.io/org/\n"
        "functions: [{images: [ghcr.io/org/fn:v1], command: [x]}, {images: [fn:v1], command: [y]}]"
    )
    with pytest.raises(
        ConfigError, match=r"'fn:v1' is already configured \(as 'ghcr.io/org/fn:v1'\)"
    ):
        load_executable_config(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_executable_config(tmp_path / "nope.yaml")
