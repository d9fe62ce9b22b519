"""Pure checks of the cluster tooling (no cluster needed): generated go.mod lines and configs."""

from __future__ import annotations

import json
import time
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.cluster import binaries, config, lifecycle

UPSTREAM_GOMOD = """module k8s.io/kubernetes

go 1.26.0

require (
\tk8s.io/api v0.0.0
\tk8s.io/client-go v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
)

replace k8s.io/kms => ./staging/src/k8s.io/kms
replace example.com/other => example.com/other v1.2.3
"""


def test_staging_replaces_are_generated_from_gomod() -> None:
    assert binaries.staging_replaces(UPSTREAM_GOMOD, "v0.37.2") == [
        "replace k8s.io/api => k8s.io/api v0.37.2",
        "replace k8s.io/client-go => k8s.io/client-go v0.37.2",
        "replace k8s.io/kms => k8s.io/kms v0.37.2",
    ]


def test_kubernetes_component_builds_every_server_and_kubectl() -> None:
    assert set(binaries.KUBERNETES.packages) == {
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
        "kube-proxy",
        "kubectl",
    }
    flags = " ".join(binaries.KUBERNETES.ldflags)
    assert f"k8s.io/component-base/version.gitVersion={config.KUBERNETES_VERSION}" in flags


def test_generated_configs_parse_and_bind_only_local_addresses() -> None:
    containerd = tomllib.loads(lifecycle.containerd_config())
    cri = containerd["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == config.PAUSE_IMAGE
    assert cri["stream_server_address"] == "127.0.0.1"
    kubelet = yaml.safe_load(lifecycle.kubelet_config())
    assert kubelet["failCgroupV1"] is False
    assert kubelet["address"] == config.NODE_IP
    assert kubelet["healthzBindAddress"] == "127.0.0.1"
    # Pods never get the host's upstream nameserver.
    assert kubelet["resolvConf"] == str(lifecycle.RESOLV_CONF)
    assert kubelet["resolvConf"].startswith(str(config.STATE_DIR) + "/")
    proxy = yaml.safe_load(lifecycle.kube_proxy_config())
    assert proxy["mode"] == "iptables"
    assert proxy["bindAddress"] == "127.0.0.1"
    cni = json.loads(lifecycle.cni_config())
    bridge = cni["plugins"][0]
    assert bridge["bridge"] == config.BRIDGE
    assert bridge["ipMasq"] is False


def test_start_reports_a_crashed_component_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that exits while its health check still fails the way a starting server's does
    (connection refused) is reported with its exit code and log tail, without waiting for the
    health timeout."""
    monkeypatch.setattr(config, "RUN_DIR", tmp_path / "run")
    monkeypatch.setattr(config, "LOG_DIR", tmp_path / "logs")

    def refused() -> bool:
        raise ConnectionRefusedError("connection refused")

    proc = lifecycle.Proc(
        "crasher", ["/bin/sh", "-c", "echo boom-marker; exit 3"], refused, timeout=60
    )
    started = time.monotonic()
    with pytest.raises(lifecycle.ClusterError, match="crasher exited with 3") as err:
        lifecycle.start(proc)
    assert "boom-marker" in str(err.value)
    assert time.monotonic() - started < 10


def test_wait_for_times_out_with_the_last_transient_error() -> None:
    def refused() -> bool:
        raise ConnectionRefusedError("nobody listens")

    with pytest.raises(lifecycle.ClusterError, match="nobody listens"):
        lifecycle.wait_for("something", refused, 0.3)
