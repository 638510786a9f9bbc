#!/usr/bin/env python3
"""sdn.egress built-in lab: an openshift-sdn-like cluster in network namespaces on one machine.

    lab/lab.py up [--layout sdn3|sdn48] [--iptables nft|legacy] [--iptables-node NODE=legacy] [--rebuild]
                  [--nodes K]                             build (or reuse a healthy) lab of K nodes
                                                          (3: master01 router01 router02; more: node04..)
    lab/lab.py down                                       remove every namespace/process
    lab/lab.py status [--json]                            processes, nodes, health
    lab/lab.py node-down NODE | node-up NODE              simulate a node failure / recovery
    lab/lab.py check [--json] [--timeout S] [--connections N]
                                                          which source IP does each pod leave with?

State and run directories live in .cache/lab under the repository root. Needs root.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from labcommon.cli import add_common, run_common  # noqa: E402
from sdnlab import cluster, topology  # noqa: E402


def status_lines(st):
    fmt = "%-10s %-12s %-15s %-12s %-10s %-10s %-8s %s"
    yield "built: %s  layout: %s  iptables: %s  nodes down: %s" % (
        st["built"], st["layout"] or "-", st["iptables"], ", ".join(st["nodes_down"]) or "-")
    yield fmt % ("NODE", "HOST IP", "MGMT IP", "OVSDB", "VSWITCHD", "SSHD", "IPT", "SUBNET")
    for n in st["nodes"]:
        yield fmt % (n["name"], n["host_ip"], n["mgmt_ip"], n["ovsdb_server"] or "-", n["ovs_vswitchd"] or "-",
                     n["sshd"] or "-", n["iptables"], n["subnet"])


def main(argv=None):
    ap = argparse.ArgumentParser(prog="lab.py", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("up", help="build the lab (reuse it when it is healthy)")
    p.add_argument("--iptables", choices=["nft", "legacy"],
                   default=os.environ.get("SDNLAB_IPTABLES", "nft"),
                   help="iptables backend the nodes' SDN uses (default nft, env SDNLAB_IPTABLES)")
    p.add_argument("--iptables-node", action="append", default=[], metavar="NODE=BACKEND",
                   help="per-node iptables backend override, e.g. router02=legacy (repeatable)")
    p.add_argument("--layout", choices=list(topology.LAYOUTS),
                   default=os.environ.get("SDNLAB_LAYOUT", topology.DEFAULT_LAYOUT),
                   help="openshift-sdn layout the nodes simulate: sdn3 (3.x-4.7) or sdn48 (4.8+ tables 99-101 "
                        "and select groups); default %s, env SDNLAB_LAYOUT" % topology.DEFAULT_LAYOUT)
    p.add_argument("--rebuild", action="store_true", help="tear down and rebuild even when healthy")
    p.add_argument("--nodes", type=int, default=int(os.environ.get("SDNLAB_NODES", topology.DEFAULT_NODES)),
                   metavar="K", help="number of nodes, %d..%d: master01, router01, router02, then node04.. (egress-"
                   "capable workers, listed in inventories/lab/generated_nodes.yml); default %d, env SDNLAB_NODES"
                   % (topology.DEFAULT_NODES, topology.MAX_NODES, topology.DEFAULT_NODES))
    add_common(sub, [n.name for n in topology.NODES], "lab")
    p = sub.add_parser("check", help="probe egress from every pod to the external server")
    p.add_argument("--json", action="store_true")
    p.add_argument("--timeout", type=float, default=3.0, help="per-connection timeout in seconds")
    p.add_argument("--project", action="append", help="only these projects (repeatable)")
    p.add_argument("--connections", type=int, metavar="N",
                   help="layout sdn48: connections per pod and protocol, from fixed source ports "
                        "(default 16; the 3.x layout probes once)")
    args = ap.parse_args(argv)

    if os.geteuid() != 0:
        ap.error("the lab needs root (network namespaces, OVS, iptables)")
    if args.cmd == "up":
        try:
            topology.check_node_count(args.nodes)
        except ValueError as exc:
            ap.error("--nodes: %s" % exc)
        names = [n.name for n in topology.NAMED_NODES] + [topology.extra_node(i).name
                                                          for i in range(topology.DEFAULT_NODES + 1, args.nodes + 1)]
        overrides = {}
        for item in args.iptables_node:
            node, dummy, backend = item.partition("=")
            if node not in names or backend not in ("nft", "legacy"):
                ap.error("--iptables-node wants NODE=nft|legacy with NODE one of %s, not %r"
                         % (", ".join(names), item))
            overrides[node] = backend
        try:
            res = cluster.up(backend=args.iptables, rebuild=args.rebuild, node_backends=overrides, layout=args.layout,
                             nodes=args.nodes)
        except (RuntimeError, OSError) as exc:
            sys.stderr.write("lab: up failed: %s\nlab: run `lab/lab.py down` to clean up the partial lab\n" % exc)
            return 1
        down = sorted(cluster.nodes_down())
        if down:
            sys.stderr.write("lab: nodes still down: %s (lab/lab.py node-up NODE)\n" % ", ".join(down))
        print("lab %s in %.1fs, layout %s, %d nodes; inventory: inventories/lab (ssh key %s)"
              % ("reused" if res["reused"] else "built", res["seconds"], res["layout"], res["nodes"],
                 os.path.relpath(cluster.CLIENT_KEY, topology.REPO_ROOT)))
        return 0
    done = run_common(args, cluster, status_lines)
    if done is not None:
        return done
    if args.cmd == "check":
        from sdnlab import check
        if args.connections is not None and not 1 <= args.connections <= 1000:
            ap.error("--connections wants 1..1000, not %d" % args.connections)
        return check.main(as_json=args.json, timeout=args.timeout, projects=args.project,
                          connections=args.connections)
    return 2


if __name__ == "__main__":
    sys.exit(main())
