"""Every image the test cluster runs: built here from Go sources, pushed to the local registries.

No container engine and no image from the internet: each image is one or two layers packed by
``oci.py`` around a static binary built with the Go toolchain:

* real catalog KRM functions (``krm-functions-catalog``, separate Go modules per function),
  built ``CGO_ENABLED=0`` from the module zip the Go module proxy serves, at the image name
  the catalog publishes them under, entrypoint ``/usr/local/bin/function``;
* test functions, the pod sandbox (pause) image and a gRPC health server, from the std-lib Go
  sources in ``tests/cluster/images/``;
* the fnpool wrapper, from ``dist/fnpool-wrapper`` (``make wrapper``), when it exists.

Two bases mimic the upstream ones: ``static`` (like distroless/static: passwd, group, /tmp, no
shell, no libc) and ``busybox`` (static + Debian's busybox-static with its applets in /bin, like
alpine for what a function needs: ``sh``, ``cat``, ``sleep``).

Binaries are cached in ``$FNPOOL_CACHE/images/bin/<name>-<version or source hash>/``, layers
and manifests in the OCI layout ``$FNPOOL_CACHE/images/oci``; a push happens only when the
registry's manifest digest for the tag differs from the one just computed (a HEAD request).

Entry point: :func:`ensure_all` (called by ``python -m tests.cluster build`` and the fixtures).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.cluster import config, oci, registry
from tests.cluster.binaries import go_binary
from tests.cluster.registry import AUTH_PASSWORD, AUTH_USER, Registry

REPO_ROOT = Path(__file__).resolve().parents[2]
GO_SRC = Path(__file__).resolve().parent / "images"
WRAPPER_BINARY = REPO_ROOT / "dist" / "fnpool-wrapper"
FUNCTION_PATH = "/usr/local/bin/function"

# --- image names -------------------------------------------------------------------------------
CATALOG = "ghcr.io/kptdev/krm-functions-catalog"
SET_NAMESPACE = f"{CATALOG}/set-namespace:v0.4.5"
"""Real catalog function on the ``static`` base (no shell): reads a ResourceList on stdin."""
APPLY_SETTERS = f"{CATALOG}/apply-setters:v0.2.2"
"""Real catalog function on the ``busybox`` base (has ``/bin/sh``). (No set-labels: the module
proxy here serves no release of it, for either module path.)"""
SET_NAMESPACE_KPT_FN = "gcr.io/kpt-fn/set-namespace:v0.4.1"
"""The same function's older release under the historical name Porch users know."""
FAILING_FN = "ghcr.io/fnpool/test-failing-fn:v1"
"""Exits 1 with a ResourceList holding one ``severity: error`` result on stdout (static base);
env FAIL_MESSAGE / FAIL_EXIT_CODE change message and code."""
SLEEP_FN = "ghcr.io/fnpool/test-sleep-fn:v1"
"""Identity function that sleeps ``functionConfig.data.sleepSeconds`` / env SLEEP_SECONDS
(default 10) seconds first (busybox base)."""
MISSING_IMAGE = "ghcr.io/fnpool/does-not-exist:v0.0.0"
"""Never pushed: pulls fail with "not found" from the local mirror."""
WRAPPER_IMAGE = "ghcr.io/fnpool/wrapper:dev"
"""``dist/fnpool-wrapper`` at ``/fnpool-wrapper`` (busybox base, so an init container can
``cp /fnpool-wrapper <emptyDir>``; user 65532)."""
GRPC_HEALTH_IMAGE = "ghcr.io/fnpool/grpc-health-test:dev"
"""Serves grpc.health.v1 (SERVING) on :9446 (env PORT), user 65532 - for readiness probes."""
PAUSE_IMAGE = config.PAUSE_IMAGE
"""Pod sandbox image (a static program that waits for a signal and reaps children)."""
AUTH_IMAGE = f"{registry.HOST}:{registry.AUTH_PORT}/fnpool/private-fn:v1"
"""The sleep function (busybox base) in the auth registry; pull it with an imagePullSecret
for server ``AUTH_REGISTRY`` and ``AUTH_USER``/``AUTH_PASSWORD``."""
AUTH_REGISTRY = f"{registry.HOST}:{registry.AUTH_PORT}"
AUTH_MIRROR_IMAGE = f"{registry.AUTH_MIRROR_HOST}/fnpool/private-fn:v1"
"""The same image by a fake upstream name that containerd mirrors to the auth registry; its
imagePullSecret names server ``AUTH_MIRROR_REGISTRY`` (see ``registry`` for the caveat)."""
AUTH_MIRROR_REGISTRY = registry.AUTH_MIRROR_HOST

__all__ = [
    "APPLY_SETTERS",
    "AUTH_IMAGE",
    "AUTH_MIRROR_IMAGE",
    "AUTH_MIRROR_REGISTRY",
    "AUTH_PASSWORD",
    "AUTH_REGISTRY",
    "AUTH_USER",
    "FAILING_FN",
    "GRPC_HEALTH_IMAGE",
    "MISSING_IMAGE",
    "PAUSE_IMAGE",
    "SET_NAMESPACE",
    "SET_NAMESPACE_KPT_FN",
    "SLEEP_FN",
    "WRAPPER_IMAGE",
    "Built",
    "ensure_all",
]


def log(msg: str) -> None:
    print(f"images: {msg}", file=sys.stderr, flush=True)


# --- Go builds ---------------------------------------------------------------------------------
def _go_env() -> dict[str, str]:
    return dict(
        os.environ, CGO_ENABLED="0", GOOS="linux", GOARCH="amd64", GOFLAGS="-buildvcs=false"
    )


def _go_build(module_dir: Path, package: str, out: Path) -> None:
    cmd = [go_binary(), "build", "-trimpath", "-ldflags=-s -w", "-o", str(out), package]
    result = subprocess.run(
        cmd,
        cwd=module_dir,
        env=_go_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )
    if result.returncode != 0:
        raise RuntimeError(f"go build {package} in {module_dir} failed:\n{result.stderr[-4000:]}")


def _cached(cache_dir: Path, key: str, name: str, build: Callable[[Path], None]) -> Path:
    """Returns ``bin/<key>/<name>``, building it into a temp dir and renaming on a miss."""
    final = cache_dir / "images" / "bin" / key
    if (final / name).is_file():
        return final / name
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{key}-"))
    try:
        start = time.monotonic()
        build(tmp / name)
        log(f"built {key}/{name} in {time.monotonic() - start:.1f}s")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final / name


def catalog_function(module: str, version: str) -> Callable[[Path], Path]:
    """A builder for a catalog function's binary from its Go module at ``version``.

    ``go install mod@version`` cannot be used: it asks the proxy for the module's version
    list, which the proxy here refuses. Instead the exact version's zip is downloaded
    (``go mod download``), copied to a writable directory and built with its own go.sum.
    """

    def build(out: Path) -> None:
        dl = subprocess.run(
            [go_binary(), "mod", "download", "-json", f"{module}@{version}"],
            env=_go_env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        info = json.loads(dl.stdout or "{}")
        if dl.returncode != 0 or "Dir" not in info:
            raise RuntimeError(
                f"go mod download {module}@{version}: {info.get('Error')} {dl.stderr[-2000:]}"
            )
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "src"
            shutil.copytree(info["Dir"], src)
            for p in [src, *src.rglob("*")]:
                p.chmod(p.stat().st_mode | 0o200)
            _go_build(src, ".", out)

    def get(cache_dir: Path) -> Path:
        return _cached(cache_dir, f"{module.rsplit('/', 1)[-1]}-{version}", "function", build)

    return get


def _tree_hash(root: Path, *exclude: str) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.is_file() and not any(rel.parts[0] == e for e in exclude):
            h.update(f"{rel}\0".encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def local_program(package: str) -> Callable[[Path], Path]:
    """A builder for one std-lib program of ``tests/cluster/images`` (cached by source hash)."""

    def get(cache_dir: Path) -> Path:
        key = f"{package}-{_tree_hash(GO_SRC, 'grpchealth')}"
        return _cached(cache_dir, key, package, lambda out: _go_build(GO_SRC, f"./{package}", out))

    return get


def grpc_health(cache_dir: Path) -> Path:
    """The grpc health server (its own module: it needs google.golang.org/grpc)."""
    src = GO_SRC / "grpchealth"
    return _cached(
        cache_dir,
        f"grpchealth-{_tree_hash(src)}",
        "grpchealth",
        lambda out: _go_build(src, ".", out),
    )


# --- bases -------------------------------------------------------------------------------------
_PASSWD = (
    "root:x:0:0:root:/root:/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
    "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
)
_GROUP = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"


def static_base() -> list[oci.Entry]:
    """Like distroless/static: users, /tmp, a home for nonroot; no shell, no libc."""
    return [
        oci.file("/etc/passwd", data=_PASSWD.encode()),
        oci.file("/etc/group", data=_GROUP.encode()),
        oci.directory("/tmp", mode=0o1777),
        oci.directory("/root", mode=0o700),
        oci.directory("/home/nonroot", uid=65532, gid=65532),
    ]


def busybox_binary() -> Path:
    path = Path("/bin/busybox")
    if not path.is_file():
        raise RuntimeError(
            "/bin/busybox missing: install the Debian package busybox-static "
            "(tests/cluster/host-packages.txt)"
        )
    return path


def busybox_base() -> list[oci.Entry]:
    """The static base plus busybox and a symlink per applet in /bin (``sh``, ``cat``, ...).

    Debian's busybox-static is a static executable, so it runs on the libc-less base.
    """
    bb = busybox_binary()
    applets = subprocess.run(
        [str(bb), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    entries = [*static_base(), oci.file("/bin/busybox", source=bb, mode=0o755)]
    entries += [oci.symlink(f"/bin/{a}", "busybox") for a in sorted(set(applets)) if a != "busybox"]
    return entries


BASES: dict[str, Callable[[], list[oci.Entry]]] = {"static": static_base, "busybox": busybox_base}


# --- image recipes -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Recipe:
    """An image: a base, one binary placed at ``binary_path``, and the runtime config."""

    name: str
    base: str
    binary: Callable[[Path], Path | None]
    binary_path: str = FUNCTION_PATH
    user: str = ""
    env: Sequence[str] = ()
    labels: dict[str, str] = field(default_factory=dict)
    auth: bool = False

    @property
    def entrypoint(self) -> list[str]:
        return [self.binary_path]


def _wrapper(_: Path) -> Path | None:
    return WRAPPER_BINARY if WRAPPER_BINARY.is_file() else None


RECIPES: tuple[Recipe, ...] = (
    Recipe(PAUSE_IMAGE, "static", local_program("pause"), "/pause", user="65535:65535"),
    Recipe(
        SET_NAMESPACE,
        "static",
        catalog_function(
            "github.com/kptdev/krm-functions-catalog/functions/go/set-namespace", "v0.4.5"
        ),
    ),
    Recipe(
        APPLY_SETTERS,
        "busybox",
        catalog_function(
            "github.com/kptdev/krm-functions-catalog/functions/go/apply-setters", "v0.2.2"
        ),
    ),
    Recipe(
        SET_NAMESPACE_KPT_FN,
        "busybox",
        catalog_function(
            "github.com/GoogleContainerTools/kpt-functions-catalog/functions/go/set-namespace",
            "v0.4.1",
        ),
    ),
    Recipe(FAILING_FN, "static", local_program("failing-fn")),
    Recipe(SLEEP_FN, "busybox", local_program("sleep-fn")),
    Recipe(AUTH_IMAGE, "busybox", local_program("sleep-fn"), auth=True),
    Recipe(GRPC_HEALTH_IMAGE, "static", grpc_health, "/grpc-health", user="65532:65532"),
    Recipe(WRAPPER_IMAGE, "busybox", _wrapper, "/fnpool-wrapper", user="65532:65532"),
)


@dataclass
class Built:
    """What :func:`ensure_all` did: the registries, and each image's manifest digest."""

    open: Registry
    auth: Registry
    layout: oci.Layout
    digests: dict[str, str] = field(default_factory=dict)
    pushed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """Image name -> why it was not built (only the wrapper, before ``make wrapper``)."""

    def registry_for(self, image: str) -> Registry:
        return self.auth if image.startswith(self.auth.address + "/") else self.open


def _ref_name(image: str) -> str:
    return image.replace("/", "_").replace(":", "_")


def build_image(layout: oci.Layout, recipe: Recipe, cache_dir: Path) -> str | None:
    """Builds one image into the layout; returns its manifest digest (None if skipped)."""
    binary = recipe.binary(cache_dir)
    if binary is None:
        return None
    base = layout.layer(BASES[recipe.base]())
    top = layout.layer([oci.file(recipe.binary_path, source=binary, mode=0o755)])
    cfg = oci.ImageConfig(
        entrypoint=recipe.entrypoint,
        env=(f"PATH={oci.DEFAULT_PATH}", *recipe.env),
        user=recipe.user,
        labels={
            "org.opencontainers.image.source": "fnpool tests/cluster/images.py",
            **recipe.labels,
        },
    )
    return layout.image(_ref_name(recipe.name), [base, top], cfg).digest


def ensure_all(cache_dir: Path | None = None, *, start: bool = True) -> Built:
    """Starts the registries (idempotent), builds what is missing and pushes what differs.

    Safe to call from every test session: with warm caches it costs a few HEAD requests.
    Only the wrapper image may be skipped (no ``dist/fnpool-wrapper``), recorded in
    ``Built.skipped`` with the reason.
    """
    cache_dir = cache_dir or config.CACHE_DIR
    (cache_dir / "images").mkdir(parents=True, exist_ok=True)
    # One builder at a time per cache (a `build` in one shell and a test session in another).
    with (cache_dir / "images" / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure_all(cache_dir, start)


def _ensure_all(cache_dir: Path, start: bool) -> Built:
    t0 = time.monotonic()
    if start:
        open_reg, auth_reg = registry.start_registries(cache_dir)
    else:
        open_reg, auth_reg = registry.registries(cache_dir)
    built = Built(open_reg, auth_reg, oci.Layout(cache_dir / "images" / "oci"))
    for recipe in RECIPES:
        digest = build_image(built.layout, recipe, cache_dir)
        if digest is None:
            reason = f"{WRAPPER_BINARY} does not exist (run `make wrapper`)"
            built.skipped[recipe.name] = reason
            log(f"skipping {recipe.name}: {reason}")
            continue
        built.digests[recipe.name] = digest
        reg = built.registry_for(recipe.name)
        repo, tag = reg.repository(recipe.name)
        if oci.remote_manifest_digest(reg.address, repo, tag, reg.auth) == digest:
            continue
        oci.push(built.layout, _ref_name(recipe.name), reg.address, repo, tag, reg.auth)
        built.pushed.append(recipe.name)
        log(f"pushed {recipe.name} ({digest[:19]})")
    built.layout.prune({_ref_name(name) for name in built.digests})
    log(
        f"{len(built.digests)} images ready, {len(built.pushed)} pushed, "
        f"{len(built.skipped)} skipped, in {time.monotonic() - t0:.1f}s"
    )
    return built


def image_size(layout: oci.Layout, digest: str) -> int:
    """Compressed size of an image (config + layers), as a registry stores it."""
    manifest = layout.read_json(digest)
    layers = manifest["layers"]
    cfg = manifest["config"]
    assert isinstance(layers, list)
    assert isinstance(cfg, dict)
    return int(cfg["size"]) + sum(int(d["size"]) for d in layers)


def main() -> None:
    """``python -m tests.cluster.images``: build and push everything, print a summary."""
    built = ensure_all()
    for name, digest in built.digests.items():
        size = image_size(built.layout, digest) / 1e6
        print(f"{name:70} {size:6.1f} MB  {digest[:19]}")
    for name, reason in built.skipped.items():
        print(f"{name:70} skipped: {reason}")


if __name__ == "__main__":
    main()
