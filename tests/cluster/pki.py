"""Static PKI for the test cluster, made with the ``openssl`` CLI (no TLS bootstrap).

One CA signs every serving and client certificate; identities follow the names the apiserver's
bootstrap RBAC already binds (``system:kube-controller-manager``, ``system:kube-scheduler``,
``system:kube-proxy``, ``system:node:<name>`` in ``system:nodes``), so no extra RBAC is needed.
The PKI survives ``down`` (only ``down --purge`` removes it) so kubeconfigs stay valid across a
restart of the cluster within one test session.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.cluster import config


@dataclass(frozen=True)
class Cert:
    """A leaf certificate to issue."""

    name: str
    cn: str
    org: str | None = None
    sans: tuple[str, ...] = ()
    server: bool = False
    client: bool = True


def _sans(names: tuple[str, ...]) -> str:
    parts = []
    for n in names:
        kind = "IP" if n.replace(".", "").isdigit() else "DNS"
        parts.append(f"{kind}:{n}")
    return ",".join(parts)


def leaf_certs() -> list[Cert]:
    """Every leaf certificate the cluster needs."""
    api_sans = (
        config.NODE_IP,
        "127.0.0.1",
        config.KUBERNETES_SERVICE_IP,
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        f"kubernetes.default.svc.{config.CLUSTER_DOMAIN}",
    )
    node = config.NODE_NAME
    return [
        Cert("apiserver", "kube-apiserver", sans=api_sans, server=True, client=False),
        Cert("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters"),
        Cert("admin", "kubernetes-admin", "system:masters"),
        Cert("controller-manager", "system:kube-controller-manager"),
        Cert("scheduler", "system:kube-scheduler"),
        Cert("kube-proxy", "system:kube-proxy"),
        Cert("kubelet-client", f"system:node:{node}", "system:nodes"),
        Cert(
            "kubelet-server",
            f"system:node:{node}",
            "system:nodes",
            sans=(node, config.NODE_IP, "127.0.0.1"),
            server=True,
            client=False,
        ),
    ]


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _key(path: Path) -> None:
    _openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path)
    )
    path.chmod(0o600)


def ensure(pki: Path) -> None:
    """Create the CA, service-account key pair and every leaf cert that is missing."""
    pki.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = pki / "ca.key", pki / "ca.crt"
    if not ca_crt.exists():
        _key(ca_key)
        _openssl(
            "req", "-x509", "-new", "-key", str(ca_key), "-subj", "/CN=fnpool-test-ca",
            "-days", "3650", "-out", str(ca_crt),
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        )  # fmt: skip
    if not (pki / "sa.pub").exists():
        _key(pki / "sa.key")
        _openssl("pkey", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))
    for cert in leaf_certs():
        crt = pki / f"{cert.name}.crt"
        if crt.exists():
            continue
        key = pki / f"{cert.name}.key"
        _key(key)
        subj = f"/CN={cert.cn}" + (f"/O={cert.org}" if cert.org else "")
        usages = [u for u, on in (("serverAuth", cert.server), ("clientAuth", cert.client)) if on]
        ext = [
            "basicConstraints=critical,CA:FALSE",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            "extendedKeyUsage=" + ",".join(usages),
        ]
        if cert.sans:
            ext.append("subjectAltName=" + _sans(cert.sans))
        with tempfile.TemporaryDirectory() as tmp:
            csr, extfile = Path(tmp) / "req.csr", Path(tmp) / "ext.cnf"
            extfile.write_text("\n".join(ext) + "\n")
            _openssl("req", "-new", "-key", str(key), "-subj", subj, "-out", str(csr))
            _openssl(
                "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
                "-CAcreateserial", "-days", "825", "-extfile", str(extfile), "-out", str(crt),
            )  # fmt: skip


def kubeconfig(pki: Path, user: str, server: str) -> str:
    """A kubeconfig for the client cert ``<pki>/<user>.crt`` (paths, not embedded data)."""
    return f"""apiVersion: v1
kind: Config
clusters:
- name: fnpool
  cluster:
    certificate-authority: {pki / "ca.crt"}
    server: {server}
users:
- name: {user}
  user:
    client-certificate: {pki / f"{user}.crt"}
    client-key: {pki / f"{user}.key"}
contexts:
- name: fnpool
  context:
    cluster: fnpool
    user: {user}
    namespace: default
current-context: fnpool
"""


def write_kubeconfigs(pki: Path, out: Path) -> None:
    """Kubeconfigs for the admin and every component that talks to the apiserver."""
    server = f"https://{config.NODE_IP}:{config.APISERVER_PORT}"
    out.mkdir(parents=True, exist_ok=True)
    for user in ("admin", "controller-manager", "scheduler", "kube-proxy", "kubelet-client"):
        (out / f"{user}.kubeconfig").write_text(kubeconfig(pki, user, server))
