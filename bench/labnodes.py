"""Direct access to the lab's nodes for the benchmark (no Ansible): reset, lower bound, counters.

Everything here runs inside the lab's network namespaces (`ip netns exec sdnlab-<node>`) with
the node's own OVS run directory, like lab/lab.py does; nothing leaves the lab.
"""
import ipaddress
import os
import shutil
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB = os.path.join(REPO, ".cache", "lab")
sys.path.insert(0, os.path.join(REPO, "lab"))
from sdnlab import sdn  # noqa: E402  (the lab's baseline iptables rules)

NODES = ("master01", "router01", "router02")
ROUTERS = ("router01", "router02")
NODE_IP = {"master01": "192.0.2.11", "router01": "192.0.2.12", "router02": "192.0.2.13"}
COOKIE = "0x65677265"
LABEL_SUFFIX = "sdne"
# RFC 2544 benchmarking range, put on the routers' eth1 (same L2 segment as 198.51.100.0/24)
# by the benchmark only, for as long as it runs: room for 4000 egress IPs.
BENCH_NET = ipaddress.IPv4Network("198.18.0.0/20")
BENCH_IFACE = "eth1"
BENCH_HOST_ADDR = {"router01": "198.18.0.12", "router02": "198.18.0.13"}
# the binaries whose processes are counted per node
COUNTED = ("ovs-ofctl", "ovs-vsctl", "ip", "iptables", "iptables-save", "iptables-restore",
           "iptables-nft", "iptables-nft-save", "iptables-nft-restore",
           "iptables-legacy", "iptables-legacy-save", "iptables-legacy-restore")


def configure(nodes, egress_nodes):
    """Point every helper here at a lab of more nodes (`lab.py up --nodes K`, bench/nodes.py):
    `nodes` all node names, `egress_nodes` the ones holding the bench's egress IPs (on eth1,
    with a host address in BENCH_NET each). The three-node defaults above stay for bench/run.py."""
    global NODES, ROUTERS, NODE_IP, BENCH_HOST_ADDR
    from sdnlab import topology
    topology.configure(len(nodes))
    NODES = tuple(nodes)
    ROUTERS = tuple(egress_nodes)
    NODE_IP = {n.name: n.host_ip for n in topology.NODES}
    BENCH_HOST_ADDR = {name: "198.18.0.%d" % (10 + topology.NODE_BY_NAME[name].index) for name in ROUTERS}


def netns(node):
    return "sdnlab-%s" % node


def rundir(node):
    return os.path.join(LAB, node, "ovs")


def backend(node):
    try:
        with open(os.path.join(LAB, node, "iptables-backend")) as handle:
            return handle.read().strip() or "nft"
    except OSError:
        return "nft"


def run_in(node, argv, data=None, env=None, check=True):
    """Run argv inside the node's network namespace, with its OVS run directory."""
    full = ["ip", "netns", "exec", netns(node), "env", "OVS_RUNDIR=%s" % rundir(node)]
    if env:
        full += ["%s=%s" % item for item in env.items()]
    proc = subprocess.run(full + list(argv), input=data, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError("%s on %s failed (rc=%d): %s" % (" ".join(argv), node, proc.returncode,
                                                            proc.stderr.strip()))
    return proc


def parallel(func, nodes=None):
    """func(node) on every node at once (like Ansible's forks); re-raises the first error."""
    errors = []
    nodes = NODES if nodes is None else nodes

    def worker(node):
        try:
            func(node)
        except Exception as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(node,)) for node in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


# ---------------------------------------------------------------------------------------
# the benchmark's extra egress network


def add_bench_network():
    for node, address in BENCH_HOST_ADDR.items():
        have = run_in(node, ["ip", "-4", "-o", "addr", "show", "dev", BENCH_IFACE]).stdout
        if " %s/" % address not in have:
            run_in(node, ["ip", "addr", "add", "%s/%d" % (address, BENCH_NET.prefixlen), "dev", BENCH_IFACE])


def remove_bench_network():
    for node, address in BENCH_HOST_ADDR.items():
        run_in(node, ["ip", "addr", "del", "%s/%d" % (address, BENCH_NET.prefixlen), "dev", BENCH_IFACE],
               check=False)


# ---------------------------------------------------------------------------------------
# reset: back to the lab's bare SDN (no egress flow, rule or address of ours or the naive run's)


def _baseline_rules(node):
    keep = ("-A OPENSHIFT-MASQUERADE ", "-A OPENSHIFT-FIREWALL-ALLOW ")
    return [line for line in sdn.iptables_payload(node).splitlines() if line.startswith(keep)]


def reset_node(node):
    run_in(node, ["ovs-ofctl", "-O", "OpenFlow13", "del-flows", "br0", "cookie=%s/-1" % COOKIE])
    rules = _baseline_rules(node)
    payload = ["*nat", "-F OPENSHIFT-MASQUERADE"]
    payload += [rule for rule in rules if rule.startswith("-A OPENSHIFT-MASQUERADE ")]
    payload += ["COMMIT", "*filter", "-F OPENSHIFT-FIREWALL-ALLOW"]
    payload += [rule for rule in rules if rule.startswith("-A OPENSHIFT-FIREWALL-ALLOW ")]
    payload += ["COMMIT", ""]
    run_in(node, ["iptables-%s-restore" % backend(node), "--noflush"], data="\n".join(payload))
    run_in(node, ["ip", "-4", "addr", "flush", "label", "*:%s" % LABEL_SUFFIX])


def reset_all():
    parallel(reset_node)


def node_state(node):
    """What of ours is on a node: {flows, snat, reject, addresses}."""
    flows = run_in(node, ["ovs-ofctl", "-O", "OpenFlow13", "--no-stats", "dump-flows", "br0",
                          "cookie=%s/-1" % COOKIE]).stdout
    ipt = "iptables-%s-save" % backend(node)
    nat = run_in(node, [ipt, "-t", "nat"]).stdout
    filt = run_in(node, [ipt, "-t", "filter"]).stdout
    addrs = run_in(node, ["ip", "-4", "-o", "addr", "show"]).stdout
    return {
        "flows": sum(1 for line in flows.splitlines() if "cookie=%s" % COOKIE in line),
        "snat": sum(1 for line in nat.splitlines() if line.startswith("-A OPENSHIFT-MASQUERADE ") and "SNAT" in line),
        "reject": sum(1 for line in filt.splitlines() if line.startswith("-A OPENSHIFT-FIREWALL-ALLOW ") and "REJECT" in line),
        "addresses": sum(1 for line in addrs.splitlines() if ":%s" % LABEL_SUFFIX in line),
    }


def tun0_mac(node):
    out = run_in(node, ["ovs-vsctl", "--timeout=10", "get", "Interface", "tun0", "mac_in_use"]).stdout
    return out.strip().strip('"')


# ---------------------------------------------------------------------------------------
# counting wrappers: <dir>/<node>/bin/<tool> logs one line per exec, then execs the real tool;
# <dir>/<node>/python3 is the node's ansible_python_interpreter: it logs one line per module run
# and puts the wrapper bin first on PATH (AnsibleModule.get_bin_path, run_command and the shell
# all search PATH first), so every ovs-ofctl/ovs-vsctl/iptables*/ip a module or a command task
# starts on that node goes through a wrapper.


def make_wrappers(top):
    real = {}
    for tool in COUNTED:
        path = shutil.which(tool, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        if path:
            real[tool] = path
    for node in NODES:
        bindir = os.path.join(top, node, "bin")
        os.makedirs(bindir, exist_ok=True)
        log = os.path.join(top, node, "exec.log")
        for tool, path in real.items():
            _write_exe(os.path.join(bindir, tool),
                       '#!/bin/sh\necho %s >>%s\nexec %s "$@"\n' % (tool, log, path))
        _write_exe(os.path.join(top, node, "python3"),
                   '#!/bin/sh\necho python3 >>%s\nPATH=%s:$PATH\nexport PATH\nexec /usr/bin/python3 "$@"\n'
                   % (log, bindir))
    return real


def _write_exe(path, text):
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o755)


def clear_counts(top):
    for node in NODES:
        open(os.path.join(top, node, "exec.log"), "w").close()


def read_counts(top):
    """{node: {tool: n, ..., 'total': n of the counted tools, 'python3': module runs}}."""
    result = {}
    for node in NODES:
        counts = {}
        with open(os.path.join(top, node, "exec.log")) as handle:
            for line in handle:
                name = line.strip()
                if name:
                    counts[name] = counts.get(name, 0) + 1
        counts["total"] = sum(n for name, n in counts.items() if name in COUNTED)
        result[node] = counts
    return result


# ---------------------------------------------------------------------------------------
# lower bound: per node one `ovs-ofctl add-flows` file, one `iptables-restore --noflush` and
# one `ip -batch` (the addresses), precomputed, run directly in the node namespace


def lower_bound_files(top, namespaces, macs):
    files = {}
    for node in NODES:
        flows, nat, rej, addrs = [], [], [], []
        for ns in namespaces:
            if ns["node"] == node:
                actions = "set_field:%s->eth_dst,set_field:%s->pkt_mark,goto_table:101" % (macs[node], ns["mark"])
                comment = '-m comment --comment "sdn.egress %s"' % ns["name"]
                nat.append("-I OPENSHIFT-MASQUERADE 1 -s 10.128.0.0/14 -m mark --mark %s %s -j SNAT --to-source %s"
                           % (ns["mark"], comment, ns["ip"]))
                rej.append("-A OPENSHIFT-FIREWALL-ALLOW -d %s/32 -m conntrack --ctstate NEW %s "
                           "-j REJECT --reject-with icmp-port-unreachable" % (ns["ip"], comment))
                addrs.append("addr add %s/%d dev %s label %s:%s" % (ns["ip"], ns["prefix"], ns["iface"],
                                                                   ns["iface"], LABEL_SUFFIX))
            else:
                actions = "move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:%s->tun_dst,output:1" % ns["node_ip"]
            flows.append("cookie=%s,table=100,priority=100,ip,reg0=%s,actions=%s" % (COOKIE, ns["vnid_hex"], actions))
        base = os.path.join(top, "lower-%s" % node)
        paths = {"flows": base + ".flows", "ipt": base + ".ipt", "batch": base + ".ipbatch"}
        _write(paths["flows"], "\n".join(flows) + "\n")
        _write(paths["ipt"], "\n".join(["*nat"] + nat + ["COMMIT", "*filter"] + rej + ["COMMIT", ""]))
        _write(paths["batch"], "\n".join(addrs) + "\n")
        files[node] = paths
    return files


def _write(path, text):
    with open(path, "w") as handle:
        handle.write(text)


def run_lower_bound(files, wrap_top):
    """Apply the precomputed files on all nodes at once; returns wall seconds."""
    def apply(node):
        paths = files[node]
        script = ("ovs-ofctl -O OpenFlow13 add-flows br0 %s && iptables-%s-restore --noflush < %s"
                  % (paths["flows"], backend(node), paths["ipt"]))
        if os.path.getsize(paths["batch"]) > 1:
            script += " && ip -batch %s" % paths["batch"]
        path = "%s:%s" % (os.path.join(wrap_top, node, "bin"), os.environ.get("PATH", "/usr/bin:/bin"))
        run_in(node, ["sh", "-c", script], env={"PATH": path})

    start = time.monotonic()
    parallel(apply)
    return time.monotonic() - start
