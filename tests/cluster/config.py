"""Versions, paths, addresses and ports of the local single-node test cluster.

Everything that another module (or the IMAGES helper's ``images.py``) needs to agree on lives
here, so a version bump or a port change is one edit.  Paths can be moved with environment
variables: ``FNPOOL_CACHE`` (built binaries, kept across runs, keyed by version) and
``FNPOOL_CLUSTER_STATE`` (the running cluster's data, wiped by ``down``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# --- versions (see tests/cluster/README.md for why these) -----------------------------------
KUBERNETES_VERSION = "v1.37.2"
"""k8s.io/kubernetes module version; staging modules are pinned to the matching v0.Y.Z."""
ETCD_VERSION = "v3.6.17"
"""go.etcd.io/etcd/server/v3 version, built through a two-line wrapper main."""
HELM_VERSION = "v4.3.2"
"""helm.sh/helm/v4 version."""

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
"""Sandbox image containerd uses for every pod; the IMAGES helper builds and pushes it."""

# --- directories -----------------------------------------------------------------------------
CACHE_DIR = Path(os.environ.get("FNPOOL_CACHE") or Path.home() / ".cache" / "fnpool")
"""Built binaries (``bin/<name>-<version>/``) and the wrapper Go modules (``src/``)."""
STATE_DIR = Path(os.environ.get("FNPOOL_CLUSTER_STATE") or "/var/lib/fnpool-cluster")
"""Everything of the running cluster: certs, etcd data, containerd root, kubelet root, logs."""
RUN_DIR = STATE_DIR / "run"
"""Sockets and pid files."""
LOG_DIR = STATE_DIR / "logs"
KUBECONFIG = STATE_DIR / "admin.kubeconfig"
"""Admin kubeconfig (client certificate, group system:masters) for tests and `make`."""
CNI_BIN_DIR = Path("/usr/lib/cni")
"""Where Debian's containernetworking-plugins installs bridge, host-local, portmap, loopback."""

# --- network ---------------------------------------------------------------------------------
BRIDGE = "fnpool0"
"""Linux bridge the pods attach to; it also carries the node IP, so every server that must be
reachable from pods (apiserver, kubelet) binds this address and nothing else leaves the host."""
POD_CIDR = "10.244.0.0/24"
NODE_IP = "10.244.0.1"
"""Bridge address = pods' gateway = node InternalIP = apiserver advertise address."""
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
CLUSTER_DOMAIN = "cluster.local"
NODE_NAME = "fnpool-node"

# --- ports (all on 127.0.0.1 unless said otherwise) ------------------------------------------
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
APISERVER_PORT = 6443
"""On NODE_IP, so pods reach it through the ``kubernetes`` Service."""
CONTROLLER_MANAGER_PORT = 10257
SCHEDULER_PORT = 10259
KUBELET_PORT = 10250
"""On NODE_IP (the apiserver calls it for logs/exec)."""
KUBELET_HEALTHZ_PORT = 10248
KUBE_PROXY_METRICS_PORT = 10249
KUBE_PROXY_HEALTHZ_PORT = 10256


def bin_dir(name: str, version: str) -> Path:
    """Directory holding the binaries of one component at one version."""
    return CACHE_DIR / "bin" / f"{name}-{version}"


K8S_BIN = bin_dir("kubernetes", KUBERNETES_VERSION)
ETCD_BIN = bin_dir("etcd", ETCD_VERSION) / "etcd"
HELM_BIN = bin_dir("helm", HELM_VERSION) / "helm"
KUBECTL_BIN = K8S_BIN / "kubectl"


def host_tool(name: str, package: str) -> str:
    """Path of `name`, from a Debian package that setup-host.sh installs; says so when missing."""
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(
            f"{name} is not installed; run tests/cluster/setup-host.sh "
            f"(apt package {package!r}, listed in tests/cluster/host-packages.txt)"
        )
    return path
