#!/usr/bin/env python3
"""`make bench-nodes`: the node axis - what a converge costs as the lab grows from 3 to K nodes.

    bench/nodes.py [--nodes 3,10,30] [--namespaces 1000] [--reps 1] [--forks 20] [--naive 10,40]
                   [--lab-cost-only]
                   [--variant default|mitogen|no-pipelining|no-controlpersist ...]

For every K: `lab/lab.py up --nodes K --rebuild` (build seconds, memory per node), N namespaces
with one egress IP each on eth1 of a fifth of the nodes (at least two: router01, router02,
node04, ...), then per rep: cold (after a direct reset), warm, and `--check --diff` of our
playbook, and the lower bound (per node one `ovs-ofctl add-flows`, one `iptables-restore
--noflush`, one `ip -batch`, precomputed, each over one SSH connection to the node, at most
`--forks` nodes at once). Per run: wall seconds, controller CPU (rusage of the reaped children:
ansible-playbook, its workers and ssh clients), node CPU (utime+stime+cutime+cstime of every
process in the node's network namespace, before and after: module runs are reaped inside the
node by its sshd), module runs and counted commands per node (bench/labnodes.py wrappers).
`--variant` (repeatable, or comma-separated) runs cold/warm/check once per variant, back to back
at the same K, N and rep: `default` (ansible.cfg: pipelining, ControlPersist), `no-pipelining`,
`no-controlpersist` (ssh without a control master) and `mitogen` (the mitogen_linear strategy of
the optional PyPI package `mitogen`). The lower bound runs once per rep, and so does Ansible's
floor (bench/floor.yml: one `ping` per node, what any playbook over the same SSH costs). The by-hand playbook
(bench/naive.yml) runs once per K at each of `--naive` sizes (default 10 and 40 namespaces, the
first ones of the N): it runs one task item per namespace and node, so its time at N is
extrapolated on the line through those sizes (a measurement at N=1000 and K=30 would take hours).
Takes /tmp/sdnlab-dev.lock for the whole run (waits for it); brings the lab down at the end.
Writes bench/results/nodes-<date>.json and prints a table. See bench/README.md "Node axis" and
"Strategy, pipelining, ControlPersist".
"""
import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as bench  # noqa: E402  (puts lab/ on the path; labnodes, Runner, take_lock, reset)
from run import REPO, log  # noqa: E402

lab = bench.lab
from sdnlab import topology as topo  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")
LAB = [sys.executable, os.path.join(REPO, "lab", "lab.py")]
SSH_KEY = os.path.join(REPO, ".cache", "lab", "ssh", "id_ed25519")
SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=5"]


# ---------------------------------------------------------------------------------------
# variants: how Ansible reaches the nodes

VARIANTS = ("default", "mitogen", "no-pipelining", "no-controlpersist")
# ansible.cfg leaves ssh_args at Ansible's default (-C -o ControlMaster=auto -o ControlPersist=60s);
# without ControlPersist in ssh_args Ansible adds no ControlPath, and ControlPath=none makes sure
# no master left by an earlier run is used
NO_CONTROLPERSIST_SSH_ARGS = "-C -o ControlMaster=no -o ControlPath=none"
MITOGEN_STRATEGY = "mitogen_linear"


def parse_variants(values):
    """The --variant values (each possibly comma-separated) in order, duplicates dropped;
    ["default"] when none. ValueError names an unknown one."""
    out = []
    for value in values or ["default"]:
        for name in value.split(","):
            name = name.strip()
            if not name:
                continue
            if name not in VARIANTS:
                raise ValueError("unknown variant %r (one of %s)" % (name, ", ".join(VARIANTS)))
            if name not in out:
                out.append(name)
    return out or ["default"]


def mitogen_strategy_dir():
    """(strategy plugin directory, mitogen version) of the installed `mitogen` package;
    RuntimeError when it is not installed."""
    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or not spec.origin:
        raise RuntimeError("variant mitogen: the PyPI package mitogen is not installed in this Python "
                           "(pip install mitogen==0.3.54, see bench/README.md)")
    path = os.path.join(os.path.dirname(spec.origin), "plugins", "strategy")
    try:
        version = importlib.metadata.version("mitogen")
    except importlib.metadata.PackageNotFoundError:
        version = None
    return path, version


def variant_env(name, strategy_dir=None):
    """The environment a variant adds to ansible-playbook's (on top of ansible.cfg)."""
    if name == "default":
        return {}
    if name == "no-pipelining":
        return {"ANSIBLE_PIPELINING": "False"}
    if name == "no-controlpersist":
        return {"ANSIBLE_SSH_ARGS": NO_CONTROLPERSIST_SSH_ARGS}
    if name == "mitogen":
        if not strategy_dir:
            raise ValueError("variant mitogen needs the strategy plugin directory")
        return {"ANSIBLE_STRATEGY_PLUGINS": strategy_dir, "ANSIBLE_STRATEGY": MITOGEN_STRATEGY}
    raise ValueError("unknown variant %r" % (name,))


def env_record(env):
    """A variant's environment as the results file records it: the strategy plugin directory
    relative to the package, not this machine's path."""
    out = dict(env)
    path = out.get("ANSIBLE_STRATEGY_PLUGINS")
    if path and "ansible_mitogen" in path:
        out["ANSIBLE_STRATEGY_PLUGINS"] = "<site-packages>/ansible_mitogen" + path.split("ansible_mitogen", 1)[1]
    return out


def egress_nodes(names):
    """A fifth of the nodes, at least two, in lab order (router01, router02, node04, ...)."""
    count = max(2, int(round(len(names) / 5.0)))
    return [n for n in names if n != "master01"][:count]


# ---------------------------------------------------------------------------------------
# what a node costs


def _proc_kib(pid, key, path="status"):
    try:
        with open("/proc/%d/%s" % (pid, path)) as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def node_memory():
    """{node: {daemon: {rss_kib, pss_kib}}} of the node's ovsdb-server, ovs-vswitchd and sshd."""
    from sdnlab import cluster
    out = {}
    for node in topo.NODES:
        pids = dict(cluster.node_ovs(node).pids())
        pids["sshd"] = cluster.pid_alive(cluster.sshd_pidfile(node))
        out[node.name] = {daemon: {"rss_kib": _proc_kib(pid, "VmRSS"),
                                   "pss_kib": _proc_kib(pid, "Pss", "smaps_rollup")}
                          for daemon, pid in pids.items() if pid}
    return out


def mem_available_kib():
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return None


def build_lab(k):
    subprocess.run(LAB + ["down"], check=True, capture_output=True, timeout=600)
    before = mem_available_kib()
    start = time.monotonic()
    proc = subprocess.run(LAB + ["up", "--rebuild", "--nodes", str(k)], capture_output=True, text=True,
                          timeout=1800)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise RuntimeError("lab.py up --nodes %d failed: %s" % (k, proc.stderr[-2000:]))
    time.sleep(2)             # let the daemons settle before reading their memory (not a test)
    after = mem_available_kib()
    topo.configure(k)
    mem = node_memory()
    per = {}
    for daemon in ("ovsdb-server", "ovs-vswitchd", "sshd"):
        rss = [m[daemon]["rss_kib"] for m in mem.values() if daemon in m]
        pss = [m[daemon]["pss_kib"] for m in mem.values() if daemon in m and m[daemon]["pss_kib"] is not None]
        per[daemon] = {"rss_kib": round(sum(rss) / len(rss)) if rss else None,
                       "pss_kib": round(sum(pss) / len(pss)) if pss else None}
    # what an idle node burns (its OVS daemons and sshd): node CPU over a 5 s window
    lab.configure([node.name for node in topo.NODES], [])
    ticks = cpu_snapshot()
    time.sleep(5)
    idle = {name: (node_cpu_ticks(name) - value) / float(CLK) / 5 for name, value in ticks.items()}
    return {"k": k, "build_seconds": round(seconds, 2), "mem_available_drop_kib": before - after,
            "idle_node_cpu_per_s": round(sum(idle.values()) / len(idle), 4),
            "per_node_daemons": per, "namespaces": len(topo.all_netns()), "nodes": mem}


# ---------------------------------------------------------------------------------------
# node CPU: every process in a node's network namespace


def netns_pids(node):
    out = subprocess.run(["ip", "netns", "pids", lab.netns(node)], capture_output=True, text=True).stdout
    return [int(word) for word in out.split() if word.isdigit()]


def node_cpu_ticks(node):
    total = 0
    for pid in netns_pids(node):
        try:
            with open("/proc/%d/stat" % pid) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])    # utime stime cutime cstime
    return total


def cpu_snapshot():
    return {node: node_cpu_ticks(node) for node in lab.NODES}


def ssh_pids_to(ss_text, hosts, port=22):
    """Pids of the `ssh` processes that `ss -Htnp state established` shows connected to one of
    `hosts` on `port`. OpenSSH retitles a ControlPersist master (`ssh: <path> [mux]`), so its
    command line does not name the host: its connection does."""
    import re
    peers = set("%s:%d" % (host, port) for host in hosts)
    pids = set()
    for line in ss_text.splitlines():
        words = line.split()
        if not peers.intersection(words):
            continue
        for name, pid in re.findall(r'\("([^"]*)",pid=(\d+),', line):
            if name == "ssh":
                pids.add(int(pid))
    return pids


def ssh_master_ticks(hosts):
    """{pid: utime+stime} of the ssh clients connected to `hosts` (controller side) at this
    moment: between runs, the ControlPersist masters. They outlive the run that started them and
    are nobody's reaped child, so rusage misses them."""
    proc = subprocess.run(["ss", "-Htnp", "state", "established"], capture_output=True, text=True)
    out = {}
    for pid in ssh_pids_to(proc.stdout, hosts):
        try:
            with open("/proc/%d/stat" % pid) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = int(fields[11]) + int(fields[12])
    return out


def master_delta(before, after):
    """Ticks the masters alive after a run used during it (new masters: all of theirs). A
    master that exited during the run is not counted (ControlPersist 60s: rare in a bench)."""
    return sum(ticks - before.get(pid, 0) for pid, ticks in after.items())


def measured(func):
    """Run func(); add controller CPU seconds (children's rusage), the CPU of the ssh control
    masters (alive after the run) and node CPU seconds."""
    hosts = [topo.NODE_BY_NAME[n].mgmt_ip for n in lab.NODES]
    nodes_before = cpu_snapshot()
    masters_before = ssh_master_ticks(hosts)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = func()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    masters_after = ssh_master_ticks(hosts)
    nodes_after = cpu_snapshot()
    result["controller_cpu"] = round(after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime, 3)
    result["ssh_master_cpu"] = round(master_delta(masters_before, masters_after) / float(CLK), 3)
    result["ssh_masters"] = len(masters_after)
    result["node_cpu"] = {n: round((nodes_after[n] - nodes_before[n]) / float(CLK), 3) for n in lab.NODES}
    return result


# ---------------------------------------------------------------------------------------
# the bench inventory: the lab inventory (with its generated extra nodes) and N namespaces


class NodesBench:
    def __init__(self, top, n, egress, wrap):
        self.top, self.n = top, n
        self.inv = os.path.join(top, "inventories", "lab")
        if not os.path.exists(os.path.join(top, ".cache")):
            os.symlink(os.path.join(REPO, ".cache"), os.path.join(top, ".cache"))
        subprocess.run(["rm", "-rf", self.inv], check=True)
        os.makedirs(os.path.dirname(self.inv), exist_ok=True)
        subprocess.run(["cp", "-r", os.path.join(REPO, "inventories", "lab"), self.inv], check=True)
        gv = os.path.join(self.inv, "group_vars", "all")
        for name in os.listdir(gv):
            if name.startswith("netnamespace_"):
                os.remove(os.path.join(gv, name))
        self.namespaces = []
        for i in range(n):
            vnid = bench.FIRST_VNID + i
            node = egress[i % len(egress)]
            self.namespaces.append({
                "name": "bench-%04d" % i, "netid": vnid, "vnid_hex": "0x%x" % vnid,
                "mark": bench.marks.vnid_to_mark(vnid), "ip": str(lab.BENCH_NET.network_address + 256 + i),
                "prefix": lab.BENCH_NET.prefixlen, "iface": lab.BENCH_IFACE, "node": node,
                "node_ip": lab.NODE_IP[node]})
        bench.write_namespaces(gv, self.namespaces, "list")
        ips = {node: [ns["ip"] for ns in self.namespaces if ns["node"] == node] for node in lab.NODES}
        import yaml
        for node in lab.NODES:
            interp = os.path.join(wrap, node, "python3")
            path = os.path.join(self.inv, "host_vars", "%s.yml" % node)
            if os.path.exists(path):
                with open(path) as handle:
                    data = yaml.safe_load(handle)
                data["egress_hostsubnet"]["egress_ips"] = ips[node]
                if "egress_interfaces" in data and node in lab.BENCH_HOST_ADDR:
                    data["egress_interfaces"].append({"name": lab.BENCH_IFACE, "cidr": "%s/%d" % (
                        lab.BENCH_HOST_ADDR[node], lab.BENCH_NET.prefixlen)})
                data["ansible_python_interpreter"] = interp
                with open(path, "w") as handle:
                    yaml.safe_dump(data, handle)
        gen = os.path.join(self.inv, os.path.basename(topo.GENERATED_INVENTORY))
        if os.path.exists(gen):
            with open(gen) as handle:
                data = yaml.safe_load(handle)
            for node, hostvars in data["all"]["children"]["sdn_nodes"]["hosts"].items():
                hostvars["egress_hostsubnet"]["egress_ips"] = ips[node]
                hostvars["ansible_python_interpreter"] = os.path.join(wrap, node, "python3")
            with open(gen, "w") as handle:
                yaml.safe_dump(data, handle)
        self.reports = os.path.join(top, "reports")


def lower_over_ssh(files, wrap, forks):
    """The lower bound's commands, each node over one SSH connection, `forks` nodes at once."""
    def apply(node):
        paths = files[node]
        script = ("export PATH=%s:$PATH OVS_RUNDIR=%s; ovs-ofctl -O OpenFlow13 add-flows br0 %s && "
                  "iptables-%s-restore --noflush < %s" % (os.path.join(wrap, node, "bin"), lab.rundir(node),
                                                          paths["flows"], lab.backend(node), paths["ipt"]))
        if os.path.getsize(paths["batch"]) > 1:
            script += " && ip -batch %s" % paths["batch"]
        host = topo.NODE_BY_NAME[node].mgmt_ip
        proc = subprocess.run(["ssh", "-i", SSH_KEY] + SSH_OPTS + ["root@%s" % host, script],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError("lower bound on %s: %s" % (node, proc.stderr.strip()))

    lab.clear_counts(wrap)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=forks) as pool:
        list(pool.map(apply, lab.NODES))
    return {"seconds": round(time.monotonic() - start, 3), "rc": 0, "procs": lab.read_counts(wrap)}


def measure_k(k, n, reps, forks, top, record, variants=("default",), envs=None, naive_sizes=()):
    envs = envs or {}
    res = record.setdefault(str(k), {"variants": {}})
    res["lab"] = build_lab(k)
    log("K=%d lab built in %.1fs, MemAvailable -%d MiB" % (k, res["lab"]["build_seconds"],
                                                          res["lab"]["mem_available_drop_kib"] // 1024))
    names = [node.name for node in topo.NODES]
    egress = egress_nodes(names)
    lab.configure(names, egress)
    res["egress_nodes"] = egress
    lab.add_bench_network()
    runner = bench.Runner(os.path.join(top, "k%d" % k), {})
    nb = NodesBench(os.path.join(top, "k%d" % k), n, egress, runner.wrap)
    extra = ["-f", str(forks)]
    macs = {node: lab.tun0_mac(node) for node in lab.NODES}
    files = lab.lower_bound_files(runner.top, nb.namespaces, macs)
    play = os.path.join(REPO, "playbooks", "egress.yml")

    def ours(variant, label, args):
        env = envs.get(variant, {})
        return lambda: runner.playbook(nb, play, "%s-%s" % (variant, label), args, env=env)

    for rep in range(reps):
        for variant in variants:
            vres = res["variants"].setdefault(variant, {"env": env_record(envs.get(variant, {})), "runs": {}})
            runs = vres["runs"]
            lab.reset_all()
            runs.setdefault("cold", []).append(measured(ours(variant, "cold", extra)))
            runs.setdefault("warm", []).append(measured(ours(variant, "warm", extra)))
            runs.setdefault("check", []).append(measured(ours(variant, "check", extra + ["--check", "--diff"])))
            state = bench.state_all()
            vres.setdefault("state", state)
            first = res["variants"][variants[0]]["state"]
            vres.setdefault("state_matches_%s" % variants[0], []).append(state == first)
            if state != first:
                log("K=%d %s: the end state differs from %s's" % (k, variant, variants[0]))
            log("K=%d N=%d rep %d %s: %s" % (k, n, rep + 1, variant, ", ".join(
                "%s %.2fs%s" % (name, runs[name][-1]["seconds"], "" if runs[name][-1]["rc"] == 0 else " FAILED")
                for name in ("cold", "warm", "check"))))
        lab.reset_all()
        lower = res.setdefault("lower", [])
        lower.append(measured(lambda: lower_over_ssh(files, runner.wrap, forks)))
        log("K=%d N=%d rep %d: lower %.2fs" % (k, n, rep + 1, lower[-1]["seconds"]))
        floor = res.setdefault("floor", [])
        floor.append(measured(lambda: runner.playbook(nb, os.path.join(HERE, "floor.yml"), "floor", extra)))
        log("K=%d rep %d: Ansible's floor (one ping per node) %.2fs" % (k, rep + 1, floor[-1]["seconds"]))
    for size in naive_sizes:
        lab.reset_all()
        subset = os.path.join(runner.top, "bench_naive_%d.json" % size)
        with open(subset, "w") as handle:
            json.dump({"bench_namespaces": nb.namespaces[:size]}, handle)
        result = measured(lambda: runner.playbook(nb, os.path.join(HERE, "naive.yml"), "naive-%d" % size,
                                                  extra + ["-e", "@" + subset]))
        result["namespaces"] = size
        res.setdefault("naive", []).append(result)
        log("K=%d naive at %d namespaces: %.2fs%s" % (k, size, result["seconds"],
                                                      "" if result["rc"] == 0 else " FAILED"))
    lab.reset_all()
    lab.remove_bench_network()


def fit_line(points):
    """(fixed, per unit) of the least-squares line through [(x, y)] (at least two distinct x)."""
    xs = [x for x, y in points]
    if len(set(xs)) < 2:
        raise ValueError("a line needs two distinct sizes, got %s" % sorted(set(xs)))
    mx = sum(xs) / float(len(xs))
    my = sum(y for x, y in points) / float(len(points))
    slope = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)
    return my - slope * mx, slope


def naive_at(res, n):
    """The by-hand playbook at ``n`` namespaces, extrapolated on a line through its measured
    sizes (it runs one task item per namespace and node: linear in N): {seconds,
    controller_cpu, fixed, per_namespace, sizes}, or None when fewer than two sizes ran."""
    runs = [r for r in res.get("naive", []) if r.get("rc") == 0]
    if len(set(r["namespaces"] for r in runs)) < 2:
        return None
    fixed, per = fit_line([(r["namespaces"], r["seconds"]) for r in runs])
    cfixed, cper = fit_line([(r["namespaces"], r["controller_cpu"]) for r in runs])
    return {"seconds": round(fixed + per * n, 1), "controller_cpu": round(cfixed + cper * n, 1),
            "fixed": round(fixed, 2), "per_namespace": round(per, 4),
            "sizes": sorted(set(r["namespaces"] for r in runs))}


def targets(record, n):
    """The issue's three targets from one result: warm at the smallest K against 3x the lower
    bound + 1 s, controller CPU per node from the smallest to the largest K, cold at the
    largest K against the by-hand playbook there (extrapolated to N, see naive_at)."""
    def med(res, name, key="seconds"):
        runs = [r for r in res["variants"]["default"]["runs"].get(name, []) if r.get("rc") == 0]
        return bench.med([r[key] for r in runs]) if runs else None

    ks = sorted(int(k) for k, res in record.items() if "default" in res.get("variants", {}))
    if not ks:
        return []
    lines = []
    lo, hi = record[str(ks[0])], record[str(ks[-1])]
    warm = med(lo, "warm")
    lower = bench.med([r["seconds"] for r in lo.get("lower", [])]) if lo.get("lower") else None
    if warm is not None and lower is not None:
        bound = 3 * lower + 1
        lines.append("warm at K=%d: %.2f s against 3 x lower bound + 1 s = %.2f s: %s" % (
            ks[0], warm, bound, "met" if warm <= bound else "not met (%.1fx the bound)" % (warm / bound)))
        floor = [r["seconds"] for r in lo.get("floor", []) if r.get("rc") == 0]
        if floor:
            lines.append("Ansible's floor at K=%d (one ping per node, bench/floor.yml): %.2f s; warm above it: %.2f s" % (
                ks[0], bench.med(floor), warm - bench.med(floor)))
    if len(ks) > 1:
        for name in ("cold", "warm"):
            a, b = med(lo, name, "controller_cpu"), med(hi, name, "controller_cpu")
            if a is not None and b is not None:
                lines.append("controller CPU per node, %s: K=%d %.3f s, K=%d %.3f s (ratio %.2f)" % (
                    name, ks[0], a / ks[0], ks[-1], b / ks[-1], (b / ks[-1]) / (a / ks[0])))
    cold, naive = med(hi, "cold"), naive_at(hi, n)
    if cold is not None and naive is not None:
        speedup = naive["seconds"] / cold
        lines.append("cold at K=%d: %.2f s; by-hand playbook at N=%d extrapolated from N=%s (%.2f s + %.4f s "
                     "per namespace): %.1f s; %.1fx: %s" % (
                         ks[-1], cold, n, ",".join(str(x) for x in naive["sizes"]), naive["fixed"],
                         naive["per_namespace"], naive["seconds"], speedup, "met" if speedup >= 20 else "not met"))
    return lines


def result_rows(res):
    """[(variant, run, [runs])] of one K's result, the lower bound last; results written
    before variants existed ({"runs": {...}}) read as the default variant."""
    if "variants" in res:
        variants = res["variants"]
        lower = res.get("lower", [])
    else:
        variants = {"default": {"runs": {name: r for name, r in res.get("runs", {}).items() if name != "lower"}}}
        lower = res.get("runs", {}).get("lower", [])
    rows = []
    for variant, vres in variants.items():
        for name in ("cold", "warm", "check"):
            rows.append((variant, name, vres["runs"].get(name, [])))
    rows.append(("-", "lower", lower))
    if res.get("floor"):
        rows.append(("-", "floor", res["floor"]))
    for run in res.get("naive", []):
        rows.append(("by hand", "cold, N=%d" % run["namespaces"], [run]))
    return rows


def summary_line(k, variant, name, runs):
    """One table row from the runs of one K, variant and run kind (failed runs left out);
    None when none succeeded."""
    runs = [r for r in runs if r.get("rc") == 0]
    if not runs:
        return None
    wall = bench.med([r["seconds"] for r in runs])
    ctl = bench.med([r["controller_cpu"] for r in runs])
    masters = [r["ssh_master_cpu"] for r in runs if "ssh_master_cpu" in r]    # not in older results
    master = "%.2f" % bench.med(masters) if masters else "-"
    cpu = sorted(bench.med([r["node_cpu"][node] for r in runs]) for node in runs[0]["node_cpu"])
    mods = sorted(r["procs"][node].get("python3", 0) for r in runs[:1] for node in r["procs"])
    cmds = sorted(r["procs"][node]["total"] for r in runs[:1] for node in r["procs"])
    return "| %d | %s | %s | %.2f | %.2f (%.3f) | %s | %.3f, %.3f | %d-%d | %d-%d |" % (
        k, variant, name, wall, ctl, ctl / k, master, cpu[len(cpu) // 2], cpu[-1], mods[0], mods[-1], cmds[0],
        cmds[-1])


def summary(record, forks):
    lines = ["| K | variant | run | wall s | controller CPU s (per node) | ssh masters CPU s "
             "| node CPU s per node (median, max) | python starts per node | commands per node |",
             "|---|---|---|---|---|---|---|---|---|"]
    failed = []
    for k, res in sorted(record.items(), key=lambda kv: int(kv[0])):
        k = int(k)
        for variant, name, runs in result_rows(res):
            line = summary_line(k, variant, name, runs)
            if line:
                lines.append(line)
            bad = [r for r in runs if r.get("rc") != 0]
            if bad:
                failed.append("K=%d %s %s: %d failed run(s) (rc %s, log %s)" % (
                    k, variant, name, len(bad), bad[0].get("rc"), bad[0].get("log")))
    lines.append("")
    lines.extend(failed)
    lines.append("forks %d; lab build: %s" % (forks, "; ".join(
        "K=%s %.1fs, MemAvailable -%d MiB" % (k, r["lab"]["build_seconds"], r["lab"]["mem_available_drop_kib"] // 1024)
        for k, r in sorted(record.items(), key=lambda kv: int(kv[0])) if "lab" in r)))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", default="3,10,30", help="node counts K (default 3,10,30)")
    ap.add_argument("--namespaces", type=int, default=1000, help="N namespaces (default 1000)")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--forks", type=int, default=20, help="Ansible forks and lower-bound parallelism (default 20)")
    ap.add_argument("--lab-cost-only", action="store_true", help="only build the lab at each K and measure it")
    ap.add_argument("--variant", action="append", metavar="NAME",
                    help="repeatable (or comma-separated): %s (default: default)" % ", ".join(VARIANTS))
    ap.add_argument("--naive", default="10,40", metavar="SIZES",
                    help="namespace counts at which the by-hand playbook (bench/naive.yml) runs at each K, "
                         "extrapolated on a line to N (default 10,40; '' for none)")
    args = ap.parse_args()
    try:
        naive_sizes = [int(x) for x in args.naive.split(",") if x.strip()]
    except ValueError:
        ap.error("--naive: comma-separated namespace counts, got %r" % args.naive)
    if any(size < 1 or size > args.namespaces for size in naive_sizes):
        ap.error("--naive: each size between 1 and --namespaces (%d), got %r" % (args.namespaces, args.naive))
    try:
        variants = parse_variants(args.variant)
    except ValueError as exc:
        ap.error(str(exc))
    envs, mitogen_version = {}, None
    for variant in variants:
        strategy_dir = None
        if variant == "mitogen":
            try:
                strategy_dir, mitogen_version = mitogen_strategy_dir()
            except RuntimeError as exc:
                ap.error(str(exc))
        envs[variant] = variant_env(variant, strategy_dir)
    if os.geteuid() != 0:
        ap.error("needs root (the lab)")
    ks = [int(k) for k in args.nodes.split(",")]
    for k in ks:
        topo.check_node_count(k)
    lock = bench.take_lock()
    record = {}
    started = datetime.datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
    meta = {"started": started, "uptime_before": open("/proc/loadavg").read().strip(), "namespaces": args.namespaces,
            "forks": args.forks, "reps": args.reps, "machine": None, "variants": variants, "naive_sizes": naive_sizes,
            "mitogen_version": mitogen_version, "ansible_core": importlib.metadata.version("ansible-core")}
    top = tempfile.mkdtemp(prefix="sdne-bench-nodes-")
    try:
        for k in ks:
            if args.lab_cost_only:
                record[str(k)] = {"runs": {}, "lab": build_lab(k)}
                log("K=%d: %s" % (k, json.dumps(record[str(k)]["lab"]["per_node_daemons"])))
                continue
            measure_k(k, args.namespaces, args.reps, args.forks, top, record, variants, envs, naive_sizes)
        meta["machine"] = bench.machine_info()
    finally:
        meta["uptime_after"] = open("/proc/loadavg").read().strip()
        subprocess.run(LAB + ["down"], check=False, capture_output=True, timeout=600)
        lock.close()
        os.makedirs(bench.RESULTS, exist_ok=True)
        path = os.path.join(bench.RESULTS, "nodes-%s.json" % started)
        with open(path, "w") as handle:
            json.dump({"meta": meta, "record": record}, handle, indent=1)
        log("wrote %s" % path)
    print(summary(record, args.forks))
    for line in targets(record, args.namespaces):
        print(line)
    print("load before %s, after %s" % (meta["uptime_before"], meta["uptime_after"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
