#!/usr/bin/env python3
"""sdn.egress OVN lab: an OVN-Kubernetes-like cluster (real OVN NB/SB, ovn-northd, one
ovn-controller and userspace OVS per node, Geneve between nodes) in network namespaces.

    lab/ovnlab.py up [--rebuild] [--ipv6] build (or reuse a healthy) OVN lab (--ipv6: dual-stack)
    lab/ovnlab.py down                    stop every lab daemon by PID, delete every namespace
    lab/ovnlab.py status [--json]         processes, nodes, health
    lab/ovnlab.py announce                route each LB IP to its labelled node (MetalLB stand-in)
    lab/ovnlab.py dump                    .cache/ovnlab/cluster.json: the cluster as `oc get -o json`
    lab/ovnlab.py node-down NODE | node-up NODE
    lab/ovnlab.py check [--json]          which source IP does each pod leave with, vs expected

Namespaces `ovnlab-*`, state in .cache/ovnlab; runs beside the openshift-sdn lab (lab/lab.py).
Use under `flock /tmp/ovnlab-dev.lock`. Needs root.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from labcommon.cli import add_common, run_common  # noqa: E402
from ovnlab import cluster, topology  # noqa: E402


def status_lines(st):
    fmt = "%-8s %-15s %-15s %-14s %-8s %-8s %s"
    yield "NB %s  SB %s  central pids %s" % (st["nb_db"], st["sb_db"], st["central"])
    yield fmt % ("NODE", "HOST IP", "SUBNET", "MGMT PORT IP", "OVSDB", "VSWITCHD", "OVN-CONTROLLER")
    for n in st["nodes"]:
        yield fmt % (n["name"], n["host_ip"], n["subnet"], n["mgmt_ip"], n["ovsdb_server"] or "-",
                     n["ovs_vswitchd"] or "-", n["ovn_controller"] or "-")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="ovnlab.py", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("up", help="build the OVN lab (reuse it when it is healthy)")
    p.add_argument("--rebuild", action="store_true")
    p.add_argument("--ipv6", action="store_true", help="dual-stack pods, nodes and server, and the IPv6 service six/web6")
    add_common(sub, [n.name for n in topology.NODES], "OVN lab")
    sub.add_parser("announce", help="route each LB IP to the node labelled for its service")
    sub.add_parser("dump", help="write and print the path of the cluster as Kubernetes objects (oc get -o json)")
    p = sub.add_parser("check", help="probe egress from every pod to the echo server")
    p.add_argument("--json", action="store_true")
    p.add_argument("--timeout", type=float, default=3.0)
    p.add_argument("--fail-closed", action="store_true",
                   help="an EgressService endpoint without a holder is expected to be dropped")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        ap.error("the OVN lab needs root (network namespaces, OVS, OVN, iptables)")
    if args.cmd == "up":
        try:
            res = cluster.up(rebuild=args.rebuild, ipv6=args.ipv6)
        except (RuntimeError, OSError) as exc:
            sys.stderr.write("ovnlab: up failed: %s\novnlab: run `lab/ovnlab.py down` to clean up\n" % exc)
            return 1
        print("OVN lab %s in %.1fs; NB %s" % ("reused" if res["reused"] else "built", res["seconds"], cluster.NB_DB))
        return 0
    done = run_common(args, cluster, status_lines)
    if done is not None:
        return done
    if args.cmd == "announce":
        held = cluster.announce()
        print(json.dumps(held, sort_keys=True))
        return 0
    if args.cmd == "dump":
        print(cluster.dump())
        return 0
    if args.cmd == "check":
        from ovnlab import check
        return check.main(as_json=args.json, timeout=args.timeout, fail_closed=args.fail_closed)
    return 2


if __name__ == "__main__":
    sys.exit(main())
