# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dataplane failover in the built-in lab: playbooks/egress.yml with egress_failover=dataplane,
then an egress node's links cut with NO playbook run.

egress-test lists 192.0.2.51 (router01) then 192.0.2.52 (router02); egress-test2 only
198.51.100.51 (router01). Pods stream UDP to a sink next to the echo server (lab/sdnlab/stream.py),
which records the source address and time of every datagram. The lab lock is held for the
module, the lab is built fresh and brought down at the end.
"""
import json
import os
import shlex
import subprocess
import time

from sdnlab import topology as topo  # conftest puts lab/ and this directory on the path
from sdnlab.stream import Streams, first

import labplay
from labplay import LAB, ROOT, in_node, ovs

NODE_IPS = set(node.host_ip for node in topo.NODES)
FIRST, SECOND, ONLY = "192.0.2.51", "192.0.2.52", "198.51.100.51"
SOURCES = [("sdnlab-pod-egress-test-master01", "egress-test-master01"),
           ("sdnlab-pod-egress-test-router02", "egress-test-router02"),
           ("sdnlab-pod-egress-test2-master01", "egress-test2-master01"),
           ("sdnlab-pod-egress-test2-router02", "egress-test2-router02")]


lab = labplay.lab_fixture(before_down=[("node-up", "router01")])


def playbook(*args):
    # the report where the assertions below read it (the default is the user's state directory)
    return labplay.playbook("-e", "egress_failover=dataplane", "-e", "egress_report_dir=" + os.path.join(ROOT, "reports"),
                            *args)


def changed_tasks(doc):
    """{host: [(task name, its commands)]} of the tasks that changed (or would) in a run."""
    out = {}
    for play in doc["plays"]:
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                if result.get("changed"):
                    out.setdefault(host, []).append((task["task"]["name"], result.get("commands")))
    return out


def pod_to_pod(tmp_path, name):
    """UDP from the egress-test pod on master01 to the one on router02 (same VNID, over vxlan0),
    seen by a sink in the router02 pod within 5 s."""
    target = [pod for pod in topo.pods() if pod.project.name == "egress-test" and pod.node.name == "router02"][0]
    streams = Streams(str(tmp_path / ("p2p-%s.log" % name)), server_ns=target.netns, server_ip=target.ip,
                      port=8092, rate=20).start([("sdnlab-pod-egress-test-master01", "p2p")])
    try:
        return streams.wait("pod-to-pod datagrams", lambda rows: first(rows, "p2p", "10.128.0.10"), 5)
    finally:
        streams.stop()


def bfd_settled(*nodes):
    """BFD towards router01 up on ``nodes`` and past its slow start (then a loss is seen
    within 3 x 100 ms), polled with a deadline."""
    deadline = time.monotonic() + 20
    while True:
        shows = [ovs(node, "ovs-appctl", "bfd/show", "sdne-c000020c") for node in nodes]
        if all("Forwarding: true" in show and "RX Interval: Approx 100ms" in show for show in shows):
            return
        if time.monotonic() > deadline:
            raise AssertionError("BFD towards router01 not settled: %s" % shows)
        time.sleep(0.1)


def test_dataplane_failover_without_a_run(lab, tmp_path):
    first_run = playbook()
    assert first_run["rc"] == 0, json.dumps(first_run["stats"])
    second = playbook()
    assert second["rc"] == 0 and all(s["changed"] == 0 for s in second["stats"].values()), second["stats"]
    # monitor ports on both ends, BFD up between master01 and router01
    assert "sdne-c000020c" in ovs("master01", "ovs-vsctl", "list-ports", "br0").split()
    assert "sdne-c000020b" in ovs("router01", "ovs-vsctl", "list-ports", "br0").split()
    groups = ovs("master01", "ovs-ofctl", "-O", "OpenFlow13", "dump-groups", "br0")
    assert "group_id=7305526,type=ff" in groups

    streams = Streams(str(tmp_path / "sink.log")).start(SOURCES)
    try:
        streams.wait("BFD up and egress-test on its first IP",
                     lambda rows: first(rows, "egress-test-master01", FIRST) and first(rows, "egress-test-router02", FIRST)
                     and first(rows, "egress-test2-master01", ONLY), 15)
        assert pod_to_pod(tmp_path, "before")
        bfd_settled("master01", "router02")

        cut = time.monotonic()
        subprocess.run(LAB + ["node-down", "router01"], check=True, capture_output=True, timeout=60)
        for tag in ("egress-test-master01", "egress-test-router02"):
            seen = streams.wait("%s on the second IP" % tag, lambda rows: first(rows, tag, SECOND), 5, since=cut)
            assert seen - cut < 2.0, (tag, seen - cut)
        settled = time.monotonic()
        time.sleep(1.0)   # a window in which nothing of egress-test2 may arrive (it has no live bucket)
        rows = streams.rows(since=settled)
        assert [row for row in rows if row[2].startswith("egress-test2")] == []
        assert [row for row in rows if row[2] == "egress-test-master01" and row[1] != SECOND] == []
        # the SDN's pod-to-pod traffic is untouched while the node is cut
        assert pod_to_pod(tmp_path, "cut")

        # a drift report now: the groups are as declared (every assigned IP keeps its bucket),
        # nothing would change on the nodes that answer, and the report says why traffic
        # leaves with the second IP
        drift = playbook("--check", "--diff")
        assert drift["rc"] == 0, drift["stats"]
        assert labplay.changed(drift, exclude=("router01",)) == {"master01": 0, "router02": 0}, changed_tasks(drift)
        report = json.load(open(os.path.join(ROOT, "reports", "egress-report.json")))
        rows = dict((row["name"], row) for row in report["namespaces"])
        assert report["check_mode"] and not report["nodes"]["router01"]["reachable"]
        assert rows["egress-test"]["live_ip"] == SECOND
        assert rows["egress-test"]["dataplane"] == "serving via 192.0.2.52 (router02) because router01 is down (BFD)"
        assert rows["egress-test2"]["live_ip"] is None
        assert rows["egress-test2"]["dataplane"] == "no live bucket, traffic dropped: router01 is down (BFD)"
        markdown = open(os.path.join(ROOT, "reports", "egress-report.md")).read()
        assert "because router01 is down (BFD) |" in markdown

        back = time.monotonic()
        subprocess.run(LAB + ["node-up", "router01"], check=True, capture_output=True, timeout=60)
        streams.wait("egress-test back on its first IP", lambda rows: first(rows, "egress-test-master01", FIRST), 10,
                     since=back)
        streams.wait("egress-test2 back", lambda rows: first(rows, "egress-test2-master01", ONLY), 10, since=back)
    finally:
        streams.stop()
    leaked = [row for row in streams.rows() if row[1] in NODE_IPS]
    assert leaked == []


def flush_ours(node):
    """What a reboot takes from an egress node and the next run restores: our flows and groups
    (first: they go at once with the node), then our SNAT rules and addresses; OVSDB (the
    monitor ports) stays, as it does across a reboot."""
    ovs(node, "ovs-ofctl", "-O", "OpenFlow13", "del-flows", "br0", "cookie=0x65677265/-1")
    for line in in_node(node, "iptables-save", "-t", "nat").splitlines():
        if line.startswith("-A ") and "sdn.egress" in line:
            in_node(node, "iptables", "-t", "nat", "-D", *shlex.split(line)[1:])
    for line in in_node(node, "ip", "-o", "-4", "addr", "show").splitlines():
        fields = line.split()
        if ":sdne" in line:
            in_node(node, "ip", "addr", "del", fields[3], "dev", fields[1])


def test_rebooted_egress_node_gets_no_traffic_until_a_run_restores_it(lab, tmp_path):
    """router01 loses everything a reboot takes (flows, SNAT rules, addresses) but keeps OVSDB:
    its monitor ports are there, yet it answers no BFD probe (the reflector flows are gone), so
    the other nodes fail over at once and nothing leaves with router01's node IP; the next run
    restores it and egress-test returns to its first IP."""
    assert playbook()["rc"] == 0
    streams = Streams(str(tmp_path / "sink.log")).start(SOURCES)
    try:
        streams.wait("egress-test on its first IP",
                     lambda rows: first(rows, "egress-test-master01", FIRST) and first(rows, "egress-test-router02", FIRST)
                     and first(rows, "egress-test2-master01", ONLY), 15)
        ports = ovs("router01", "ovs-vsctl", "list-ports", "br0").split()
        bfd_settled("master01", "router02")
        reboot = time.monotonic()
        flush_ours("router01")
        for tag in ("egress-test-master01", "egress-test-router02"):
            seen = streams.wait("%s on the second IP" % tag, lambda rows: first(rows, tag, SECOND), 5, since=reboot)
            assert seen - reboot < 2.0, (tag, seen - reboot)
        settled = time.monotonic()
        time.sleep(1.0)   # a window in which nothing of egress-test2 may arrive (router01 answers no probe)
        rows = streams.rows(since=settled)
        assert [row for row in rows if row[2].startswith("egress-test2")] == []
        assert ovs("router01", "ovs-vsctl", "list-ports", "br0").split() == ports  # OVSDB kept

        back = time.monotonic()
        run = playbook()
        assert run["rc"] == 0 and run["stats"]["router01"]["changed"] > 0, run["stats"]
        streams.wait("egress-test back on its first IP", lambda rows: first(rows, "egress-test-master01", FIRST), 10,
                     since=back)
        streams.wait("egress-test2 back", lambda rows: first(rows, "egress-test2-master01", ONLY), 10, since=back)
    finally:
        streams.stop()
    leaked = [row for row in streams.rows() if row[1] in NODE_IPS]
    assert leaked == []
