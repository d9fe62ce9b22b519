"""``python -m tests.cluster {build,up,down,status}``: the local test cluster's command line.

``up`` prints ``export KUBECONFIG=<path>`` as its last line so ``eval "$(make cluster-up)"``
(or copy-paste) points kubectl at the cluster.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from tests.cluster import binaries, config, images, lifecycle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build missing binaries (cached by version) and images")
    b.add_argument("--force", action="store_true", help="rebuild even when cached")
    b.add_argument("--no-images", action="store_true", help="binaries only")
    sub.add_parser("up", help="start the cluster, or reuse a healthy one")
    d = sub.add_parser("down", help="stop everything and remove all traces")
    d.add_argument("--purge", action="store_true", help="also remove the PKI and kubeconfigs")
    sub.add_parser("status", help="print process and readiness status as JSON")
    args = parser.parse_args(argv)

    if args.cmd == "build":
        started = time.monotonic()
        binaries.build_all(force=args.force)
        if not args.no_images:
            images.ensure_all()
        print(f"build done in {time.monotonic() - started:.0f}s", file=sys.stderr)
    elif args.cmd == "up":
        try:
            kubeconfig = lifecycle.up()
        except lifecycle.ClusterError as exc:
            print(f"cluster up failed: {exc}", file=sys.stderr)
            return 1
        print(f"kubectl: {config.KUBECTL_BIN}")
        print(f"export KUBECONFIG={kubeconfig}")
    elif args.cmd == "down":
        lifecycle.down(purge=args.purge)
        print("cluster down")
    else:
        st = lifecycle.status()
        st["memory_rss_mib"] = round(lifecycle.memory_rss_kib() / 1024)
        print(json.dumps(st, indent=2))
        return 0 if st["node_ready"] else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
