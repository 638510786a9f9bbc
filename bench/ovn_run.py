#!/usr/bin/env python3
"""`make bench-ovn`: converge cost of OVN-Kubernetes EgressService at N endpoints on the OVN lab.

    bench/ovn_run.py [--sizes 10,100,1000] [--no-naive]

For each N (endpoints spread over N/10 services of 10 endpoints each, pods on the lab's three
nodes, holders chosen by the planner), from a freshly built OVN lab (`lab/ovnlab.py up
--rebuild`, about a second):
  cold        playbooks/egress_service.yml with everything to add (policies + SNAT rules)
  warm        the same again (nothing to change)
  naive       by hand: per endpoint one `ovn-nbctl lr-policy-add` and one `iptables -t nat -I`
              in the holder's namespace (chain and jump made once per node)
  lower bound no Ansible: one ovn-nbctl call creating every policy (one transaction) and one
              `iptables-restore --noflush` per holder, precomputed
Each ends in the same state (counted: reroute policies, SNAT rules per node). Takes
/tmp/ovnlab-dev.lock (fcntl) for the whole run, waiting for it, and leaves the OVN lab down.
Writes bench/results/ovn/<date>.json and prints a Markdown table.
"""
import argparse
import datetime
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "lab"))
sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))
from ovnlab import cluster  # noqa: E402
from ovnlab import topology as topo  # noqa: E402
from ansible_collections.sdn.egress.plugins.module_utils import egress_service, ovn  # noqa: E402
from ansible_collections.sdn.egress.plugins.module_utils.runner import command_line  # noqa: E402

VENV_BIN = os.path.dirname(os.path.abspath(sys.executable))
OWNER = "sdn.egress/egress-service"
CHAIN = "OVN-KUBE-EGRESS-SVC"


def run(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)


def objects(n):
    """Kubernetes objects with n endpoints: services of 10 endpoints, pods round-robin on nodes."""
    items = []
    for node in topo.NODES:
        items.append({"kind": "Node", "metadata": {"name": node.name, "labels": {},
                      "annotations": {"k8s.ovn.org/node-subnets": json.dumps({"default": [node.subnet]})}},
                      "status": {"conditions": [{"type": "Ready", "status": "True"}],
                                 "addresses": [{"type": "InternalIP", "address": node.host_ip}]}})
    for s in range((n + 9) // 10):
        ns, name = "bench", "svc-%04d" % s
        eps = []
        for j in range(min(10, n - 10 * s)):
            i = 10 * s + j
            node = topo.NODES[i % 3]
            # unique addresses in the pod network; no pod needs to exist to measure the converge
            eps.append({"addresses": ["10.131.%d.%d" % (200 + i // 250, 1 + i % 250)], "nodeName": node.name})
        items.append({"kind": "EgressService", "metadata": {"namespace": ns, "name": name}, "spec": {}})
        items.append({"kind": "Service", "metadata": {"namespace": ns, "name": name},
                      "spec": {"type": "LoadBalancer"},
                      "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.%d" % (1 + s % 250)}]}}})
        items.append({"kind": "EndpointSlice", "metadata": {"namespace": ns, "name": name + "-x",
                                                            "labels": {"kubernetes.io/service-name": name}},
                      "endpoints": eps})
    return items


def count(plan):
    per_node = {}
    for node in topo.NODES:
        out = run(["ip", "netns", "exec", node.netns, "iptables-save", "-t", "nat"]).stdout
        per_node[node.name] = sum(1 for l in out.splitlines() if l.startswith("-A %s " % CHAIN) and " -j SNAT " in l)
    reroutes = len(cluster.nbctl("--bare", "--columns=_uuid", "find", "Logical_Router_Policy",
                                 "priority=101").split())
    want = {n: len(v["snat"]) for n, v in plan["nodes"].items()}
    return {"reroute_policies": reroutes, "snat": per_node, "same_as_plan": per_node == want}


def playbook(dump, labels):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".cache", "collections"),
               PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    t0 = time.monotonic()
    run([os.path.join(VENV_BIN, "ansible-playbook"), os.path.join(REPO, "playbooks", "egress_service.yml"),
         "-i", os.path.join(REPO, "inventories", "ovnlab"), "-e", "egress_service_objects_file=%s" % dump,
         "-e", "egress_service_labels_file=%s" % labels], env=env, cwd=REPO)
    return time.monotonic() - t0


def naive(plan):
    t0 = time.monotonic()
    mgmt = {n.name: n.mgmt_ip for n in topo.NODES}
    holders = {}
    for node, objs in plan["nodes"].items():
        if objs["snat"]:
            ns = topo.NODE_BY_NAME[node].netns
            run(["ip", "netns", "exec", ns, "iptables", "-t", "nat", "-N", CHAIN])
            run(["ip", "netns", "exec", ns, "iptables", "-t", "nat", "-I", "POSTROUTING", "1", "-j", CHAIN])
        for rule in objs["snat"]:
            holders[rule["source"]] = node
    for p in plan["nb_policies"]:
        if p["priority"] != 101:
            continue
        ep = p["match"].split()[-1]
        run(["ovn-nbctl", "--db=%s" % cluster.NB_DB, "lr-policy-add", topo.ROUTER, "101", p["match"], "reroute",
             mgmt[holders[ep]]])
    for node, objs in plan["nodes"].items():
        for rule in objs["snat"]:
            run(["ip", "netns", "exec", topo.NODE_BY_NAME[node].netns, "iptables", "-t", "nat", "-I", CHAIN,
                 "-s", rule["source"], "-j", "SNAT", "--to-source", rule["egress_ip"]])
    return time.monotonic() - t0


def lower_bound(plan):
    spec = ovn.validate({"router": topo.ROUTER, "owner": OWNER, "state": "overridden",
                         "policies": plan["nb_policies"]})
    nb = ["ovn-nbctl", "--db=%s" % cluster.NB_DB] + ovn.joined(ovn.commands(
        topo.ROUTER, {"create": spec.policies, "update": [], "delete": [], "keep": []}))
    payloads = {}
    for node, objs in plan["nodes"].items():
        if objs["snat"]:
            lines = ["*nat", ":%s - [0:0]" % CHAIN, "-I POSTROUTING 1 -j %s" % CHAIN]
            lines += ["-A %s -s %s/32 -j SNAT --to-source %s" % (CHAIN, r["source"], r["egress_ip"])
                      for r in objs["snat"]]
            payloads[node] = "\n".join(lines + ["COMMIT"]) + "\n"
    t0 = time.monotonic()
    run(nb)
    for node, payload in payloads.items():
        run(["ip", "netns", "exec", topo.NODE_BY_NAME[node].netns, "iptables-restore", "--noflush"], input=payload)
    return time.monotonic() - t0, command_line(nb[:3]) + " ..."


def fresh_lab():
    run([sys.executable, os.path.join(REPO, "lab", "ovnlab.py"), "up", "--rebuild"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--no-naive", action="store_true")
    args = ap.parse_args()
    lock = open(topo.LOCK_FILE, "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        sys.stderr.write("waiting for %s\n" % topo.LOCK_FILE)
        fcntl.flock(lock, fcntl.LOCK_EX)
    results = []
    tmp = tempfile.mkdtemp(prefix="ovnbench-")
    try:
        for n in [int(x) for x in args.sizes.split(",")]:
            items = objects(n)
            dump = os.path.join(tmp, "cluster-%d.json" % n)
            with open(dump, "w") as f:
                json.dump({"kind": "List", "items": items}, f)
            plan = egress_service.plan(egress_service.from_objects(items))
            assert not plan["problems"], plan["problems"]
            row = {"n": n, "services": (n + 9) // 10}
            fresh_lab()
            labels = os.path.join(tmp, "labels-%d.json" % n)
            row["cold_s"] = round(playbook(dump, labels), 2)
            row["cold_state"] = count(plan)
            row["warm_s"] = round(playbook(dump, labels), 2)
            if not args.no_naive:
                fresh_lab()
                row["naive_s"] = round(naive(plan), 2)
                row["naive_state"] = count(plan)
            fresh_lab()
            seconds, _cmd = lower_bound(plan)
            row["lower_bound_s"] = round(seconds, 3)
            row["lower_bound_state"] = count(plan)
            print(json.dumps(row), flush=True)
            results.append(row)
    finally:
        run([sys.executable, os.path.join(REPO, "lab", "ovnlab.py"), "down"])
        lock.close()
    os.makedirs(os.path.join(HERE, "results", "ovn"), exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H%M%S")
    with open(os.path.join(HERE, "results", "ovn", "%s.json" % stamp), "w") as f:
        json.dump({"date": stamp, "cores": os.cpu_count(), "results": results}, f, indent=1)
    print("\n| endpoints | services | cold | warm | naive (per endpoint) | lower bound |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print("| %d | %d | %.1f s | %.1f s | %s | %.2f s |" % (r["n"], r["services"], r["cold_s"], r["warm_s"],
                                                             "%.1f s" % r["naive_s"] if "naive_s" in r else "-",
                                                             r["lower_bound_s"]))


if __name__ == "__main__":
    main()
