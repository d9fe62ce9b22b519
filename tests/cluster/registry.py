"""The local OCI registries the test cluster pulls every image from, and containerd's view of them.

Two instances of Debian's ``docker-registry`` (CNCF distribution 2.8) listen on loopback only:

* ``open`` (port 5100, no auth) stores every public image under its *upstream* name prefixed by
  the upstream host: ``ghcr.io/kptdev/krm-functions-catalog/set-namespace`` is the repository
  ``ghcr.io/kptdev/krm-functions-catalog/set-namespace`` here. containerd is told (hosts.toml,
  ``override_path``) that ``ghcr.io`` is served at ``http://127.0.0.1:5100/v2/ghcr.io``, so pods
  use real public image names, and ``ghcr.io/x`` and ``docker.io/x`` cannot collide.
* ``auth`` (port 5101, htpasswd basic auth) holds images that only an imagePullSecret unlocks.
  They are reachable under two names: the registry's own address (``127.0.0.1:5101/...``),
  and the fake upstream :data:`AUTH_MIRROR_HOST` (``private.registry.test/...``) mirrored to
  it. The first is the robust one: containerd's CRI plugin hands the pull secret's
  credentials only to a host matching the AuthConfig's server address when kubelet sets one;
  kubelet v1.37 + containerd 1.6 leave it empty, so the mirrored name works too (tested), but
  another kubelet/containerd may scope credentials and break only that name.

Storage lives in ``$FNPOOL_CACHE/registry/<name>/data`` and survives runs, so images are pushed
once per content. Processes are detached (own session), their pids in ``<name>/registry.pid``;
``start_registries`` is idempotent and ``stop_registries`` ends exactly those pids.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.cluster import config

OPEN_PORT = int(os.environ.get("FNPOOL_REGISTRY_PORT", "5100"))
AUTH_PORT = int(os.environ.get("FNPOOL_AUTH_REGISTRY_PORT", "5101"))
HOST = "127.0.0.1"

AUTH_MIRROR_HOST = "private.registry.test"
"""A never-resolvable upstream name containerd maps to the auth registry (no path prefix)."""

MIRRORED_HOSTS = ("ghcr.io", "gcr.io", "docker.io", "quay.io", "registry.k8s.io")
"""Public registries whose names the open registry serves (as path prefixes)."""

AUTH_USER = "fnpool-test"
AUTH_PASSWORD = "fnpool-test-password"
# bcrypt of AUTH_PASSWORD (``htpasswd -nbB -C 10 fnpool-test fnpool-test-password``); kept as
# a constant so no htpasswd/bcrypt tool is needed. Regenerate it if the password changes.
_AUTH_HTPASSWD = "fnpool-test:$2y$10$/XFyk/r72dOlnCMkbbHSWehq1/EJ1U50kd/MmGS44YZwSqJghecQq\n"

START_TIMEOUT = 20.0


@dataclass(frozen=True)
class Registry:
    """One docker-registry instance."""

    name: str
    port: int
    root: Path
    auth: tuple[str, str] | None = None

    @property
    def address(self) -> str:
        """``host:port``, what image references and skopeo use."""
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def pid_file(self) -> Path:
        return self.root / "registry.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "registry.log"

    @property
    def config_file(self) -> Path:
        return self.root / "config.yml"

    def repository(self, image: str) -> tuple[str, str]:
        """Maps an image reference to (repository in this registry, tag).

        ``ghcr.io/a/b:t`` -> (``ghcr.io/a/b``, ``t``) on the open registry (the upstream host is
        the path prefix); ``127.0.0.1:5101/a/b:t`` -> (``a/b``, ``t``) on the auth registry.
        Short Docker Hub names are expanded like containerd does (``busybox`` ->
        ``docker.io/library/busybox``).
        """
        name, _, tag = image.rpartition(":")
        if not name or "/" in tag:
            name, tag = image, "latest"
        host, _, path = name.partition("/")
        if not path or ("." not in host and ":" not in host and host != "localhost"):
            host, path = "docker.io", name
        if host == "docker.io" and "/" not in path:
            path = f"library/{path}"
        if host == self.address:
            return path, tag
        return f"{host}/{path}", tag


def open_registry(cache_dir: Path | None = None) -> Registry:
    """The unauthenticated mirror of the public registries."""
    return Registry("open", OPEN_PORT, (cache_dir or config.CACHE_DIR) / "registry" / "open")


def auth_registry(cache_dir: Path | None = None) -> Registry:
    """The htpasswd-protected registry for imagePullSecret tests."""
    root = (cache_dir or config.CACHE_DIR) / "registry" / "auth"
    return Registry("auth", AUTH_PORT, root, auth=(AUTH_USER, AUTH_PASSWORD))


def registries(cache_dir: Path | None = None) -> tuple[Registry, Registry]:
    return open_registry(cache_dir), auth_registry(cache_dir)


def _write_config(reg: Registry) -> None:
    auth = ""
    if reg.auth:
        htpasswd = reg.root / "htpasswd"
        htpasswd.write_text(_AUTH_HTPASSWD)
        auth = f"auth:\n  htpasswd:\n    realm: fnpool-test\n    path: {htpasswd}\n"
    reg.config_file.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {reg.data_dir}\n"
        "  delete:\n    enabled: true\n"
        "  cache:\n    blobdescriptor: inmemory\n"
        f"http:\n  addr: {reg.address}\n"
        "  headers:\n    X-Content-Type-Options: [nosniff]\n" + auth
    )


def _read_pid(reg: Registry) -> int | None:
    try:
        pid = int(reg.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    # A stale pid file (after a reboot) may name an unrelated process: check it is ours.
    return (
        pid if b"docker-registry" in cmdline and str(reg.config_file).encode() in cmdline else None
    )


def _responds(reg: Registry) -> bool:
    """True when ``/v2/`` answers (200 open, 401 when auth is on)."""
    try:
        with urllib.request.urlopen(f"{reg.url}/v2/", timeout=2) as resp:
            return bool(resp.status == 200)
    except urllib.error.HTTPError as err:
        return err.code == 401 and reg.auth is not None
    except OSError:
        return False


def is_running(reg: Registry) -> bool:
    return _read_pid(reg) is not None and _responds(reg)


def start(reg: Registry) -> None:
    """Starts the registry unless it already runs; waits until it answers."""
    if is_running(reg):
        return
    if _read_pid(reg) is None and _responds(reg):
        raise RuntimeError(
            f"port {reg.port} already serves a registry that is not ours ({reg.pid_file} "
            f"does not name it); stop it or set FNPOOL_REGISTRY_PORT/FNPOOL_AUTH_REGISTRY_PORT"
        )
    reg.data_dir.mkdir(parents=True, exist_ok=True)
    _write_config(reg)
    with reg.log_file.open("ab") as log:
        proc = subprocess.Popen(
            [config.host_tool("docker-registry", "docker-registry"), "serve", str(reg.config_file)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # outlives the pytest/build process that started it
        )
    reg.pid_file.write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"registry {reg.name} exited with {proc.returncode}; see {reg.log_file}:\n"
                + reg.log_file.read_text()[-2000:]
            )
        if _responds(reg):
            return
        time.sleep(0.1)
    raise RuntimeError(f"registry {reg.name} did not answer on {reg.url} in {START_TIMEOUT}s")


def stop(reg: Registry, timeout: float = 10.0) -> None:
    """Stops the registry whose pid is recorded (SIGTERM, then SIGKILL). Data is kept."""
    pid = _read_pid(reg)
    if pid is None:
        reg.pid_file.unlink(missing_ok=True)
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _read_pid(reg) is not None:
        time.sleep(0.1)
    if _read_pid(reg) is not None:
        os.kill(pid, signal.SIGKILL)
    reg.pid_file.unlink(missing_ok=True)


def start_registries(cache_dir: Path | None = None) -> tuple[Registry, Registry]:
    """Starts (idempotently) both registries; returns (open, auth)."""
    regs = registries(cache_dir)
    for reg in regs:
        start(reg)
    return regs


def stop_registries(cache_dir: Path | None = None) -> None:
    """Teardown: stops both registries started by :func:`start_registries`."""
    for reg in registries(cache_dir):
        stop(reg)


def _hosts_toml(comment: str, url: str, override_path: bool) -> str:
    # The mirror is listed both as a [host] (tried first) and as `server` (the fallback), so
    # containerd never falls back to the real upstream: no pull ever leaves the machine, and a
    # missing image fails fast with "not found" from the local registry.
    override = "override_path = true\n" if override_path else ""
    return (
        f"# {comment}\n# Written by tests/cluster/registry.py; do not edit.\n"
        f'server = "{url}"\n{override}capabilities = ["pull", "resolve"]\n\n'
        f'[host."{url}"]\n  capabilities = ["pull", "resolve"]\n'
        + ("  override_path = true\n" if override_path else "")
    )


def write_containerd_hosts(config_dir: Path, cache_dir: Path | None = None) -> None:
    """Writes containerd's registry host directory (``config_path`` of the CRI registry).

    Layout (containerd >= 1.5): ``<config_dir>/<registry host>/hosts.toml``. Point containerd at
    it with ``[plugins."io.containerd.grpc.v1.cri".registry] config_path = "<config_dir>"``;
    changes are read on every pull, no restart needed.

    * each of :data:`MIRRORED_HOSTS` -> ``http://127.0.0.1:5100/v2/<host>`` (``override_path``:
      the URL path *is* the API root, so repositories get the ``<host>/`` prefix);
    * ``private.registry.test`` -> the auth registry (``http://127.0.0.1:5101/v2``);
    * ``127.0.0.1:5100`` and ``127.0.0.1:5101`` -> themselves over plain HTTP (the default
      would be HTTPS);
    * ``_default`` (any other registry, on containerd versions that read it) -> a prefix in
      the open registry where nothing is pushed, so unknown registries fail locally.
    """
    open_reg, auth_reg = registries(cache_dir)
    files: dict[str, str] = {}
    for host in MIRRORED_HOSTS:
        files[host] = _hosts_toml(
            f"{host} is served by the local test registry under /{host}/",
            f"{open_reg.url}/v2/{host}",
            override_path=True,
        )
    files["_default"] = _hosts_toml(
        "any other registry: a local prefix that holds nothing",
        f"{open_reg.url}/v2/_unmirrored",
        override_path=True,
    )
    files[AUTH_MIRROR_HOST] = _hosts_toml(
        f"{AUTH_MIRROR_HOST} is the local auth test registry", auth_reg.url, override_path=False
    )
    for reg in (open_reg, auth_reg):
        files[reg.address] = _hosts_toml(
            f"the local {reg.name} test registry over plain HTTP", reg.url, override_path=False
        )
    for host, text in files.items():
        d = config_dir / host
        d.mkdir(parents=True, exist_ok=True)
        (d / "hosts.toml").write_text(text)
