"""Start, check and tear down the local single-node cluster.

Order: host network (bridge, sysctls, isolation rule) -> etcd -> kube-apiserver ->
kube-controller-manager -> kube-scheduler -> containerd -> kubelet -> kube-proxy.  Every
process runs detached with its log in ``$STATE/logs`` and its pid in ``$STATE/run``; ``down``
finds pod processes through their cgroups and containerd shims through their ``-address``, so
it can clean up even after a crash that lost the pid files.

``up`` is idempotent: a cluster whose processes all live and whose node is Ready is reused;
anything else (including the leftovers of a cluster whose processes were killed) is torn down
and started fresh: a fresh start takes ~10 s, repairing half-alive state is not worth it.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.cluster import config, hostnet, pki, registry

PKI = config.STATE_DIR / "pki"
KCFG = config.STATE_DIR / "kubeconfigs"
CONTAINERD_SOCK = config.RUN_DIR / "containerd.sock"
CONTAINERD_CERTS_D = config.STATE_DIR / "containerd" / "certs.d"
"""containerd's registry host config (``<registry>/hosts.toml``); the IMAGES module fills it."""
CNI_CONF_DIR = config.STATE_DIR / "cni" / "net.d"
CGROUP_FS = Path("/sys/fs/cgroup")
CGROUP_ROOT = "/fnpool"
"""The kubelet's ``cgroupRoot``: pods live in ``/fnpool/kubepods/...`` of every hierarchy, so
``down`` kills and removes only our pods' cgroups, never another kubelet's ``/kubepods``."""
RESOLV_CONF = config.STATE_DIR / "config" / "resolv.conf"
"""The kubelet's ``resolvConf``: only ``nameserver 127.0.0.1`` (the pod's own loopback), so pods
never get this host's upstream nameserver.  Not empty: with no nameserver in the pod's DNS
config, containerd 1.6 copies the host's /etc/resolv.conf into the sandbox instead."""
KUBELET_ROOT = config.STATE_DIR / "kubelet"
POD_LOGS = config.STATE_DIR / "pod-logs"
"""Container logs (instead of /var/log/pods); the kubelet still links them from
/var/log/containers, and ``down`` removes those links."""
WIPED_ON_DOWN = ("etcd", "containerd", "kubelet", "cni", "run", "config", "pod-logs")
"""State subdirectories removed by ``down``; pki/ and kubeconfigs/ stay so clients keep working."""


class ClusterError(RuntimeError):
    """The cluster could not be brought up; the message names the component and its log tail."""


def log(msg: str) -> None:
    print(f"[cluster {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- waiting ---------------------------------------------------------------------------------


TRANSIENT_ERRORS = (OSError, http.client.HTTPException, json.JSONDecodeError)
"""What a health check may raise while a server is still starting: connection refused/reset,
TLS and HTTP errors (``URLError``, ``HTTPError`` and ``ssl.SSLError`` are ``OSError``s), a
truncated response, half-written JSON.  Anything else (notably the ``ClusterError`` of a
component that exited) propagates at once."""


def _log_tail(logfile: Path | None, lines: int = 25) -> str:
    if logfile is None or not logfile.exists():
        return ""
    return "\n".join(logfile.read_text(errors="replace").splitlines()[-lines:])


def wait_for(
    what: str, check: Callable[[], bool], timeout: float, logfile: Path | None = None
) -> None:
    """Poll ``check`` until it is true or ``timeout`` passes (then raise with the log's tail).

    Only ``TRANSIENT_ERRORS`` raised by ``check`` count as "not yet"; any other exception ends
    the wait immediately.
    """
    deadline = time.monotonic() + timeout
    delay = 0.1
    last_error: BaseException | None = None
    while True:
        try:
            if check():
                return
        except TRANSIENT_ERRORS as exc:
            last_error = exc
        if time.monotonic() > deadline:
            seen = f" (last error: {last_error!r})" if last_error else ""
            raise ClusterError(
                f"timed out after {timeout:.0f}s waiting for {what}{seen}\n{_log_tail(logfile)}"
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)


def _https_get(url: str, *, client: str | None = "admin", verify: bool = True) -> bytes:
    ctx = (
        ssl.create_default_context(cafile=str(PKI / "ca.crt"))
        if verify
        else ssl._create_unverified_context()
    )
    if client:
        ctx.load_cert_chain(str(PKI / f"{client}.crt"), str(PKI / f"{client}.key"))
    with urllib.request.urlopen(url, context=ctx, timeout=5) as resp:
        return bytes(resp.read())


def _http_ok(url: str) -> bool:
    try:
        if url.startswith("https"):
            _https_get(url, client=None, verify=False)
        else:
            with urllib.request.urlopen(url, timeout=5) as resp:
                resp.read()
    except (urllib.error.URLError, OSError):
        return False
    return True


def api_get(path: str) -> dict[str, object]:
    """GET an apiserver path with the admin certificate and decode the JSON."""
    url = f"https://{config.NODE_IP}:{config.APISERVER_PORT}{path}"
    data: dict[str, object] = json.loads(_https_get(url))
    return data


def apiserver_ready() -> bool:
    url = f"https://{config.NODE_IP}:{config.APISERVER_PORT}/readyz"
    try:
        return _https_get(url) == b"ok"
    except (urllib.error.URLError, OSError):
        return False


def node_ready() -> bool:
    try:
        node = api_get(f"/api/v1/nodes/{config.NODE_NAME}")
    except (urllib.error.URLError, OSError):
        return False
    status = node.get("status")
    conds = status.get("conditions", []) if isinstance(status, dict) else []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def _socket_ok(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(2)
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


# --- processes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    """A server process of the cluster."""

    name: str
    argv: list[str]
    healthy: Callable[[], bool]
    timeout: float = 60.0

    @property
    def pidfile(self) -> Path:
        return config.RUN_DIR / f"{self.name}.pid"

    @property
    def logfile(self) -> Path:
        return config.LOG_DIR / f"{self.name}.log"


def _pid_alive(pid: int, exe: str | None = None) -> bool:
    try:
        os.kill(pid, 0)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        status = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ProcessLookupError):
        return False
    if status.split(") ", 1)[-1].startswith("Z"):
        return False
    return exe is None or cmdline.split(b"\0", 1)[0].decode(errors="replace") == exe


def _read_pidfile(name: str) -> tuple[int, str] | None:
    """(pid, executable) from ``$RUN_DIR/<name>.pid`` as written by ``start``."""
    try:
        pid_s, exe = (config.RUN_DIR / f"{name}.pid").read_text().split(maxsplit=1)
        return int(pid_s), exe.strip()
    except (OSError, ValueError):
        return None


def read_pid(name: str) -> int | None:
    entry = _read_pidfile(name)
    return entry[0] if entry else None


def proc_alive(name: str) -> bool:
    entry = _read_pidfile(name)
    return entry is not None and _pid_alive(*entry)


def start(proc: Proc) -> None:
    """Start ``proc`` detached and wait until it is healthy."""
    config.LOG_DIR.mkdir(parents=True, exist_ok=True)
    config.RUN_DIR.mkdir(parents=True, exist_ok=True)
    log(f"starting {proc.name}")
    with proc.logfile.open("ab") as out:
        child = subprocess.Popen(
            proc.argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    proc.pidfile.write_text(f"{child.pid} {proc.argv[0]}\n")

    def ok() -> bool:
        if child.poll() is not None:
            raise ClusterError(
                f"{proc.name} exited with {child.returncode}\n{_log_tail(proc.logfile)}"
            )
        return proc.healthy()

    wait_for(f"{proc.name} to be healthy", ok, proc.timeout, proc.logfile)


def kill_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM, wait, then SIGKILL one process."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.05)
    # Reap it if it is our child (when `up` and `down` run in one Python process).
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop(name: str, timeout: float = 10.0) -> None:
    entry = _read_pidfile(name)
    if entry is not None and _pid_alive(*entry):
        log(f"stopping {name} (pid {entry[0]})")
        kill_pid(entry[0], timeout)
    (config.RUN_DIR / f"{name}.pid").unlink(missing_ok=True)


# --- component configs -----------------------------------------------------------------------


def _kcfg(user: str) -> str:
    return str(KCFG / f"{user}.kubeconfig")


def etcd_proc() -> Proc:
    client = f"http://127.0.0.1:{config.ETCD_CLIENT_PORT}"
    peer = f"http://127.0.0.1:{config.ETCD_PEER_PORT}"
    return Proc(
        "etcd",
        [
            str(config.ETCD_BIN),
            "--name=fnpool",
            f"--data-dir={config.STATE_DIR / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=fnpool={peer}",
            "--initial-cluster-state=new",
            # A throwaway test store: durability is not worth the fsync latency.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
        lambda: _etcd_healthy(client),
    )


def _etcd_healthy(client_url: str) -> bool:
    with urllib.request.urlopen(f"{client_url}/health", timeout=3) as resp:
        return b'"health":"true"' in resp.read()


def apiserver_proc() -> Proc:
    return Proc(
        "kube-apiserver",
        [
            str(config.K8S_BIN / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{config.ETCD_CLIENT_PORT}",
            f"--bind-address={config.NODE_IP}",
            f"--advertise-address={config.NODE_IP}",
            f"--secure-port={config.APISERVER_PORT}",
            f"--tls-cert-file={PKI / 'apiserver.crt'}",
            f"--tls-private-key-file={PKI / 'apiserver.key'}",
            f"--client-ca-file={PKI / 'ca.crt'}",
            f"--kubelet-client-certificate={PKI / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={PKI / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={PKI / 'ca.crt'}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--service-account-key-file={PKI / 'sa.pub'}",
            f"--service-account-signing-key-file={PKI / 'sa.key'}",
            f"--service-account-issuer=https://kubernetes.default.svc.{config.CLUSTER_DOMAIN}",
            f"--service-cluster-ip-range={config.SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction,PodSecurity",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=1",
        ],
        apiserver_ready,
        timeout=90,
    )


def controller_manager_proc() -> Proc:
    return Proc(
        "kube-controller-manager",
        [
            str(config.K8S_BIN / "kube-controller-manager"),
            f"--kubeconfig={_kcfg('controller-manager')}",
            f"--authentication-kubeconfig={_kcfg('controller-manager')}",
            f"--authorization-kubeconfig={_kcfg('controller-manager')}",
            "--bind-address=127.0.0.1",
            f"--secure-port={config.CONTROLLER_MANAGER_PORT}",
            f"--cluster-signing-cert-file={PKI / 'ca.crt'}",
            f"--cluster-signing-key-file={PKI / 'ca.key'}",
            f"--root-ca-file={PKI / 'ca.crt'}",
            f"--service-account-private-key-file={PKI / 'sa.key'}",
            "--use-service-account-credentials=true",
            f"--cluster-cidr={config.POD_CIDR}",
            f"--service-cluster-ip-range={config.SERVICE_CIDR}",
            "--allocate-node-cidrs=false",
            "--leader-elect=false",
            "--profiling=false",
        ],
        lambda: _http_ok(f"https://127.0.0.1:{config.CONTROLLER_MANAGER_PORT}/healthz"),
    )


def scheduler_proc() -> Proc:
    return Proc(
        "kube-scheduler",
        [
            str(config.K8S_BIN / "kube-scheduler"),
            f"--kubeconfig={_kcfg('scheduler')}",
            f"--authentication-kubeconfig={_kcfg('scheduler')}",
            f"--authorization-kubeconfig={_kcfg('scheduler')}",
            "--bind-address=127.0.0.1",
            f"--secure-port={config.SCHEDULER_PORT}",
            "--leader-elect=false",
            "--profiling=false",
        ],
        lambda: _http_ok(f"https://127.0.0.1:{config.SCHEDULER_PORT}/healthz"),
    )


def containerd_config() -> str:
    """containerd 1.6 config (schema version 2) with the CRI plugin wired to our dirs."""
    st = config.STATE_DIR / "containerd"
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{st / "root"}"
state = "{st / "state"}"
disabled_plugins = [
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "{CONTAINERD_SOCK}"

[ttrpc]
  address = "{CONTAINERD_SOCK}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[{cri}]
  sandbox_image = "{config.PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # Root here lacks CAP_SYS_RESOURCE (Firecracker sandbox): runc cannot lower
  # oom_score_adj below containerd's own, so clamp instead of failing every pod sandbox.
  restrict_oom_score_adj = true
  max_container_log_line_size = 16384

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "{config.CNI_BIN_DIR}"
  conf_dir = "{CNI_CONF_DIR}"
  max_conf_num = 1

[{cri}.registry]
  config_path = "{CONTAINERD_CERTS_D}"
"""


def cni_config() -> str:
    """bridge + host-local + portmap; no ipMasq: pod traffic has nowhere to go but this host."""
    conf = {
        "cniVersion": "1.0.0",
        "name": "fnpool",
        "plugins": [
            {
                "type": "bridge",
                "bridge": config.BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": config.POD_CIDR, "gateway": config.NODE_IP}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(config.STATE_DIR / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(conf, indent=2)


def containerd_proc() -> Proc:
    cfg = config.STATE_DIR / "config" / "containerd.toml"
    return Proc(
        "containerd",
        ["/usr/bin/containerd", f"--config={cfg}", "--log-level=warn"],
        lambda: _socket_ok(CONTAINERD_SOCK),
    )


def kubelet_config() -> str:
    return f"""apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {config.NODE_IP}
port: {config.KUBELET_PORT}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {config.KUBELET_HEALTHZ_PORT}
tlsCertFile: {PKI / "kubelet-server.crt"}
tlsPrivateKeyFile: {PKI / "kubelet-server.key"}
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: {PKI / "ca.crt"}}}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://{CONTAINERD_SOCK}
cgroupDriver: cgroupfs
cgroupRoot: {CGROUP_ROOT}
# This machine mounts cgroup v1 (hybrid); kubelet >= 1.35 refuses v1 unless told otherwise.
failCgroupV1: false
failSwapOn: false
clusterDomain: {config.CLUSTER_DOMAIN}
# Not the host's: pods must never be handed this machine's upstream nameserver.
resolvConf: {RESOLV_CONF}
podCIDR: {config.POD_CIDR}
podLogsDir: {POD_LOGS}
maxPods: 110
serializeImagePulls: false
# A test node on a shared disk: never evict test pods for disk or memory pressure.
evictionHard:
  memory.available: "50Mi"
  nodefs.available: "1%"
  nodefs.inodesFree: "1%"
  imagefs.available: "1%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
nodeStatusUpdateFrequency: 4s
syncFrequency: 10s
fileCheckFrequency: 10s
"""


def kubelet_proc() -> Proc:
    cfg = config.STATE_DIR / "config" / "kubelet.yaml"
    return Proc(
        "kubelet",
        [
            str(config.K8S_BIN / "kubelet"),
            f"--config={cfg}",
            f"--kubeconfig={_kcfg('kubelet-client')}",
            f"--hostname-override={config.NODE_NAME}",
            f"--node-ip={config.NODE_IP}",
            f"--root-dir={KUBELET_ROOT}",
            f"--cert-dir={KUBELET_ROOT / 'pki'}",
            "--v=1",
        ],
        node_ready,
        timeout=120,
    )


def kube_proxy_config() -> str:
    return f"""apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:{config.KUBE_PROXY_HEALTHZ_PORT}
metricsBindAddress: 127.0.0.1:{config.KUBE_PROXY_METRICS_PORT}
hostnameOverride: {config.NODE_NAME}
clusterCIDR: {config.POD_CIDR}
clientConnection:
  kubeconfig: {_kcfg("kube-proxy")}
conntrack:
  # Leave the host's conntrack sysctls alone (a VM may not allow writing them).
  maxPerCore: 0
  min: 0
nodePortAddresses: ["{config.NODE_IP}/32"]
"""


def kube_proxy_proc() -> Proc:
    cfg = config.STATE_DIR / "config" / "kube-proxy.yaml"
    return Proc(
        "kube-proxy",
        [str(config.K8S_BIN / "kube-proxy"), f"--config={cfg}", "--v=1"],
        lambda: _http_ok(f"http://127.0.0.1:{config.KUBE_PROXY_HEALTHZ_PORT}/healthz"),
    )


def all_procs() -> list[Proc]:
    """Every server in start order."""
    return [
        etcd_proc(),
        apiserver_proc(),
        controller_manager_proc(),
        scheduler_proc(),
        containerd_proc(),
        kubelet_proc(),
        kube_proxy_proc(),
    ]


# --- up / down / status ----------------------------------------------------------------------


def healthy() -> bool:
    """All processes alive, apiserver ready and the node Ready."""
    return all(proc_alive(p.name) for p in all_procs()) and apiserver_ready() and node_ready()


def _write_configs() -> None:
    cfg = config.STATE_DIR / "config"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "containerd.toml").write_text(containerd_config())
    (cfg / "kubelet.yaml").write_text(kubelet_config())
    (cfg / "kube-proxy.yaml").write_text(kube_proxy_config())
    RESOLV_CONF.write_text("nameserver 127.0.0.1\n")
    CNI_CONF_DIR.mkdir(parents=True, exist_ok=True)
    (CNI_CONF_DIR / "10-fnpool.conflist").write_text(cni_config())
    CONTAINERD_CERTS_D.mkdir(parents=True, exist_ok=True)
    registry.write_containerd_hosts(CONTAINERD_CERTS_D)


def missing_binaries() -> list[Path]:
    need = [config.ETCD_BIN, *(config.K8S_BIN / b for b in ("kube-apiserver", "kubelet"))]
    need += [Path("/usr/bin/containerd"), Path("/usr/sbin/runc"), config.CNI_BIN_DIR / "bridge"]
    return [p for p in need if not p.exists()]


def up() -> Path:
    """Bring the cluster up (or reuse a healthy one); return the admin kubeconfig path."""
    started = time.monotonic()
    if healthy():
        log("cluster already up and healthy; reusing it")
        return config.KUBECONFIG
    missing = missing_binaries()
    if missing:
        raise ClusterError(
            "missing binaries (run `python -m tests.cluster build` and "
            "`bash tests/cluster/setup-host.sh`): " + ", ".join(map(str, missing))
        )
    # Whatever is left (a half-started cluster, or the mounts, bridge, rules and stale etcd
    # data of one whose processes were killed) is removed first: a fresh start is cheap.
    down(quiet=True)
    config.STATE_DIR.mkdir(parents=True, exist_ok=True)
    pki.ensure(PKI)
    pki.write_kubeconfigs(PKI, KCFG)
    shutil.copyfile(KCFG / "admin.kubeconfig", config.KUBECONFIG)
    _write_configs()
    try:
        hostnet.setup()
    except (hostnet.HostNetError, subprocess.CalledProcessError, OSError) as exc:
        hostnet.teardown()
        raise ClusterError(f"host network setup failed: {exc}") from exc
    _make_cgroup_root()
    # The local registries serve the pause image and every test image (loopback only).
    registry.start_registries()
    for proc in all_procs():
        start(proc)
    wait_for("the default service account", _default_sa_exists, 60)
    log(f"cluster up in {time.monotonic() - started:.1f}s")
    return config.KUBECONFIG


def _default_sa_exists() -> bool:
    api_get("/api/v1/namespaces/default/serviceaccounts/default")
    return True


def _in_our_cgroups(proc_cgroup: str) -> bool:
    """Whether a ``/proc/<pid>/cgroup`` text puts the process under our ``CGROUP_ROOT``."""
    return any(
        line.split(":", 2)[-1].startswith(CGROUP_ROOT + "/") for line in proc_cgroup.splitlines()
    )


def _pod_pids() -> list[int]:
    """Live processes in our kubepods cgroups, and the containerd shims of our containerd."""
    pids = []
    sock = str(CONTAINERD_SOCK).encode()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cg = (d / "cgroup").read_text()
            cmd = (d / "cmdline").read_bytes()
            state = (d / "stat").read_text().rsplit(") ", 1)[-1][:1]
        except OSError:
            continue
        if state in ("Z", "X"):
            continue  # already dead; only its parent (often pid 1 here) can reap it
        if _in_our_cgroups(cg) or (b"containerd-shim" in cmd and sock in cmd):
            pids.append(int(d.name))
    return pids


def _mounts_under(prefixes: tuple[str, ...]) -> list[str]:
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mnt = line.split()[4].replace("\\040", " ")
        if mnt.startswith(prefixes):
            out.append(mnt)
    return out


def our_mount_prefixes() -> tuple[str, ...]:
    """Where our mounts live: containerd's root and state (its shims mount the containers'
    rootfs and the sandboxes' shm there), the kubelet's root and pod volumes are all under the
    state dir.  Pod network namespaces (``/run/netns/cni-*``) are found by ``_our_netns``."""
    return (str(config.STATE_DIR) + "/",)


NETNS_DIR = Path("/run/netns")
CONTAINERD_TASKS = config.STATE_DIR / "containerd" / "state" / "io.containerd.runtime.v2.task"


def _our_netns() -> set[Path]:
    """Network namespaces made for our pods: the ones named in the OCI spec of a task bundle
    of our containerd (``<state>/io.containerd.runtime.v2.task/k8s.io/<id>/config.json``).
    Other ``cni-*`` namespaces on the host (another container runtime's) are left alone."""
    found: set[Path] = set()
    for spec in CONTAINERD_TASKS.glob("*/*/config.json"):
        try:
            namespaces = json.loads(spec.read_text())["linux"]["namespaces"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        for ns in namespaces:
            path = str(ns.get("path", ""))
            if ns.get("type") == "network" and path.startswith(("/var/run/netns/", "/run/netns/")):
                found.add(NETNS_DIR / Path(path).name)
    return found


CNI_RESULTS = Path("/var/lib/cni/results")
"""libcni's result cache (containerd 1.6 does not let us move it): ``<network>-<id>-<ifname>``."""
SHIM_SOCKETS = Path("/run/containerd/s")
"""containerd 1.6 shim sockets: ``sha256(<containerd address>/<namespace>/<sandbox id>)``."""


def _our_sandboxes() -> set[tuple[str, str]]:
    """(containerd namespace, id) of our task bundles and of the sandboxes that have a CNI
    result cached for our network (``fnpool-<id>-eth0``, left by a ``down`` that killed them)."""
    found = {(d.parent.name, d.name) for d in CONTAINERD_TASKS.glob("*/*") if d.is_dir()}
    prefix = json.loads(cni_config())["name"] + "-"
    for f in CNI_RESULTS.glob(f"{prefix}*-eth0"):
        found.add(("k8s.io", f.name[len(prefix) : -len("-eth0")]))
    return found


def _remove_runtime_leftovers(sandboxes: set[tuple[str, str]]) -> None:
    """CNI cache entries and shim sockets that killed pods leave outside the state dir."""
    network = json.loads(cni_config())["name"]
    for ns, sid in sandboxes:
        digest = hashlib.sha256(f"{CONTAINERD_SOCK}/{ns}/{sid}".encode()).hexdigest()
        for leftover in (
            CNI_RESULTS / f"{network}-{sid}-eth0",
            CNI_RESULTS / f"cni-loopback-{sid}-lo",
            SHIM_SOCKETS / digest,
        ):
            leftover.unlink(missing_ok=True)


def _unmount_all(extra: tuple[str, ...] = ()) -> None:
    for _ in range(5):
        mounts = _mounts_under(our_mount_prefixes() + extra)
        if not mounts:
            return
        for mnt in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mnt], capture_output=True)


def our_cgroups() -> list[Path]:
    """``CGROUP_ROOT`` in every mounted hierarchy where it exists."""
    return [d for d in CGROUP_FS.glob("*" + CGROUP_ROOT) if d.is_dir()]


def _make_cgroup_root() -> None:
    """Create ``CGROUP_ROOT`` in every hierarchy: the kubelet refuses a missing cgroupRoot."""
    for ctrl in CGROUP_FS.iterdir():
        if not (ctrl / "cgroup.procs").exists():
            continue  # not a cgroup hierarchy
        d = ctrl / CGROUP_ROOT.lstrip("/")
        d.mkdir(exist_ok=True)
        for name in ("cpuset.cpus", "cpuset.mems"):  # a v1 cpuset starts empty: inherit
            if (d / name).exists() and not (d / name).read_text().strip():
                (d / name).write_text((ctrl / name).read_text())


def _remove_cgroups() -> None:
    for d in our_cgroups():
        for sub in sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                sub.rmdir()
        with contextlib.suppress(OSError):
            d.rmdir()


def _remove_log_links() -> None:
    """Drop the kubelet's /var/log/containers links into our pod logs (the path is fixed)."""
    links = Path("/var/log/containers")
    if not links.is_dir():
        return
    for link in links.iterdir():
        with contextlib.suppress(OSError):
            if link.is_symlink() and os.readlink(link).startswith(str(POD_LOGS) + "/"):
                link.unlink()


def down(*, purge: bool = False, quiet: bool = False) -> None:
    """Stop everything and remove mounts, netns, bridge, iptables rules, cgroups and state."""
    if not quiet:
        log("tearing the cluster down")
    # Read before anything is stopped: the task bundles name our pods' network namespaces.
    netns = _our_netns()
    netns_mounts = tuple(str(ns) for ns in netns)
    sandboxes = _our_sandboxes()
    for proc in reversed(all_procs()):
        stop(proc.name)
    for _ in range(3):
        pids = _pod_pids()
        if not pids:
            break
        for pid in pids:
            kill_pid(pid, timeout=2)
    # Stray servers started by an older run whose pid files are gone.
    for proc in all_procs():
        for pid in _pids_of(proc.argv[0], str(config.STATE_DIR)):
            log(f"killing stray {proc.name} (pid {pid})")
            kill_pid(pid)
    _remove_runtime_leftovers(sandboxes)
    _unmount_all(netns_mounts)
    for ns in sorted(netns):
        subprocess.run(["ip", "netns", "delete", ns.name], capture_output=True)
        ns.unlink(missing_ok=True)
    kube_proxy = config.K8S_BIN / "kube-proxy"
    if kube_proxy.exists():
        subprocess.run([str(kube_proxy), "--cleanup"], capture_output=True, timeout=60)
    hostnet.teardown()
    _remove_cgroups()
    _remove_log_links()
    registry.stop_registries()
    for sub in WIPED_ON_DOWN:
        shutil.rmtree(config.STATE_DIR / sub, ignore_errors=True)
    if purge:
        shutil.rmtree(config.STATE_DIR, ignore_errors=True)
    leftovers = _mounts_under(our_mount_prefixes() + netns_mounts)
    if leftovers:
        raise ClusterError("mounts left after down: " + ", ".join(leftovers))


def _pids_of(exe: str, marker: str) -> Iterator[int]:
    """Pids whose argv[0] is ``exe`` and whose command line mentions ``marker``."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].decode(errors="replace") == exe and marker.encode() in b" ".join(argv):
            yield int(d.name)


def status() -> dict[str, object]:
    """Per-process liveness plus apiserver and node readiness."""
    procs: dict[str, object] = {p.name: proc_alive(p.name) for p in all_procs()}
    return {
        "processes": procs,
        "apiserver_ready": apiserver_ready(),
        "node_ready": node_ready(),
        "kubeconfig": str(config.KUBECONFIG),
        "state_dir": str(config.STATE_DIR),
    }


def memory_rss_kib() -> int:
    """Summed RSS of the cluster's servers and pod processes (for the README's numbers)."""
    total = 0
    pids = [read_pid(p.name) for p in all_procs()] + _pod_pids()
    for pid in pids:
        if pid is None:
            continue
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total
