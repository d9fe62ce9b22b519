"""Run one function process: ResourceList on stdin, bounded stdout/stderr, killed on time-out.

Each process gets its own session so that a time-out, a cancelled call or an output overflow
kills the function *and everything it started*, and so that a signal to the server (SIGTERM
for a graceful stop) does not reach functions that are still evaluating.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import DeadlineExceeded, EvaluationError, ResourceExhausted

READ_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ProcessOutput:
    exit_code: int
    stdout: bytes
    stderr: bytes


class _OutputBudget:
    """Bytes that stdout and stderr may still add together; overflow kills the process group."""

    def __init__(self, limit: int, pid: int) -> None:
        self.remaining = limit
        self.exceeded = False
        self._pid = pid

    def take(self, size: int) -> bool:
        self.remaining -= size
        if self.remaining < 0 and not self.exceeded:
            self.exceeded = True
            kill_process_group(self._pid)
        return not self.exceeded


def kill_process_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def _collect(stream: asyncio.StreamReader | None, budget: _OutputBudget) -> bytes:
    chunks: list[bytes] = []
    if stream is None:
        return b""
    while chunk := await stream.read(READ_CHUNK):
        if budget.take(len(chunk)):
            chunks.append(chunk)
    return b"".join(chunks)


async def _feed(stream: asyncio.StreamWriter | None, data: bytes) -> None:
    if stream is None:
        return
    # A function may exit without reading all of its input; that is its business, not an error.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stream.write(data)
        await stream.drain()
    stream.close()


async def run_process(
    argv: Sequence[str],
    stdin: bytes,
    *,
    timeout: float | None,
    output_limit: int,
    env: dict[str, str] | None = None,
) -> ProcessOutput:
    """Run `argv` to completion; raise DeadlineExceeded or ResourceExhausted when bounds are hit."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            env=env,
        )
    except OSError as exc:
        raise EvaluationError(f"cannot start function {argv[0]!r}: {exc.strerror}") from exc
    budget = _OutputBudget(output_limit, proc.pid)
    try:
        async with asyncio.timeout(timeout):
            stdout, stderr, _ = await asyncio.gather(
                _collect(proc.stdout, budget),
                _collect(proc.stderr, budget),
                _feed(proc.stdin, stdin),
            )
            exit_code = await proc.wait()
    except TimeoutError:
        raise DeadlineExceeded(
            f"function {argv[0]!r} did not finish within {timeout:.3g}s and was killed"
        ) from None
    finally:
        # Whatever happened (success, time-out, cancellation), leave no process behind.
        kill_process_group(proc.pid)
        if proc.returncode is None:
            await asyncio.shield(proc.wait())
    if budget.exceeded:
        raise ResourceExhausted(
            f"function {argv[0]!r} wrote more than {output_limit} bytes to stdout and stderr "
            "(the message size limit) and was killed"
        )
    return ProcessOutput(exit_code, stdout, stderr)
