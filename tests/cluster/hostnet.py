"""Host networking for the test cluster: the bridge, sysctls and iptables housekeeping.

The bridge is created before any server starts because it carries the node IP that the
apiserver and kubelet bind.  An ``FNPOOL-ISOLATE`` chain in ``FORWARD`` drops anything from the
bridge that would leave through another interface, so pods can reach this host and each other
but nothing is ever routed off the machine, even with ``ip_forward=1``.

Teardown removes every ``KUBE-*``/``CNI-*`` chain the kubelet, kube-proxy and CNI plugins made,
our own chain, the bridge and any leftover pod veths, and restores the sysctls we changed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.cluster import config

ISOLATE_CHAIN = "FNPOOL-ISOLATE"
SYSCTLS = {
    "net/ipv4/ip_forward": "1",
    "net/bridge/bridge-nf-call-iptables": "1",
    "net/bridge/bridge-nf-call-ip6tables": "1",
}
SAVED = config.STATE_DIR / "sysctl-saved.json"
OUR_CHAIN_PREFIXES = ("KUBE-", "CNI-", ISOLATE_CHAIN)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def _ipt(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["iptables", "-w", "5", *args], check=check, capture_output=True, text=True
    )


def bridge_exists() -> bool:
    return Path(f"/sys/class/net/{config.BRIDGE}").exists()


def setup() -> None:
    """Create the bridge with the node IP, set sysctls, install the isolation chain."""
    if not bridge_exists():
        _ip("link", "add", config.BRIDGE, "type", "bridge")
    prefix = config.POD_CIDR.split("/")[1]
    addr = _ip("-o", "addr", "show", "dev", config.BRIDGE).stdout
    if f" {config.NODE_IP}/" not in addr:
        _ip("addr", "add", f"{config.NODE_IP}/{prefix}", "dev", config.BRIDGE)
    _ip("link", "set", config.BRIDGE, "up")
    saved: dict[str, str] = {}
    if SAVED.exists():
        saved = json.loads(SAVED.read_text())
    for key, value in SYSCTLS.items():
        path = Path("/proc/sys") / key
        if not path.exists():
            continue
        saved.setdefault(key, path.read_text().strip())
        path.write_text(value)
    SAVED.parent.mkdir(parents=True, exist_ok=True)
    SAVED.write_text(json.dumps(saved))
    _ipt("-N", ISOLATE_CHAIN)
    _ipt("-F", ISOLATE_CHAIN)
    _ipt("-A", ISOLATE_CHAIN, "-i", config.BRIDGE, "!", "-o", config.BRIDGE, "-j", "DROP")
    if _ipt("-C", "FORWARD", "-j", ISOLATE_CHAIN).returncode != 0:
        _ipt("-I", "FORWARD", "1", "-j", ISOLATE_CHAIN)


def _cleanup_iptables(cmd: str) -> None:
    """Delete every rule that jumps to one of our chains, then flush and delete the chains."""
    for table in ("filter", "nat", "mangle"):
        listed = subprocess.run([cmd, "-w", "5", "-t", table, "-S"], capture_output=True, text=True)
        if listed.returncode != 0:
            continue
        ours = []
        for line in listed.stdout.splitlines():
            parts = line.split()
            if line.startswith("-N ") and parts[1].startswith(OUR_CHAIN_PREFIXES):
                ours.append(parts[1])
            elif line.startswith("-A ") and not parts[1].startswith(OUR_CHAIN_PREFIXES):
                jump = parts[parts.index("-j") + 1] if "-j" in parts else ""
                if jump.startswith(OUR_CHAIN_PREFIXES) or config.BRIDGE in parts:
                    subprocess.run(
                        [cmd, "-w", "5", "-t", table, "-D", *parts[1:]], capture_output=True
                    )
        for chain in ours:
            subprocess.run([cmd, "-w", "5", "-t", table, "-F", chain], capture_output=True)
        for chain in ours:
            subprocess.run([cmd, "-w", "5", "-t", table, "-X", chain], capture_output=True)


def leftover_chains() -> list[str]:
    """Our chains still present (for the teardown test)."""
    found = []
    for table in ("filter", "nat", "mangle"):
        out = _ipt("-t", table, "-S").stdout
        for line in out.splitlines():
            if line.startswith("-N ") and line.split()[1].startswith(OUR_CHAIN_PREFIXES):
                found.append(f"{table}/{line.split()[1]}")
    return found


def teardown() -> None:
    """Remove the bridge, pod veths, our iptables chains; restore sysctls."""
    for cmd in ("iptables", "ip6tables"):
        _cleanup_iptables(cmd)
    if bridge_exists():
        for port in Path(f"/sys/class/net/{config.BRIDGE}/brif").glob("*"):
            _ip("link", "delete", port.name, check=False)
        _ip("link", "delete", config.BRIDGE, check=False)
    if SAVED.exists():
        for key, value in json.loads(SAVED.read_text()).items():
            path = Path("/proc/sys") / key
            if path.exists():
                path.write_text(value)
        SAVED.unlink()
