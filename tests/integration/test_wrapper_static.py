"""The static `dist/fnpool-wrapper` runs alone in an empty, read-only root filesystem.

That is how it runs in a function pod: copied by an init container into a distroless/static
image (no shell, no libc, no Python). The test builds it with scripts/build-wrapper.sh (a no-op
when it is up to date; a cold build takes about a minute), then starts it the way a container
runtime would:

    root/                 read-only bind mount, holding only
      fnpool-wrapper      the executable under test
      function            a static test function (echo stdin to stdout), built here
      proc/ dev/ scratch/ empty mount points: procfs, a /dev with null, zero, full,
                          random, urandom (grpc needs /dev/urandom), and a writable
                          scratch dir given as TMPDIR (the pod's emptyDir)

in its own mount and PID namespaces (the wrapper is PID 1, as in a container) and as uid/gid
65532 (distroless "nonroot"). Needs root (mount, unshare) and a C compiler able to link
statically (or Go); the network namespace is the host's, so it listens on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from fnpool.proto import evaluator_pb2, evaluator_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.launch import SERVING
from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "scripts" / "build-wrapper.sh"
WRAPPER = REPO / "dist" / "fnpool-wrapper"
NONROOT = 65532
RL = b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: [{kind: A}]\n"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for mount/unshare/chroot"),
    pytest.mark.timeout(900),  # includes a cold build of the wrapper
]

ECHO_C = r"""
#include <unistd.h>
int main(void) {
    static char buf[65536];
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0)
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(1, buf + off, n - off);
            if (w < 0) return 1;
            off += w;
        }
    write(2, "echo: ok\n", 9);
    return n < 0;
}
"""

ECHO_GO = """package main

import (
\t"io"
\t"os"
)

func main() {
\tif _, err := io.Copy(os.Stdout, os.Stdin); err != nil {
\t\tos.Exit(1)
\t}
\tos.Stderr.WriteString("echo: ok\\n")
}
"""

# Runs on the host side, inside the new mount namespace, then becomes the container.
SANDBOX_SH = r"""
set -eu
root="$1"; scratch="$2"; shift 2
mount --bind "$root" "$root"
mount -o remount,bind,ro "$root"
mount --bind "$scratch" "$root/scratch"
mount -t tmpfs -o mode=755,size=64k devtmp "$root/dev"
for d in null zero full random urandom; do
    : > "$root/dev/$d"
    mount --bind "/dev/$d" "$root/dev/$d"
done
exec unshare --pid --fork --mount-proc=/proc --root="$root" --wd=/ \
    --setuid=NONROOT --setgid=NONROOT "$@"
""".replace("NONROOT", str(NONROOT))


def is_static_elf(path: Path) -> bool:
    """An ELF with no PT_INTERP program header, i.e. no dynamic loader needed."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF", f"{path} is not an ELF file"
    assert data[4] == 2, f"{path} is not a 64-bit ELF"
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    types = {struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)}
    return 3 not in types  # PT_INTERP


def build_static_function(workdir: Path, out: Path) -> None:
    """A static function binary: C with -static if that links, else Go with CGO_ENABLED=0."""
    errors = []
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc:
        src = workdir / "echo.c"
        src.write_text(ECHO_C)
        built = subprocess.run(
            [cc, "-static", "-Os", "-s", "-o", str(out), str(src)], capture_output=True, text=True
        )
        if built.returncode == 0:
            return
        errors.append(built.stderr)
    go = shutil.which("go") or shutil.which("go", path="/usr/local/go/bin")
    if go:
        mod = workdir / "echo-go"
        mod.mkdir()
        (mod / "go.mod").write_text("module echo\n\ngo 1.21\n")
        (mod / "main.go").write_text(ECHO_GO)
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
        built = subprocess.run(
            [go, "build", "-trimpath", "-ldflags", "-s -w", "-o", str(out), "."],
            cwd=mod,
            env=env,
            capture_output=True,
            text=True,
        )
        if built.returncode == 0:
            return
        errors.append(built.stderr)
    raise AssertionError("cannot build a static test function:\n" + "\n".join(errors))


@pytest.fixture(scope="module")
def wrapper_binary() -> Path:
    """dist/fnpool-wrapper, (re)built by the build script when missing or stale."""
    subprocess.run(["bash", str(BUILD_SCRIPT)], check=True, cwd=REPO)
    assert WRAPPER.is_file()
    return WRAPPER


@dataclass
class Sandboxed:
    proc: subprocess.Popen[bytes]
    log: Path
    scratch: Path
    started: float

    def wrapper_pid(self) -> int:
        """The wrapper (PID 1 of its namespace): the only child of the `unshare --fork`."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        assert len(children) == 1, children
        return int(children[0])


@pytest.fixture
def sandbox(tmp_path: Path, wrapper_binary: Path) -> Iterator[Sandboxed]:
    root = tmp_path / "root"
    root.mkdir()
    for mountpoint in ("proc", "dev", "scratch"):
        (root / mountpoint).mkdir()
    shutil.copy2(wrapper_binary, root / "fnpool-wrapper")
    build_static_function(tmp_path, root / "function")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    scratch.chmod(0o1777)
    log = tmp_path / "wrapper.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                "unshare", "--mount", "--propagation", "private", "--",
                "/bin/sh", "-c", SANDBOX_SH, "sandbox", str(root), str(scratch),
                "/fnpool-wrapper", "--host", "127.0.0.1", "--port", "0", "--", "/function",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TMPDIR": "/scratch"},
        )  # fmt: skip
    box = Sandboxed(proc, log, scratch, time.monotonic())
    try:
        yield box
    finally:
        if proc.poll() is None:
            # SIGKILL to the namespace's PID 1 ends everything in it, then `unshare` exits
            with contextlib.suppress(OSError, AssertionError, ValueError):
                os.kill(box.wrapper_pid(), signal.SIGKILL)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def health_status(channel: grpc.Channel) -> int | None:
    try:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=1
        )
    except grpc.RpcError:
        return None
    return int(response.status)


def test_wrapper_executable_is_static(wrapper_binary: Path) -> None:
    assert is_static_elf(wrapper_binary)
    ldd = subprocess.run(["ldd", str(wrapper_binary)], capture_output=True, text=True)
    assert ldd.returncode != 0
    assert "not a dynamic executable" in ldd.stdout + ldd.stderr
    if shutil.which("file"):
        described = subprocess.run(
            ["file", "-b", str(wrapper_binary)], capture_output=True, text=True, check=True
        ).stdout
        assert "statically linked" in described, described


def test_static_wrapper_serves_in_an_empty_root(sandbox: Sandboxed) -> None:
    def listening_port() -> int | None:
        if sandbox.proc.poll() is not None:
            raise AssertionError(f"wrapper exited early:\n{sandbox.log.read_text()}")
        match = SERVING.search(sandbox.log.read_bytes())
        return int(match.group(1)) if match else None

    port = wait_for(listening_port, 60, "the static wrapper to listen")
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        wait_for(
            lambda: health_status(channel) == health_pb2.HealthCheckResponse.SERVING,
            30,
            "grpc health to report SERVING",
        )
        print(f"static wrapper: start to SERVING {time.monotonic() - sandbox.started:.2f}s")

        # it unpacked itself into TMPDIR (the scratch mount), nowhere else: the root is read-only
        unpacked = sorted(p.name for p in sandbox.scratch.iterdir())
        assert len(unpacked) == 2, unpacked
        assert unpacked[0].startswith("_MEI"), unpacked  # PyInstaller's onefile
        assert unpacked[1].startswith("staticx-"), unpacked

        body = RL + b"functionConfig: {data: {a: b}}\n"
        response = evaluator_pb2_grpc.FunctionEvaluatorStub(channel).EvaluateFunction(
            evaluator_pb2.EvaluateFunctionRequest(resource_list=body, image="example/echo:v1"),
            timeout=30,
        )
        assert response.resource_list == body
        assert b"echo: ok" in response.log

    os.kill(sandbox.wrapper_pid(), signal.SIGTERM)
    assert sandbox.proc.wait(timeout=30) == 0, sandbox.log.read_text()
    assert b"Traceback" not in sandbox.log.read_bytes(), sandbox.log.read_text()
    assert list(sandbox.scratch.iterdir()) == [], "the wrapper left files in TMPDIR"
