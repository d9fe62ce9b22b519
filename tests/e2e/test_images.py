"""The test images and registries: right content, right names, pulled by pods like real images.

Two groups:

* ``registry`` tests need only the local registries and the built images (seconds): what the
  registry serves under upstream names, image configs, auth, containerd's hosts.toml, and the
  images' binaries run in an empty chroot (the static one has no shell and no libc).
* ``cluster`` tests pull through containerd's mirror configuration in the real cluster: a
  catalog function pod prints the function's real output, the auth registry needs an
  imagePullSecret, and a missing image surfaces as ErrImagePull/ImagePullBackOff.
"""

from __future__ import annotations

import base64
import json
import os
import select
import signal
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import images, oci, registry
from tests.cluster.images import Built
from tests.cluster.kube import Kubectl, wait_until
from tests.e2e.conftest import restricted_container

SET_NAMESPACE_INPUT = """\
apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: demo
    namespace: old
  data:
    color: blue
functionConfig:
  apiVersion: v1
  kind: ConfigMap
  metadata:
    name: fn-config
  data:
    namespace: prod
"""
SET_NAMESPACE_OUTPUT = """\
apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: demo
    namespace: prod
  data:
    color: blue
functionConfig:
  apiVersion: v1
  kind: ConfigMap
  metadata:
    name: fn-config
  data:
    namespace: prod
results:
- message: namespace [old] updated to "prod", 1 value(s) changed
  severity: info
- message: all `depends-on` annotations are up-to-date. no `namespace` changed
  severity: info
"""
APPLY_SETTERS_INPUT = """\
apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: demo # kpt-set: ${name}
  data:
    color: blue # kpt-set: ${color}
functionConfig:
  apiVersion: v1
  kind: ConfigMap
  metadata:
    name: setters
  data:
    name: renamed
    color: green
"""
APPLY_SETTERS_OUTPUT = """\
apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: renamed # kpt-set: ${name}
    data:
      color: green # kpt-set: ${color}
functionConfig:
  apiVersion: v1
  kind: ConfigMap
  metadata:
    name: setters
  data:
    name: renamed
    color: green
results:
  name: apply-setters
  items:
    - message: set field value to "renamed"
      field:
        path: metadata.name
    - message: set field value to "green"
      field:
        path: data.color
"""

PULL_ERRORS = {"ErrImagePull", "ImagePullBackOff"}

# A cold cache builds every image inside the first test's setup (minutes: Go module downloads
# and compiles); every wait inside the tests has its own, much shorter, deadline.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="session")
def wrapper_binary() -> Path:
    """``dist/fnpool-wrapper``, built (or found up to date) by ``scripts/build-wrapper.sh``.

    A no-op when up to date, ~40 s cold.  A failed build fails the tests: the wrapper image
    is one of the test images, never silently skipped.
    """
    script = images.REPO_ROOT / "scripts" / "build-wrapper.sh"
    try:
        result = subprocess.run(
            ["bash", str(script)],
            cwd=images.REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=840,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{script} did not finish in {exc.timeout:.0f}s", pytrace=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        pytest.fail(f"{script} failed ({result.returncode}):\n{tail}", pytrace=False)
    assert images.WRAPPER_BINARY.is_file(), f"{script} left no {images.WRAPPER_BINARY}"
    return images.WRAPPER_BINARY


@pytest.fixture(scope="module")
def built(wrapper_binary: Path) -> Iterator[Built]:
    """Registries running and every image pushed (a few HEAD requests when warm).

    Registries this fixture started are stopped afterwards unless a local cluster is running
    (its containerd pulls from them; ``lifecycle.down`` stops them with the cluster).
    """
    was_running = all(registry.is_running(r) for r in registry.registries())
    yield images.ensure_all()
    if not was_running and not _local_cluster_running():
        registry.stop_registries()


def _local_cluster_running() -> bool:
    from tests.cluster import lifecycle

    return any(lifecycle.proc_alive(p.name) for p in lifecycle.all_procs())


def _get(url: str, accept: str = "", auth: tuple[str, str] | None = None) -> bytes:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    if auth:
        req.add_header("Authorization", oci.basic_auth(*auth))
    with urllib.request.urlopen(req, timeout=10) as resp:
        data: bytes = resp.read()
        return data


def _remote_config(reg: registry.Registry, image: str) -> dict[str, Any]:
    repo, tag = reg.repository(image)
    manifest = json.loads(
        _get(f"{reg.url}/v2/{repo}/manifests/{tag}", oci.MEDIA_MANIFEST, reg.auth)
    )
    cfg: dict[str, Any] = json.loads(
        _get(f"{reg.url}/v2/{repo}/blobs/{manifest['config']['digest']}", auth=reg.auth)
    )
    return cfg


# --- registry: no cluster needed ---------------------------------------------------------------
@pytest.mark.registry
def test_registry_serves_every_image_under_its_upstream_name(built: Built) -> None:
    assert built.skipped == {}, "the wrapper_binary fixture builds dist/fnpool-wrapper"
    assert set(built.digests) == {r.name for r in images.RECIPES}
    for image, digest in built.digests.items():
        reg = built.registry_for(image)
        repo, tag = reg.repository(image)
        if reg is built.open:
            assert repo == image.rsplit(":", 1)[0], "open registry keeps the upstream host prefix"
        assert oci.remote_manifest_digest(reg.address, repo, tag, reg.auth) == digest, image
    repo, tag = built.open.repository(images.MISSING_IMAGE)
    assert oci.remote_manifest_digest(built.open.address, repo, tag) is None


@pytest.mark.registry
def test_second_run_pushes_nothing(built: Built) -> None:
    again = images.ensure_all()
    assert again.pushed == []
    assert again.digests == built.digests, "builds are deterministic"


@pytest.mark.registry
@pytest.mark.parametrize(
    ("image", "entrypoint", "user"),
    [
        (images.SET_NAMESPACE, ["/usr/local/bin/function"], None),
        (images.APPLY_SETTERS, ["/usr/local/bin/function"], None),
        (images.FAILING_FN, ["/usr/local/bin/function"], None),
        (images.SLEEP_FN, ["/usr/local/bin/function"], None),
        (images.PAUSE_IMAGE, ["/pause"], "65535:65535"),
        (images.GRPC_HEALTH_IMAGE, ["/grpc-health"], "65532:65532"),
        (images.WRAPPER_IMAGE, ["/fnpool-wrapper"], "65532:65532"),
    ],
)
def test_image_config(built: Built, image: str, entrypoint: list[str], user: str | None) -> None:
    cfg = _remote_config(built.open, image)
    assert cfg["os"] == "linux"
    assert cfg["architecture"] == "amd64"
    assert cfg["config"]["Entrypoint"] == entrypoint
    assert cfg["config"].get("User") == user
    assert any(e.startswith("PATH=") for e in cfg["config"]["Env"])


@pytest.mark.registry
def test_auth_registry_needs_the_password(built: Built) -> None:
    reg = built.auth
    repo, tag = reg.repository(images.AUTH_IMAGE)
    assert repo == "fnpool/private-fn"
    for creds in (None, (images.AUTH_USER, "wrong")):
        with pytest.raises(urllib.error.HTTPError) as err:
            oci.remote_manifest_digest(reg.address, repo, tag, creds)
        assert err.value.code == 401
    digest = oci.remote_manifest_digest(
        reg.address, repo, tag, (images.AUTH_USER, images.AUTH_PASSWORD)
    )
    assert digest == built.digests[images.AUTH_IMAGE]


@pytest.mark.registry
def test_registries_listen_on_loopback_only(built: Built) -> None:
    for reg in (built.open, built.auth):
        assert reg.address.startswith("127.0.0.1:")
        assert f"addr: {reg.address}" in reg.config_file.read_text()


def test_containerd_hosts_mirror_each_public_registry(tmp_path: Path) -> None:
    registry.write_containerd_hosts(tmp_path)
    open_reg, auth_reg = registry.registries()
    for host in registry.MIRRORED_HOSTS:
        doc = tomllib.loads((tmp_path / host / "hosts.toml").read_text())
        url = f"http://127.0.0.1:{open_reg.port}/v2/{host}"
        # Both the tried host and the fallback server are local: no pull leaves the machine.
        assert doc["server"] == url
        assert doc["override_path"] is True
        assert doc["host"][url]["override_path"] is True
        assert doc["host"][url]["capabilities"] == ["pull", "resolve"]
    for name in (auth_reg.address, registry.AUTH_MIRROR_HOST):
        auth_doc = tomllib.loads((tmp_path / name / "hosts.toml").read_text())
        assert auth_doc["server"] == f"http://{auth_reg.address}"
        assert "override_path" not in auth_doc


def test_repository_mapping() -> None:
    reg = registry.open_registry()
    assert reg.repository("ghcr.io/a/b:v1") == ("ghcr.io/a/b", "v1")
    assert reg.repository("busybox") == ("docker.io/library/busybox", "latest")
    assert reg.repository("registry.k8s.io/pause:3.10") == ("registry.k8s.io/pause", "3.10")
    assert registry.auth_registry().repository(images.AUTH_IMAGE) == ("fnpool/private-fn", "v1")


# --- the binaries in their images, in an empty chroot (root only) -------------------------------
@pytest.fixture
def rootfs(built: Built, tmp_path: Path) -> Callable[[str], Path]:
    """Unpacks an image's layers into a fresh directory (nothing else is in it)."""
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")

    def unpack(image: str) -> Path:
        root = tmp_path / image.replace("/", "_").replace(":", "_")
        root.mkdir()
        oci.unpack(built.layout, built.digests[image], root)
        return root

    return unpack


def _in_chroot(
    root: Path,
    argv: list[str],
    stdin: str = "",
    timeout: float = 30,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    def enter() -> None:
        os.chroot(root)
        os.chdir("/")
        os.setgid(65532)
        os.setuid(65532)

    return subprocess.run(
        argv,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=enter,
        env=env or {"PATH": oci.DEFAULT_PATH},
        check=False,
    )


@pytest.mark.registry
def test_static_function_runs_without_shell_or_libc(rootfs: Callable[[str], Path]) -> None:
    root = rootfs(images.SET_NAMESPACE)
    assert not (root / "bin" / "sh").exists()
    assert not list(root.glob("lib*/**/libc.so*"))
    result = _in_chroot(root, ["/usr/local/bin/function"], SET_NAMESPACE_INPUT)
    assert result.returncode == 0, result.stderr
    assert result.stdout == SET_NAMESPACE_OUTPUT


@pytest.mark.registry
def test_busybox_function_has_a_shell(rootfs: Callable[[str], Path]) -> None:
    root = rootfs(images.APPLY_SETTERS)
    result = _in_chroot(
        root, ["/bin/sh", "-c", "cat | /usr/local/bin/function"], APPLY_SETTERS_INPUT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == APPLY_SETTERS_OUTPUT


@pytest.mark.registry
def test_failing_function_reports_a_structured_error(rootfs: Callable[[str], Path]) -> None:
    root = rootfs(images.FAILING_FN)
    result = _in_chroot(root, ["/usr/local/bin/function"], '{"items": [{"kind": "A"}]}')
    assert result.returncode == 1
    out = json.loads(result.stdout)
    assert out["kind"] == "ResourceList"
    assert out["items"] == [{"kind": "A"}]
    assert out["results"][0]["severity"] == "error"
    assert out["results"][0]["message"] in result.stderr


@pytest.mark.registry
def test_sleep_function_takes_its_delay_from_function_config(
    rootfs: Callable[[str], Path],
) -> None:
    root = rootfs(images.SLEEP_FN)
    rl = 'kind: ResourceList\nitems: []\nfunctionConfig:\n  data:\n    sleepSeconds: "0.2"\n'
    result = _in_chroot(root, ["/usr/local/bin/function"], rl, timeout=5)
    assert result.returncode == 0, result.stderr
    assert result.stdout == rl
    assert "sleeping 0.2s" in result.stderr


@pytest.mark.registry
def test_pause_exits_on_sigterm(rootfs: Callable[[str], Path]) -> None:
    root = rootfs(images.PAUSE_IMAGE)

    def enter() -> None:
        os.chroot(root)
        os.chdir("/")

    proc = subprocess.Popen(["/pause"], preexec_fn=enter, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    try:
        # pause installs its handlers before it prints anything (not being pid 1 here, it warns
        # about that): signal only then (earlier, SIGTERM would kill it and prove nothing).
        fd, seen = proc.stderr.fileno(), b""
        deadline = time.monotonic() + 10
        while b"should be the first process" not in seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"pause printed no start-up warning in 10s: {seen!r}"
            if select.select([fd], [], [], remaining)[0]:
                chunk = os.read(fd, 4096)
                assert chunk, f"pause closed stderr (exit {proc.poll()}): {seen!r}"
                seen += chunk
        assert proc.poll() is None, f"pause exited on its own with {proc.returncode}"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert b"got signal" in seen + proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()


# --- cluster: pulls through containerd's mirror configuration ----------------------------------
def _pod(name: str, container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "containers": [container],
            **spec,
        },
    }


def _phase(kube: Kubectl, ns: str, name: str, *phases: str) -> str | None:
    phase = kube.get("pod", name, ns).get("status", {}).get("phase")
    if phase == "Failed" and "Failed" not in phases:
        raise AssertionError(f"pod {name} failed: {kube.run('describe', 'pod', name, '-n', ns)}")
    return str(phase) if phase in phases else None


def _pull_error(kube: Kubectl, ns: str, name: str) -> dict[str, str] | None:
    """The container's waiting state once it is an image pull error, else None."""
    pod = kube.get("pod", name, ns)
    for status in pod.get("status", {}).get("containerStatuses", []) or []:
        waiting = status.get("state", {}).get("waiting") or {}
        if waiting.get("reason") in PULL_ERRORS:
            return {"reason": waiting["reason"], "message": waiting.get("message", "")}
    return None


@pytest.mark.cluster
def test_pod_runs_catalog_function_pulled_by_upstream_name(
    built: Built, kube: Kubectl, namespace: str
) -> None:
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "input"},
            "data": {"rl.yaml": APPLY_SETTERS_INPUT},
        },
        namespace,
    )
    container = restricted_container(
        "fn",
        images.APPLY_SETTERS,
        command=["/bin/sh", "-c", "/usr/local/bin/function < /input/rl.yaml"],
        volumeMounts=[{"name": "input", "mountPath": "/input", "readOnly": True}],
    )
    kube.create(
        _pod(
            "apply-setters", container, volumes=[{"name": "input", "configMap": {"name": "input"}}]
        ),
        namespace,
    )
    wait_until(
        "apply-setters pod Succeeded",
        lambda: _phase(kube, namespace, "apply-setters", "Succeeded"),
        timeout=180,
    )
    logs = kube.run("logs", "apply-setters", "-n", namespace)
    assert logs == APPLY_SETTERS_OUTPUT
    pod = kube.get("pod", "apply-setters", namespace)
    assert pod["status"]["containerStatuses"][0]["image"] == images.APPLY_SETTERS


@pytest.mark.cluster
def test_pod_runs_static_function_with_stdin(built: Built, kube: Kubectl, namespace: str) -> None:
    """The shell-less image gets its ResourceList on stdin through the API (kubectl attach)."""
    container = restricted_container("fn", images.SET_NAMESPACE, stdin=True, stdinOnce=True)
    overrides = json.dumps(
        {
            "apiVersion": "v1",
            "spec": {"automountServiceAccountToken": False, "containers": [container]},
        }
    )
    out = kube.run(
        "run",
        "set-namespace",
        "-n",
        namespace,
        f"--image={images.SET_NAMESPACE}",
        "--restart=Never",
        "-i",
        "--quiet",
        f"--overrides={overrides}",
        "--pod-running-timeout=3m",
        stdin=SET_NAMESPACE_INPUT,
        timeout=240,
    )
    assert out == SET_NAMESPACE_OUTPUT


@pytest.mark.cluster
@pytest.mark.parametrize(
    ("image", "server"),
    [
        (images.AUTH_IMAGE, images.AUTH_REGISTRY),
        (images.AUTH_MIRROR_IMAGE, images.AUTH_MIRROR_REGISTRY),
    ],
    ids=["registry-address", "mirrored-name"],
)
def test_auth_registry_pull_needs_image_pull_secret(
    built: Built, kube: Kubectl, namespace: str, image: str, server: str
) -> None:
    container = restricted_container(
        "fn", image, imagePullPolicy="Always", env=[{"name": "SLEEP_SECONDS", "value": "0"}]
    )
    kube.create(_pod("no-secret", container), namespace)
    err = wait_until(
        "no-secret pod to fail pulling",
        lambda: _pull_error(kube, namespace, "no-secret"),
        timeout=120,
    )
    assert "401" in err["message"] or "nauthorized" in err["message"], err

    auth = f"{images.AUTH_USER}:{images.AUTH_PASSWORD}"
    entry = {
        "username": images.AUTH_USER,
        "password": images.AUTH_PASSWORD,
        "auth": base64.b64encode(auth.encode()).decode(),
    }
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "pull"},
            "type": "kubernetes.io/dockerconfigjson",
            "stringData": {".dockerconfigjson": json.dumps({"auths": {server: entry}})},
        },
        namespace,
    )
    kube.create(_pod("with-secret", container, imagePullSecrets=[{"name": "pull"}]), namespace)
    wait_until(
        "with-secret pod Succeeded",
        lambda: _phase(kube, namespace, "with-secret", "Succeeded"),
        timeout=180,
    )


@pytest.mark.cluster
def test_missing_image_shows_pull_error(built: Built, kube: Kubectl, namespace: str) -> None:
    kube.create(_pod("missing", restricted_container("fn", images.MISSING_IMAGE)), namespace)
    err = wait_until(
        "missing-image pod to report a pull error",
        lambda: _pull_error(kube, namespace, "missing"),
        timeout=120,
    )
    assert images.MISSING_IMAGE in err["message"] or err["reason"] == "ImagePullBackOff", err
    events = kube.get("events", None, namespace)["items"]
    messages = " ".join(
        e.get("message", "") for e in events if e["involvedObject"].get("name") == "missing"
    )
    assert "not found" in messages, messages
