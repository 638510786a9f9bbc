# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dataplane failover in the built-in lab: playbooks/egress.yml with egress_failover=dataplane,
then an egress node's links cut with NO playbook run.

egress-test lists 192.0.2.51 (router01) then 192.0.2.52 (router02); egress-test2 only
198.51.100.51 (router01). Pods stream UDP to a sink next to the echo server (lab/sdnlab/stream.py),
which records the source address and time of every datagram. The lab lock is held for the
module, the lab is built fresh and brought down at the end.
"""
import fcntl
import json
import os
import subprocess
import sys
import time

import pytest

from sdnlab import topology as topo  # conftest puts lab/ on the path
from sdnlab.stream import Streams, first

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.dirname(sys.executable)
LAB = [sys.executable, os.path.join(ROOT, "lab", "lab.py")]
LOCK = "/tmp/sdnlab-dev.lock"
NODE_IPS = set(node.host_ip for node in topo.NODES)
FIRST, SECOND, ONLY = "192.0.2.51", "192.0.2.52", "198.51.100.51"
SOURCES = [("sdnlab-pod-egress-test-master01", "egress-test-master01"),
           ("sdnlab-pod-egress-test-router02", "egress-test-router02"),
           ("sdnlab-pod-egress-test2-master01", "egress-test2-master01"),
           ("sdnlab-pod-egress-test2-router02", "egress-test2-router02")]


@pytest.fixture(scope="module")
def lab():
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(LAB + ["up", "--rebuild"], check=True, capture_output=True, timeout=300)
        try:
            yield
        finally:
            subprocess.run(LAB + ["node-up", "router01"], check=False, capture_output=True, timeout=60)
            subprocess.run(LAB + ["down"], check=False, capture_output=True, timeout=300)


def playbook(*args):
    argv = [os.path.join(BIN, "ansible-playbook"), os.path.join(ROOT, "playbooks", "egress.yml"),
            "-i", os.path.join(ROOT, "inventories", "lab"), "-e", "egress_failover=dataplane"] + list(args)
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"))
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=False)
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("no JSON from ansible-playbook (rc=%d):\n%s\n%s"
                             % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    doc["rc"] = proc.returncode
    return doc


def ovs(node, *args):
    env = dict(os.environ, OVS_RUNDIR=os.path.join(ROOT, ".cache", "lab", node, "ovs"))
    return subprocess.run(list(args), capture_output=True, text=True, env=env, check=True).stdout


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

        back = time.monotonic()
        subprocess.run(LAB + ["node-up", "router01"], check=True, capture_output=True, timeout=60)
        streams.wait("egress-test back on its first IP", lambda rows: first(rows, "egress-test-master01", FIRST), 10,
                     since=back)
        streams.wait("egress-test2 back", lambda rows: first(rows, "egress-test2-master01", ONLY), 10, since=back)
    finally:
        streams.stop()
    leaked = [row for row in streams.rows() if row[1] in NODE_IPS]
    assert leaked == []
