#!/usr/bin/env python3
"""`make bench`: converge cost of sdn.egress at scale, against the by-hand way and a lower bound.

    bench/run.py [--quick] [--sizes 10,100,1000] [--reps 3] [--no-profile] [--keep]

Takes /tmp/sdnlab-dev.lock (the lab's shared lock) for the whole run and waits for it; see
bench/README.md for what is measured and how.
"""
import argparse
import datetime
import fcntl
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
VENV_BIN = os.path.dirname(os.path.abspath(sys.executable))
LOCK = "/tmp/sdnlab-dev.lock"
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, HERE)
import labnodes as lab  # noqa: E402
from sdnlab.ocdump import oc_list  # noqa: E402  (labnodes puts lab/ on the path)

sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))  # `make bootstrap` links the collection there
# vnid_to_mark: the naive run and the lower bound use the same marks
from ansible_collections.sdn.egress.plugins.module_utils import marks  # noqa: E402

NAIVE_ONCE_ABOVE = 300.0   # seconds: a naive run slower than this is measured once
FIRST_VNID = 200000        # bench VNIDs: FIRST_VNID + i, far from the lab's seed VNIDs


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


# ---------------------------------------------------------------------------------------
# setup


def ensure_requirements():
    """matplotlib and py-spy (requirements/bench.txt) in the venv this script runs from."""
    missing = []
    for module in ("matplotlib",):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing or not os.path.exists(os.path.join(VENV_BIN, "py-spy")):
        log("installing requirements/bench.txt into %s" % os.path.dirname(VENV_BIN))
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "-r", os.path.join(REPO, "requirements", "bench.txt")], check=True)


def take_lock():
    handle = open(LOCK, "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log("waiting for %s (another lab user holds it)" % LOCK)
        fcntl.flock(handle, fcntl.LOCK_EX)
    log("holding %s" % LOCK)
    return handle


def ansible_env(extra=None):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(REPO, ".cache", "collections"),
        "PATH": VENV_BIN + ":" + env.get("PATH", "/usr/bin:/bin"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    })
    env.update(extra or {})
    return env


def machine_info():
    def out(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    with open("/etc/debian_version") as handle:
        debian = handle.read().strip()
    mem = out(["sh", "-c", "awk '/MemTotal/ {printf \"%.1f GiB\", $2/1048576}' /proc/meminfo"])
    return {
        "cores": os.cpu_count(), "cpu": cpu, "memory": mem, "debian": debian,
        "kernel": platform.release(),
        "ovs": out(["ovs-vsctl", "--version"]).splitlines()[0].split()[-1],
        "iptables": out(["iptables", "--version"]),
        "iproute2": out(["ip", "-V"]),
        "ansible_core": out([os.path.join(VENV_BIN, "ansible-playbook"), "--version"]).splitlines()[0],
        "python": platform.python_version(),
        "iptables_backend": lab.backend("router01"),
    }


# ---------------------------------------------------------------------------------------
# inventory: a copy of inventories/lab with N generated namespaces


LAYOUTS = ("list", "vars", "files", "oc_json")
LAYOUT_TEXT = {
    "list": "in the inventory as one list variable `egress_netnamespaces` (one file)",
    "vars": "in the inventory as one variable per namespace, all in one file",
    "files": "in the inventory as one variable per namespace, one file each",
    "oc_json": "in an `oc get netnamespace,hostsubnet -o json` dump (`egress_source: oc_json`)",
}


def write_namespaces(group_vars, namespaces, layout):
    """The namespaces as inventory variables, in one of three layouts:

    list  - one variable `egress_netnamespaces: [...]` in one file (the fastest, see README)
    vars  - one variable `egress_netnamespace_<name>` per namespace, all in one file
    files - one variable per namespace, one file each (as inventories/lab keeps its three)
    oc_json - no inventory variables: an `oc get netnamespace,hostsubnet -o json` dump that
              the plan reads (egress_source=oc_json; Bench.write_hostsubnets adds the HostSubnets)
    """
    if layout == "oc_json":
        return
    if layout == "list":
        with open(os.path.join(group_vars, "netnamespaces_bench.yml"), "w") as handle:
            handle.write("---\negress_netnamespaces:\n")
            for ns in namespaces:
                handle.write("  - {name: %s, netid: %d, egress_ips: [%s]}\n" % (ns["name"], ns["netid"], ns["ip"]))
        return
    chunks = ["egress_netnamespace_%s:\n  name: %s\n  netid: %d\n  egress_ips: [%s]\n"
              % (ns["name"].replace("-", "_"), ns["name"], ns["netid"], ns["ip"]) for ns in namespaces]
    if layout == "vars":
        with open(os.path.join(group_vars, "netnamespaces_bench.yml"), "w") as handle:
            handle.write("---\n" + "".join(chunks))
        return
    for ns, chunk in zip(namespaces, chunks):
        with open(os.path.join(group_vars, "netnamespace_%s.yml" % ns["name"].replace("-", "_")), "w") as handle:
            handle.write(chunk)


class Bench:
    def __init__(self, top, n, layout="list"):
        self.top = top
        self.n = n
        # inventory_dir/../../.cache must be the repo's .cache (the lab inventory's relative paths)
        self.inv = os.path.join(top, "inventories", "lab")
        if not os.path.exists(os.path.join(top, ".cache")):
            os.symlink(os.path.join(REPO, ".cache"), os.path.join(top, ".cache"))
        shutil.rmtree(self.inv, ignore_errors=True)
        shutil.copytree(os.path.join(REPO, "inventories", "lab"), self.inv)
        gv = os.path.join(self.inv, "group_vars", "all")
        for name in os.listdir(gv):
            if name.startswith("netnamespace_"):
                os.remove(os.path.join(gv, name))
        self.namespaces = []
        for i in range(n):
            vnid = FIRST_VNID + i
            node = lab.ROUTERS[i % 2]
            ip = str(lab.BENCH_NET.network_address + 256 + i)
            self.namespaces.append({
                "name": "bench-%04d" % i, "netid": vnid, "vnid_hex": "0x%x" % vnid,
                "mark": marks.vnid_to_mark(vnid), "ip": ip, "prefix": lab.BENCH_NET.prefixlen,
                "iface": lab.BENCH_IFACE, "node": node, "node_ip": lab.NODE_IP[node]})
        write_namespaces(gv, self.namespaces, layout)
        self.oc_json = None
        if layout == "oc_json":
            self.oc_json = os.path.join(top, "cluster.json")
            with open(os.path.join(gv, "oc_json_bench.yml"), "w") as handle:
                handle.write("---\negress_source: oc_json\negress_oc_json: %s\n" % self.oc_json)
        self.owner = {ns["ip"]: ns["node"] for ns in self.namespaces}
        self.write_hostsubnets()
        with open(os.path.join(top, "bench_naive.json"), "w") as handle:
            json.dump({"bench_namespaces": self.namespaces}, handle)
        self.reports = os.path.join(top, "reports")

    def egress_ips(self, node):
        """The egress IPs the node's HostSubnet lists now."""
        return [ip for ip, owner in self.owner.items() if owner == node]

    def write_hostsubnets(self):
        for node in lab.NODES:
            path = os.path.join(self.inv, "host_vars", "%s.yml" % node)
            with open(os.path.join(REPO, "inventories", "lab", "host_vars", "%s.yml" % node)) as handle:
                text = handle.read()
            if self.oc_json:
                # the HostSubnets' egress IPs are in the dump (write_oc_json), as for a cluster read
                # with `oc get -o json`; the run does not read them from the inventory, and a copy
                # here would only cost Ansible the parsing of every address
                text = re.sub(r"(?m)^  egress_ips: .*\n", "", text)
            else:
                text = re.sub(r"(?m)^  egress_ips: .*$", "  egress_ips: [%s]" % ", ".join(self.egress_ips(node)), text)
            if re.search(r"(?m)^egress_interfaces:", text) and node in lab.BENCH_HOST_ADDR:
                # a node that names its interfaces gets the bench network on eth1 named too
                text = re.sub(r"(?m)^(egress_interfaces:\n(?:  - .*\n)*)",
                              lambda m: m.group(1) + "  - {name: %s, cidr: %s/%d}\n" % (
                                  lab.BENCH_IFACE, lab.BENCH_HOST_ADDR[node], lab.BENCH_NET.prefixlen),
                              text)
            text += ("# bench: count the processes this node starts (bench/labnodes.py make_wrappers)\n"
                     "ansible_python_interpreter: %s\n" % os.path.join(self.top, "wrap", node, "python3"))
            with open(path, "w") as handle:
                handle.write(text)
        if self.oc_json:
            self.write_oc_json()

    def write_oc_json(self):
        """The namespaces and HostSubnets as `oc get netnamespace,hostsubnet -o json` prints them."""
        hostsubnets = []
        for node in lab.NODES:
            with open(os.path.join(self.inv, "host_vars", "%s.yml" % node)) as handle:
                hs = yaml.safe_load(handle)["egress_hostsubnet"]
            hostsubnets.append((node, hs["host_ip"], hs["subnet"], self.egress_ips(node)))
        with open(self.oc_json, "w") as handle:
            json.dump(oc_list([(ns["name"], ns["netid"], [ns["ip"]]) for ns in self.namespaces], hostsubnets), handle)

    def move(self, fraction=0.01):
        """Move the egress IP of 1% of the namespaces (at least one) from router01 to router02.

        Always the same direction, so the change has the same shape at every N (router01 only
        releases, router02 only claims) and only its size grows with N."""
        count = max(1, int(round(self.n * fraction)))
        on_first = [ns["ip"] for ns in self.namespaces if ns["node"] == lab.ROUTERS[0]]
        step = max(1, len(on_first) // count)
        moved = on_first[::step][:count]
        for ip in moved:
            self.owner[ip] = lab.ROUTERS[1]
        self.write_hostsubnets()
        return count

    def restore(self):
        self.owner = {ns["ip"]: ns["node"] for ns in self.namespaces}
        self.write_hostsubnets()


# ---------------------------------------------------------------------------------------
# runs


class Runner:
    def __init__(self, top, garp_vars):
        self.top = top
        self.wrap = os.path.join(top, "wrap")
        lab.make_wrappers(self.wrap)
        self.garp_vars = garp_vars
        self.logdir = os.path.join(top, "logs")
        os.makedirs(self.logdir, exist_ok=True)
        self.seq = 0

    def playbook(self, bench, playbook, label, args=(), env=None, prefix=()):
        """Run one playbook against the bench inventory: {seconds, rc, procs}."""
        self.seq += 1
        logfile = os.path.join(self.logdir, "%03d-%s-n%d.log" % (self.seq, label, bench.n))
        argv = list(prefix) + [os.path.join(VENV_BIN, "ansible-playbook"), playbook, "-i", bench.inv,
                               "-e", "egress_report_dir=%s" % bench.reports] + list(args)
        lab.clear_counts(self.wrap)
        start = time.monotonic()
        with open(logfile, "w") as out:
            rc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                                env=ansible_env(env)).returncode
        seconds = time.monotonic() - start
        procs = lab.read_counts(self.wrap)
        if rc != 0:
            log("FAILED (rc=%d) %s, see %s" % (rc, label, logfile))
            with open(logfile) as handle:
                print("".join(handle.readlines()[-30:]))
        return {"seconds": round(seconds, 3), "rc": rc, "procs": procs, "log": logfile}

    def ours(self, bench, label, extra=()):
        args = []
        for key, value in self.garp_vars.items():
            args += ["-e", "%s=%s" % (key, value)]
        return self.playbook(bench, os.path.join(REPO, "playbooks", "egress.yml"), label, args + list(extra))

    def naive(self, bench):
        return self.playbook(bench, os.path.join(HERE, "naive.yml"), "naive",
                             ["-e", "@" + os.path.join(bench.top, "bench_naive.json")])

    def lower(self, bench, files):
        lab.clear_counts(self.wrap)
        seconds = lab.run_lower_bound(files, self.wrap)
        return {"seconds": round(seconds, 3), "rc": 0, "procs": lab.read_counts(self.wrap)}


def state_all():
    return {node: lab.node_state(node) for node in lab.NODES}


def expected_state(bench):
    result = {}
    for node in lab.NODES:
        mine = sum(1 for ns in bench.namespaces if ns["node"] == node)
        result[node] = {"flows": bench.n, "snat": mine, "reject": mine, "addresses": mine}
    return result


def size_record(record, n):
    """The results of size n in the run's record (created empty on first use)."""
    return record.setdefault(str(n), {"ours": {}, "naive": [], "lower": [], "state": {}})


def measure_ours(runner, bench, rep, reps, record):
    """One round of our four runs (cold, warm, check, 1% moved) at bench.n."""
    n = bench.n
    res = size_record(record, n)
    expect = expected_state(bench)
    log("N=%d rep %d/%d: reset, cold converge" % (n, rep + 1, reps))
    lab.reset_all()
    cold = runner.ours(bench, "cold")
    res["state"]["ours"] = state_all()
    if res["state"]["ours"] != expect:
        log("WARNING: state after our cold converge differs: %s" % res["state"]["ours"])
    warm = runner.ours(bench, "warm")
    moved = bench.move()
    check = runner.ours(bench, "check", ["--check", "--diff"])
    drift = runner.ours(bench, "drift")
    bench.restore()
    for name, value in (("cold", cold), ("warm", warm), ("check", check), ("drift", drift)):
        value["rep"] = rep
        res["ours"].setdefault(name, []).append(value)
    res["moved"] = moved
    log("N=%d rep %d: cold %.1fs warm %.1fs check %.1fs drift(%d moved) %.1fs"
        % (n, rep + 1, cold["seconds"], warm["seconds"], check["seconds"], moved, drift["seconds"]))


def measure_slope_pairs(runner, top, layout, lo, hi, pairs, reps):
    """Cold converges at N=lo and N=hi back to back, `pairs` times, every other pair largest
    first, and the lower bound at both sizes: the per-namespace cost from runs seconds apart.

    The pairs use their own sizes (hi can be beyond the table's largest N: the difference a
    namespace makes then stands out of this machine's run-to-run noise)."""
    study = {"lo": lo, "hi": hi, "layout": layout, "pairs": [], "lower": {}}
    for index in range(pairs):
        record = {"first": lo if index % 2 == 0 else hi}
        for n in ((lo, hi) if index % 2 == 0 else (hi, lo)):
            bench = Bench(top, n, layout)
            log("slope pair %d/%d: N=%d cold converge" % (index + 1, pairs, n))
            lab.reset_all()
            result = runner.ours(bench, "pair-cold")
            # the lower bound at the same N right after, so the pair's two slopes see the same
            # load on the machine (a slope measured minutes away from ours would carry the drift)
            lab.reset_all()
            files = lab.lower_bound_files(runner.top, bench.namespaces,
                                          {node: lab.tun0_mac(node) for node in lab.NODES})
            lower = runner.lower(bench, files)
            record[str(n)] = {"seconds": result["seconds"], "rc": result["rc"], "lower": lower["seconds"]}
        study["pairs"].append(record)
        log("slope pair %d: N=%d %.1fs (lower %.2fs), N=%d %.1fs (lower %.2fs)" % (
            index + 1, lo, record[str(lo)]["seconds"], record[str(lo)]["lower"], hi,
            record[str(hi)]["seconds"], record[str(hi)]["lower"]))
    for n in (lo, hi):
        sizes = {}
        measure_others(runner, Bench(top, n, layout), max(reps, 5), sizes, naive=False)
        study["lower"][str(n)] = [run["seconds"] for run in sizes[str(n)]["lower"]]
    return study


def pair_study(study):
    """Slopes (s per namespace) of the adjacent pairs and of the lower bound, with an interval
    for the median from the order statistics (no assumption about the noise's shape)."""
    lo, hi = study["lo"], study["hi"]
    slopes = sorted((p[str(hi)]["seconds"] - p[str(lo)]["seconds"]) / float(hi - lo)
                    for p in study["pairs"] if p[str(lo)]["rc"] == 0 and p[str(hi)]["rc"] == 0)
    if all("lower" in p[str(lo)] and "lower" in p[str(hi)] for p in study["pairs"]):
        # measured within each pair (since 2026-12-01): the median of the pairs' lower-bound slopes
        lower = med([(p[str(hi)]["lower"] - p[str(lo)]["lower"]) / float(hi - lo) for p in study["pairs"]])
        within = True
    else:
        lower = (med(study["lower"][str(hi)]) - med(study["lower"][str(lo)])) / float(hi - lo)
        within = False
    if not slopes or lower <= 0:
        return None
    k = len(slopes)
    # the j-th smallest and j-th largest slope bound the median with >= 90% confidence when
    # the pairs are independent: P = 1 - 2 * P(Binomial(k, 1/2) < j)
    j, coverage = 1, 1 - 2 * 0.5 ** k
    while True:
        below = sum(_binomial(k, i) for i in range(j + 1)) * 0.5 ** k
        if 1 - 2 * below < 0.9 or j + 1 > k // 2:
            break
        j, coverage = j + 1, 1 - 2 * below
    return {"lo": lo, "hi": hi, "pairs": k, "median_ms": round(med(slopes) * 1000, 3),
            "interval_ms": [round(slopes[j - 1] * 1000, 3), round(slopes[k - j] * 1000, 3)],
            "coverage": round(coverage, 3), "lower_ms": round(lower * 1000, 3),
            "ratio": round(med(slopes) / lower, 1), "met": med(slopes) <= 3 * lower, "lower_within_pairs": within,
            "robust": slopes[k - j] <= 3 * lower}


def _binomial(n, k):
    result = 1
    for i in range(1, k + 1):
        result = result * (n - i + 1) // i
    return result


def measure_others(runner, bench, reps, record, naive=True):
    """The lower bound and the naive playbook at bench.n (after our runs)."""
    n = bench.n
    res = size_record(record, n)
    macs = {node: lab.tun0_mac(node) for node in lab.NODES}
    files = lab.lower_bound_files(runner.top, bench.namespaces, macs)
    for rep in range(reps):
        lab.reset_all()
        res["lower"].append(runner.lower(bench, files))
    res["state"]["lower"] = state_all()
    log("N=%d lower bound: %s s" % (n, [r["seconds"] for r in res["lower"]]))
    if naive:
        for rep in range(reps):
            lab.reset_all()
            result = runner.naive(bench)
            res["naive"].append(result)
            log("N=%d naive rep %d: %.1fs" % (n, rep + 1, result["seconds"]))
            if result["seconds"] > NAIVE_ONCE_ABOVE:
                log("naive run longer than %ds: measured once" % NAIVE_ONCE_ABOVE)
                break
        res["state"]["naive"] = state_all()
    lab.reset_all()


def profile_cold(runner, bench, outdir):
    """Cold converge under py-spy (controller, all ansible processes) + ansible.posix.profile_tasks."""
    lab.reset_all()
    raw = os.path.join(outdir, "pyspy-n%d.txt" % bench.n)
    prefix = [os.path.join(VENV_BIN, "py-spy"), "record", "--subprocesses", "--idle", "--rate", "50",
              "--format", "raw", "--output", raw, "--"]
    env = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks", "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "40"}
    result = runner.playbook(bench, os.path.join(REPO, "playbooks", "egress.yml"), "profile",
                             sum([["-e", "%s=%s" % kv] for kv in runner.garp_vars.items()], []),
                             env=env, prefix=prefix)
    summary = {"seconds": result["seconds"], "rc": result["rc"], "tasks": [], "pyspy": {}}
    with open(result["log"]) as handle:
        text = handle.read()
    tail = text.split("PLAY RECAP", 1)[-1]
    for match in re.finditer(r"^(.+?) -+ (\d+\.\d+)s$", tail, re.M):
        summary["tasks"].append([match.group(1).strip(), float(match.group(2))])
    if os.path.exists(raw):
        summary["pyspy"] = summarize_pyspy(raw)
    lab.reset_all()
    return summary


def summarize_pyspy(path, top=15):
    """Self and inclusive sample counts per function from py-spy's raw (folded) output."""
    self_counts, incl, total, by_proc = {}, {}, 0, {}
    with open(path) as handle:
        for line in handle:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            try:
                count = int(count)
            except ValueError:
                continue
            frames = stack.split(";")
            total += count
            proc = frames[0].split(":", 1)[0]          # 'process <pid>'
            by_proc[proc] = by_proc.get(proc, 0) + count
            # 'func (path/file.py:123)' -> 'func (file.py)': one entry per function, not per line
            funcs = [re.sub(r"\(.*?([^/]+?):\d+\)$", r"(\1)", frame) for frame in frames[1:] if frame]
            if not funcs:
                continue
            leaf = funcs[-1]
            self_counts[leaf] = self_counts.get(leaf, 0) + count
            for func in set(funcs):
                incl[func] = incl.get(func, 0) + count

    def top_of(counts):
        return [[name, round(100.0 * value / total, 1)] for name, value in
                sorted(counts.items(), key=lambda kv: -kv[1])[:top]]
    return {"samples": total, "self_pct": top_of(self_counts), "inclusive_pct": top_of(incl),
            "process_pct": top_of(by_proc)}


# ---------------------------------------------------------------------------------------
# report


def med(values):
    return statistics.median(values) if values else None


def med_runs(runs):
    return med([r["seconds"] for r in runs if r.get("rc") == 0]) if runs else None


def max_procs(runs, node="router01"):
    return max((r["procs"][node]["total"] for r in runs), default=None)


def procs_all_nodes(runs):
    return {node: max((r["procs"][node]["total"] for r in runs), default=None) for node in lab.NODES}


def slope(points):
    """Least-squares slope (seconds per namespace) of [(n, seconds)]."""
    points = [(n, s) for n, s in points if s is not None]
    if len(points) < 2:
        return None
    mean_n = sum(n for n, dummy in points) / len(points)
    mean_s = sum(s for dummy, s in points) / len(points)
    num = sum((n - mean_n) * (s - mean_s) for n, s in points)
    den = sum((n - mean_n) ** 2 for n, dummy in points)
    return num / den if den else None


def slope_interval(points):
    """Least-squares slope of every single run [(n, seconds)] and its standard error."""
    points = [(n, s) for n, s in points if s is not None]
    if len(points) < 3 or len(set(n for n, dummy in points)) < 2:
        return None, None
    b = slope(points)
    mean_n = sum(n for n, dummy in points) / len(points)
    mean_s = sum(s for dummy, s in points) / len(points)
    a = mean_s - b * mean_n
    resid = sum((s - a - b * n) ** 2 for n, s in points)
    den = sum((n - mean_n) ** 2 for n, dummy in points)
    return b, (resid / (len(points) - 2) / den) ** 0.5


def paired_slopes(data, lo, hi):
    """Slope per round from the cold runs at N=lo and N=hi of the same round (interleaved runs)."""
    if not data.get("interleaved") or lo == hi:
        return []
    def by_rep(n):
        return {r["rep"]: r["seconds"] for r in data["sizes"][str(n)]["ours"].get("cold", [])
                if r.get("rc") == 0 and "rep" in r}
    low, high = by_rep(lo), by_rep(hi)
    return [(high[rep] - low[rep]) / float(hi - lo) for rep in sorted(set(low) & set(high))]


def analyse(data):
    sizes = sorted(int(n) for n in data["sizes"])
    rows = {}
    for n in sizes:
        res = data["sizes"][str(n)]
        row = {kind: med_runs(res["ours"].get(kind, [])) for kind in ("cold", "warm", "check", "drift")}
        row["naive"] = med_runs(res["naive"])
        row["naive_runs"] = len(res["naive"])
        row["lower"] = med_runs(res["lower"])
        row["procs"] = {kind: procs_all_nodes(res["ours"].get(kind, [])) for kind in ("cold", "warm", "check", "drift")}
        row["procs"]["naive"] = procs_all_nodes(res["naive"])
        row["procs"]["lower"] = procs_all_nodes(res["lower"])
        row["modules"] = {kind: max((r["procs"]["router01"].get("python3", 0) for r in res["ours"].get(kind, [])),
                                    default=None) for kind in ("cold", "warm", "check", "drift")}
        row["modules"]["naive"] = max((r["procs"]["router01"].get("python3", 0) for r in res["naive"]), default=None)
        row["moved"] = res.get("moved")
        row["reps"] = len(res["ours"].get("cold", []))
        rows[n] = row
    targets = {}
    lo, hi = sizes[0], sizes[-1]
    # processes per node per run do not grow with N (each kind of run, every node)
    growth = {}
    for kind in ("cold", "warm", "check", "drift"):
        growth[kind] = {node: [rows[n]["procs"][kind][node] for n in sizes] for node in lab.NODES}
    flat = {kind: all(len(set(v)) == 1 for v in per.values()) for kind, per in growth.items()}
    targets["procs_flat"] = {"met": all(flat.values()), "per_kind": flat, "router01": {
        kind: growth[kind]["router01"] for kind in growth}, "sizes": sizes}
    if rows[hi]["naive"] and rows[hi]["cold"]:
        speedup = rows[hi]["naive"] / rows[hi]["cold"]
        targets["cold_vs_naive"] = {"n": hi, "speedup": round(speedup, 2), "met": speedup >= 20}
    ours_slope = slope([(n, rows[n]["cold"]) for n in sizes])
    lower_slope = slope([(n, rows[n]["lower"]) for n in sizes])
    if ours_slope is not None and lower_slope:
        targets["slope"] = {"ours_ms_per_ns": round(ours_slope * 1000, 3),
                            "lower_ms_per_ns": round(lower_slope * 1000, 3),
                            "ratio": round(ours_slope / lower_slope, 1),
                            "met": ours_slope <= 3 * lower_slope}
        every, error = slope_interval([(n, r["seconds"]) for n in sizes
                                       for r in data["sizes"][str(n)]["ours"].get("cold", []) if r.get("rc") == 0])
        if every is not None:
            # the 95% interval of the slope over every single cold run: run-to-run noise on this
            # machine is a second or two, as much as 1000 namespaces add
            targets["slope"].update(all_runs_ms_per_ns=round(every * 1000, 3),
                                    all_runs_ci95_ms=[round((every - 2 * error) * 1000, 3),
                                                      round((every + 2 * error) * 1000, 3)],
                                    robust=(every + 2 * error) <= 3 * lower_slope)
        paired = paired_slopes(data, lo, hi)
        if paired:
            # per round, largest minus smallest N measured minutes apart (interleaved runs)
            targets["slope"].update(paired_ms_per_ns=round(med(paired) * 1000, 3),
                                    paired_range_ms=[round(min(paired) * 1000, 3), round(max(paired) * 1000, 3)],
                                    paired_rounds=len(paired))
    if data.get("slope_pairs"):
        study = pair_study(data["slope_pairs"])
        if study:
            targets["slope_pairs"] = study
    if rows[lo]["warm"] and rows[hi]["warm"]:
        ratio = rows[hi]["warm"] / rows[lo]["warm"]
        targets["warm_flat"] = {"lo": lo, "hi": hi, "ratio": round(ratio, 2), "met": ratio <= 2}
    return rows, targets


def fmt(value, digits=1):
    return "-" if value is None else ("%.*f" % (digits, value))


def ratio(a, b, digits=1):
    return "-" if not a or not b else ("%.*f" % (digits, a / b))


def markdown(data, rows, targets):
    m = data["machine"]
    lines = []
    lines.append("### Converge cost at scale (3-node lab, `make bench`, %s)" % data["date"][:10])
    lines.append("")
    lines.append("Namespaces declared %s." % LAYOUT_TEXT[data.get("layout", "files")])
    lines.append("")
    lines.append("Machine: %d cores (%s), %s RAM, Debian %s, kernel %s, Open vSwitch %s (userspace), %s, "
                 "%s, %s, Python %s. Median of %s runs (naive: runs in brackets). GARP during our converges: %s."
                 % (m["cores"], m["cpu"], m["memory"], m["debian"], m["kernel"], m["ovs"], m["iptables"],
                    (re.findall(r"iproute2-[\w.]+", m["iproute2"]) or [m["iproute2"]])[0],
                    "ansible-core " + (re.findall(r"core ([\w.]+)", m["ansible_core"]) or ["?"])[0],
                    m["python"], data["reps"],
                    ", ".join("%s=%s" % kv for kv in data["garp_vars"].items()) or "role defaults"))
    if data.get("naive_from"):
        lines.append("")
        lines.append("The naive playbook's figures are those of %s (it was not rerun: only our side changed)."
                     % data["naive_from"])
    if data.get("slope_pairs_from"):
        lines.append("")
        lines.append("The slope pairs are those of %s (a separate run of the same code, after this one)."
                     % data["slope_pairs_from"])
    lines.append("")
    if data.get("interleaved"):
        lines.append("Our runs are interleaved: each round measures every N in turn (the machine's speed drifts "
                     "between rounds)%s; the lower bound and the naive playbook run after all rounds."
                     % (", every other round largest N first" if data.get("alternating") else ""))
        if data.get("warmup") is not None:
            lines.append("")
            lines.append("One cold converge at the smallest N ran before the rounds and is not counted (warm-up: %.1f s)."
                         % data["warmup"])
    lines.append("")
    lines.append("| namespaces | cold converge | warm (no change) | `--check --diff` | 1% moved | naive playbook (runs) "
                 "| lower bound | naive / ours (cold) | ours / lower bound (cold) | processes per node, cold / warm (router01) "
                 "| processes, naive / lower (router01) |")
    lines.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, row in sorted(rows.items()):
        lines.append("| %d | %s s | %s s | %s s | %s s (%s ns) | %s | %s s | %s x | %s x | %s / %s | %s / %s |" % (
            n, fmt(row["cold"]), fmt(row["warm"]), fmt(row["check"]), fmt(row["drift"]), row["moved"],
            ("%s s (%d)" % (fmt(row["naive"]), row["naive_runs"])) if row["naive"] else "-",
            fmt(row["lower"], 2), ratio(row["naive"], row["cold"]), ratio(row["cold"], row["lower"], 0),
            row["procs"]["cold"]["router01"], row["procs"]["warm"]["router01"],
            row["procs"]["naive"]["router01"], row["procs"]["lower"]["router01"]))
    lines.append("")
    lines.append("Processes = exec's of ovs-ofctl, ovs-vsctl, iptables*, ip on the node (counting wrappers). "
                 "Module runs (Python processes) on router01, cold / warm / naive: " + "; ".join(
                     "N=%d: %s / %s / %s" % (n, row["modules"]["cold"], row["modules"]["warm"], row["modules"]["naive"])
                     for n, row in sorted(rows.items())) + ".")
    lines.append("")
    lines.append("| target | result | met |")
    lines.append("|---|---|:---:|")
    t = targets.get("procs_flat")
    if t:
        lines.append("| processes per node per run do not grow with N | router01 over N=%s: %s | %s |" % (
            ",".join(str(n) for n in t["sizes"]),
            "; ".join("%s %s" % (kind, "/".join(str(v) for v in vals)) for kind, vals in t["router01"].items()),
            "yes" if t["met"] else "**no**"))
    t = targets.get("cold_vs_naive")
    if t:
        lines.append("| cold converge >= 20x faster than naive at N=%d | %.1fx | %s |" % (
            t["n"], t["speedup"], "yes" if t["met"] else "**no**"))
    t = targets.get("slope")
    if t:
        detail = ""
        if "all_runs_ci95_ms" in t:
            detail = ("; over every single run %.2f ms, 95%% interval %.2f..%.2f ms%s" % (
                t["all_runs_ms_per_ns"], t["all_runs_ci95_ms"][0], t["all_runs_ci95_ms"][1],
                "" if t["robust"] else " (the interval reaches past 3x: not shown beyond the noise)"))
        if "paired_ms_per_ns" in t:
            detail += ("; per round (N=%d and N=%d minutes apart) median %.2f ms, %.2f..%.2f ms over %d rounds" % (
                min(rows), max(rows), t["paired_ms_per_ns"], t["paired_range_ms"][0], t["paired_range_ms"][1],
                t["paired_rounds"]))
        lines.append("| marginal cost per namespace within 3x of the lower bound | medians: %.2f ms vs %.3f ms per namespace (%.1fx)%s | %s |" % (
            t["ours_ms_per_ns"], t["lower_ms_per_ns"], t["ratio"], detail, "yes" if t["met"] else "**no**"))
    t = targets.get("slope_pairs")
    if t:
        lines.append("| the same, from cold converges back to back (N=%d and N=%d, %d pairs, every other pair "
                     "largest first) | median %.2f ms vs %.3f ms per namespace for the lower bound over the same "
                     "sizes%s (%.1fx); the median lies in %.2f..%.2f ms with %d%% confidence%s | %s |" % (
                         t["lo"], t["hi"], t["pairs"], t["median_ms"], t["lower_ms"],
                         " (measured within each pair)" if t.get("lower_within_pairs") else "", t["ratio"],
                         t["interval_ms"][0], t["interval_ms"][1], int(round(t["coverage"] * 100)),
                         "" if t["robust"] else " (its upper end is past 3x)", "yes" if t["met"] else "**no**"))
    t = targets.get("warm_flat")
    if t:
        lines.append("| warm converge at N=%d within 2x of N=%d | %.2fx | %s |" % (
            t["hi"], t["lo"], t["ratio"], "yes" if t["met"] else "**no**"))
    extra = data.get("extra") or {}
    if extra:
        lines.append("")
        lines.append("Single runs, cold converge:")
        lines.append("")
        for name, value in sorted(extra.items()):
            lines.append("- %s: %s s (router01: %s processes, %s module runs)" % (
                value["what"], fmt(value["seconds"]), value["procs"]["router01"]["total"],
                value["procs"]["router01"].get("python3", 0)))
    lines.append("")
    lines.append("![converge cost at scale](bench/results/latest.png)")
    return "\n".join(lines) + "\n"


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sizes = sorted(rows)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    series = [("cold", "sdn.egress cold", "o-"), ("warm", "sdn.egress warm", "s-"),
              ("check", "sdn.egress --check --diff", "^-"), ("drift", "sdn.egress 1% moved", "v-"),
              ("naive", "naive playbook (cold)", "x--"), ("lower", "lower bound (cold, no Ansible)", "d:")]
    panels = ((left, lambda n, key: rows[n][key], "wall time [s]", "Converge time, 3-node lab"),
              (right, lambda n, key: rows[n]["procs"][key]["router01"], "processes on router01 per run",
               "ovs-ofctl/ovs-vsctl/iptables*/ip execs per run"))
    for axes, value, ylabel, title in panels:
        for key, label, style in series:
            xs = [n for n in sizes if value(n, key)]
            axes.plot(xs, [value(n, key) for n in xs], style, label=label)
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("namespaces with an egress IP")
        axes.set_ylabel(ylabel)
        axes.set_title(title)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# ---------------------------------------------------------------------------------------


def converge_seed():
    """Leave the lab as others expect it: the 3 seed namespaces, converged."""
    log("restoring the lab: converge inventories/lab (seed namespaces)")
    rc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), os.path.join(REPO, "playbooks", "egress.yml"),
                         "-i", os.path.join(REPO, "inventories", "lab")], cwd=REPO, env=ansible_env(),
                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        log("WARNING: the seed converge failed (rc=%d); run it by hand" % rc)


def scrub(text, top):
    """Results are committed: keep this machine's paths out of them."""
    return (text.replace(top, "<bench-tmp>").replace(REPO, "<repo>")
            .replace(os.path.expanduser("~"), "<home>"))


def _interrupted(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N=10,100, 1 run each, no profile, no extras")
    parser.add_argument("--sizes", help="comma-separated N (default 10,100,1000)")
    parser.add_argument("--reps", type=int, help="runs per measurement (default 3, --quick 1)")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile of the largest cold converge")
    parser.add_argument("--extras", action="store_true",
                        help="also one cold converge at N=100 with egress_garp_interval=0 (GARP cost) and one at "
                             "the largest N with the other namespace vars layout (--layout)")
    parser.add_argument("--garp-interval", default="default",
                        help="egress_garp_interval for our runs (default: the role's default)")
    parser.add_argument("--var", action="append", default=[], metavar="KEY=VALUE",
                        help="an extra variable for our runs (repeatable), e.g. egress_probe=false")
    parser.add_argument("--layout", choices=LAYOUTS, default="oc_json",
                        help="how the namespaces are declared: an `oc get -o json` dump (default, how a "
                             "cluster of thousands of namespaces is read), one list variable, one variable "
                             "per namespace in one file, or one file per namespace")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--reuse-naive", metavar="JSON",
                        help="take the naive playbook's figures from an earlier results file instead of rerunning it "
                             "(for a rerun after a change to our side only; the table says so)")
    parser.add_argument("--no-naive", action="store_true",
                        help="skip the naive playbook (for a slope check at larger N); writes only the JSON "
                             "(<date>-no-naive.json), not latest.md/latest.png")
    parser.add_argument("--slope-pairs", type=int, default=0, metavar="K",
                        help="after the rounds, K cold converges back to back at the smallest N and at "
                             "--slope-n (the per-namespace cost from runs seconds apart)")
    parser.add_argument("--slope-n", type=int, default=3000, help="the larger N of the slope pairs (default 3000)")
    parser.add_argument("--render", metavar="JSON", help="only rewrite latest.md/latest.png from a results file")
    parser.add_argument("--pairs-from", metavar="JSON",
                        help="with --render: take the slope pairs from this results file (a separate run)")
    args = parser.parse_args()
    if args.render:
        with open(args.render) as handle:
            data = json.load(handle)
        if args.pairs_from:
            with open(args.pairs_from) as handle:
                data["slope_pairs"] = json.load(handle)["slope_pairs"]
            data["slope_pairs_from"] = os.path.basename(args.pairs_from)
        rows, targets = analyse(data)
        with open(os.path.join(RESULTS, "latest.md"), "w") as handle:
            handle.write(markdown(data, rows, targets))
        plot(rows, os.path.join(RESULTS, "latest.png"))
        print(markdown(data, rows, targets))
        return
    sizes = [int(n) for n in (args.sizes or ("10,100" if args.quick else "10,100,1000")).split(",")]
    reps = args.reps or (1 if args.quick else 3)
    ensure_requirements()
    # SIGTERM/SIGHUP unwind like Ctrl-C: the finally below resets the lab and releases the lock
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, _interrupted)
    lock = take_lock()
    started = time.monotonic()
    subprocess.run([sys.executable, os.path.join(REPO, "lab", "lab.py"), "up"], check=True, cwd=REPO)
    top = tempfile.mkdtemp(prefix="sdn-egress-bench-")
    garp_vars = {"egress_garp_interval": args.garp_interval} if args.garp_interval != "default" else {}
    garp_vars.update(item.split("=", 1) for item in args.var)
    data = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine_info(),
            "reps": reps, "garp_vars": garp_vars, "sizes": {}, "extra": {}, "quick": args.quick}
    log("machine: %s" % data["machine"])
    runner = Runner(top, garp_vars)
    previous = None
    if args.reuse_naive:
        with open(args.reuse_naive) as handle:
            previous = json.load(handle)
        data["naive_from"] = os.path.basename(args.reuse_naive)
    try:
        lab.add_bench_network()
        data["layout"] = args.layout
        # our runs round by round, every size in each round: the machine's speed drifts by a
        # second or two over minutes, and a slope from sizes measured at different times would
        # carry that drift; within a round the sizes are minutes apart at most, and every
        # other round runs them largest first, so a steady drift does not favour either end
        data["interleaved"] = True
        data["alternating"] = True
        # one cold converge before anything is measured: the first run after the lab came up
        # pays for cold caches (bytecode, SSH control connections, page cache) and would
        # otherwise be counted at whichever N comes first
        lab.reset_all()
        log("warm-up: N=%d cold converge (not counted)" % min(sizes))
        data["warmup"] = runner.ours(Bench(top, min(sizes), args.layout), "warmup")["seconds"]
        for rep in range(reps):
            for n in (sizes if rep % 2 == 0 else sizes[::-1]):
                measure_ours(runner, Bench(top, n, args.layout), rep, reps, data["sizes"])
        for n in sizes:
            bench = Bench(top, n, args.layout)
            measure_others(runner, bench, reps, data["sizes"], naive=previous is None and not args.no_naive)
            if previous is not None:
                earlier = previous["sizes"][str(n)]
                data["sizes"][str(n)]["naive"] = earlier["naive"]
                data["sizes"][str(n)]["state"]["naive"] = earlier["state"]["naive"]
        if args.slope_pairs:
            data["slope_pairs"] = measure_slope_pairs(runner, top, args.layout, min(sizes), args.slope_n,
                                                      args.slope_pairs, reps)
        if args.extras:
            n = 100 if 100 in sizes else sizes[0]
            bench = Bench(top, n, args.layout)
            lab.reset_all()
            log("N=%d cold converge with egress_garp_interval=0" % n)
            plain = Runner(top, {"egress_garp_interval": 0})
            result = plain.ours(bench, "cold-garp0")
            result["what"] = "N=%d with egress_garp_interval=0 (no GARP pauses)" % n
            data["extra"]["default_garp_n%d" % n] = result
            lab.reset_all()
            # the other inventory layouts, once each, at the largest N
            n = max(sizes)
            for other in (name for name in LAYOUTS if name != args.layout):
                log("N=%d cold converge with the namespaces in layout %s" % (n, other))
                result = runner.ours(Bench(top, n, other), "cold-" + other)
                result["what"] = "N=%d, namespaces declared in layout `%s`" % (n, other)
                data["extra"]["layout_%s_n%d" % (other, n)] = result
                lab.reset_all()
        if not args.quick and not args.no_profile:
            n = max(sizes)
            log("N=%d cold converge under py-spy" % n)
            data["profile"] = profile_cold(runner, Bench(top, n, args.layout), top)
            raw = os.path.join(top, "pyspy-n%d.txt" % n)
            if os.path.exists(raw):
                with open(raw) as src, open(os.path.join(RESULTS, "pyspy-latest.txt"), "w") as dst:
                    dst.write(scrub(src.read(), top))
    finally:
        try:
            lab.reset_all()
        finally:
            lab.remove_bench_network()
            converge_seed()
            data["elapsed"] = round(time.monotonic() - started, 1)
            os.makedirs(RESULTS, exist_ok=True)
            complete = [n for n, res in data["sizes"].items() if res["ours"].get("cold")]
            if complete and len(complete) == len(data["sizes"]):
                rows, targets = analyse(data)
                data["summary"] = {"rows": {str(k): v for k, v in rows.items()}, "targets": targets}
                stamp = data["date"].replace(":", "")
                name = "%s%s.json" % (stamp, "-quick" if args.quick else "-no-naive" if args.no_naive else "")
                with open(os.path.join(RESULTS, name), "w") as handle:
                    handle.write(scrub(json.dumps(data, indent=1, sort_keys=True), top))
                if not args.no_naive:
                    with open(os.path.join(RESULTS, "latest.md"), "w") as handle:
                        handle.write(markdown(data, rows, targets))
                    plot(rows, os.path.join(RESULTS, "latest.png"))
                log("wrote %s%s (%.0f s in all)" % (name, "" if args.no_naive else ", latest.md, latest.png",
                                                    data["elapsed"]))
                print(markdown(data, rows, targets))
            if args.keep:
                log("kept %s" % top)
            else:
                shutil.rmtree(top, ignore_errors=True)
            lock.close()


if __name__ == "__main__":
    main()
