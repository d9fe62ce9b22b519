"""The test cluster behaves like Kubernetes: node, probes, Services, EndpointSlices, GC, PSA.

These run against whatever ``--cluster`` names (default: the local cluster built on this host).
Every wait is a condition with a deadline.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.cluster import config, hostnet
from tests.cluster.images import GRPC_HEALTH_IMAGE
from tests.cluster.kube import Kubectl, KubectlError, condition, wait_until
from tests.cluster.plugin import Cluster
from tests.e2e.conftest import make_namespace, restricted_container

pytestmark = pytest.mark.cluster

HEALTH_PORT = 9446
APP = "grpc-health"


def test_node_is_ready(cluster: Cluster, kube: Kubectl) -> None:
    nodes = kube.get("nodes")["items"]
    assert nodes, "the cluster has no node"
    ready = [n["metadata"]["name"] for n in nodes if condition(n, "Ready") == "True"]
    assert ready, f"no Ready node among {[n['metadata']['name'] for n in nodes]}"
    if cluster.local:
        (node,) = nodes
        assert node["metadata"]["name"] == config.NODE_NAME
        assert node["status"]["nodeInfo"]["kubeletVersion"] == config.KUBERNETES_VERSION
        addrs = {a["type"]: a["address"] for a in node["status"]["addresses"]}
        assert addrs["InternalIP"] == config.NODE_IP


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables", "-w", "5", *args], capture_output=True, text=True)


def test_host_network_guards_are_in_place(cluster: Cluster) -> None:
    """Nothing leaves the machine: pods cannot be forwarded off the bridge, and host packets to
    the Service range are routed onto the bridge or, when kube-proxy did not translate them,
    rejected."""
    if not cluster.local:
        pytest.skip("the guards are installed by the local cluster only")
    bridge, chain = config.BRIDGE, hostnet.ISOLATE_CHAIN
    forward = _iptables("-t", "mangle", "-S", "FORWARD").stdout.splitlines()
    rules = [r for r in forward if r.startswith("-A ")]
    assert rules[:1] == [f"-A FORWARD -j {chain}"], forward  # first, before anything accepts
    drop = ("-i", bridge, "!", "-o", bridge, "-j", "DROP")
    assert _iptables("-t", "mangle", "-C", chain, *drop).returncode == 0
    assert _iptables("-C", "OUTPUT", "-j", hostnet.SERVICE_CHAIN).returncode == 0
    reject = ("-d", config.SERVICE_CIDR, "-j", "REJECT")
    assert _iptables("-C", hostnet.SERVICE_CHAIN, *reject).returncode == 0
    route = subprocess.run(
        ["ip", "route", "show", "exact", config.SERVICE_CIDR], capture_output=True, text=True
    ).stdout
    assert f"dev {bridge}" in route, route
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1"
    assert hostnet.missing_guards() == []
    # An address of the Service range that kube-proxy does not translate (no Service exposes
    # port 1) is refused at once instead of being sent to the default gateway.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("10.96.255.254", 1), timeout=5).close()


def _health_deployment(replicas: int) -> dict[str, Any]:
    container = restricted_container(
        "server",
        GRPC_HEALTH_IMAGE,
        ports=[{"containerPort": HEALTH_PORT, "name": "grpc"}],
        readinessProbe={
            "grpc": {"port": HEALTH_PORT},
            "periodSeconds": 2,
            "failureThreshold": 1,
        },
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "health"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": APP, "variant": "good"}},
            "template": {
                "metadata": {"labels": {"app": APP, "variant": "good"}},
                "spec": {"containers": [container], "terminationGracePeriodSeconds": 2},
            },
        },
    }


def _unready_pod() -> dict[str, Any]:
    """Same app label, but serves on another port: its gRPC readiness probe never passes."""
    container = restricted_container(
        "server",
        GRPC_HEALTH_IMAGE,
        env=[{"name": "PORT", "value": "9999"}],
        readinessProbe={"grpc": {"port": HEALTH_PORT}, "periodSeconds": 2},
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "never-ready", "labels": {"app": APP, "variant": "bad"}},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": 2},
    }


def _service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "health"},
        "spec": {
            "selector": {"app": APP},
            "ports": [{"name": "grpc", "port": 80, "targetPort": HEALTH_PORT}],
        },
    }


def _check_health(target: str) -> bool:
    """One gRPC health Check over a fresh connection (so kube-proxy picks an endpoint anew)."""
    with grpc.insecure_channel(target, options=[("grpc.enable_retries", 0)]) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        resp = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=3)
    return bool(resp.status == health_pb2.HealthCheckResponse.SERVING)


def _ready_pod_ips(kube: Kubectl, ns: str, selector: str) -> set[str]:
    pods = kube.json("get", "pods", "-n", ns, "-l", selector)["items"]
    return {p["status"]["podIP"] for p in pods if condition(p, "Ready") == "True"}


def _slice_endpoints(kube: Kubectl, ns: str) -> dict[str, bool]:
    """address -> ready, over every EndpointSlice of Service ``health``."""
    slices = kube.json(
        "get", "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=health"
    )["items"]
    out: dict[str, bool] = {}
    for sl in slices:
        for ep in sl.get("endpoints") or []:
            for addr in ep["addresses"]:
                out[addr] = bool(ep.get("conditions", {}).get("ready"))
    return out


def test_grpc_readiness_service_and_endpointslices(
    cluster: Cluster, kube: Kubectl, namespace: str
) -> None:
    kube.apply(_health_deployment(2), _unready_pod(), _service(), namespace=namespace)

    # Native gRPC readiness probes make the Deployment's pods Ready.
    def available() -> bool:
        dep = kube.get("deployment", "health", namespace)
        return bool(dep["status"].get("readyReplicas") == 2)

    wait_until("2 ready replicas of Deployment health", available, timeout=180)
    good = _ready_pod_ips(kube, namespace, "variant=good")
    assert len(good) == 2

    # The never-ready pod runs, and its probe is actually failing (kubelet says so).
    def probe_failed() -> bool:
        events = kube.json(
            "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=never-ready"
        )["items"]
        return any(
            e.get("reason") == "Unhealthy" and "Readiness probe failed" in e.get("message", "")
            for e in events
        )

    wait_until("a failed readiness probe on pod never-ready", probe_failed, timeout=120)
    bad = kube.get("pod", "never-ready", namespace)
    assert condition(bad, "Ready") == "False"
    bad_ip = bad["status"]["podIP"]

    # EndpointSlices: exactly the two good pods are ready endpoints; the bad one is not.
    def slices_settled() -> dict[str, bool] | None:
        eps = _slice_endpoints(kube, namespace)
        ready = {a for a, r in eps.items() if r}
        return eps if ready == good else None

    eps = wait_until("EndpointSlices listing the ready pods", slices_settled, timeout=60)
    assert not eps.get(bad_ip, False), f"unready pod {bad_ip} is a ready endpoint: {eps}"

    if not cluster.local:
        return  # the ClusterIP is routable from this host only for the local cluster
    svc = kube.get("service", "health", namespace)
    target = f"{svc['spec']['clusterIP']}:80"

    # kube-proxy's iptables rules also apply to traffic from the host; wait until programmed.
    def reachable() -> bool:
        try:
            return _check_health(target)
        except grpc.RpcError:
            return False  # rules not programmed yet (or endpoints still being synced)

    wait_until(f"gRPC health SERVING via ClusterIP {target}", reachable, 60)
    # Every new connection lands on a ready pod: the unready one (nothing on 9446) would fail.
    # With 1 of 3 pods unready, 24 successes by chance alone has probability (2/3)^24 < 1e-4.
    for _ in range(24):
        assert _check_health(target)


def test_garbage_collector_deletes_dependents(kube: Kubectl, namespace: str) -> None:
    kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}, namespace)
    owner = kube.get("configmap", "owner", namespace)
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner["metadata"]["uid"],
    }
    for i in range(3):
        kube.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"dependent-{i}", "ownerReferences": [ref]},
            },
            namespace,
        )
    kube.delete("configmap", "owner", namespace)

    def dependents_gone() -> bool:
        names = {c["metadata"]["name"] for c in kube.get("configmaps", None, namespace)["items"]}
        return not any(n.startswith("dependent-") for n in names)

    wait_until("the garbage collector to delete the dependents", dependents_gone, timeout=90)


def test_deleting_deployment_deletes_replicaset_and_pods(kube: Kubectl, namespace: str) -> None:
    kube.apply(_health_deployment(1), namespace=namespace)
    wait_until(
        "a pod of Deployment health",
        lambda: kube.json("get", "pods", "-n", namespace, "-l", "variant=good")["items"],
        timeout=60,
    )
    kube.delete("deployment", "health", namespace, "--cascade=background", "--wait=false")

    def all_gone() -> bool:
        rs = kube.get("replicasets", None, namespace)["items"]
        pods = kube.json("get", "pods", "-n", namespace, "-l", "variant=good")["items"]
        return not rs and not pods

    wait_until("ReplicaSet and pods of a deleted Deployment to go", all_gone, timeout=120)


def test_pod_security_restricted_refuses_noncompliant_pod(kube: Kubectl) -> None:
    ns = make_namespace(
        kube,
        "e2e-restricted",
        {"pod-security.kubernetes.io/enforce": "restricted"},
    )
    try:
        privileged = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "privileged"},
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": GRPC_HEALTH_IMAGE,
                        "securityContext": {"privileged": True},
                    }
                ]
            },
        }
        with pytest.raises(KubectlError) as refused:
            kube.create(privileged, ns)
        assert "violates PodSecurity" in refused.value.stderr
        assert "restricted" in refused.value.stderr
        assert not kube.get("pods", None, ns)["items"]

        compliant = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "compliant"},
            "spec": {"containers": [restricted_container("c", GRPC_HEALTH_IMAGE)]},
        }
        kube.run("create", "--dry-run=server", "-n", ns, "-f", "-", stdin=json.dumps(compliant))
    finally:
        kube.delete("namespace", ns, None, "--wait=false")


def test_helm_and_kubectl_talk_to_the_cluster(cluster: Cluster) -> None:
    assert cluster.helm is not None, "no helm: run `python -m tests.cluster build`"
    proc = subprocess.run(
        [str(cluster.helm), "list", "--all-namespaces", "--output", "json"],
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert isinstance(json.loads(proc.stdout), list)
    version = cluster.kube.json("version")
    if cluster.local:
        assert version["serverVersion"]["gitVersion"] == config.KUBERNETES_VERSION
        assert version["clientVersion"]["gitVersion"] == config.KUBERNETES_VERSION
