from __future__ import annotations

import pytest
from fnpool.errors import FunctionFailed
from fnpool.evaluators.command import MESSAGE_PART_LIMIT, interpret
from fnpool.evaluators.process import ProcessOutput

FAILED_RL = b"""kind: ResourceList
items: []
results:
  - message: broken
    severity: error
"""


def test_exit_zero_is_success_even_with_error_results() -> None:
    output = interpret("img", ProcessOutput(0, FAILED_RL, b"warn"))
    assert (output.resource_list, output.log) == (FAILED_RL, b"warn")


def test_non_zero_exit_quotes_results_and_stderr_like_porch() -> None:
    with pytest.raises(FunctionFailed) as info:
        interpret("img:v1", ProcessOutput(1, FAILED_RL, b"oops\n"))
    assert info.value.message == (
        'failed to evaluate function "img:v1" with structured results: [error] broken '
        "and stderr: oops"
    )


def test_non_zero_exit_without_resource_list_gives_exit_code() -> None:
    with pytest.raises(FunctionFailed, match="exit code 2, no ResourceList on stdout, stderr: x"):
        interpret("img", ProcessOutput(2, b"garbage: [", b"x"))


def test_huge_stderr_is_cut_to_its_tail() -> None:
    stderr = b"a" * 100_000 + b"THE END"
    with pytest.raises(FunctionFailed) as info:
        interpret("img", ProcessOutput(1, b"", stderr))
    assert info.value.message.endswith("THE END")
    assert len(info.value.message) < MESSAGE_PART_LIMIT + 200
