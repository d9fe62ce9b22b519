"""Fixtures shared by the e2e tests: a throwaway namespace and restricted-compliant pod specs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.kube import Kubectl, wait_until
from tests.cluster.plugin import Cluster


@pytest.fixture
def kube(cluster: Cluster) -> Kubectl:
    """kubectl bound to the cluster under test."""
    return cluster.kube


def make_namespace(kube: Kubectl, prefix: str, labels: dict[str, str] | None = None) -> str:
    """Create a uniquely named namespace and wait for its default ServiceAccount."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": labels or {}},
        }
    )
    # Pods are refused until the ServiceAccount controller has made "default".
    wait_until(
        f"ServiceAccount default in {name}",
        lambda: kube.get("serviceaccount", "default", name),
        timeout=60,
    )
    return name


@pytest.fixture
def namespace(kube: Kubectl) -> Iterator[str]:
    """A fresh namespace, deleted (without waiting) after the test."""
    name = make_namespace(kube, "e2e")
    yield name
    kube.delete("namespace", name, None, "--wait=false")


def restricted_container(name: str, image: str, **extra: Any) -> dict[str, Any]:
    """A container spec that satisfies the ``restricted`` Pod Security Standard."""
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        **extra,
    }
