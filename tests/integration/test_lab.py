"""End-to-end check of the built-in lab's dataplane, without the collection.

Brings a fresh lab up (`lab/lab.py up --rebuild`; this replaces a running lab), checks that pods
leave with their node IP, installs egress IPs BY HAND with the exact argv of the spec
(sections 3-5: source-node tunnel flow, egress-node mark flow with tun0's mac_in_use, SNAT by
mark above the OPENSHIFT-MASQUERADE-2 jump, REJECT, `ip addr add`) and asserts that the
external server sees the egress IP from pods on several nodes (local and over VXLAN), proves
that the lab-only pkt_mark shim is what carries the mark to the kernel, and that a dead egress
node fails closed. Tears the lab down at the end.

The class TestLayout48 does the same for the lab's openshift-sdn 4.8+ layout (`lab.py up --layout
sdn48`): it writes the 4.8 objects by hand (select groups, table-101 flows, SNAT and MASQUERADE
by the 4.8 mark) and asserts with real traffic from fixed source ports that a namespace with two
egress IPs leaves with both, that the lab's br-shim is what carries the mark, that failover and a
namespace with no live egress node behave, and what `lab.py check` reports.

Set SDNLAB_IPTABLES=legacy to run it against iptables-legacy in the nodes. The lab is one per
machine: the module holds /tmp/sdnlab-dev.lock while it uses it (do not wrap it in `flock`).
"""
import fcntl
import json
import os
import subprocess
import sys

import pytest

from sdnlab import check, cluster, sdn
from sdnlab import topology as topo

ROOT = topo.REPO_ROOT
LAB = [sys.executable, os.path.join(ROOT, "lab", "lab.py")]
BACKEND = os.environ.get("SDNLAB_IPTABLES", "nft")
LAB_LOCK = "/tmp/sdnlab-dev.lock"


def mark_for_vnid(vnid, masquerade_bit=0x1):
    """openshift-sdn 3.x getMarkForVNID (spec section 2)."""
    if vnid == 0:
        vnid = 0xFF000000
    if vnid & masquerade_bit:
        vnid = (vnid | 0x01000000) ^ masquerade_bit
    return "0x%x" % vnid


# project -> (egress IP, egress node, interface holding it)
HAND_EGRESS = {
    "egress-test3": ("198.51.100.53", "router02", "eth1"),
    "egress-test2": ("198.51.100.51", "router01", "eth1"),
    "egress-test": ("192.0.2.51", "router01", "br-phy"),
}


def lab_cli(*args, check_rc=True):
    proc = subprocess.run(LAB + list(args), capture_output=True, text=True, timeout=300, check=False)
    if check_rc and proc.returncode != 0:
        raise AssertionError("lab.py %s failed rc=%d\n%s%s" % (" ".join(args), proc.returncode, proc.stdout, proc.stderr))
    return proc


def node_env(node):
    return dict(os.environ, OVS_RUNDIR=node.ovs_rundir)


def sh(argv, env=None, netns=None):
    if netns:
        argv = ["ip", "netns", "exec", netns] + argv
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 0, "%s: %s" % (argv, proc.stderr)
    return proc.stdout


def iptables(node, *args):
    return sh([sdn.iptables_cmd(cluster.node_backend(node))] + list(args), netns=node.netns)


def seen_from(project, nodes=None, protos=("tcp", "udp"), timeout=3.0):
    """{(node, proto): source IP the server saw or None} for the project's pods."""
    out = {}
    for pod in topo.pods():
        if pod.project.name != project or (nodes and pod.node.name not in nodes):
            continue
        for proto in protos:
            out[(pod.node.name, proto)] = check.probe(pod, proto, timeout).get("seen")
    return out


@pytest.fixture(scope="module")
def lablock():
    """The lab's lock for the whole module (another lab user waits, and this module waits for it)."""
    with open(LAB_LOCK, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="module")
def lab(lablock):
    lab_cli("up", "--rebuild", "--iptables", BACKEND)
    try:
        yield
    finally:
        lab_cli("down", check_rc=False)
        leftovers = [n for n in os.listdir("/run/netns") if n.startswith(topo.PREFIX)] if os.path.isdir("/run/netns") else []
        assert not leftovers, "lab.py down left namespaces: %s" % leftovers


def test_marks_match_spec():
    assert mark_for_vnid(3064846) == "0x2ec40e"
    assert mark_for_vnid(7305526) == "0x6f7936"
    assert mark_for_vnid(14640467) == "0x1df6552"


def test_lab_is_healthy_and_reachable_over_ssh(lab):
    st = json.loads(lab_cli("status", "--json").stdout)
    assert st["healthy"], st["problems"]
    assert {n["iptables"] for n in st["nodes"]} == {BACKEND}
    node = topo.NODE_BY_NAME["router01"]
    out = sh(["ssh", "-i", cluster.CLIENT_KEY, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
              "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
              "root@%s" % node.mgmt_ip, "ip", "-o", "-4", "addr", "show", "dev", "br-phy"])
    assert node.host_ip in out                      # the shell runs inside the node's namespace


def test_without_egress_every_pod_leaves_with_its_node_ip(lab):
    for project in ("plain", "egress-test3"):
        seen = seen_from(project)
        assert seen, project
        for (node, proto), ip in seen.items():
            assert ip == topo.NODE_BY_NAME[node].host_ip, (project, node, proto, ip)
    # check: plain is fine, the egress projects are not converged yet
    assert lab_cli("check", "--project", "plain").returncode == 0
    proc = lab_cli("check", "--json", "--project", "egress-test3", check_rc=False)
    assert proc.returncode == 1
    assert {r["result"] for r in json.loads(proc.stdout)["rows"]} == {"MISMATCH"}


@pytest.mark.parametrize("project", list(HAND_EGRESS))
def test_egress_by_hand(lab, project):
    egress_ip, egress_name, ifname = HAND_EGRESS[project]
    vnid = topo.PROJECT_BY_NAME[project].vnid
    mark = mark_for_vnid(vnid)
    egress = topo.NODE_BY_NAME[egress_name]
    reg0 = "0x%x" % vnid
    # source nodes: tunnel the namespace's traffic to the egress node
    for node in topo.NODES:
        if node is egress:
            continue
        sh(["ovs-ofctl", "-O", "OpenFlow13", "add-flow", "br0",
            "table=100, priority=100, ip, reg0=%s, actions=move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],"
            "set_field:%s->tun_dst,output:1" % (reg0, egress.host_ip)], env=node_env(node))
    # egress node: tun0 MAC + pkt_mark, then the SDN's table 101 (-> tun0)
    mac = sh(["ovs-vsctl", "get", "Interface", "tun0", "mac_in_use"], env=node_env(egress)).strip().strip('"')
    sh(["ovs-ofctl", "-O", "OpenFlow13", "add-flow", "br0",
        "table=100, priority=100, ip, reg0=%s, actions=set_field:%s->eth_dst,set_field:%s->pkt_mark,goto_table:101"
        % (reg0, mac, mark)], env=node_env(egress))
    iptables(egress, "-t", "nat", "-I", "OPENSHIFT-MASQUERADE", "-s", topo.CLUSTER_CIDR, "-m", "mark", "--mark", mark,
             "-j", "SNAT", "--to-source", egress_ip)
    iptables(egress, "-t", "filter", "-A", "OPENSHIFT-FIREWALL-ALLOW", "-d", egress_ip, "-m", "conntrack",
             "--ctstate", "NEW", "-j", "REJECT")
    sh(["ip", "addr", "add", "%s/24" % egress_ip, "dev", ifname], netns=egress.netns)

    rules = iptables(egress, "-t", "nat", "-S", "OPENSHIFT-MASQUERADE").splitlines()
    snat = [i for i, r in enumerate(rules) if "--to-source %s" % egress_ip in r]
    jump = [i for i, r in enumerate(rules) if r.endswith("-j OPENSHIFT-MASQUERADE-2")]
    assert snat and jump and snat[0] < jump[0], rules

    seen = seen_from(project)
    remote = {node for (node, dummy), _ip in seen.items() if node != egress_name}
    assert remote, "need a pod on a node other than the egress node (VXLAN path)"
    assert len({node for node, dummy in seen}) >= 2
    assert seen == {key: egress_ip for key in seen}, seen
    # other projects are untouched
    for (node, proto), ip in seen_from("plain").items():
        assert ip == topo.NODE_BY_NAME[node].host_ip


def test_check_reports_hand_egress_ok(lab):
    proc = lab_cli("check", "--json", check_rc=False)
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stdout
    assert report["ok"]
    assert {r["result"] for r in report["rows"]} == {"OK"}


def test_mark_shim_carries_pkt_mark_to_the_kernel(lab):
    """The SNAT above only works because the lab's table-101 shim turns pkt_mark into the skb mark."""
    egress = topo.NODE_BY_NAME["router02"]
    mark = mark_for_vnid(topo.PROJECT_BY_NAME["egress-test3"].vnid)
    iptables(egress, "-t", "mangle", "-A", "POSTROUTING", "-m", "mark", "--mark", mark,
             "-m", "comment", "--comment", "sdnlab-test-mark-counter")
    try:
        assert seen_from("egress-test3", protos=("tcp",)) == {
            (n, "tcp"): "198.51.100.53" for n in topo.PROJECT_BY_NAME["egress-test3"].nodes}
        counters = iptables(egress, "-t", "mangle", "-L", "POSTROUTING", "-v", "-x", "-n")
        line = [l for l in counters.splitlines() if "sdnlab-test-mark-counter" in l][0]
        assert int(line.split()[0]) > 0, line               # packets carrying the mark
        # without the shim flows the mark never reaches the kernel: MASQUERADE with the node IP
        sh(["ovs-ofctl", "-O", "OpenFlow13", "del-flows", "br0", "cookie=%s/-1,table=101,ip" % topo.LAB_COOKIE],
           env=node_env(egress))
        sh(["ovs-ofctl", "-O", "OpenFlow13", "add-flow", "br0",
            "cookie=%s,table=101,priority=0,actions=output:2" % topo.LAB_COOKIE], env=node_env(egress))
        assert set(seen_from("egress-test3", nodes=["router02", "master01"]).values()) == {egress.host_ip}
    finally:
        subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "add-flows", "br0", "-"], env=node_env(egress),
                       input="\n".join(sdn.mark_shim_flows()) + "\n", text=True, check=True)
        iptables(egress, "-t", "mangle", "-D", "POSTROUTING", "-m", "mark", "--mark", mark,
                 "-m", "comment", "--comment", "sdnlab-test-mark-counter")
    assert set(seen_from("egress-test3").values()) == {"198.51.100.53"}


def test_node_down_fails_closed_and_node_up_recovers(lab):
    lab_cli("node-down", "router02")
    try:
        proc = lab_cli("check", "--json", "--project", "egress-test3", "--timeout", "2", check_rc=False)
        report = json.loads(proc.stdout)
        assert proc.returncode == 0, proc.stdout
        results = {(r["node"], r["result"]) for r in report["rows"]}
        assert results == {("master01", "OK"), ("router01", "OK"), ("router02", "SKIP")}
        assert all(r["expected"] == check.DROP and r["seen"] is None for r in report["rows"] if r["node"] != "router02")
        st = json.loads(lab_cli("status", "--json", check_rc=False).stdout)
        assert st["nodes_down"] == ["router02"]
    finally:
        lab_cli("node-up", "router02")
    assert set(seen_from("egress-test3").values()) == {"198.51.100.53"}


# ---------------------------------------------------------------- layout sdn48 (openshift-sdn 4.8+)
COOKIE = "cookie=0x65677265,"
SPORTS = [40001 + i for i in range(16)]


def mark_for_vnid_48(vnid, masquerade_bit=0x1):
    """openshift-sdn 4.8+ getMarkForVNID (spec section 2 / 3b): bit 15 moved to bit 28 first."""
    if vnid == 0:
        vnid = 0xFF000000
    if vnid & 0x8000:
        vnid = (vnid | 0x10000000) ^ 0x8000
    if vnid & masquerade_bit:
        vnid = (vnid | 0x01000000) ^ masquerade_bit
    return "0x%x" % vnid


def ofctl(node, *args, input=None):
    proc = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13"] + list(args), capture_output=True, text=True,
                          env=node_env(node), input=input, timeout=60, check=False)
    assert proc.returncode == 0, "%s: %s" % (args, proc.stderr)
    return proc.stdout


def node_ovs_appctl(node, *args):
    return sh(["ovs-appctl"] + list(args), env=node_env(node))


def vsctl_get(node, ifname, column):
    return sh(["ovs-vsctl", "get", "Interface", ifname, column], env=node_env(node)).strip().strip('"')


def install_sdn48(project, placements, down=(), claim=True):
    """Write BY HAND what the collection writes for `project` in the 4.8+ layout (spec 3b):
    placements [(egress IP, node name, interface)]. Egress nodes: address, SNAT + MASQUERADE by
    mark, a select group with exactly one local bucket and a flow to it without ct(commit).
    Other nodes: a select group with one bucket per live egress node, `ct(commit),group`; none
    live: a drop flow and no group. claim=False writes the flows and groups only."""
    vnid = topo.PROJECT_BY_NAME[project].vnid
    mark = mark_for_vnid_48(vnid)
    holders = {name for dummy, name, dummy in placements}
    live = [(ip, name, ifname) for ip, name, ifname in placements if name not in down]
    for node in topo.NODES:
        if node.name in down:
            continue
        local = [p for p in live if p[1] == node.name]
        if local:
            mac, ofport = vsctl_get(node, "tun0", "mac_in_use"), vsctl_get(node, "tun0", "ofport")
            ofctl(node, "add-group", "br0", "group_id=%d,type=select,bucket=actions=set_field:%s->eth_dst,"
                  "set_field:%s->pkt_mark,output:%s" % (vnid, mac, mark, ofport))
            ofctl(node, "add-flow", "br0", COOKIE + "table=101,priority=100,ip,reg0=0x%x,actions=group:%d" % (vnid, vnid))
        elif live:
            buckets = ",".join("bucket=actions=move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:%s->tun_dst,output:1"
                               % topo.NODE_BY_NAME[name].host_ip for dummy, name, dummy in live)
            ofctl(node, "add-group", "br0", "group_id=%d,type=select,%s" % (vnid, buckets))
            ofctl(node, "add-flow", "br0",
                  COOKIE + "table=101,priority=100,ip,reg0=0x%x,actions=ct(commit),group:%d" % (vnid, vnid))
        else:
            ofctl(node, "add-flow", "br0", COOKIE + "table=101,priority=100,reg0=0x%x,actions=drop" % vnid)
        if claim and node.name in holders:
            for ip, dummy, ifname in [p for p in placements if p[1] == node.name]:
                iptables(node, "-t", "nat", "-I", "OPENSHIFT-MASQUERADE", "-s", topo.CLUSTER_CIDR, "-m", "mark",
                         "--mark", mark, "-j", "SNAT", "--to-source", ip)
                iptables(node, "-t", "nat", "-I", "OPENSHIFT-MASQUERADE", "-s", topo.CLUSTER_CIDR, "-d",
                         topo.CLUSTER_CIDR, "-m", "mark", "--mark", mark, "-j", "MASQUERADE")
                sh(["ip", "addr", "add", "%s/24" % ip, "dev", ifname], netns=node.netns)


def remove_sdn48_flows(project):
    """The flows and groups of `project` on every node (addresses and rules stay, as on a failover)."""
    vnid = topo.PROJECT_BY_NAME[project].vnid
    for node in topo.NODES:
        ofctl(node, "del-flows", "br0", "cookie=0x65677265/-1,table=101,reg0=0x%x" % vnid)
        ofctl(node, "del-groups", "br0", "group_id=%d" % vnid)


def seen_48(project, node, proto="tcp", timeout=3.0):
    """[source IP or None per fixed source port] from the project's pod on `node`."""
    pod = [p for p in topo.pods() if p.project.name == project and p.node.name == node][0]
    res = check.probe(pod, proto, timeout, SPORTS)
    return [c["seen"] for c in res["connections"]]


def check_json(*args):
    proc = lab_cli("check", "--json", *args, check_rc=False)
    return proc.returncode, json.loads(proc.stdout)


def test_marks_match_spec_48():
    assert mark_for_vnid_48(3064846) == "0x102e440e"
    assert mark_for_vnid_48(7305526) == "0x6f7936"
    assert mark_for_vnid_48(14640467) == "0x1df6552"


@pytest.fixture(scope="class")
def lab48(lablock):
    """A fresh lab in the 4.8+ layout for the tests of one class (replaces the 3.x lab)."""
    lab_cli("up", "--rebuild", "--layout", "sdn48", "--iptables", BACKEND)
    try:
        yield
    finally:
        lab_cli("down", check_rc=False)


class TestLayout48:
    """The lab in the 4.8+ layout, with the 4.8 objects written by hand (no collection code)."""

    def test_tables_and_ports_as_48_lays_them_out(self, lab48):
        st = json.loads(lab_cli("status", "--json").stdout)
        assert st["healthy"] and st["layout"] == "sdn48", st
        node = topo.NODE_BY_NAME["master01"]
        flows = ofctl(node, "--no-stats", "dump-flows", "br0", "table=101")
        assert sorted(l.strip() for l in flows.splitlines()) == [
            "cookie=0x1ab, table=101, priority=0 actions=output:2",
            "cookie=0x1ab, table=101, priority=150,ct_state=+rpl actions=output:2"]
        dns = ofctl(node, "--no-stats", "dump-flows", "br0", "table=99")
        assert "tcp,nw_dst=%s,tp_dst=53 actions=output:2" % node.host_ip in dns
        assert "goto_table:100" in dns
        assert "goto_table:101" in ofctl(node, "--no-stats", "dump-flows", "br0", "table=100")
        # the product reads tun0 by name: ofport 2, and its MAC is the one the kernel's gateway has
        assert vsctl_get(node, "tun0", "ofport") == "2"
        assert vsctl_get(node, "tun0", "type") == "patch"
        link = json.loads(sh(["ip", "-j", "link", "show", "dev", topo.GATEWAY_IF["sdn48"]], netns=node.netns))
        assert link[0]["address"] == vsctl_get(node, "tun0", "mac_in_use")
        # up reuses a healthy lab of the same layout
        assert "reusing" in lab_cli("up", "--layout", "sdn48", "--iptables", BACKEND).stderr

    def test_pods_without_egress_leave_with_their_node_ip(self, lab48):
        for node in ("master01", "router01"):
            assert set(seen_48("plain", node)) == {topo.NODE_BY_NAME[node].host_ip}
        rc, report = check_json("--project", "plain")
        assert rc == 0 and report["layout"] == "sdn48" and report["connections"] == 16, report

    def test_replies_take_the_rpl_flow(self, lab48):
        """Table 101's ct_state=+rpl flow is live: every IP packet went through ct() in table 0."""
        node = topo.NODE_BY_NAME["master01"]
        pod = [p for p in topo.pods_on(node) if p.project.name == "egress-test"][0]
        flow = "in_port=%d,tcp,dl_src=%s,nw_src=%s,nw_dst=%s,tp_src=40001,tp_dst=%d" % (
            pod.ofport, pod.mac, pod.ip, topo.SERVER_IP, topo.SERVER_PORT)
        trace = node_ovs_appctl(node, "ofproto/trace", "br0", flow, "--ct-next", "trk,est,rpl")
        assert "ct(table=0)" in trace
        assert "101. ct_state=+rpl, priority 150" in trace, trace

    def test_two_egress_ips_are_load_balanced(self, lab48):
        install_sdn48("egress-test", [("192.0.2.51", "router01", "br-phy"), ("192.0.2.52", "router02", "br-phy")])
        # master01 has no egress IP of egress-test: its group hashes each flow onto a live node
        seen = seen_48("egress-test", "master01")
        assert set(seen) == {"192.0.2.51", "192.0.2.52"}, seen
        assert seen_48("egress-test", "master01") == seen            # same ports, same buckets
        # an egress node's only bucket is local
        assert set(seen_48("egress-test", "router01")) == {"192.0.2.51"}
        assert set(seen_48("egress-test", "router02", proto="udp")) == {"192.0.2.52"}
        rc, report = check_json("--project", "egress-test")
        assert rc == 0, report
        master = [r for r in report["rows"] if r["node"] == "master01" and r["proto"] == "tcp"][0]
        assert master["seen"] == ["192.0.2.51", "192.0.2.52"] and master["expected"] == master["seen"], master
        assert master["answered"] == master["connections"] == len(SPORTS)

    def test_bit_15_mark_reaches_the_kernel_through_the_shim(self, lab48):
        """egress-test3's 4.8 mark 0x102e440e (bit 28) goes through the lab's br-shim; without the
        shim's mark flow the mark never reaches the kernel and the pod leaves with the node IP."""
        install_sdn48("egress-test3", [("198.51.100.53", "router02", "eth1")])
        for node in ("master01", "router01", "router02"):
            assert set(seen_48("egress-test3", node)) == {"198.51.100.53"}, node
        egress = topo.NODE_BY_NAME["router02"]
        mark_flow = [f for f in sdn.shim_bridge_flows() if "NXM_NX_PKT_MARK" in f][0]
        ofctl(egress, "del-flows", topo.SHIM_BRIDGE, "cookie=%s/-1,table=0,priority=150,in_port=1,ip"
              % topo.LAB_COOKIE, "--strict")
        try:
            assert set(seen_48("egress-test3", "router02")) == {egress.host_ip}
        finally:
            ofctl(egress, "add-flow", topo.SHIM_BRIDGE, mark_flow)
        assert set(seen_48("egress-test3", "router02")) == {"198.51.100.53"}

    def test_failover_drops_the_dead_nodes_bucket(self, lab48):
        lab_cli("node-down", "router01")
        try:
            # router01 died: its bucket is dead, the flows through it get nowhere
            seen = seen_48("egress-test", "master01", timeout=2)
            assert None in seen and set(seen) - {None} == {"192.0.2.52"}, seen
            rc, report = check_json("--project", "egress-test", "--timeout", "2")
            assert rc == 1
            assert {r["result"] for r in report["rows"] if r["node"] == "master01" and r["proto"] == "tcp"} == {"FAIL"}
            # what the collection does on the failover: the group without router01's bucket
            remove_sdn48_flows("egress-test")
            install_sdn48("egress-test", [("192.0.2.51", "router01", "br-phy"), ("192.0.2.52", "router02", "br-phy")],
                          down={"router01"}, claim=False)
            assert set(seen_48("egress-test", "master01")) == {"192.0.2.52"}
            rc, report = check_json("--project", "egress-test")
            assert rc == 0, report
            assert {r["node"] for r in report["rows"] if r["result"] == "SKIP"} == {"router01"}
        finally:
            lab_cli("node-up", "router01")

    def test_no_live_egress_node_gets_nothing_out(self, lab48):
        lab_cli("node-down", "router01")
        try:
            # egress-test2's only egress IP is on router01: without flows its pods leak the node IP
            rc, report = check_json("--project", "egress-test2", "--timeout", "2")
            assert rc == 1 and {r["result"] for r in report["rows"]} == {"LEAK", "SKIP"}, report
            install_sdn48("egress-test2", [("198.51.100.51", "router01", "eth1")], down={"router01"})
            for node in ("master01", "router02"):
                assert seen_48("egress-test2", node, timeout=2) == [None] * len(SPORTS)
            rc, report = check_json("--project", "egress-test2", "--timeout", "2")
            assert rc == 0, report
            assert all(r["drop"] and r["seen"] == [] for r in report["rows"] if r["result"] != "SKIP")
        finally:
            lab_cli("node-up", "router01")

    def test_layout_change_rebuilds(self, lab48):
        proc = lab_cli("up", "--layout", "sdn3", "--iptables", BACKEND)
        assert "rebuilding for layout sdn3" in proc.stderr, proc.stderr
        assert json.loads(lab_cli("status", "--json").stdout)["layout"] == "sdn3"
        assert ofctl(topo.NODE_BY_NAME["master01"], "--no-stats", "dump-flows", "br0", "table=99") == ""
