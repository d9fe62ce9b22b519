"""The static wrapper serving a real catalog function from inside a real, restricted pod.

Laid out as Porch lays out a function pod: an init container copies the wrapper into an
emptyDir, and the function image's own container runs it in front of the function's
entrypoint. The function image here is the distroless-like set-namespace (no shell, no libc),
the namespace enforces Pod Security `restricted`, the root filesystem is read-only, and
readiness is a native gRPC probe on the wrapper's health service. The test then calls
EvaluateFunction on the pod's address on the cluster bridge, as fnpool's endpoint will.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from fnpool.krm import build_resource_list, dump_yaml, load_yaml
from fnpool.proto import evaluator_pb2, evaluator_pb2_grpc

from tests.cluster import images
from tests.cluster.kube import Kubectl, condition, wait_until
from tests.e2e.conftest import make_namespace, restricted_container

pytestmark = pytest.mark.cluster

WRAPPER_PORT = 9446


def function_pod(name: str, function_image: str) -> dict[str, Any]:
    wrapper_dir = {"name": "wrapper", "mountPath": "/wrapper"}
    scratch = {"name": "scratch", "mountPath": "/scratch"}
    restricted_fs = {"readOnlyRootFilesystem": True}
    init = restricted_container(
        "copy-wrapper",
        images.WRAPPER_IMAGE,
        command=["cp", "/fnpool-wrapper", "/wrapper/fnpool-wrapper"],
        volumeMounts=[wrapper_dir],
    )
    init["securityContext"] |= restricted_fs
    function = restricted_container(
        "function",
        function_image,
        command=["/wrapper/fnpool-wrapper", "--host", "0.0.0.0", "--port", str(WRAPPER_PORT)],
        args=["--", "/usr/local/bin/function"],
        env=[{"name": "TMPDIR", "value": "/scratch"}],
        ports=[{"containerPort": WRAPPER_PORT, "name": "grpc"}],
        readinessProbe={"grpc": {"port": WRAPPER_PORT}, "periodSeconds": 1},
        volumeMounts=[{**wrapper_dir, "readOnly": True}, scratch],
    )
    function["securityContext"] |= restricted_fs
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "automountServiceAccountToken": False,
            "restartPolicy": "Always",
            "initContainers": [init],
            "containers": [function],
            "volumes": [
                {"name": "wrapper", "emptyDir": {"sizeLimit": "64Mi"}},
                {"name": "scratch", "emptyDir": {"sizeLimit": "256Mi"}},
            ],
        },
    }


def serve_in_pod(kube: Kubectl, namespace: str, name: str, image: str) -> str:
    """Start `image` behind the wrapper and return the address of its ready pod."""
    kube.create(function_pod(name, image), namespace)
    pod = wait_until(
        f"pod {name} to be Ready",
        lambda: (p := kube.get("pod", name, namespace)) and condition(p, "Ready") == "True" and p,
        timeout=120,
    )
    return f"{pod['status']['podIP']}:{WRAPPER_PORT}"


def evaluate(address: str, image: str, resource_list: dict[str, Any]) -> Any:
    with grpc.insecure_channel(address) as channel:
        stub = evaluator_pb2_grpc.FunctionEvaluatorStub(channel)  # type: ignore[no-untyped-call]
        request = evaluator_pb2.EvaluateFunctionRequest(
            image=image, resource_list=dump_yaml(resource_list).encode()
        )
        return stub.EvaluateFunction(request, timeout=30)


RESOURCE_LIST = build_resource_list(
    [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}],
    {"apiVersion": "v1", "kind": "ConfigMap", "data": {"namespace": "prod"}},
)


def test_wrapper_in_restricted_pods_evaluates_real_functions(kube: Kubectl) -> None:
    namespace = make_namespace(
        kube, "wrapper", {"pod-security.kubernetes.io/enforce": "restricted"}
    )
    try:
        ok = serve_in_pod(kube, namespace, "set-namespace", images.SET_NAMESPACE)
        failing = serve_in_pod(kube, namespace, "failing", images.FAILING_FN)

        output = load_yaml(evaluate(ok, images.SET_NAMESPACE, RESOURCE_LIST).resource_list)
        assert [item["metadata"]["namespace"] for item in output["items"]] == ["prod"]

        with pytest.raises(grpc.RpcError) as failed:
            evaluate(failing, images.FAILING_FN, RESOURCE_LIST)
        assert failed.value.code() == grpc.StatusCode.INTERNAL
        details = failed.value.details()
        assert details.startswith(f'failed to evaluate function "{images.FAILING_FN}"')
        assert "structured results: [error]" in details

        for name in ("set-namespace", "failing"):
            statuses = kube.get("pod", name, namespace)["status"]["containerStatuses"]
            assert [status["restartCount"] for status in statuses] == [0], name
    finally:
        kube.delete("namespace", namespace, None, "--wait=false")
