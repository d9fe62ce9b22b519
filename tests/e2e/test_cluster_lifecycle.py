"""``down`` leaves nothing behind and ``up`` after ``down`` works (local cluster only).

Marked ``cluster_lifecycle`` so the plugin runs it after every other test: it restarts the
cluster (PKI and kubeconfig survive, so later users of the ``cluster`` fixture keep working).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cluster import config, hostnet, lifecycle, registry
from tests.cluster.kube import Kubectl, condition
from tests.cluster.plugin import Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.cluster_lifecycle]


def _leftovers() -> list[str]:
    found = []
    for proc in lifecycle.all_procs():
        if lifecycle.proc_alive(proc.name):
            found.append(f"process {proc.name}")
        found += [f"stray {proc.name} pid {p}" for p in lifecycle._pids_of(proc.argv[0], "")]
    found += [f"pod process {pid}" for pid in lifecycle._pod_pids()]
    found += [f"mount {m}" for m in lifecycle._mounts_under(lifecycle.our_mount_prefixes())]
    found += [f"netns {p}" for p in Path("/run/netns").glob("cni-*")]
    if hostnet.bridge_exists():
        found.append(f"bridge {config.BRIDGE}")
    found += [f"iptables chain {c}" for c in hostnet.leftover_chains()]
    routes = subprocess.run(
        ["ip", "route", "show", config.SERVICE_CIDR], capture_output=True, text=True
    ).stdout.strip()
    found += [f"route {r}" for r in routes.splitlines()]
    found += [f"cgroup {d}" for d in lifecycle.our_cgroups()]
    found += [f"CNI result {f}" for f in lifecycle.CNI_RESULTS.glob("fnpool-*")]
    found += [f"registry {r.name}" for r in registry.registries() if registry.is_running(r)]
    return found


def test_down_leaves_nothing_and_up_works_again(cluster: Cluster) -> None:
    if not cluster.local:
        pytest.skip("only the local cluster can be taken down by the tests")
    lifecycle.down()
    assert _leftovers() == []
    kubeconfig = lifecycle.up()
    assert kubeconfig == cluster.kubeconfig
    node = Kubectl(cluster.kubectl, kubeconfig).get("node", config.NODE_NAME)
    assert condition(node, "Ready") == "True"
