# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/egress.yml with egress_layout=sdn48 against the lab in its 4.8+ layout.

What the converge writes on each node (table-101 flows, select groups and the bridge's record of
them, SNAT with the 4.8 mark and its MASQUERADE rule), that a second run and a check run change
nothing, that check mode reports a deleted group and a real run puts it back, that a node going
away drops its bucket, and what the external server sees (lab/lab.py check). The lab is shared
with molecule and the demo: the module holds the lab lock file, builds the lab fresh and brings
it down at the end.
"""
import json

import pytest

from sdnlab import cluster, sdn  # conftest puts lab/ and this directory on the path
from sdnlab import topology as topo

import labplay
from labplay import COOKIE, NODES, changed, in_node, lab_cli, ovs

# the lab inventory: egress-test 7305526 (0x6f7936) 192.0.2.51 router01 + 192.0.2.52 router02,
# egress-test2 14640467 (0xdf6553) 198.51.100.51 router01, egress-test3 3064846 (0x2ec40e)
# 198.51.100.53 router02; 4.8 marks 0x6f7936, 0x1df6552, 0x102e440e (bit 15 -> bit 28)
TEST, TEST2, TEST3 = 7305526, 14640467, 3064846

lab = labplay.lab_fixture("--layout", "sdn48")


def playbook(*args, check=False):
    return labplay.playbook("-e", "egress_layout=sdn48", *args, check=check)


def iptables(node, tool="iptables"):
    """The iptables binary of the backend the lab built `node` with."""
    return sdn.iptables_cmd(cluster.node_backend(topo.NODE_BY_NAME[node]), tool)


def node_state(node):
    """What we own on a node, read independently of the modules."""
    flows = ovs(node, "ovs-ofctl", "-O", "OpenFlow13", "--no-stats", "dump-flows", "br0")
    groups = ovs(node, "ovs-ofctl", "-O", "OpenFlow13", "dump-groups", "br0")
    nat = in_node(node, iptables(node, "iptables-save"), "-t", "nat")
    return {"flows": sorted(line.strip() for line in flows.splitlines() if COOKIE in line),
            "groups": sorted(line.strip() for line in groups.splitlines() if "group_id=" in line),
            "snat": sorted(line for line in nat.splitlines() if "sdn.egress" in line)}


def all_state():
    return {node: node_state(node) for node in NODES}


def group_of(state, vnid):
    found = [g for g in state["groups"] if g.startswith("group_id=%d," % vnid)]
    assert len(found) <= 1, found
    return found[0] if found else None


def tun0(node):
    get = ["ovs-vsctl", "get", "Interface", "tun0"]
    return ovs(node, *get, "mac_in_use").strip().strip('"'), ovs(node, *get, "ofport").strip()


def check_report(*args):
    proc = lab_cli("check", "--json", *args)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def converged(lab):
    first = playbook()
    assert first["rc"] == 0, first
    assert all(changed(first)[node] > 0 for node in NODES), changed(first)
    second = playbook()
    assert second["rc"] == 0 and set(changed(second).values()) == {0}, changed(second)
    return all_state()


def test_converge_writes_the_48_objects(converged):
    master, r1, r2 = (converged[n] for n in NODES)
    # every owned flow is in table 101 at priority 100
    for node in NODES:
        assert converged[node]["flows"], node
        assert all(", table=101, priority=100," in f for f in converged[node]["flows"]), converged[node]["flows"]
    # master01 holds no egress IP: ct(commit) and a select group with one tunnel bucket per egress node
    assert any("reg0=0x6f7936 actions=ct(commit),group:%d" % TEST in f for f in master["flows"]), master["flows"]
    group = group_of(master, TEST)
    assert group.count("bucket=") == 2 and "type=select" in group, group
    assert group.index("set_field:192.0.2.12->tun_dst") < group.index("set_field:192.0.2.13->tun_dst"), group
    # each egress node: the flow to the group without ct(commit), and exactly one local bucket
    for state, node, mark in ((r1, "router01", "0x6f7936"), (r2, "router02", "0x6f7936"), (r2, "router02", "0x102e440e")):
        vnid = TEST if mark == "0x6f7936" else TEST3
        assert any("reg0=0x%x actions=group:%d" % (vnid, vnid) in f for f in state["flows"]), (node, state["flows"])
        group = group_of(state, vnid)
        mac, ofport = tun0(node)
        assert group.count("bucket=") == 1, group
        assert "set_field:%s->eth_dst,set_field:%s->pkt_mark,output:%s" % (mac, mark, ofport) in group, group
    # the bridge records the groups we own
    record = ovs("master01", "ovs-vsctl", "get", "Bridge", "br0", "external_ids")
    assert "sdn-egress-groups-65677265" in record and str(TEST) in record, record
    # SNAT by the 4.8 mark with the MASQUERADE rule for cluster traffic right above it
    nat = in_node("router02", iptables("router02"), "-t", "nat", "-S", "OPENSHIFT-MASQUERADE").splitlines()
    ours = [r for r in nat if "--mark 0x102e440e" in r]
    assert len(ours) == 2, nat
    assert "-d 10.128.0.0/14" in ours[0] and ours[0].endswith("-j MASQUERADE"), ours
    assert ours[1].endswith("-j SNAT --to-source 198.51.100.53") and nat.index(ours[1]) == nat.index(ours[0]) + 1, nat
    assert master["snat"] == []


def test_traffic_is_load_balanced(converged):
    report = check_report()
    assert report["ok"], [r for r in report["rows"] if r["result"] != "OK"]
    row = [r for r in report["rows"] if r["project"] == "egress-test" and r["node"] == "master01" and r["proto"] == "tcp"][0]
    assert row["seen"] == ["192.0.2.51", "192.0.2.52"], row


def test_check_mode_reports_a_deleted_group_and_a_run_repairs_it(converged):
    ovs("master01", "ovs-ofctl", "-O", "OpenFlow13", "del-groups", "br0", "group_id=%d" % TEST3)
    drifted = all_state()
    assert group_of(drifted["master01"], TEST3) is None
    report = playbook(check=True)
    assert report["rc"] == 0, report
    assert changed(report) == {"master01": 1, "router01": 0, "router02": 0}, changed(report)
    assert all_state() == drifted
    repair = playbook()
    assert repair["rc"] == 0 and changed(repair)["master01"] > 0
    assert all_state() == converged


def test_a_node_going_away_drops_its_bucket(converged):
    proc = lab_cli("node-down", "router01")
    assert proc.returncode == 0, proc.stderr
    try:
        doc = playbook()
        assert doc["rc"] == 0, doc
        master = node_state("master01")
        group = group_of(master, TEST)
        assert group.count("bucket=") == 1 and "set_field:192.0.2.13->tun_dst" in group, group
        # egress-test2 has no live egress node: a drop flow and no group
        assert group_of(master, TEST2) is None
        assert any("reg0=0xdf6553 actions=drop" in f for f in master["flows"]), master["flows"]
        report = check_report()
        assert report["ok"], [r for r in report["rows"] if r["result"] != "OK"]
        rows = [r for r in report["rows"] if r["result"] != "SKIP"]
        assert {tuple(r["seen"]) for r in rows if r["project"] == "egress-test"} == {("192.0.2.52",)}
        assert {r["answered"] for r in rows if r["project"] == "egress-test2"} == {0}
    finally:
        assert lab_cli("node-up", "router01").returncode == 0
    back = playbook()
    assert back["rc"] == 0
    assert all_state() == converged
