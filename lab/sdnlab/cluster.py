"""Build, inspect and tear down the lab (see topology.py for the address plan).

    switch ns (sdnlab-sw): Linux bridges `under` (192.0.2.0/24) and `egress` (198.51.100.0/24)
    node ns (sdnlab-<node>): eth0 -> OVS netdev bridge br-phy (node IP), eth1 (routers only),
        br0 (vxlan0=1, tun0=2, pod veths 3..), mgmt0 (sshd), the SDN's iptables chains;
        layout sdn48: tun0 is a patch port to the lab-only br-shim (gateway on tun0gw)
    ext ns (sdnlab-ext): router between 192.0.2.0/24 (.254), 198.51.100.0/24 (.254) and
        203.0.113.0/25 (.1); srv ns (sdnlab-srv): the echo server at 203.0.113.10
    root ns: bridge sdnlab-mgmt 203.0.113.129/25 + one veth per node (management only)
"""
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from . import sdn
from . import topology as topo
from .netns import IP, Netns, exists, ip_batch, run, veth_between
from .ovs import Ovs
from labcommon import procs
from labcommon.procs import Processes

STATE_FILE = os.path.join(topo.STATE_DIR, "state.json")
SSH_DIR = os.path.join(topo.STATE_DIR, "ssh")
CLIENT_KEY = os.path.join(SSH_DIR, "id_ed25519")
AUTHORIZED_KEYS = os.path.join(SSH_DIR, "authorized_keys")
SERVER_PIDFILE = os.path.join(topo.STATE_DIR, "echo-server.pid")
SERVER_LOG = os.path.join(topo.STATE_DIR, "echo-server.log")
NETNS_DIR = os.path.join(topo.STATE_DIR, "netns")
# the layout of the running lab as one word, for the lab inventory (group_vars/all/egress.yml)
LAYOUT_FILE = os.path.join(topo.STATE_DIR, "layout")
HERE = os.path.dirname(os.path.abspath(__file__))
BUILDERS = 8               # nodes built at once


def log(msg):
    sys.stderr.write("lab: %s\n" % msg)
    sys.stderr.flush()


# ---------------------------------------------------------------- state
def load_state():
    return procs.load_json(STATE_FILE, {})


def save_state(state):
    procs.save_json(STATE_FILE, state)


def nodes_down():
    return set(load_state().get("nodes_down", []))


def layout():
    """The openshift-sdn layout the lab was built with (sdn3 for a lab built before layouts)."""
    return load_state().get("layout") or topo.DEFAULT_LAYOUT


def netns_obj(name):
    return Netns(name, os.path.join(NETNS_DIR, name), sys.executable)


def node_ovs(node):
    return Ovs(netns_obj(node.netns), node.ovs_rundir)


def sshd_pidfile(node):
    return os.path.join(node.dir, "sshd.pid")


def backend_file(node):
    return os.path.join(node.dir, "iptables-backend")


def node_backend(node):
    try:
        with open(backend_file(node)) as f:
            return f.read().strip() or "nft"
    except OSError:
        return "nft"


# ---------------------------------------------------------------- processes
PROCESSES = Processes(topo.STATE_DIR)
_ours = PROCESSES.ours
pid_alive = PROCESSES.pid_alive
stop_pidfile = PROCESSES.stop_pidfile
wait_for = procs.wait_for


# ---------------------------------------------------------------- ssh
def ensure_keys():
    os.makedirs(SSH_DIR, exist_ok=True)
    if not os.path.exists(CLIENT_KEY):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sdnlab", "-f", CLIENT_KEY])
    with open(CLIENT_KEY + ".pub") as f:
        pub = f.read()
    with open(AUTHORIZED_KEYS, "w") as f:
        f.write(pub)
    os.chmod(AUTHORIZED_KEYS, 0o600)
    for node in topo.NODES:
        os.makedirs(node.dir, exist_ok=True)
        hostkey = os.path.join(node.dir, "ssh_host_ed25519_key")
        if not os.path.exists(hostkey):
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sdnlab-" + node.name, "-f", hostkey])


def sshd_config(node):
    path = os.path.join(node.dir, "sshd_config")
    with open(path, "w") as f:
        f.write("\n".join([
            "# sdnlab: sshd inside %s, management link only" % node.netns,
            "Port 22",
            "ListenAddress %s" % node.mgmt_ip,
            "HostKey %s" % os.path.join(node.dir, "ssh_host_ed25519_key"),
            "PidFile %s" % sshd_pidfile(node),
            "AuthorizedKeysFile %s" % AUTHORIZED_KEYS,
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "UseDNS no",
            "PrintMotd no",
            "LogLevel ERROR",
            "Subsystem sftp internal-sftp",
            "",
        ]))
    return path


def start_sshd(node):
    if pid_alive(sshd_pidfile(node)):
        return
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)      # sshd's privilege-separation dir
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    netns_obj(node.netns).run([sshd, "-f", sshd_config(node)])
    wait_for(lambda: pid_alive(sshd_pidfile(node)), 10, "sshd on %s" % node.name)


# ---------------------------------------------------------------- build
_sysctl = procs.sysctl
_tx_off = procs.tx_off
_ovs_port_sysctls = procs.ovs_port_sysctls


def build_switch_and_ext():
    sw, ext, srv = topo.SWITCH_NS, topo.EXT_NS, topo.SRV_NS
    ip_batch(sw, ["link add under type bridge", "link add egress type bridge",
                  "link set under up", "link set egress up"])
    veth_between(ext, "eth0", sw, "x0")
    veth_between(ext, "eth1", sw, "x1")
    veth_between(ext, "eth2", srv, "eth0")
    ip_batch(sw, ["link set x0 master under", "link set x0 up", "link set x1 master egress", "link set x1 up"])
    ip_batch(ext, ["addr add %s/24 dev eth0" % topo.EXT_UNDERLAY_IP, "addr add %s/24 dev eth1" % topo.EXT_EGRESS_IP,
                   "addr add %s/25 dev eth2" % topo.EXT_SERVER_GW,
                   "link set eth0 up", "link set eth1 up", "link set eth2 up"])
    ip_batch(srv, ["addr add %s/25 dev eth0" % topo.SERVER_IP, "link set eth0 up",
                   "route add default via %s" % topo.EXT_SERVER_GW])
    # replies to an egress IP on 198.51.100.0/24 leave through eth1 although the request came
    # in on eth0 (the egress node routes to 203.0.113.0/25 via 192.0.2.254): loose rp_filter.
    _sysctl(ext, [("net.ipv4.ip_forward", 1), ("net.ipv4.conf.all.rp_filter", 2),
                  ("net.ipv4.conf.default.rp_filter", 2), ("net.ipv4.conf.all.arp_accept", 1),
                  ("net.ipv6.conf.all.disable_ipv6", 1)])
    for ns, ifname in ((ext, "eth0"), (ext, "eth1"), (ext, "eth2"), (srv, "eth0"), (sw, "x0"), (sw, "x1")):
        _tx_off(ns, ifname)


def start_echo_server():
    os.makedirs(topo.STATE_DIR, exist_ok=True)
    if os.path.exists(SERVER_PIDFILE):
        os.unlink(SERVER_PIDFILE)
    argv = [IP, "netns", "exec", topo.SRV_NS, sys.executable, os.path.join(HERE, "echo_server.py"),
            "--bind", topo.SERVER_IP, "--port", str(topo.SERVER_PORT),
            "--pidfile", SERVER_PIDFILE, "--log", SERVER_LOG]
    with open(os.devnull, "rb") as devnull, open(SERVER_LOG, "a") as logf:
        subprocess.Popen(argv, stdin=devnull, stdout=logf, stderr=logf, start_new_session=True, close_fds=True)
    wait_for(lambda: pid_alive(SERVER_PIDFILE), 10, "the echo server")


def build_node(node, backend, layout=topo.DEFAULT_LAYOUT):
    ns, sw = node.netns, topo.SWITCH_NS
    gw = topo.GATEWAY_IF[sdn.check_layout(layout)]
    os.makedirs(node.dir, exist_ok=True)
    with open(backend_file(node), "w") as f:
        f.write(backend + "\n")
    _sysctl(ns, [("net.ipv4.ip_forward", 1), ("net.ipv4.conf.all.rp_filter", 2),
                 ("net.ipv4.conf.default.rp_filter", 2), ("net.ipv6.conf.default.disable_ipv6", 1)])
    veth_between(ns, "eth0", sw, "n%d" % node.index)
    links = ["link set n%d master under" % node.index, "link set n%d up" % node.index]
    if node.eth1:
        veth_between(ns, "eth1", sw, "e%d" % node.index)
        links += ["link set e%d master egress" % node.index, "link set e%d up" % node.index]
    ip_batch(sw, links)
    # management link from the root namespace
    veth_between(None, node.mgmt_root_if, ns, "mgmt0")
    ip_batch(None, ["link set %s master %s" % (node.mgmt_root_if, topo.MGMT_BRIDGE),
                    "link set %s up" % node.mgmt_root_if])

    ovs = node_ovs(node)
    ovs.start()
    ovs.add_sdn_bridge(mtu=topo.POD_MTU, layout=layout)
    ovs.add_phy_bridge("eth0")
    pods = topo.pods_on(node)
    for pod in pods:
        veth_between(ns, pod.host_if, pod.netns, "eth0", mtu=topo.POD_MTU)
    sysctls = _ovs_port_sysctls("eth0")
    for pod in pods:
        sysctls += _ovs_port_sysctls(pod.host_if)
    _sysctl(ns, sysctls)
    if pods:
        args = []
        for pod in pods:
            args += ["--", "add-port", "br0", pod.host_if, "--", "set", "interface", pod.host_if,
                     "ofport_request=%d" % pod.ofport]
        ovs.vsctl(*args[1:])
    cmds = ["link set eth0 up", "link set br-phy up", "addr add %s/24 dev br-phy" % node.host_ip,
            "route add %s via %s" % (topo.EXTERNAL_NET, topo.EXT_UNDERLAY_IP),
            "link set %s mtu %d" % (gw, topo.POD_MTU), "addr add %s/%s dev %s" % (node.gateway, node.subnet.split("/")[1], gw),
            "link set %s up" % gw, "route add %s dev %s proto kernel" % (topo.CLUSTER_CIDR, gw),
            "addr add %s/25 dev mgmt0" % node.mgmt_ip, "link set mgmt0 up"]
    if node.eth1:
        cmds += ["addr add %s dev eth1" % node.eth1, "link set eth1 up"]
    cmds += ["link set %s up" % pod.host_if for pod in pods]
    ip_batch(ns, cmds)
    for ifname in ["eth1"] if node.eth1 else []:
        _tx_off(ns, ifname)
    _tx_off(sw, "n%d" % node.index)
    if node.eth1:
        _tx_off(sw, "e%d" % node.index)
    for pod in pods:
        ip_batch(pod.netns, ["link set eth0 address %s" % pod.mac,
                             "addr add %s/%s dev eth0" % (pod.ip, node.subnet.split("/")[1]),
                             "link set eth0 up",
                             "route add default via %s" % node.gateway,
                             "route add %s dev eth0" % topo.CLUSTER_CIDR])
        _sysctl(pod.netns, [("net.ipv6.conf.all.disable_ipv6", 1)])
        _tx_off(pod.netns, "eth0")
    ovs.ofctl("add-flows", "br0", "-", input="\n".join(sdn.base_flows(node, layout)) + "\n")
    if layout == "sdn48":
        ovs.ofctl("add-flows", topo.SHIM_BRIDGE, "-", input="\n".join(sdn.shim_bridge_flows()) + "\n")
    run([IP, "netns", "exec", ns, sdn.iptables_cmd(backend, "iptables-restore"), "--noflush"],
        input=sdn.iptables_payload(node, layout))
    start_sshd(node)


def healthy():
    """(ok, problems): every namespace exists and every lab process is alive."""
    problems = []
    state = load_state()
    if not state.get("built"):
        problems.append("no lab state (never built or torn down)")
    for name in topo.all_netns():
        if not exists(name):
            problems.append("namespace %s missing" % name)
    down = set(state.get("nodes_down", []))
    for node in topo.NODES:
        pids = node_ovs(node).pids()
        for daemon, pid in pids.items():
            if not pid or not _ours(pid):
                problems.append("%s: %s not running" % (node.name, daemon))
        if node.name not in down and not pid_alive(sshd_pidfile(node)):
            problems.append("%s: sshd not running" % node.name)
    if not pid_alive(SERVER_PIDFILE):
        problems.append("echo server not running")
    return not problems, problems


def write_generated_inventory():
    """The extra nodes (node04..) as a YAML inventory next to inventories/lab/hosts.yml, with
    the host variables host_vars/<named node>.yml carry; removed when the lab has 3 nodes."""
    extra = topo.NODES[topo.DEFAULT_NODES:]
    if not extra:
        if os.path.exists(topo.GENERATED_INVENTORY):
            os.unlink(topo.GENERATED_INVENTORY)
        return None
    lines = ["# GENERATED by `lab/lab.py up --nodes %d` (removed by `lab/lab.py down`): the lab's extra" % len(topo.NODES),
             "# nodes, egress-capable workers (br-phy on 192.0.2.0/24, eth1 on 198.51.100.0/24).",
             "all:", "  children:", "    sdn_nodes:", "      hosts:"]
    cache = "inventory_dir ~ '/../../.cache/lab/%s"
    for node in extra:
        lines += ["        %s:" % node.name,
                  "          ansible_host: %s" % node.mgmt_ip,
                  "          egress_hostsubnet: {host_ip: %s, subnet: %s, egress_ips: [], egress_cidrs: []}"
                  % (node.host_ip, node.subnet),
                  "          egress_ovs_rundir: \"{{ (%s/ovs') | realpath }}\"" % (cache % node.name),
                  "          egress_iptables_backend: \"{{ lookup('ansible.builtin.file', %s/iptables-backend', "
                  "errors='ignore') | default('nft', true) }}\"" % (cache % node.name),
                  "          egress_lock_path: \"{{ (%s/sdn-egress.lock') | realpath }}\"" % (cache % node.name)]
    tmp = topo.GENERATED_INVENTORY + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, topo.GENERATED_INVENTORY)
    return topo.GENERATED_INVENTORY


def up(backend="nft", rebuild=False, node_backends=None, layout=topo.DEFAULT_LAYOUT, nodes=topo.DEFAULT_NODES):
    """Build the lab; `backend` is the nodes' iptables backend, `node_backends` {node: backend}
    overrides it per node (iptables is per namespace; the machine's alternative is untouched);
    `layout` the openshift-sdn layout the nodes simulate (sdn3 or sdn48); `nodes` how many nodes
    (3: master01, router01, router02; more: node04.. as well). A healthy lab is reused only
    when it was built with the same backends, layout and node count."""
    t0 = time.monotonic()
    sdn.check_layout(layout)
    topo.check_node_count(nodes)
    built_nodes = topo.recorded_node_count()
    topo.configure(built_nodes)
    names = [n.name for n in topo.NAMED_NODES] + [topo.extra_node(i).name for i in range(topo.DEFAULT_NODES + 1, nodes + 1)]
    node_backends = dict(node_backends or {})
    for name, value in node_backends.items():
        if name not in names:
            raise RuntimeError("unknown node %r in --iptables-node" % name)
        sdn.iptables_cmd(value)
    wanted = {name: node_backends.get(name, backend) for name in names}
    if not rebuild and built_nodes != nodes:
        ok = healthy()[0]
        if ok:
            log("lab is up with %d nodes, rebuilding with %d" % (built_nodes, nodes))
        rebuild = True
    if not rebuild:
        ok, problems = healthy()
        if ok:
            state = load_state()
            same_backends = state.get("iptables") == backend and {n.name: node_backend(n) for n in topo.NODES} == wanted
            if same_backends and (state.get("layout") or topo.DEFAULT_LAYOUT) == layout:
                log("lab is up and healthy (layout %s), reusing it (use --rebuild to start over)" % layout)
                return {"reused": True, "seconds": round(time.monotonic() - t0, 2), "layout": layout, "nodes": nodes}
            if same_backends:
                log("lab is up with layout %s, rebuilding for layout %s"
                    % (state.get("layout") or topo.DEFAULT_LAYOUT, layout))
            else:
                log("lab is up with other iptables backends, rebuilding for %s"
                    % ", ".join("%s=%s" % kv for kv in sorted(wanted.items())))
        elif load_state() or any(exists(n) for n in topo.all_netns()):
            log("lab is not healthy (%s), rebuilding" % "; ".join(problems[:3]))
    down(quiet=True)
    topo.configure(nodes)
    os.makedirs(topo.STATE_DIR, exist_ok=True)
    save_state({"built": None, "iptables": backend, "layout": layout, "nodes_down": [], "nodes": nodes})
    with open(LAYOUT_FILE, "w") as f:
        f.write(layout + "\n")
    with open(topo.NODES_FILE, "w") as f:
        f.write("%d\n" % nodes)
    ensure_keys()
    for name in topo.all_netns():
        netns_obj(name).create()
    ip_batch(None, ["link add %s type bridge" % topo.MGMT_BRIDGE,
                    "addr add %s/25 dev %s" % (topo.MGMT_ROOT_IP, topo.MGMT_BRIDGE),
                    "link set %s up" % topo.MGMT_BRIDGE])
    build_switch_and_ext()
    start_echo_server()
    errors = []

    def worker(node):
        try:
            build_node(node, wanted[node.name], layout)
        except Exception as exc:  # reported below
            errors.append("%s: %s" % (node.name, exc))

    # one builder per node up to BUILDERS at once (the three named nodes: all three together)
    with ThreadPoolExecutor(max_workers=min(len(topo.NODES), BUILDERS)) as pool:
        list(pool.map(worker, topo.NODES))
    if errors:
        raise RuntimeError("building the lab failed: " + "; ".join(errors))
    write_generated_inventory()
    save_state({"built": time.strftime("%Y-%m-%dT%H:%M:%S"), "iptables": backend, "layout": layout,
                "nodes_down": [], "nodes": nodes})
    seconds = round(time.monotonic() - t0, 2)
    log("lab is up in %.1fs (layout %s, %d nodes)" % (seconds, layout, nodes))
    return {"reused": False, "seconds": seconds, "layout": layout, "nodes": nodes}


stop_netns_processes = procs.stop_netns_processes


def down(quiet=False):
    """Stop every lab process (by pidfile, then whatever is left in a lab namespace) and
    delete every lab namespace and link, and the egress node locks a killed run left in the
    nodes' state directories (inventories/lab egress_lock_path): the nodes they belonged to
    are gone."""
    for node in topo.NODES:
        stop_pidfile(sshd_pidfile(node))
        shutil.rmtree(os.path.join(topo.STATE_DIR, node.name, "sdn-egress.lock"), ignore_errors=True)
        ovs = node_ovs(node)
        if any(pid and _ours(pid) for pid in ovs.pids().values()):
            ovs.stop()
    stop_pidfile(SERVER_PIDFILE)
    procs.delete_namespaces(topo.all_netns(), topo.PREFIX)
    # the management veths of every node this or an earlier plan had (sdnlab-m<index>)
    mgmt_ifs = {n.mgmt_root_if for n in topo.NODES}
    if os.path.isdir("/sys/class/net"):
        mgmt_ifs |= {n for n in os.listdir("/sys/class/net") if n.startswith("sdnlab-m") and n[8:].isdigit()}
    for ifname in sorted(mgmt_ifs) + [topo.MGMT_BRIDGE]:
        if os.path.exists("/sys/class/net/%s" % ifname):
            run([IP, "link", "del", ifname], check=False)
    for path in (STATE_FILE, LAYOUT_FILE, topo.NODES_FILE, topo.GENERATED_INVENTORY):
        if os.path.exists(path):
            os.unlink(path)
    if not quiet:
        log("lab is down")


# ---------------------------------------------------------------- node failure
def node_down(name):
    node = topo.NODE_BY_NAME[name]
    stop_pidfile(sshd_pidfile(node))
    links = ["eth0", "mgmt0"] + (["eth1"] if node.eth1 else [])
    ip_batch(node.netns, ["link set %s down" % l for l in links])
    state = load_state()
    state["nodes_down"] = sorted(set(state.get("nodes_down", [])) | {name})
    save_state(state)
    log("%s is down (sshd stopped, %s down; layout %s)" % (name, ", ".join(links), state.get("layout") or topo.DEFAULT_LAYOUT))


def node_up(name):
    node = topo.NODE_BY_NAME[name]
    links = ["eth0", "mgmt0"] + (["eth1"] if node.eth1 else [])
    ip_batch(node.netns, ["link set %s up" % l for l in links])
    start_sshd(node)
    state = load_state()
    state["nodes_down"] = sorted(set(state.get("nodes_down", [])) - {name})
    save_state(state)
    log("%s is up (layout %s)" % (name, state.get("layout") or topo.DEFAULT_LAYOUT))


def status():
    ok, problems = healthy()
    state = load_state()
    out = {"healthy": ok, "problems": problems, "built": state.get("built"),
           "iptables": state.get("iptables"), "layout": (state.get("layout") or topo.DEFAULT_LAYOUT) if state else None,
           "nodes_down": state.get("nodes_down", []),
           "state_dir": topo.STATE_DIR, "nodes": []}
    for node in topo.NODES:
        pids = node_ovs(node).pids()
        out["nodes"].append({"name": node.name, "netns": node.netns, "host_ip": node.host_ip,
                             "mgmt_ip": node.mgmt_ip, "subnet": node.subnet, "ovs_rundir": node.ovs_rundir,
                             "ovsdb_server": pids["ovsdb-server"], "ovs_vswitchd": pids["ovs-vswitchd"],
                             "sshd": pid_alive(sshd_pidfile(node)), "iptables": node_backend(node)})
    out["echo_server"] = pid_alive(SERVER_PIDFILE)
    return out
