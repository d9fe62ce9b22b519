"""Host networking for the test cluster: the bridge, sysctls and iptables housekeeping.

The bridge is created before any server starts because it carries the node IP that the
apiserver and kubelet bind.  Two guards are installed (and verified) before ``ip_forward`` is
switched on:

* an ``FNPOOL-ISOLATE`` chain at the top of mangle ``FORWARD`` (which runs before filter
  ``FORWARD``, where kube-proxy prepends ACCEPT rules) drops anything from the bridge that would
  leave through another interface, so pods can reach this host and each other but nothing is
  ever routed off the machine;
* the Service range is routed onto the bridge (the host has no other route for it but the
  default gateway), and an ``FNPOOL-SERVICES`` chain in filter ``OUTPUT`` rejects host packets
  still addressed to it, i.e. not translated by kube-proxy's nat ``OUTPUT`` rules (yet).

Teardown restores the sysctls we changed, then removes every ``KUBE-*``/``CNI-*``/``FNPOOL-*``
chain, the route, the bridge and any leftover pod veths.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.cluster import config

ISOLATE_CHAIN = "FNPOOL-ISOLATE"
ISOLATE_TABLE = "mangle"
ISOLATE_RULE = ("-i", config.BRIDGE, "!", "-o", config.BRIDGE, "-j", "DROP")
SERVICE_CHAIN = "FNPOOL-SERVICES"
"""filter OUTPUT: rejects host packets still addressed to the Service range after nat OUTPUT."""
SERVICE_RULE = ("-d", config.SERVICE_CIDR, "-j", "REJECT")
SYSCTLS = {
    "net/ipv4/ip_forward": "1",
    "net/bridge/bridge-nf-call-iptables": "1",
    "net/bridge/bridge-nf-call-ip6tables": "1",
}
SAVED = config.STATE_DIR / "sysctl-saved.json"
OUR_CHAIN_PREFIXES = ("KUBE-", "CNI-", "FNPOOL-")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def _ipt(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["iptables", "-w", "5", *args], check=check, capture_output=True, text=True
    )


def bridge_exists() -> bool:
    return Path(f"/sys/class/net/{config.BRIDGE}").exists()


class HostNetError(RuntimeError):
    """A host network guard could not be installed (the cluster must not start without it)."""


def _must(proc: subprocess.CompletedProcess[str], what: str) -> None:
    if proc.returncode != 0:
        raise HostNetError(f"{what} failed ({proc.returncode}): {proc.stderr.strip()}")


def _fresh_chain(table: str, chain: str) -> None:
    if _ipt("-t", table, "-S", chain).returncode != 0:
        _must(_ipt("-t", table, "-N", chain), f"iptables -t {table} -N {chain}")
    _must(_ipt("-t", table, "-F", chain), f"iptables -t {table} -F {chain}")


def _ensure_rule(table: str, chain: str, *rule: str, first: bool = False) -> None:
    if _ipt("-t", table, "-C", chain, *rule).returncode != 0:
        op = ("-I", chain, "1") if first else ("-A", chain)
        _must(_ipt("-t", table, *op, *rule), f"iptables -t {table} {' '.join((*op, *rule))}")


def guard_rules() -> list[tuple[str, str, tuple[str, ...]]]:
    """(table, chain, rule) of every isolation rule, for installing and checking."""
    return [
        (ISOLATE_TABLE, ISOLATE_CHAIN, ISOLATE_RULE),
        (ISOLATE_TABLE, "FORWARD", ("-j", ISOLATE_CHAIN)),
        ("filter", SERVICE_CHAIN, SERVICE_RULE),
        ("filter", "OUTPUT", ("-j", SERVICE_CHAIN)),
    ]


def missing_guards() -> list[str]:
    """Isolation rules or the Service-CIDR route that are not in place (empty: all there)."""
    missing = [
        f"{table}/{chain}: {' '.join(rule)}"
        for table, chain, rule in guard_rules()
        if _ipt("-t", table, "-C", chain, *rule).returncode != 0
    ]
    route = _ip("route", "show", "exact", config.SERVICE_CIDR, check=False).stdout
    if f"dev {config.BRIDGE}" not in route:
        missing.append(f"route {config.SERVICE_CIDR} dev {config.BRIDGE}")
    return missing


def setup() -> None:
    """Create the bridge with the node IP, install the guards, then set the sysctls.

    ``ip_forward`` is only switched on once the isolation chain is verified to be in place.
    """
    if not bridge_exists():
        _ip("link", "add", config.BRIDGE, "type", "bridge")
    prefix = config.POD_CIDR.split("/")[1]
    addr = _ip("-o", "addr", "show", "dev", config.BRIDGE).stdout
    if f" {config.NODE_IP}/" not in addr:
        _ip("addr", "add", f"{config.NODE_IP}/{prefix}", "dev", config.BRIDGE)
    _ip("link", "set", config.BRIDGE, "up")
    # Pods: nothing from the bridge may be forwarded to another interface.  In mangle FORWARD
    # (before filter FORWARD, where kube-proxy prepends its ACCEPT rules).
    _fresh_chain(ISOLATE_TABLE, ISOLATE_CHAIN)
    _ensure_rule(ISOLATE_TABLE, ISOLATE_CHAIN, *ISOLATE_RULE)
    _ensure_rule(ISOLATE_TABLE, "FORWARD", "-j", ISOLATE_CHAIN, first=True)
    # Host -> ClusterIP: route the Service range onto the bridge instead of the default gateway,
    # and reject what kube-proxy has not (yet) translated (filter OUTPUT runs after nat OUTPUT's
    # DNAT, so translated packets carry a pod address here and pass).
    _ip("route", "replace", config.SERVICE_CIDR, "dev", config.BRIDGE)
    _fresh_chain("filter", SERVICE_CHAIN)
    _ensure_rule("filter", SERVICE_CHAIN, *SERVICE_RULE)
    _ensure_rule("filter", "OUTPUT", "-j", SERVICE_CHAIN, first=True)
    missing = missing_guards()
    if missing:
        raise HostNetError("network guards missing after setup: " + "; ".join(missing))
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
    """Restore sysctls (ip_forward first), remove our iptables chains, the route, the bridge."""
    if SAVED.exists():
        for key, value in json.loads(SAVED.read_text()).items():
            path = Path("/proc/sys") / key
            if path.exists():
                path.write_text(value)
        SAVED.unlink()
    for cmd in ("iptables", "ip6tables"):
        _cleanup_iptables(cmd)
    if bridge_exists():
        _ip("route", "delete", config.SERVICE_CIDR, "dev", config.BRIDGE, check=False)
        for port in Path(f"/sys/class/net/{config.BRIDGE}/brif").glob("*"):
            _ip("link", "delete", port.name, check=False)
        _ip("link", "delete", config.BRIDGE, check=False)
