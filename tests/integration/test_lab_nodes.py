"""The lab with more than its three named nodes (`lab/lab.py up --nodes 5`): node04 and node05,
each with its own userspace OVS, sshd, pods and pod subnet, VXLAN to every other node, listed in
the generated part of the lab inventory; playbooks/egress.yml converges all five nodes and a
namespace whose egress IP sits on an extra node leaves with it, from pods on named and extra
nodes alike.

The lab is one per machine: the module holds the lab lock (run this file directly, not under
`flock`), builds the lab fresh and brings it down at the end.
"""
import fcntl
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from sdnlab import check, cluster
from sdnlab import topology as topo

ROOT = topo.REPO_ROOT
BIN = os.path.dirname(sys.executable)
LAB = [sys.executable, os.path.join(ROOT, "lab", "lab.py")]
LOCK = "/tmp/sdnlab-dev.lock"
K = 5
EXTRA = ["node04", "node05"]
MOVED_IP = "192.0.2.65"          # egress-test3's egress IP, moved onto node05 by the test
COOKIE = "cookie=0x65677265"


def lab_cli(*args):
    proc = subprocess.run(LAB + list(args), capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, "lab.py %s rc=%d\n%s%s" % (" ".join(args), proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout


@pytest.fixture(scope="module")
def lab5():
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            out = lab_cli("up", "--rebuild", "--nodes", str(K))
            assert "%d nodes" % K in out, out
            topo.configure(K)                # this process imported the plan of the old lab
            yield
        finally:
            subprocess.run(LAB + ["down"], check=False, capture_output=True, timeout=300)
            topo.configure(topo.recorded_node_count())


def playbook(inventory):
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"))
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), os.path.join(ROOT, "playbooks", "egress.yml"),
                           "-i", inventory], capture_output=True, text=True, env=env, cwd=ROOT, timeout=900,
                          check=False)
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("no JSON from ansible-playbook (rc=%d):\n%s\n%s"
                             % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    doc["rc"] = proc.returncode
    return doc


def changed(doc):
    return {host: stats["changed"] for host, stats in doc["stats"].items()}


def seen(project, node, proto="tcp"):
    pod = [p for p in topo.pods() if p.project.name == project and p.node.name == node][0]
    return check.probe(pod, proto, 3.0)


LISTEN = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 9999))
s.settimeout(5)
print("ready", flush=True)
data, peer = s.recvfrom(100)
print(peer[0], data.decode(), flush=True)
"""
SEND = "import socket, sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'hello', (sys.argv[1], 9999))"


def pod_udp(src_project, src_node, dst_project, dst_node):
    """One UDP datagram from a pod to another: (source address the receiver saw, payload) or None."""
    src = [p for p in topo.pods() if p.project.name == src_project and p.node.name == src_node][0]
    dst = [p for p in topo.pods() if p.project.name == dst_project and p.node.name == dst_node][0]
    listener = subprocess.Popen(["ip", "netns", "exec", dst.netns, sys.executable, "-c", LISTEN, dst.ip],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert listener.stdout.readline().strip() == "ready"
        subprocess.run(["ip", "netns", "exec", src.netns, sys.executable, "-c", SEND, dst.ip], check=True, timeout=10)
        out, err = listener.communicate(timeout=10)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()
    words = out.split()
    return (words[0], words[1]) if listener.returncode == 0 and len(words) == 2 else None, src.ip


def test_five_nodes_up_with_their_own_processes_and_addresses(lab5):
    st = json.loads(lab_cli("status", "--json"))
    assert st["healthy"], st["problems"]
    nodes = {n["name"]: n for n in st["nodes"]}
    assert list(nodes) == ["master01", "router01", "router02"] + EXTRA
    pids = [nodes[n][d] for n in nodes for d in ("ovsdb_server", "ovs_vswitchd", "sshd")]
    assert all(pids) and len(set(pids)) == len(pids), pids
    assert nodes["node05"]["host_ip"] == "192.0.2.15" and nodes["node05"]["subnet"] == "10.128.4.0/23"
    assert nodes["node04"]["mgmt_ip"] == "203.0.113.134"
    # each extra node's own OVS holds its own br0 and pods
    ports = cluster.node_ovs(topo.NODE_BY_NAME["node05"]).vsctl("list-ports", "br0").split()
    assert ports == ["tun0", "veth0", "veth1", "veth2", "vxlan0"], ports
    # the generated inventory lists them: ansible sees five hosts in sdn_nodes
    graph = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", os.path.join(ROOT, "inventories", "lab"),
                            "--list"], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert sorted(json.loads(graph)["sdn_nodes"]["hosts"]) == sorted(nodes)


def test_vxlan_between_extra_nodes_and_to_named_nodes(lab5):
    # pod to pod of one project (its VNID in the tunnel) between the two extra nodes and between
    # extra and named nodes, both ways: the receiver sees the sender's pod IP (no NAT in between)
    for a, b in (("node04", "node05"), ("node05", "node04"), ("node05", "master01"), ("router02", "node04")):
        got, src_ip = pod_udp("egress-test", a, "egress-test", b)
        assert got == (src_ip, "hello"), (a, b, got)
    # before any converge every pod leaves with its own node IP (the SDN's MASQUERADE)
    for node in EXTRA:
        res = seen("egress-test", node)
        assert res["ok"] and res["seen"] == topo.NODE_BY_NAME[node].host_ip, res


@pytest.fixture(scope="module")
def converged(lab5):
    first = playbook("inventories/lab")
    assert first["rc"] == 0, first.get("plays", first)
    assert set(changed(first)) == {"master01", "router01", "router02"} | set(EXTRA)
    second = playbook("inventories/lab")
    assert second["rc"] == 0 and set(changed(second).values()) == {0}, changed(second)
    return first


def test_converge_and_check_across_five_nodes(converged):
    proc = subprocess.run(LAB + ["check", "--json"], capture_output=True, text=True, timeout=300, check=False)
    report = json.loads(proc.stdout)
    rows = report["rows"]
    assert proc.returncode == 0 and report["ok"], [r for r in rows if r["result"] != "OK"]
    on_extra = [r for r in rows if r["node"] in EXTRA]
    assert len(on_extra) == 2 * 3 * 2                  # two nodes, three projects, tcp + udp
    assert {(r["project"], r["seen"]) for r in on_extra} == {
        ("egress-test", "192.0.2.51"), ("egress-test2", "198.51.100.51"), ("egress-test3", "198.51.100.53")}


def test_namespace_egressing_on_an_extra_node(converged, tmp_path):
    # a copy of the lab inventory where egress-test3's egress IP moves from router02 to node05
    top = tmp_path / "repo"
    inv = top / "inventories" / "lab"
    shutil.copytree(os.path.join(ROOT, "inventories", "lab"), inv)
    os.symlink(os.path.join(ROOT, ".cache"), top / ".cache")      # inventory_dir/../../.cache
    gen = yaml.safe_load((inv / "generated_nodes.yml").read_text())
    gen["all"]["children"]["sdn_nodes"]["hosts"]["node05"]["egress_hostsubnet"]["egress_ips"] = [MOVED_IP]
    (inv / "generated_nodes.yml").write_text(yaml.safe_dump(gen))
    ns_file = inv / "group_vars" / "all" / "netnamespace_egress-test3.yml"
    ns = yaml.safe_load(ns_file.read_text())
    ns["egress_netnamespace_egress_test3"]["egress_ips"] = [MOVED_IP]
    ns_file.write_text(yaml.safe_dump(ns))
    host = inv / "host_vars" / "router02.yml"
    hv = yaml.safe_load(host.read_text())
    hv["egress_hostsubnet"]["egress_ips"] = ["192.0.2.52"]
    host.write_text(yaml.safe_dump(hv))

    first = playbook(str(inv))
    assert first["rc"] == 0, first.get("plays", first)
    assert changed(first)["node05"] > 0 and changed(first)["router02"] > 0, changed(first)
    second = playbook(str(inv))
    assert second["rc"] == 0 and set(changed(second).values()) == {0}, changed(second)
    # the address is on node05 only, and pods on every node leave with it (node05's own pod
    # locally, the others through VXLAN to node05)
    have = {n.name: subprocess.run(["ip", "netns", "exec", n.netns, "ip", "-o", "-4", "addr", "show"],
                                   capture_output=True, text=True, check=True).stdout for n in topo.NODES}
    assert [n for n, text in have.items() if " %s/" % MOVED_IP in text] == ["node05"]
    for node in ("master01", "router02", "node04", "node05"):
        for proto in ("tcp", "udp"):
            res = seen("egress-test3", node, proto)
            assert res["ok"] and res["seen"] == MOVED_IP, (node, proto, res)
    # the other namespaces are unchanged, from the extra nodes too
    assert seen("egress-test2", "node05")["seen"] == "198.51.100.51"
    flows = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "--no-stats", "dump-flows", "br0"],
                           env=dict(os.environ, OVS_RUNDIR=topo.NODE_BY_NAME["node04"].ovs_rundir),
                           capture_output=True, text=True, check=True).stdout
    assert any(COOKIE in line and "192.0.2.15->tun_dst" in line for line in flows.splitlines()), flows
