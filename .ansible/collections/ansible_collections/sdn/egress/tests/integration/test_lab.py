"""End-to-end check of the built-in lab's dataplane, without the collection.

Brings a fresh lab up (`lab/lab.py up --rebuild`; this replaces a running lab), checks that pods
leave with their node IP, installs egress IPs BY HAND with the exact argv of the spec
(sections 3-5: source-node tunnel flow, egress-node mark flow with tun0's mac_in_use, SNAT by
mark above the OPENSHIFT-MASQUERADE-2 jump, REJECT, `ip addr add`) and asserts that the
external server sees the egress IP from pods on several nodes (local and over VXLAN), proves
that the lab-only pkt_mark shim is what carries the mark to the kernel, and that a dead egress
node fails closed. Tears the lab down at the end.

Set SDNLAB_IPTABLES=legacy to run it against iptables-legacy in the nodes.
"""
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
def lab():
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
