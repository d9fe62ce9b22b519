"""A thin, typed ``kubectl`` wrapper for tests: JSON in, JSON out, waits with deadlines.

Tests talk to the cluster through kubectl rather than a client library so the same code works
against any target (local, a given kubeconfig, kind) with no extra dependency, and a failing
command's stderr lands in the assertion message.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class KubectlError(RuntimeError):
    """kubectl exited non-zero; ``stderr`` holds its message."""

    def __init__(self, args: list[str], returncode: int, stderr: str) -> None:
        super().__init__(f"kubectl {' '.join(args)} failed ({returncode}): {stderr.strip()}")
        self.stderr = stderr
        self.returncode = returncode


@dataclass(frozen=True)
class Kubectl:
    """kubectl bound to one kubeconfig."""

    binary: Path
    kubeconfig: Path

    def run(self, *args: str, stdin: str | None = None, timeout: float = 120) -> str:
        argv = [str(self.binary), f"--kubeconfig={self.kubeconfig}", *args]
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise KubectlError(list(args), proc.returncode, proc.stderr)
        return proc.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json"))

    def get(self, kind: str, name: str | None = None, namespace: str | None = None) -> Any:
        args = ["get", kind] + ([name] if name else [])
        if namespace:
            args += ["-n", namespace]
        return self.json(*args)

    def apply(self, *objs: dict[str, Any], namespace: str | None = None) -> str:
        doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objs)})
        args = ["apply", "-f", "-"] + (["-n", namespace] if namespace else [])
        return self.run(*args, stdin=doc)

    def create(self, obj: dict[str, Any], namespace: str | None = None) -> str:
        args = ["create", "-f", "-"] + (["-n", namespace] if namespace else [])
        return self.run(*args, stdin=json.dumps(obj))

    def delete(self, kind: str, name: str, namespace: str | None = None, *extra: str) -> str:
        args = ["delete", kind, name, "--ignore-not-found", *extra]
        if namespace:
            args += ["-n", namespace]
        return self.run(*args)


def wait_until(
    what: str, probe: Callable[[], T | None], timeout: float = 120, interval: float = 0.5
) -> T:
    """Call ``probe`` until it returns something truthy, or fail after ``timeout`` seconds.

    The last exception or value is part of the error so a timeout says what was seen.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = probe()
        except (KubectlError, KeyError, IndexError, ValueError) as exc:
            value, last = None, exc
        else:
            last = value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def condition(obj: dict[str, Any], ctype: str) -> str | None:
    """Status of condition ``ctype`` in ``obj.status.conditions`` (``None`` when absent)."""
    for cond in obj.get("status", {}).get("conditions", []) or []:
        if cond.get("type") == ctype:
            return str(cond.get("status"))
    return None
