"""Build, inspect and tear down the OVN lab (topology.py has the address plan).

    central (root namespace, unix sockets only): NB and SB ovsdb-server, ovn-northd
    switch ns (ovnlab-sw): Linux bridge `under` (198.51.100.64/27)
    node ns (ovnlab-<node>): eth0 in the OVS netdev bridge br-phy (node IP), br-int (netdev)
        run by the node's own ovn-controller (Geneve to the other nodes), the management port
        k8s-<node> (.2 of the node subnet) and the pods' veths; iptables MASQUERADE of the node
        subnet (OVN-Kubernetes local gateway mode)
    ext ns (ovnlab-ext): router 198.51.100.94 <-> 203.0.113.97; LB IPs routed to the holder node
    srv ns (ovnlab-srv): the echo server at 203.0.113.100:8080

Every daemon runs with a rundir, pidfile and control socket under the state directory and is
stopped by the PID in its pidfile; the system's OVN services are never used.
"""
import json
import os
import subprocess
import sys
import threading
import time

from sdnlab.netns import IP, Netns, exists, ip_batch, run, veth_between
from sdnlab.ovs import Ovs, running
from labcommon import procs
from labcommon.procs import Processes

from . import topology as topo

HERE = os.path.dirname(os.path.abspath(__file__))
SDNLAB_DIR = os.path.join(os.path.dirname(HERE), "sdnlab")
CENTRAL_DIR = os.path.join(topo.STATE_DIR, "central")
NB_SOCK = os.path.join(CENTRAL_DIR, "ovnnb_db.sock")
SB_SOCK = os.path.join(CENTRAL_DIR, "ovnsb_db.sock")
NB_DB = "unix:" + NB_SOCK
SB_DB = "unix:" + SB_SOCK
STATE_FILE = os.path.join(topo.STATE_DIR, "state.json")
# labels a controller (or the playbook) set on nodes: {node: {label: value}}; the lab's
# stand-in for MetalLB routes each LB IP to the node labelled for its service
LABELS_FILE = os.path.join(topo.STATE_DIR, "node-labels.json")
SERVER_PIDFILE = os.path.join(topo.STATE_DIR, "echo-server.pid")
SERVER_LOG = os.path.join(topo.STATE_DIR, "echo-server.log")
SERVER6_PIDFILE = os.path.join(topo.STATE_DIR, "echo-server6.pid")
NETNS_DIR = os.path.join(topo.STATE_DIR, "netns")
NB_SCHEMA = "/usr/share/ovn/ovn-nb.ovsschema"
SB_SCHEMA = "/usr/share/ovn/ovn-sb.ovsschema"


def log(msg):
    sys.stderr.write("ovnlab: %s\n" % msg)
    sys.stderr.flush()


load_json = procs.load_json
save_json = procs.save_json


def netns_obj(name):
    return Netns(name, os.path.join(NETNS_DIR, name), sys.executable)


def node_ovs(node):
    return Ovs(netns_obj(node.netns), node.ovs_rundir)


def ovn_env(rundir):
    return dict(os.environ, OVS_RUNDIR=rundir, OVS_DBDIR=rundir, OVS_LOGDIR=rundir,
                OVN_RUNDIR=rundir, OVN_DBDIR=rundir, OVN_LOGDIR=rundir)


# ---------------------------------------------------------------- processes
PROCESSES = Processes(topo.STATE_DIR, alive=running)   # a zombie daemon counts as stopped
_ours = PROCESSES.ours
pid_alive = PROCESSES.pid_alive
stop_pidfile = PROCESSES.stop_pidfile


def wait_for(cond, timeout, what):
    procs.wait_for(cond, timeout, what, poll=0.05)


def nbctl(*args):
    return run(["ovn-nbctl", "--db=%s" % NB_DB, "--timeout=20"] + list(args)).stdout


def sbctl(*args):
    return run(["ovn-sbctl", "--db=%s" % SB_DB, "--timeout=20"] + list(args)).stdout


# ---------------------------------------------------------------- central
CENTRAL_PIDFILES = {name: os.path.join(CENTRAL_DIR, "%s.pid" % name)
                    for name in ("ovsdb-server-nb", "ovsdb-server-sb", "ovn-northd")}


def start_central():
    os.makedirs(CENTRAL_DIR, exist_ok=True)
    env = ovn_env(CENTRAL_DIR)
    for which, schema, sock in (("nb", NB_SCHEMA, NB_SOCK), ("sb", SB_SCHEMA, SB_SOCK)):
        db = os.path.join(CENTRAL_DIR, "ovn%s.db" % which)
        if os.path.exists(db):
            os.unlink(db)
        run(["ovsdb-tool", "create", db, schema], env=env)
        run(["ovsdb-server", db, "--remote=punix:%s" % sock,
             "--pidfile=%s" % CENTRAL_PIDFILES["ovsdb-server-" + which],
             "--unixctl=%s" % os.path.join(CENTRAL_DIR, "ovsdb-server-%s.ctl" % which),
             "--log-file=%s" % os.path.join(CENTRAL_DIR, "ovsdb-server-%s.log" % which),
             "--detach", "-vconsole:off"], env=env)
    run(["ovn-nbctl", "--db=%s" % NB_DB, "--no-wait", "init"], env=env)
    run(["ovn-sbctl", "--db=%s" % SB_DB, "init"], env=env)
    run(["ovn-northd", "--ovnnb-db=%s" % NB_DB, "--ovnsb-db=%s" % SB_DB,
         "--pidfile=%s" % CENTRAL_PIDFILES["ovn-northd"],
         "--unixctl=%s" % os.path.join(CENTRAL_DIR, "ovn-northd.ctl"),
         "--log-file=%s" % os.path.join(CENTRAL_DIR, "ovn-northd.log"),
         "--detach", "-vconsole:off"], env=env)


def northbound_topology(ipv6=False):
    """One ovn-nbctl transaction: the OVN-Kubernetes-like logical topology (dual-stack with ipv6)."""
    r = topo.ROUTER
    args = ["--may-exist", "lr-add", r]
    for node in topo.NODES:
        plen = node.subnet.split("/")[1]
        nets = ["%s/%s" % (node.router_ip, plen)] + (["%s/64" % node.router_ip6] if ipv6 else [])
        args += ["--", "--may-exist", "ls-add", node.switch,
                 "--", "set", "logical_switch", node.switch, "other_config:subnet=%s" % node.subnet,
                 "--", "--may-exist", "lrp-add", r, "rtos-" + node.name, node.router_mac] + nets + [
                 "--", "--may-exist", "lsp-add", node.switch, "stor-" + node.name,
                 "--", "lsp-set-type", "stor-" + node.name, "router",
                 "--", "lsp-set-addresses", "stor-" + node.name, "router",
                 "--", "lsp-set-options", "stor-" + node.name, "router-port=rtos-" + node.name,
                 "--", "--may-exist", "lsp-add", node.switch, node.mgmt_port,
                 "--", "lsp-set-addresses", node.mgmt_port,
                 " ".join([node.mgmt_mac, node.mgmt_ip] + ([node.mgmt_ip6] if ipv6 else [])),
                 # local gateway mode: the node's pods leave through its own management port
                 "--", "--may-exist", "--policy=src-ip", "lr-route-add", r, node.subnet, node.mgmt_ip,
                 # traffic to the node's own IP goes to its management port (priority 1004)
                 "--", "--may-exist", "lr-policy-add", r, "1004",
                 'inport == "rtos-%s" && ip4.dst == %s /* %s */' % (node.name, node.host_ip, node.name),
                 "reroute", node.mgmt_ip]
        if ipv6:
            args += ["--", "--may-exist", "--policy=src-ip", "lr-route-add", r, node.subnet6, node.mgmt_ip6]
    for pod in topo.PODS:
        args += ["--", "--may-exist", "lsp-add", pod.node.switch, pod.port,
                 "--", "lsp-set-addresses", pod.port, " ".join([pod.mac, pod.ip] + ([pod.ip6] if ipv6 else []))]
    args += ["--", "--may-exist", "lr-policy-add", r, "102",
             "ip4.src == %s && ip4.dst == %s" % (topo.CLUSTER_CIDR, topo.CLUSTER_CIDR), "allow"]
    if ipv6:
        args += ["--", "--may-exist", "lr-policy-add", r, "102",
                 "ip6.src == %s && ip6.dst == %s" % (topo.CLUSTER_CIDR6, topo.CLUSTER_CIDR6), "allow"]
    nbctl(*args)


# ---------------------------------------------------------------- build
_sysctl = procs.sysctl
_tx_off = procs.tx_off
_ovs_port_sysctls = procs.ovs_port_sysctls


def build_switch_and_ext(ipv6=False):
    sw, ext, srv = topo.SWITCH_NS, topo.EXT_NS, topo.SRV_NS
    ip_batch(sw, ["link add under type bridge", "link set under up"])
    veth_between(ext, "eth0", sw, "x0")
    veth_between(ext, "eth1", srv, "eth0")
    ip_batch(sw, ["link set x0 master under", "link set x0 up"])
    ip_batch(ext, ["addr add %s/27 dev eth0" % topo.EXT_UNDERLAY_IP, "addr add %s/28 dev eth1" % topo.EXT_SERVER_GW,
                   "link set eth0 up", "link set eth1 up"])
    ip_batch(srv, ["addr add %s/28 dev eth0" % topo.SERVER_IP, "link set eth0 up",
                   "route add default via %s" % topo.EXT_SERVER_GW])
    _sysctl(ext, [("net.ipv4.ip_forward", 1), ("net.ipv4.conf.all.rp_filter", 2),
                  ("net.ipv4.conf.default.rp_filter", 2), ("net.ipv6.conf.all.disable_ipv6", 1)])
    for ns, ifname in ((ext, "eth0"), (ext, "eth1"), (srv, "eth0"), (sw, "x0")):
        _tx_off(ns, ifname)
    if ipv6:
        _sysctl(ext, [("net.ipv6.conf.all.disable_ipv6", 0), ("net.ipv6.conf.eth0.disable_ipv6", 0),
                      ("net.ipv6.conf.eth1.disable_ipv6", 0), ("net.ipv6.conf.all.forwarding", 1)])
        ip_batch(ext, ["addr add %s/64 dev eth0 nodad" % topo.EXT_UNDERLAY_IP6,
                       "addr add %s/64 dev eth1 nodad" % topo.EXT_SERVER_GW6])
        ip_batch(srv, ["addr add %s/64 dev eth0 nodad" % topo.SERVER_IP6,
                       "route add default via %s" % topo.EXT_SERVER_GW6])


def start_echo_server(bind=topo.SERVER_IP, pidfile=SERVER_PIDFILE):
    if os.path.exists(pidfile):
        os.unlink(pidfile)
    argv = [IP, "netns", "exec", topo.SRV_NS, sys.executable, os.path.join(SDNLAB_DIR, "echo_server.py"),
            "--bind", bind, "--port", str(topo.SERVER_PORT),
            "--pidfile", pidfile, "--log", SERVER_LOG]
    with open(os.devnull, "rb") as devnull, open(SERVER_LOG, "a") as logf:
        subprocess.Popen(argv, stdin=devnull, stdout=logf, stderr=logf, start_new_session=True, close_fds=True)
    wait_for(lambda: pid_alive(pidfile), 10, "the echo server on %s" % bind)


def controller_pidfile(node):
    return os.path.join(node.dir, "ovn-controller.pid")


def start_controller(node):
    """ovn-controller has no --unixctl: OVN_RUNDIR (the node's directory) holds its control socket."""
    ovs = node_ovs(node)
    netns_obj(node.netns).run(
        ["ovn-controller", ovs.db, "--pidfile=%s" % controller_pidfile(node),
         "--log-file=%s" % os.path.join(node.dir, "ovn-controller.log"), "--detach", "-vconsole:off"],
        env=dict(ovn_env(node.dir), OVS_RUNDIR=node.ovs_rundir))   # br-int.mgmt is in OVS's rundir


def build_node(node, ipv6=False):
    ns, sw = node.netns, topo.SWITCH_NS
    os.makedirs(node.dir, exist_ok=True)
    _sysctl(ns, [("net.ipv4.ip_forward", 1), ("net.ipv4.conf.all.rp_filter", 2),
                 ("net.ipv4.conf.default.rp_filter", 2), ("net.ipv6.conf.default.disable_ipv6", 1)])
    veth_between(ns, "eth0", sw, "n%d" % node.index)
    ip_batch(sw, ["link set n%d master under" % node.index, "link set n%d up" % node.index])
    ovs = node_ovs(node)
    ovs.start()
    ovs.add_phy_bridge("eth0")
    ovs.vsctl("set", "open_vswitch", ".", "external_ids:system-id=%s" % node.name,
              "external_ids:hostname=%s" % node.name,
              "external_ids:ovn-remote=%s" % SB_DB, "external_ids:ovn-encap-type=geneve",
              "external_ids:ovn-encap-ip=%s" % node.host_ip, "external_ids:ovn-bridge-datapath-type=netdev",
              "--", "add-br", "br-int", "--", "set", "bridge", "br-int", "datapath_type=netdev",
              "fail_mode=secure", "other_config:disable-in-band=true",
              "--", "add-port", "br-int", node.mgmt_port, "--", "set", "interface", node.mgmt_port,
              "type=internal", "mtu_request=%d" % topo.POD_MTU, 'mac="%s"' % node.mgmt_mac,
              "external_ids:iface-id=%s" % node.mgmt_port)
    pods = topo.pods_on(node)
    for pod in pods:
        veth_between(ns, pod.host_if, pod.netns, "eth0", mtu=topo.POD_MTU)
    sysctls = _ovs_port_sysctls("eth0")
    for pod in pods:
        sysctls += _ovs_port_sysctls(pod.host_if)
    _sysctl(ns, sysctls)
    args = []
    for pod in pods:
        args += ["--", "add-port", "br-int", pod.host_if, "--", "set", "interface", pod.host_if,
                 "external_ids:iface-id=%s" % pod.port]
    if args:
        ovs.vsctl(*args[1:])
    ip_batch(ns, ["link set eth0 up", "link set br-phy up", "addr add %s/27 dev br-phy" % node.host_ip,
                  "route add default via %s" % topo.EXT_UNDERLAY_IP,
                  "link set %s up" % node.mgmt_port,
                  "addr add %s/%s dev %s" % (node.mgmt_ip, node.subnet.split("/")[1], node.mgmt_port),
                  "route add %s via %s dev %s" % (topo.CLUSTER_CIDR, node.router_ip, node.mgmt_port)]
                 + ["link set %s up" % pod.host_if for pod in pods])
    _tx_off(sw, "n%d" % node.index)
    for pod in pods:
        ip_batch(pod.netns, ["link set eth0 address %s" % pod.mac,
                             "addr add %s/%s dev eth0" % (pod.ip, node.subnet.split("/")[1]),
                             "link set eth0 up", "route add default via %s" % node.router_ip])
        _sysctl(pod.netns, [("net.ipv6.conf.all.disable_ipv6", 1)])
        _tx_off(pod.netns, "eth0")
    # OVN-Kubernetes local gateway mode: the node masquerades its pods' traffic to the outside
    run([IP, "netns", "exec", ns, "iptables", "-t", "nat", "-A", "POSTROUTING", "-s", node.subnet,
         "!", "-d", topo.CLUSTER_CIDR, "-j", "MASQUERADE"])
    if ipv6:
        _sysctl(ns, [("net.ipv6.conf.all.forwarding", 1), ("net.ipv6.conf.br-phy.disable_ipv6", 0),
                     ("net.ipv6.conf.%s.disable_ipv6" % node.mgmt_port, 0)])
        ip_batch(ns, ["addr add %s/64 dev br-phy nodad" % node.host_ip6,
                      "route add default via %s" % topo.EXT_UNDERLAY_IP6,
                      "addr add %s/64 dev %s nodad" % (node.mgmt_ip6, node.mgmt_port),
                      "route add %s via %s dev %s" % (topo.CLUSTER_CIDR6, node.router_ip6, node.mgmt_port)])
        run([IP, "netns", "exec", ns, "ip6tables", "-t", "nat", "-A", "POSTROUTING", "-s", node.subnet6,
             "!", "-d", topo.CLUSTER_CIDR6, "-j", "MASQUERADE"])
        for pod in pods:
            _sysctl(pod.netns, [("net.ipv6.conf.all.disable_ipv6", 0), ("net.ipv6.conf.eth0.disable_ipv6", 0)])
            ip_batch(pod.netns, ["addr add %s/64 dev eth0 nodad" % pod.ip6,
                                 "route add default via %s" % node.router_ip6])
    start_controller(node)


def bound():
    """{logical port: chassis name} from the southbound Port_Binding table."""
    out = {}
    data = json.loads(sbctl("--format=json", "--columns=logical_port,chassis", "find", "port_binding"))
    chassis = {row[0][1]: row[1] for row in json.loads(
        sbctl("--format=json", "--columns=_uuid,name", "list", "chassis"))["data"]}
    for port, ch in data["data"]:
        if isinstance(ch, list) and ch[0] == "uuid":
            out[port] = chassis.get(ch[1])
    return out


def wanted_bindings():
    want = {n.mgmt_port: n.name for n in topo.NODES}
    want.update({p.port: p.node.name for p in topo.PODS})
    return want


def healthy():
    problems = []
    state = load_json(STATE_FILE, {})
    if not state.get("built"):
        problems.append("no lab state (never built or torn down)")
    for name in topo.all_netns():
        if not exists(name):
            problems.append("namespace %s missing" % name)
    for name, path in CENTRAL_PIDFILES.items():
        if not pid_alive(path):
            problems.append("central: %s not running" % name)
    down = set(state.get("nodes_down", []))
    for node in topo.NODES:
        for daemon, pid in node_ovs(node).pids().items():
            if not pid or not _ours(pid):
                problems.append("%s: %s not running" % (node.name, daemon))
        if node.name not in down and not pid_alive(controller_pidfile(node)):
            problems.append("%s: ovn-controller not running" % node.name)
    if not pid_alive(SERVER_PIDFILE):
        problems.append("echo server not running")
    if state.get("ipv6") and not pid_alive(SERVER6_PIDFILE):
        problems.append("IPv6 echo server not running")
    return not problems, problems


def ipv6_enabled():
    return bool(load_json(STATE_FILE, {}).get("ipv6"))


def up(rebuild=False, ipv6=False):
    t0 = time.monotonic()
    if not rebuild and ipv6_enabled() != ipv6 and load_json(STATE_FILE, {}).get("built"):
        log("OVN lab is up %s IPv6, rebuilding" % ("with" if ipv6_enabled() else "without"))
        rebuild = True
    if not rebuild:
        ok, problems = healthy()
        if ok:
            log("OVN lab is up and healthy, reusing it (use --rebuild to start over)")
            return {"reused": True, "seconds": round(time.monotonic() - t0, 2)}
        if load_json(STATE_FILE, None) is not None or any(exists(n) for n in topo.all_netns()):
            log("OVN lab is not healthy (%s), rebuilding" % "; ".join(problems[:3]))
    down(quiet=True)
    os.makedirs(topo.STATE_DIR, exist_ok=True)
    save_json(STATE_FILE, {"built": None, "nodes_down": [], "ipv6": ipv6})
    save_json(LABELS_FILE, {n.name: n.labels for n in topo.NODES})
    for name in topo.all_netns():
        netns_obj(name).create()
    start_central()
    northbound_topology(ipv6)
    build_switch_and_ext(ipv6)
    start_echo_server()
    if ipv6:
        start_echo_server(topo.SERVER_IP6, SERVER6_PIDFILE)
    errors = []

    def worker(node):
        try:
            build_node(node, ipv6)
        except Exception as exc:  # reported below
            errors.append("%s: %s" % (node.name, exc))

    threads = [threading.Thread(target=worker, args=(n,)) for n in topo.NODES]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("building the OVN lab failed: " + "; ".join(errors))
    want = wanted_bindings()
    wait_for(lambda: all(bound().get(p) == c for p, c in want.items()), 30,
             "ovn-controller to bind every port (%d)" % len(want))
    # wait until northd's flows are installed on every chassis
    nbctl("--wait=hv", "sync")
    save_json(STATE_FILE, {"built": time.strftime("%Y-%m-%dT%H:%M:%S"), "nodes_down": [], "ipv6": ipv6})
    announce()
    dump()
    seconds = round(time.monotonic() - t0, 2)
    log("OVN lab is up in %.1fs" % seconds)
    return {"reused": False, "seconds": seconds}


stop_netns_processes = procs.stop_netns_processes


def down(quiet=False):
    for node in topo.NODES:
        stop_pidfile(controller_pidfile(node))
        ovs = node_ovs(node)
        if any(pid and _ours(pid) for pid in ovs.pids().values()):
            ovs.stop()
    for path in CENTRAL_PIDFILES.values():
        stop_pidfile(path)
    stop_pidfile(SERVER_PIDFILE)
    stop_pidfile(SERVER6_PIDFILE)
    procs.delete_namespaces(topo.all_netns(), topo.PREFIX)
    for path in (STATE_FILE, LABELS_FILE, RECORDED_LABELS_FILE, DUMP_FILE):
        if os.path.exists(path):
            os.unlink(path)
    if not quiet:
        log("OVN lab is down")


# ---------------------------------------------------------------- MetalLB stand-in
SERVICE_LABEL = "egress-service.k8s.ovn.org/%s-%s"
# the labels a converge put on nodes ({node: [label, ...]}, written by playbooks/egress_service.yml
# with egress_service_labels_file): the lab's record of what kubernetes.core would set
RECORDED_LABELS_FILE = os.path.join(topo.STATE_DIR, "egress-service-labels.json")
# the lab's stand-in for the API server: `oc get egressservice,service,endpointslice,node -o json`
DUMP_FILE = os.path.join(topo.STATE_DIR, "cluster.json")


def node_labels():
    """{node: {label: value}}: the lab's own labels plus the recorded EgressService labels."""
    labels = load_json(LABELS_FILE, {})
    for node, extra in load_json(RECORDED_LABELS_FILE, {}).items():
        for label in extra or []:
            labels.setdefault(node, {})[label] = ""
    return labels


def dump():
    """Write DUMP_FILE: the lab's cluster as Kubernetes objects (a List, as `oc get -o json`)."""
    labels = node_labels()
    down = set(load_json(STATE_FILE, {}).get("nodes_down", []))
    ipv6 = ipv6_enabled()
    items = []
    for node in topo.NODES:
        items.append({"apiVersion": "v1", "kind": "Node",
                      "metadata": {"name": node.name, "labels": dict(labels.get(node.name, {})),
                                   "annotations": {"k8s.ovn.org/node-subnets": json.dumps(
                                       {"default": [node.subnet] + ([node.subnet6] if ipv6 else [])})}},
                      "status": {"addresses": [{"type": "InternalIP", "address": ip} for ip in
                                               [node.host_ip] + ([node.host_ip6] if ipv6 else [])],
                                 "conditions": [{"type": "Ready",
                                                 "status": "False" if node.name in down else "True"}]}})
    for svc in topo.services(ipv6):
        items.append({"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": svc.namespace, "name": svc.name},
                      "spec": {"type": "LoadBalancer", "externalTrafficPolicy": svc.etp, "selector": {"app": svc.selector}},
                      "status": {"loadBalancer": {"ingress": [{"ip": svc.lb_ip}]}}})
        items.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                      "metadata": {"namespace": svc.namespace, "name": "%s-lab" % svc.name,
                                   "labels": {"kubernetes.io/service-name": svc.name}},
                      "addressType": "IPv6" if svc.family == 6 else "IPv4",
                      "endpoints": [{"addresses": [topo.endpoint_ip(svc, p)], "nodeName": p.node.name,
                                     "conditions": {"ready": True}} for p in topo.endpoints(svc)]})
        if svc.egress is not None:
            items.append({"apiVersion": "k8s.ovn.org/v1", "kind": "EgressService",
                          "metadata": {"namespace": svc.namespace, "name": svc.name}, "spec": dict(svc.egress)})
    save_json(DUMP_FILE, {"apiVersion": "v1", "kind": "List", "items": items})
    return DUMP_FILE


def holders():
    """{service key: node name} from the node labels (the first labelled node wins)."""
    labels = node_labels()
    out = {}
    for svc in topo.services(ipv6_enabled()):
        for node in topo.NODES:
            if SERVICE_LABEL % (svc.namespace, svc.name) in labels.get(node.name, {}):
                out.setdefault(svc.key, node.name)
                break
    return out


def set_label(node_name, label, present):
    labels = load_json(LABELS_FILE, {})
    node_labels = labels.setdefault(node_name, {})
    if present:
        node_labels[label] = ""
    else:
        node_labels.pop(label, None)
    save_json(LABELS_FILE, labels)


def announce():
    """Route each LB IP from the external router to the node labelled for its service (what a
    MetalLB BGPAdvertisement selecting on the label does); unlabelled: to the first node."""
    held = holders()
    lines = []
    for svc in topo.services(ipv6_enabled()):
        node = topo.NODE_BY_NAME[held.get(svc.key, topo.NODES[0].name)]
        if svc.family == 6:
            lines.append("route replace %s/128 via %s" % (svc.lb_ip, node.host_ip6))
        else:
            lines.append("route replace %s/32 via %s" % (svc.lb_ip, node.host_ip))
    ip_batch(topo.EXT_NS, lines)
    return held


# ---------------------------------------------------------------- node failure
def node_down(name):
    node = topo.NODE_BY_NAME[name]
    ip_batch(node.netns, ["link set eth0 down"])
    state = load_json(STATE_FILE, {})
    state["nodes_down"] = sorted(set(state.get("nodes_down", [])) | {name})
    save_json(STATE_FILE, state)
    dump()
    log("%s is down (eth0 down, NotReady in %s)" % (name, DUMP_FILE))


def node_up(name):
    node = topo.NODE_BY_NAME[name]
    ip_batch(node.netns, ["link set eth0 up"])
    state = load_json(STATE_FILE, {})
    state["nodes_down"] = sorted(set(state.get("nodes_down", [])) - {name})
    save_json(STATE_FILE, state)
    dump()
    log("%s is up" % name)


def status():
    ok, problems = healthy()
    state = load_json(STATE_FILE, {})
    out = {"healthy": ok, "problems": problems, "built": state.get("built"), "nodes_down": state.get("nodes_down", []),
           "state_dir": topo.STATE_DIR, "nb_db": NB_DB, "sb_db": SB_DB, "nodes": [],
           "central": {k: pid_alive(v) for k, v in CENTRAL_PIDFILES.items()}}
    for node in topo.NODES:
        pids = node_ovs(node).pids()
        out["nodes"].append({"name": node.name, "netns": node.netns, "host_ip": node.host_ip, "subnet": node.subnet,
                             "mgmt_ip": node.mgmt_ip, "ovsdb_server": pids["ovsdb-server"],
                             "ovs_vswitchd": pids["ovs-vswitchd"],
                             "ovn_controller": pid_alive(controller_pidfile(node))})
    out["echo_server"] = pid_alive(SERVER_PIDFILE)
    return out
