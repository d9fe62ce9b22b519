"""Waiting on conditions with deadlines: the tests' only way to wait."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Deadline:
    """Fails the test with what it waited for once `timeout` seconds have passed."""

    def __init__(self, timeout: float, what: str) -> None:
        self._end = time.monotonic() + timeout
        self._message = f"timed out after {timeout}s waiting for {what}"

    def check(self) -> None:
        if time.monotonic() > self._end:
            raise AssertionError(self._message)


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
    """Poll `condition` until it returns a truthy value, which is returned."""
    deadline = Deadline(timeout, what)
    while not (value := condition()):
        deadline.check()
        time.sleep(interval)
    return value


async def async_wait_for(
    condition: Callable[[], T], timeout: float, what: str, interval: float = 0.02
) -> T:
    """`wait_for` for coroutines: the event loop keeps running while it waits."""
    deadline = Deadline(timeout, what)
    while not (value := condition()):
        deadline.check()
        await asyncio.sleep(interval)
    return value
