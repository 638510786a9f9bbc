"""`lab.py check`: from a pod of every project on every node, ask the external echo server which
source address it saw (TCP and UDP) and compare it with what the declared egress intent says.

Expectation per project (read from the inventory, not from the dataplane):
  - declared egress IPs: the first one held by exactly one node (host_vars egress_hostsubnet)
    whose node is up (`lab.py node-down` is recorded in .cache/lab/state.json);
  - declared egress IPs but none usable: NO traffic out (fail closed) - a success is a LEAK;
  - no declared egress IP: the pod's node IP (OPENSHIFT-MASQUERADE-2).

Lab built with layout sdn48 (openshift-sdn 4.8+, select groups): every usable egress IP (held by
exactly one node that is up) is in use at once, so each pod opens several connections per
protocol from fixed source ports (the group hashes each flow) and every answer must be one of
the pod's expected IPs: the IP(s) on the pod's own node when it holds one of them (4.8 gives an
egress node exactly one, local, bucket), else any usable one. A row lists the set seen next to
the set expected. OVS's default select hash leaves UDP ports out, so a pod's UDP flows to the
one server all take one bucket; TCP spreads.
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
SPORT_BASE = 40001            # sdn48: connection i of a pod leaves from source port SPORT_BASE + i
DEFAULT_CONNECTIONS = {"sdn3": 1, "sdn48": 16}


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
    # the extra nodes of `lab.py up --nodes K` (inline host variables of the generated inventory)
    try:
        with open(os.path.join(inventory_dir, os.path.basename(topo.GENERATED_INVENTORY))) as f:
            data = yaml.safe_load(f) or {}
    except OSError:
        data = {}
    hosts = (((data.get("all") or {}).get("children") or {}).get("sdn_nodes") or {}).get("hosts") or {}
    for name, hostvars in hosts.items():
        if isinstance((hostvars or {}).get("egress_hostsubnet"), dict):
            hostsubnets.setdefault(name, hostvars["egress_hostsubnet"])
    return namespaces, hostsubnets


def _owners(hostsubnets):
    """{egress IP: [nodes whose HostSubnet lists it]}"""
    owners = {}
    for node, hs in hostsubnets.items():
        for ip in hs.get("egress_ips") or []:
            owners.setdefault(ip, []).append(node)
    return owners


def expectations(namespaces, hostsubnets, down):
    """{project: (expected source IP or DROP or None=node IP, egress node or None, why)}"""
    owners = _owners(hostsubnets)
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


def expectations_sdn48(namespaces, hostsubnets, down):
    """{(project, node): (expected IPs [] = dropped, None = node IP; their nodes; why)} for the
    4.8+ layout: every usable egress IP of the namespace at once, or only the ones on the pod's
    own node when it holds any (a local bucket, exactly one)."""
    owners = _owners(hostsubnets)
    out = {}
    for project in topo.PROJECTS:
        ips = namespaces.get(project.name) or []
        usable = [ip for ip in ips if len(owners.get(ip, [])) == 1 and owners[ip][0] not in down]
        for node in topo.NODES:
            key = (project.name, node.name)
            if not ips:
                out[key] = (None, [], "no egress IP: node IP")
            elif not usable:
                out[key] = ([], [], "no usable egress IP (%s): fail closed" % ", ".join(ips))
            else:
                local = [ip for ip in usable if owners[ip][0] == node.name]
                if local:
                    out[key] = (local, [node.name], "local bucket: egress IP on this node")
                else:
                    out[key] = (usable, [owners[ip][0] for ip in usable],
                                "load-balanced over %s" % ", ".join("%s (%s)" % (ip, owners[ip][0]) for ip in usable))
    return out


def probe(pod, proto, timeout, sports=None):
    argv = [IP, "netns", "exec", pod.netns, sys.executable, os.path.join(cluster.HERE, "traffic.py"),
            topo.SERVER_IP, str(topo.SERVER_PORT), "--proto", proto, "--timeout", str(timeout)]
    if sports:
        argv += ["--sports", ",".join(str(p) for p in sports)]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 10, check=False)
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        return {"proto": proto, "ok": False, "seen": None, "error": "client failed: %s" % exc}


def sports(connections):
    return [SPORT_BASE + i for i in range(connections)]


def run_check(timeout=3.0, projects=None, connections=None):
    layout = cluster.layout()
    if layout == "sdn48":
        return run_check_sdn48(timeout, projects, connections or DEFAULT_CONNECTIONS["sdn48"])
    if connections not in (None, 1):
        sys.stderr.write("lab: --connections applies to the sdn48 layout; the sdn3 check probes once\n")
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
            "rows": rows, "layout": layout, "connections": 1}


def judge_sdn48(expected, answers):
    """Result of one pod's connections (one protocol): OK, LEAK, MISMATCH or FAIL."""
    seen = {a["seen"] for a in answers if a.get("ok")}
    if expected == []:
        return "LEAK" if seen else "OK"
    if seen - set(expected):
        return "MISMATCH"
    if not all(a.get("ok") for a in answers):
        return "FAIL"
    return "OK"


def run_check_sdn48(timeout, projects, connections):
    namespaces, hostsubnets = load_inventory()
    down = cluster.nodes_down()
    expect = expectations_sdn48(namespaces, hostsubnets, down)
    ports = sports(connections)
    jobs = [(pod, proto) for pod in topo.pods() if not projects or pod.project.name in projects
            for proto in ("tcp", "udp")]
    rows = []
    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = {(pod.name, proto): pool.submit(probe, pod, proto, timeout, ports)
                   for pod, proto in jobs if pod.node.name not in down}
        for pod, proto in jobs:
            exp_ips, egress_nodes, why = expect[(pod.project.name, pod.node.name)]
            expected = [pod.node.host_ip] if exp_ips is None else exp_ips
            row = {"project": pod.project.name, "vnid": pod.project.vnid, "pod": pod.netns, "pod_ip": pod.ip,
                   "node": pod.node.name, "proto": proto, "expected": expected, "drop": exp_ips == [],
                   "egress_nodes": egress_nodes, "why": why, "connections": len(ports), "answered": 0,
                   "seen": [], "seen_count": {}, "error": None}
            if pod.node.name in down:
                row["result"] = "SKIP"
                row["why"] = "pod's node is down"
                rows.append(row)
                continue
            res = futures[(pod.name, proto)].result()
            answers = res.get("connections") or [res]
            for a in answers:
                if a.get("ok"):
                    row["seen_count"][a["seen"]] = row["seen_count"].get(a["seen"], 0) + 1
                elif row["error"] is None:
                    row["error"] = a.get("error")
            row["answered"] = sum(row["seen_count"].values())
            row["seen"] = sorted(row["seen_count"])
            row["result"] = judge_sdn48(expected, answers)
            rows.append(row)
    ok = all(r["result"] in ("OK", "SKIP") for r in rows)
    return {"ok": ok, "nodes_down": sorted(down), "server": "%s:%d" % (topo.SERVER_IP, topo.SERVER_PORT),
            "rows": rows, "layout": "sdn48", "connections": len(ports), "source_ports": [ports[0], ports[-1]]}


def print_table(report, out=sys.stdout):
    if report.get("layout") == "sdn48":
        return print_table_sdn48(report, out)
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


def _table(table, out):
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() + "\n")


def print_table_sdn48(report, out=sys.stdout):
    """One row per pod and protocol: the source IPs the server saw (with how many of the pod's
    connections each) next to the ones expected."""
    table = [["PROJECT", "POD IP", "NODE", "PROTO", "SEEN (connections)", "EXPECTED (any of)", "RESULT"]]
    for r in report["rows"]:
        if r["result"] == "SKIP":
            seen = "-"
        elif r["seen"]:
            seen = " ".join("%s x%d" % (ip, r["seen_count"][ip]) for ip in r["seen"])
            if r["answered"] < r["connections"]:
                seen += " (%d/%d unanswered)" % (r["connections"] - r["answered"], r["connections"])
        else:
            seen = "- (%d/%d: %s)" % (r["connections"], r["connections"], (r["error"] or "no answer")[:24])
        expected = DROP if r["drop"] else " ".join(r["expected"])
        table.append([r["project"], r["pod_ip"], r["node"], r["proto"], seen, expected, r["result"]])
    _table(table, out)
    bad = [r for r in report["rows"] if r["result"] not in ("OK", "SKIP")]
    out.write("\nlayout sdn48: %d connections per pod and protocol (source ports %d-%d), server %s, nodes down: %s\n"
              % (report["connections"], report["source_ports"][0], report["source_ports"][1], report["server"],
                 ", ".join(report["nodes_down"]) or "none"))
    out.write("%s: %d probes, %d not as expected\n" % ("OK" if report["ok"] else "NOT OK", len(report["rows"]), len(bad)))


def main(as_json=False, timeout=3.0, projects=None, connections=None):
    ok, problems = cluster.healthy()
    if not ok and not cluster.load_state().get("built"):
        sys.stderr.write("lab: not up (%s); run lab/lab.py up\n" % "; ".join(problems[:3]))
        return 2
    report = run_check(timeout=timeout, projects=projects, connections=connections)
    if as_json:
        print(json.dumps(report, indent=1))
    else:
        print_table(report)
    return 0 if report["ok"] else 1
