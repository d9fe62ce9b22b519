"""Build the cluster's Go binaries from the Go module proxy, cached by version.

Each component is built from a tiny *wrapper module* under ``$FNPOOL_CACHE/src/`` that requires
the upstream module at a pinned version.  ``k8s.io/kubernetes`` cannot be required as-is: its
go.mod points every ``k8s.io/*`` staging module at ``./staging/src/...``, which does not exist in
the module zip.  The wrapper therefore adds one ``replace k8s.io/<m> => k8s.io/<m> v0.Y.Z`` line
per staging module, generated from the downloaded go.mod (so a version bump needs no hand edit).

Binaries land in ``$FNPOOL_CACHE/bin/<name>-<version>/`` via a temporary directory and a rename,
so an interrupted build never leaves a half-populated directory that looks complete.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.cluster import config

GO_CANDIDATES = ("go", "/usr/local/go/bin/go", "/usr/lib/go/bin/go")


@dataclass(frozen=True)
class Component:
    """One wrapper module and the commands built from it."""

    name: str
    module: str
    version: str
    packages: dict[str, str]
    """Output binary name -> import path of its main package."""
    ldflags: list[str] = field(default_factory=list)
    main_go: str | None = None
    """Source of a wrapper ``main.go`` when upstream has no importable main package."""

    @property
    def out_dir(self) -> Path:
        return config.bin_dir(self.name, self.version)

    @property
    def src_dir(self) -> Path:
        return config.CACHE_DIR / "src" / f"{self.name}-{self.version}"

    def is_built(self) -> bool:
        return all((self.out_dir / b).is_file() for b in self.packages)


def _k8s_ldflags(version: str) -> list[str]:
    major, minor = version.lstrip("v").split(".")[:2]
    flags = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return flags


KUBERNETES = Component(
    name="kubernetes",
    module="k8s.io/kubernetes",
    version=config.KUBERNETES_VERSION,
    packages={
        name: f"k8s.io/kubernetes/cmd/{name}"
        for name in (
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kubelet",
            "kube-proxy",
            "kubectl",
        )
    },
    ldflags=_k8s_ldflags(config.KUBERNETES_VERSION),
)

ETCD = Component(
    name="etcd",
    module="go.etcd.io/etcd/server/v3",
    version=config.ETCD_VERSION,
    packages={"etcd": "."},
    main_go=(
        "package main\n\n"
        'import (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\n'
        "func main() { etcdmain.Main(os.Args) }\n"
    ),
)

HELM = Component(
    name="helm",
    module="helm.sh/helm/v4",
    version=config.HELM_VERSION,
    packages={"helm": "helm.sh/helm/v4/cmd/helm"},
    ldflags=[f"-X helm.sh/helm/v4/internal/version.version={config.HELM_VERSION}"],
)

ALL = (KUBERNETES, ETCD, HELM)


def go_binary() -> str:
    """Locate the Go toolchain (PATH first, then the usual install prefixes)."""
    for cand in GO_CANDIDATES:
        found = shutil.which(cand)
        if found:
            return found
    raise RuntimeError("no Go toolchain found (looked for: " + ", ".join(GO_CANDIDATES) + ")")


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOFLAGS", "-buildvcs=false")
    if "-buildvcs" not in env["GOFLAGS"]:
        env["GOFLAGS"] += " -buildvcs=false"
    env["CGO_ENABLED"] = "0"
    return env


GO_TIMEOUT = 3600.0
"""Seconds any one ``go`` command may take (a cold Kubernetes build is ~11 min on 2 vCPUs)."""


def _run(cmd: list[str], cwd: Path, log: Path) -> None:
    with log.open("a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=_go_env(),
            stdout=fh,
            stderr=subprocess.STDOUT,
            timeout=GO_TIMEOUT,
        )
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-30:]
        raise RuntimeError(f"{' '.join(cmd[:3])} failed in {cwd}:\n" + "\n".join(tail))


def staging_replaces(upstream_gomod: str, staging_version: str) -> list[str]:
    """``replace`` lines turning upstream's local staging replaces into module versions.

    Every ``k8s.io/x => ./staging/src/k8s.io/x`` line (single or inside a ``replace (...)``
    block) becomes ``replace k8s.io/x => k8s.io/x <staging_version>``.
    """
    out = []
    for m in re.finditer(
        r"^\s*(?:replace\s+)?(\S+)\s+=>\s+\./staging/\S+\s*$", upstream_gomod, re.M
    ):
        out.append(f"replace {m.group(1)} => {m.group(1)} {staging_version}")
    return out


def _download_gomod(go: str, module: str, version: str, cwd: Path, log: Path) -> str:
    with log.open("a") as fh:
        proc = subprocess.run(
            [go, "mod", "download", "-json", f"{module}@{version}"],
            cwd=cwd,
            env=_go_env(),
            stdout=subprocess.PIPE,
            stderr=fh,
            text=True,
            timeout=GO_TIMEOUT,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"go mod download {module}@{version} failed: see {log}")
    return Path(json.loads(proc.stdout)["GoMod"]).read_text()


def write_wrapper(comp: Component, go: str, log: Path) -> None:
    """Create the wrapper module (go.mod, tools.go or main.go) and resolve go.sum."""
    src = comp.src_dir
    src.mkdir(parents=True, exist_ok=True)
    lines = [f"module fnpool.local/{comp.name}wrapper", "", "go 1.26.0", ""]
    lines.append(f"require {comp.module} {comp.version}")
    if comp.module == "k8s.io/kubernetes":
        upstream = _download_gomod(go, comp.module, comp.version, src, log)
        staging = "v0." + comp.version.lstrip("v").split(".", 1)[1]
        replaces = staging_replaces(upstream, staging)
        if not replaces:
            raise RuntimeError("found no staging replaces in k8s.io/kubernetes go.mod")
        lines += ["", *replaces]
    (src / "go.mod").write_text("\n".join(lines) + "\n")
    if comp.main_go is not None:
        (src / "main.go").write_text(comp.main_go)
    else:
        imports = "\n".join(f'\t_ "{p}"' for p in comp.packages.values())
        (src / "tools.go").write_text(
            f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n"
        )
    _run([go, "mod", "tidy"], src, log)


def build(comp: Component, *, force: bool = False) -> Path:
    """Build ``comp`` unless its binaries are already in the cache; return the bin directory.

    A lock file serialises concurrent builds of one component (two terminals, two helpers).
    """
    if comp.is_built() and not force:
        return comp.out_dir
    lock = config.CACHE_DIR / "locks" / f"{comp.name}-{comp.version}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        if comp.is_built() and not force:
            return comp.out_dir
        return _build_locked(comp)


def _build_locked(comp: Component) -> Path:
    go = go_binary()
    log = config.CACHE_DIR / "logs" / f"build-{comp.name}-{comp.version}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    start = time.monotonic()
    print(f"building {comp.name} {comp.version} (log: {log})", file=sys.stderr, flush=True)
    write_wrapper(comp, go, log)
    tmp = comp.out_dir.with_name(comp.out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    ldflags = " ".join(["-s", "-w", *comp.ldflags])
    cmd = [go, "build", "-trimpath", "-ldflags", ldflags]
    if comp.main_go is not None:
        (name,) = comp.packages
        cmd += ["-o", str(tmp / name), "."]
    else:
        # One invocation for all commands: shared packages compile once.
        cmd += ["-o", str(tmp) + "/", *comp.packages.values()]
    _run(cmd, comp.src_dir, log)
    shutil.rmtree(comp.out_dir, ignore_errors=True)
    tmp.rename(comp.out_dir)
    took = time.monotonic() - start
    print(f"built {comp.name} {comp.version} in {took:.0f}s", file=sys.stderr, flush=True)
    return comp.out_dir


def build_all(*, force: bool = False) -> None:
    """Build every component that is missing from the cache."""
    for comp in ALL:
        build(comp, force=force)
