"""`lab.py check`: from a pod of every project on every node, ask the external echo server which
source address it saw (TCP and UDP) and compare it with what the declared egress intent says.

Expectation per project (read from the inventory, not from the dataplane):
  - declared egress IPs: the first one held by exactly one node (host_vars egress_hostsubnet)
    whose node is up (`lab.py node-down` is recorded in .cache/lab/state.json);
  - declared egress IPs but none usable: NO traffic out (fail closed) - a success is a LEAK;
  - no declared egress IP: the pod's node IP (OPENSHIFT-MASQUERADE-2).
"""
import glob
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import yaml

from . import cluster
from . import topology as topo
from .netns import IP

DROP = "(dropped)"


def load_inventory(inventory_dir=topo.INVENTORY_DIR):
    """({namespace: [egress ips]}, {node: egress_hostsubnet}) from the lab inventory files."""
    namespaces = {}
    for path in sorted(glob.glob(os.path.join(inventory_dir, "group_vars", "all", "netnamespace_*.yml"))):
        with open(path) as f:
            data = yaml.safe_load(f) or {}
        for key, value in data.items():
            if key.startswith("egress_netnamespace_") and isinstance(value, dict):
                namespaces[value["name"]] = list(value.get("egress_ips") or [])
    hostsubnets = {}
    for path in sorted(glob.glob(os.path.join(inventory_dir, "host_vars", "*.yml"))):
        with open(path) as f:
            data = yaml.safe_load(f) or {}
        name = os.path.splitext(os.path.basename(path))[0]
        if isinstance(data.get("egress_hostsubnet"), dict):
            hostsubnets[name] = data["egress_hostsubnet"]
    return namespaces, hostsubnets


def expectations(namespaces, hostsubnets, down):
    """{project: (expected source IP or DROP or None=node IP, egress node or None, why)}"""
    owners = {}
    for node, hs in hostsubnets.items():
        for ip in hs.get("egress_ips") or []:
            owners.setdefault(ip, []).append(node)
    out = {}
    for project in topo.PROJECTS:
        ips = namespaces.get(project.name) or []
        if not ips:
            out[project.name] = (None, None, "no egress IP: node IP")
            continue
        for ip in ips:
            holders = owners.get(ip, [])
            if len(holders) == 1 and holders[0] not in down:
                out[project.name] = (ip, holders[0], "egress IP on %s" % holders[0])
                break
        else:
            out[project.name] = (DROP, None, "no usable egress IP (%s): fail closed" % ", ".join(ips))
    return out


def probe(pod, proto, timeout):
    argv = [IP, "netns", "exec", pod.netns, sys.executable, os.path.join(cluster.HERE, "traffic.py"),
            topo.SERVER_IP, str(topo.SERVER_PORT), "--proto", proto, "--timeout", str(timeout)]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 10, check=False)
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        return {"proto": proto, "ok": False, "seen": None, "error": "client failed: %s" % exc}


def run_check(timeout=3.0, projects=None):
    namespaces, hostsubnets = load_inventory()
    down = cluster.nodes_down()
    expect = expectations(namespaces, hostsubnets, down)
    jobs = []
    for pod in topo.pods():
        if projects and pod.project.name not in projects:
            continue
        for proto in ("tcp", "udp"):
            jobs.append((pod, proto))
    rows = []
    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = {}
        for pod, proto in jobs:
            if pod.node.name in down:
                continue
            futures[(pod.name, proto)] = pool.submit(probe, pod, proto, timeout)
        for pod, proto in jobs:
            exp_ip, egress_node, why = expect[pod.project.name]
            expected = exp_ip or pod.node.host_ip
            row = {"project": pod.project.name, "vnid": pod.project.vnid, "pod": pod.netns, "pod_ip": pod.ip,
                   "node": pod.node.name, "proto": proto, "expected": expected, "egress_node": egress_node,
                   "why": why, "seen": None, "error": None}
            if pod.node.name in down:
                row["result"] = "SKIP"
                row["why"] = "pod's node is down"
            else:
                res = futures[(pod.name, proto)].result()
                row["seen"] = res.get("seen")
                row["error"] = res.get("error")
                if expected == DROP:
                    row["result"] = "LEAK" if res.get("ok") else "OK"
                elif res.get("ok"):
                    row["result"] = "OK" if res.get("seen") == expected else "MISMATCH"
                else:
                    row["result"] = "FAIL"
            rows.append(row)
    ok = all(r["result"] in ("OK", "SKIP") for r in rows)
    return {"ok": ok, "nodes_down": sorted(down), "server": "%s:%d" % (topo.SERVER_IP, topo.SERVER_PORT),
            "rows": rows}


def print_table(report, out=sys.stdout):
    cols = [("PROJECT", "project"), ("POD IP", "pod_ip"), ("NODE", "node"), ("PROTO", "proto"),
            ("SEEN", "seen"), ("EXPECTED", "expected"), ("RESULT", "result")]
    table = [[h for h, dummy in cols]]
    for r in report["rows"]:
        cells = [str(r[k]) if r[k] is not None else "-" for dummy, k in cols]
        if r["seen"] is None and r["error"] and r["result"] != "SKIP":
            cells[4] = "- (%s)" % r["error"][:24]
        table.append(cells)
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    for row in table:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() + "\n")
    bad = [r for r in report["rows"] if r["result"] not in ("OK", "SKIP")]
    out.write("\nserver %s, nodes down: %s\n" % (report["server"], ", ".join(report["nodes_down"]) or "none"))
    out.write("%s: %d probes, %d not as expected\n" % ("OK" if report["ok"] else "NOT OK", len(report["rows"]), len(bad)))


def main(as_json=False, timeout=3.0, projects=None):
    ok, problems = cluster.healthy()
    if not ok and not cluster.load_state().get("built"):
        sys.stderr.write("lab: not up (%s); run lab/lab.py up\n" % "; ".join(problems[:3]))
        return 2
    report = run_check(timeout=timeout, projects=projects)
    if as_json:
        print(json.dumps(report, indent=1))
    else:
        print_table(report)
    return 0 if report["ok"] else 1
