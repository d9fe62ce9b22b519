"""pytest plugin: the ``cluster`` session fixture and the options choosing its target.

Targets (``--cluster``):

* ``local`` (default): the single-node cluster of ``tests.cluster.lifecycle``.  It is brought up
  (or a healthy one reused) once per session and torn down at the end only if this session
  started it (``FNPOOL_KEEP_CLUSTER=1`` keeps it).  If it cannot come up, every test using it
  **fails**: a run where the cluster tests did not run must not look green.
* ``kubeconfig``: any existing cluster, named by ``--kubeconfig`` (giving ``--kubeconfig`` alone
  selects this target).
* ``kind``: a kind cluster made by pytest-kind (``pytest-kind-ng``) with ``--kind-bin``; needs
  Docker.

``--kubeconfig`` and ``--kind-bin`` are also options of pytest-kind-ng; when that plugin is
installed its definitions are used (same meaning), otherwise this plugin adds them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cluster import config, registry
from tests.cluster.kube import Kubectl
from tests.cluster.registry import Registry

TARGETS = ("local", "kubeconfig", "kind")
_HAVE_PYTEST_KIND = importlib.util.find_spec("pytest_kind") is not None
LAST_MARKER = "cluster_lifecycle"
"""Tests that stop and restart the local cluster; they are moved to the end of the session."""


@dataclass(frozen=True)
class Cluster:
    """What a test needs to reach the cluster under test."""

    kubeconfig: Path
    kubectl: Path
    helm: Path | None
    registry: tuple[Registry, Registry]
    """(open, auth) registries of ``tests.cluster.registry``: the public-name mirror and the
    htpasswd-protected one."""
    local: bool
    """True for the cluster of ``tests.cluster.lifecycle`` (tests may then inspect the host)."""
    target: str

    @property
    def kube(self) -> Kubectl:
        return Kubectl(self.kubectl, self.kubeconfig)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fnpool-cluster", "fnpool test cluster")
    group.addoption(
        "--cluster",
        choices=TARGETS,
        default=None,
        help="cluster for e2e tests: local (default; built here), kubeconfig, or kind",
    )
    for name, helptext in (
        ("--kubeconfig", "kubeconfig of an existing cluster (implies --cluster=kubeconfig)"),
        ("--kind-bin", "kind binary for --cluster=kind"),
    ):
        if _HAVE_PYTEST_KIND:
            continue  # pytest-kind-ng defines these with the same meaning
        with contextlib.suppress(ValueError):
            group.addoption(name, default=None, help=helptext)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{LAST_MARKER}: stops/restarts the local cluster; runs after all other tests"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests that restart the cluster last, so they cannot disturb the others."""
    items.sort(key=lambda item: item.get_closest_marker(LAST_MARKER) is not None)


def _target(pconfig: pytest.Config) -> str:
    chosen = pconfig.getoption("--cluster")
    if chosen:
        return str(chosen)
    return "kubeconfig" if pconfig.getoption("--kubeconfig") else "local"


def _kubectl() -> Path:
    if config.KUBECTL_BIN.exists():
        return config.KUBECTL_BIN
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail("no kubectl: run `python -m tests.cluster build`")
    return Path(found)


def _helm() -> Path | None:
    if config.HELM_BIN.exists():
        return config.HELM_BIN
    found = shutil.which("helm")
    return Path(found) if found else None


def _registry_info() -> tuple[Registry, Registry]:
    """(open, auth) local registries; for non-local targets they are only addresses."""
    return registry.registries()


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """The cluster under test, per ``--cluster`` (see the module docstring)."""
    pconfig = request.config
    target = _target(pconfig)
    if target == "local":
        yield from _local_cluster()
    elif target == "kubeconfig":
        path = pconfig.getoption("--kubeconfig")
        if not path:
            pytest.fail("--cluster=kubeconfig needs --kubeconfig PATH")
        yield Cluster(Path(path), _kubectl(), _helm(), _registry_info(), False, target)
    else:
        yield from _kind_cluster(pconfig)


def _local_cluster() -> Iterator[Cluster]:
    from tests.cluster import lifecycle

    was_up = lifecycle.healthy()
    try:
        kubeconfig = lifecycle.up()
    except Exception as exc:
        # Do not leave a half-started cluster behind (one that was healthy before is kept).
        cleanup = ""
        if not was_up:
            try:
                lifecycle.down()
            except Exception as down_exc:
                cleanup = f"\n(and `down` after the failure failed too: {down_exc!r})"
        pytest.fail(
            f"local test cluster did not come up: {type(exc).__name__}: {exc}{cleanup}",
            pytrace=False,
        )
    try:
        yield Cluster(kubeconfig, _kubectl(), _helm(), _registry_info(), True, "local")
    finally:
        if not was_up and os.environ.get("FNPOOL_KEEP_CLUSTER") != "1":
            lifecycle.down()


def _kind_cluster(pconfig: pytest.Config) -> Iterator[Cluster]:
    try:
        from pytest_kind import KindCluster  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        pytest.fail("--cluster=kind needs pytest-kind-ng installed")
    kind_bin = pconfig.getoption("--kind-bin")
    kind = KindCluster(
        "fnpool-e2e",
        kind_path=Path(kind_bin) if kind_bin else None,
        kubectl_path=_kubectl(),
    )
    kind.create()
    try:
        yield Cluster(
            Path(kind.kubeconfig_path), _kubectl(), _helm(), _registry_info(), False, "kind"
        )
    finally:
        kind.delete()
