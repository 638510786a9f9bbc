"""Probe the echo server from every pod; compare the source IP it saw with the expected one.

Pods on a node that is down (lab/ovnlab.py node-down) are skipped. Expected: an endpoint of a Service with an EgressService leaves with the LB IP when a node is
labelled for the service (the holder); every other pod leaves with its own node's IP (local
gateway mode masquerade). With fail_closed, an EgressService endpoint without a holder is
expected to get no answer.
"""
import json
import os
import sys

from sdnlab.netns import IP, run

from . import cluster
from . import topology as topo

TRAFFIC = os.path.join(cluster.SDNLAB_DIR, "traffic.py")


def probe(pod, timeout, server=topo.SERVER_IP):
    proc = run([IP, "netns", "exec", pod.netns, sys.executable, TRAFFIC, server, str(topo.SERVER_PORT),
                "--proto", "tcp", "--timeout", str(timeout)], check=False, timeout=timeout + 10)
    try:
        res = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"ok": False, "error": proc.stderr.strip() or "no output"}
    return res


def expectations(fail_closed=False):
    held = cluster.holders()
    rows = []
    for svc in topo.services(cluster.ipv6_enabled()):
        for pod in topo.endpoints(svc):
            holder = held.get(svc.key) if svc.egress is not None else None
            if svc.egress is not None and holder:
                want = svc.lb_ip
            elif svc.egress is not None and fail_closed:
                want = None
            else:
                want = pod.node.host_ip6 if svc.family == 6 else pod.node.host_ip
            rows.append({"service": svc.key, "egress_service": svc.egress is not None, "pod": pod.name,
                         "pod_ip": topo.endpoint_ip(svc, pod), "node": pod.node.name, "holder": holder,
                         "expected": want, "_pod": pod,
                         "_server": topo.SERVER_IP6 if svc.family == 6 else topo.SERVER_IP})
    return rows


def main(as_json=False, timeout=3.0, fail_closed=False):
    cluster.announce()
    rows = expectations(fail_closed)
    down = set(cluster.load_json(cluster.STATE_FILE, {}).get("nodes_down", []))
    bad = 0
    for row in rows:
        pod, server = row.pop("_pod"), row.pop("_server")
        if pod.node.name in down:
            row.update(seen=None, error="node down", ok=True, skipped=True)
            continue
        res = probe(pod, timeout, server)
        row["seen"] = res.get("seen") if res.get("ok") else None
        row["error"] = None if res.get("ok") else res.get("error")
        row["ok"] = row["seen"] == row["expected"]
        bad += not row["ok"]
    if as_json:
        print(json.dumps(rows, indent=1))
    else:
        fmt = "%-10s %-6s %-6s %-16s %-6s %-6s %-16s %-16s %s"
        print(fmt % ("SERVICE", "EGRSVC", "POD", "POD IP", "NODE", "HOLDER", "EXPECTED", "SEEN", "RESULT"))
        for r in rows:
            print(fmt % (r["service"], "yes" if r["egress_service"] else "no", r["pod"], r["pod_ip"], r["node"],
                         r["holder"] or "-", r["expected"] or "(dropped)", r["seen"] or "-",
                         "SKIP (node down)" if r.get("skipped") else "ok" if r["ok"]
                         else "MISMATCH%s" % (" (%s)" % r["error"] if r["error"] else "")))
        print("%d of %d as expected" % (len(rows) - bad, len(rows)))
    return 1 if bad else 0
