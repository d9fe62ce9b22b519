from __future__ import annotations

from fnpool.errors import FunctionFailed
from fnpool.evaluators.command import MESSAGE_PART_LIMIT, failure
from fnpool.evaluators.process import ProcessOutput

FAILED_RL = b"""kind: ResourceList
items: []
results:
  - message: broken
    severity: error
"""


def test_non_zero_exit_quotes_results_and_stderr_like_porch() -> None:
    assert failure("img:v1", ProcessOutput(1, FAILED_RL, b"oops\n")).message == (
        'failed to evaluate function "img:v1" with structured results: [error] broken '
        "and stderr: oops"
    )


def test_non_zero_exit_without_resource_list_gives_exit_code() -> None:
    error = failure("img", ProcessOutput(2, b"garbage: [", b"x"))
    assert isinstance(error, FunctionFailed)
    assert error.message.endswith("exit code 2, no ResourceList on stdout, stderr: x")


def test_huge_stderr_is_cut_to_its_tail_by_encoded_size() -> None:
    stderr = b"line\n" * 20_000 + "é THE END".encode()
    message = failure("img", ProcessOutput(1, b"", stderr)).message
    assert message.endswith("é THE END")
    assert "..." in message
    encoded = sum(1 if " " <= c <= "~" and c != "%" else 3 * len(c.encode()) for c in message)
    assert MESSAGE_PART_LIMIT - 10 < encoded < MESSAGE_PART_LIMIT + 200
