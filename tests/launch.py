"""Starting the real `fnpool` CLI as a subprocess, for tests and benchmarks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.waiting import wait_for

SERVING = re.compile(rb"serving on [\d.]+:(\d+)")
"""What the servers log once they listen; the group is the bound port."""


def launch_fnpool(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """Start `fnpool ARGS` (which must listen on port 0) and wait until it says it is serving."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fnpool.cli.main", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def serving_port() -> int | None:
        if proc.poll() is not None:
            raise AssertionError(f"fnpool exited early:\n{log.read_text()}")
        match = SERVING.search(log.read_bytes())
        return int(match.group(1)) if match else None

    return proc, wait_for(serving_port, 30, "fnpool to listen")
