"""Run one function process: ResourceList on stdin, bounded stdout/stderr, killed on time-out.

The process is driven from a worker thread with plain blocking pipes: on this path asyncio's
subprocess transports cost 1-3 ms per spawn more than `subprocess` does, and the spawn is most
of an evaluation. The event loop only waits on the thread, and kills the process on time-out or
cancellation.

Each process gets its own session so that a time-out, a cancelled call or an output overflow
kills the function *and everything it started*, and so that a signal to the server (SIGTERM
for a graceful stop) does not reach functions that are still evaluating.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import signal
import subprocess
import threading
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from ..errors import DeadlineExceeded, EvaluationError, ResourceExhausted

READ_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class ProcessOutput:
    exit_code: int
    stdout: bytes
    stderr: bytes


def kill_process_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class _FunctionRun:
    """One run, executed in a worker thread; `kill()` may be called from any thread."""

    def __init__(
        self, argv: Sequence[str], stdin: bytes, output_limit: int, env: dict[str, str] | None
    ) -> None:
        self._argv = list(argv)
        self._stdin = stdin
        self._limit = output_limit
        self._env = env
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._killed = False
        self.exceeded = False

    def kill(self) -> None:
        with self._lock:
            self._killed = True
            if self._pid is not None:
                kill_process_group(self._pid)

    def __call__(self) -> ProcessOutput:
        with self._lock:
            if self._killed:
                raise asyncio.CancelledError
            try:
                proc = subprocess.Popen(
                    self._argv,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                    env=self._env,
                )
            except OSError as exc:
                raise EvaluationError(
                    f"cannot start function {self._argv[0]!r}: {exc.strerror}"
                ) from exc
            self._pid = proc.pid
        try:
            stdout, stderr = self._communicate(proc)
            exit_code = proc.wait()
        finally:
            # Leave nothing behind: not the function, not what it started, not a zombie.
            kill_process_group(proc.pid)
            proc.wait()
        return ProcessOutput(exit_code, stdout, stderr)

    def _communicate(self, proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
        """Feed stdin and drain stdout/stderr together; stop reading past the output limit."""
        if proc.stdin is None or proc.stdout is None or proc.stderr is None:
            raise RuntimeError("Popen was asked for three pipes")
        chunks: dict[int, list[bytes]] = {proc.stdout.fileno(): [], proc.stderr.fileno(): []}
        remaining = self._limit
        pending = memoryview(self._stdin)
        with selectors.DefaultSelector() as selector:
            stdin_fd = proc.stdin.fileno()
            if pending:
                os.set_blocking(stdin_fd, False)
                selector.register(stdin_fd, selectors.EVENT_WRITE)
            else:
                proc.stdin.close()
            for fd in chunks:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map():
                for key, _ in selector.select():
                    fd = key.fd
                    if fd == stdin_fd:
                        try:
                            pending = pending[os.write(fd, pending[: READ_CHUNK * 4]) :]
                        except BlockingIOError:
                            continue
                        except (BrokenPipeError, ConnectionResetError):
                            # A function may exit without reading all of its input.
                            pending = pending[:0]
                        if not pending:
                            selector.unregister(fd)
                            proc.stdin.close()
                        continue
                    chunk = os.read(fd, READ_CHUNK)
                    if not chunk:
                        selector.unregister(fd)
                        continue
                    remaining -= len(chunk)
                    if remaining < 0:
                        self.exceeded = True
                        kill_process_group(proc.pid)
                        return b"", b""
                    chunks[fd].append(chunk)
        return b"".join(chunks[proc.stdout.fileno()]), b"".join(chunks[proc.stderr.fileno()])


async def run_process(
    argv: Sequence[str],
    stdin: bytes,
    *,
    executor: Executor,
    timeout: float | None,
    output_limit: int,
    env: dict[str, str] | None = None,
) -> ProcessOutput:
    """Run `argv` to completion; raise DeadlineExceeded or ResourceExhausted when bounds are hit."""
    run = _FunctionRun(argv, stdin, output_limit, env)
    future = asyncio.get_running_loop().run_in_executor(executor, run)
    try:
        async with asyncio.timeout(timeout):
            result = await asyncio.shield(future)
    except TimeoutError:
        run.kill()
        await asyncio.gather(future, return_exceptions=True)
        raise DeadlineExceeded(
            f"function {argv[0]!r} did not finish within {timeout:.3g}s and was killed"
        ) from None
    except asyncio.CancelledError:
        run.kill()
        await asyncio.gather(future, return_exceptions=True)
        raise
    if run.exceeded:
        raise ResourceExhausted(
            f"function {argv[0]!r} wrote more than {output_limit} bytes to stdout and stderr "
            "(the message size limit) and was killed"
        )
    return result
