"""Run one function process: ResourceList on stdin, bounded stdout/stderr, killed on time-out.

The process is driven from a worker thread with plain blocking pipes: on this path asyncio's
subprocess transports cost 1-3 ms per spawn more than `subprocess` does, and the spawn is most
of an evaluation. The event loop only waits on the thread, and kills the process on time-out or
cancellation.

Each process gets its own session so that a time-out, a cancelled call or an output overflow
kills the function *and everything it started*, and so that a signal to the server (SIGTERM
for a graceful stop) does not reach functions that are still evaluating. The group is killed
only while the leader is still unreaped, so its id cannot have been recycled for another
process; once the leader has exited, the thread stops waiting for the pipes after a short
grace, so a descendant that escaped the group (`setsid`) cannot hold a slot forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from ..errors import DeadlineExceeded, EvaluationError, ResourceExhausted

READ_CHUNK = 1 << 16
POLL_INTERVAL = 0.05  # seconds between checks that the leader is still alive
DRAIN_GRACE = 1.0  # seconds to keep reading after the leader exited


@dataclass(frozen=True, slots=True)
class ProcessOutput:
    exit_code: int
    stdout: bytes
    stderr: bytes


class _KilledBeforeStart(Exception):
    """The evaluation was abandoned before its process was started."""


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _has_exited(pid: int) -> bool:
    """True once `pid` has exited, without reaping it (so its group id stays ours)."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


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
        self._pid: int | None = None  # set while the leader is unreaped
        self._killed = False
        self.exceeded = False

    def kill(self) -> None:
        with self._lock:
            self._killed = True
            if self._pid is not None:
                _kill_group(self._pid)

    def __call__(self) -> ProcessOutput:
        with self._lock:
            if self._killed:
                raise _KilledBeforeStart
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
            if self.exceeded:
                _kill_group(proc.pid)
        except BaseException:
            _kill_group(proc.pid)
            raise
        finally:
            # Leave nothing behind: not the function, not what it started, not a zombie. A
            # leader that closed its pipes but lingers is waited for; the caller's time-out
            # kills it through kill().
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
            _kill_group(proc.pid)
            with self._lock:
                exit_code = proc.wait()
                self._pid = None
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        return ProcessOutput(exit_code, stdout, stderr)

    def _communicate(self, proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
        """Feed stdin and drain stdout/stderr together; stop reading past the output limit."""
        if proc.stdin is None or proc.stdout is None or proc.stderr is None:
            raise RuntimeError("Popen was asked for three pipes")
        stdout_fd, stderr_fd, stdin_fd = (
            proc.stdout.fileno(),
            proc.stderr.fileno(),
            proc.stdin.fileno(),
        )
        chunks: dict[int, list[bytes]] = {stdout_fd: [], stderr_fd: []}
        remaining = self._limit
        pending = memoryview(self._stdin)
        drain_until: float | None = None
        with selectors.DefaultSelector() as selector:
            if pending:
                os.set_blocking(stdin_fd, False)
                selector.register(stdin_fd, selectors.EVENT_WRITE)
            else:
                proc.stdin.close()
            for fd in chunks:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map():
                for key, _ in selector.select(POLL_INTERVAL):
                    if key.fd == stdin_fd:
                        pending = self._feed(pending, stdin_fd)
                        if not pending:
                            selector.unregister(stdin_fd)
                            proc.stdin.close()
                        continue
                    chunk = os.read(key.fd, READ_CHUNK)
                    if not chunk:
                        selector.unregister(key.fd)
                        continue
                    remaining -= len(chunk)
                    if remaining < 0:
                        self.exceeded = True
                        return b"", b""
                    chunks[key.fd].append(chunk)
                if drain_until is None and _has_exited(proc.pid):
                    # whatever the function left running in its group goes with it
                    _kill_group(proc.pid)
                    drain_until = time.monotonic() + DRAIN_GRACE
                elif drain_until is not None and time.monotonic() > drain_until:
                    break  # a process outside the group holds the pipes: stop waiting for it
        return b"".join(chunks[stdout_fd]), b"".join(chunks[stderr_fd])

    @staticmethod
    def _feed(pending: memoryview, fd: int) -> memoryview:
        try:
            return pending[os.write(fd, pending[: READ_CHUNK * 4]) :]
        except BlockingIOError:
            return pending
        except (BrokenPipeError, ConnectionResetError):
            return pending[:0]  # a function may exit without reading all of its input


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
