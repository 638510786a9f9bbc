"""End-to-end check of the OVN lab's dataplane, without the collection.

Brings a fresh OVN lab up (`lab/ovnlab.py up --rebuild`), checks that every pod leaves with its
node IP (OVN-Kubernetes local gateway mode), then writes an EgressService BY HAND with the argv
of the spec (section 6): an `lr-policy-add ovn_cluster_router 101 "ip4.src == <pod>" reroute
<holder mgmt-port IP>` and, on the holder, the OVN-KUBE-EGRESS-SVC chain (DoNotSNAT first, then
SNAT by source) jumped from POSTROUTING; labels the holder; and asserts with real TCP that a pod
on another node reaches the echo server with the LB IP (its packets crossed the userspace Geneve
tunnel to the holder and back), that ovn-trace on the real southbound database shows the reroute,
and that removing the policy puts the pod back on its node IP. Tears the lab down at the end.

The OVN lab is one per machine: the module holds /tmp/ovnlab-dev.lock while it uses it.
"""
import json
import subprocess

from ovnlab import check, cluster  # conftest puts lab/ and this directory on the path
from ovnlab import topology as topo

import labplay
from labplay import OVNLAB

lab = labplay.lab_fixture(lab=OVNLAB, lock=labplay.OVNLAB_LOCK, check_down=True)


def lab_cli(*args, check_rc=True):
    return labplay.lab_cli(*args, lab=OVNLAB, check_rc=check_rc)


def in_node(node, *argv):
    return subprocess.run(["ip", "netns", "exec", node.netns] + list(argv), capture_output=True, text=True,
                          check=True).stdout


def seen(rows, pod):
    return next(r for r in rows if r["pod"] == pod)["seen"]


def test_pods_leave_with_their_node_ip(lab):
    rows = json.loads(lab_cli("check", "--json").stdout)
    assert len(rows) == sum(len(topo.endpoints(s)) for s in topo.services(ipv6=False)) == len(topo.PODS) - 1
    for row in rows:
        assert row["seen"] == topo.NODE_BY_NAME[row["node"]].host_ip, row


def test_hand_written_egress_service_reroutes_over_geneve_and_snats(lab):
    web = next(s for s in topo.SERVICES if s.key == "shop/web")
    pod = next(p for p in topo.endpoints(web) if p.node.name == "node1")
    holder = topo.NODE_BY_NAME["node2"]
    assert pod.node is not holder
    cluster.nbctl("--wait=hv", "lr-policy-add", topo.ROUTER, "101", "ip4.src == %s" % pod.ip, "reroute",
                  holder.mgmt_ip)
    in_node(holder, "iptables", "-t", "nat", "-N", "OVN-KUBE-EGRESS-SVC")
    in_node(holder, "iptables", "-t", "nat", "-A", "OVN-KUBE-EGRESS-SVC", "-m", "mark", "--mark", "0x3f0",
            "-m", "comment", "--comment", "DoNotSNAT", "-j", "RETURN")
    in_node(holder, "iptables", "-t", "nat", "-A", "OVN-KUBE-EGRESS-SVC", "-s", "%s/32" % pod.ip,
            "-m", "comment", "--comment", web.key, "-j", "SNAT", "--to-source", web.lb_ip)
    in_node(holder, "iptables", "-t", "nat", "-I", "POSTROUTING", "1", "-j", "OVN-KUBE-EGRESS-SVC")
    cluster.set_label(holder.name, cluster.SERVICE_LABEL % ("shop", "web"), True)

    rows = json.loads(lab_cli("check", "--json", check_rc=False).stdout)
    assert seen(rows, pod.name) == web.lb_ip
    # the other endpoint (node3) has no policy yet: it still leaves with its node IP
    other = next(p for p in topo.endpoints(web) if p is not pod)
    assert seen(rows, other.name) == other.node.host_ip
    # the SNAT rule on the holder counted the packets
    counters = in_node(holder, "iptables", "-t", "nat", "-v", "-n", "-x", "-L", "OVN-KUBE-EGRESS-SVC")
    snat = [l for l in counters.splitlines() if "SNAT" in l and pod.ip in l]
    assert snat and int(snat[0].split()[0]) > 0, counters

    # the logical path, from the real southbound database
    trace = subprocess.run(["ovn-trace", "--db=%s" % cluster.SB_DB, "--no-leader-only", pod.node.switch,
                            'inport == "%s" && eth.src == %s && eth.dst == %s && ip4.src == %s && '
                            'ip4.dst == %s && ip.ttl == 64 && tcp && tcp.dst == 8080'
                            % (pod.port, pod.mac, pod.node.router_mac, pod.ip, topo.SERVER_IP)],
                           capture_output=True, text=True, check=True).stdout
    assert "reroute" in trace or "reg0 = %s" % holder.mgmt_ip in trace, trace
    assert 'output to "%s"' % holder.mgmt_port in trace, trace

    # policy gone -> back to the node IP
    uuid = cluster.nbctl("--bare", "--columns=_uuid", "find", "logical_router_policy", "priority=101").strip()
    cluster.nbctl("--wait=hv", "lr-policy-del", topo.ROUTER, uuid)
    rows = json.loads(lab_cli("check", "--json", check_rc=False).stdout)
    assert seen(rows, pod.name) == pod.node.host_ip


def test_check_reports_a_mismatch(lab):
    # node2 is labelled for shop/web but nothing reroutes: the table says MISMATCH, exit 1
    proc = lab_cli("check", check_rc=False)
    assert proc.returncode == 1
    assert "MISMATCH" in proc.stdout
    assert check.expectations()[0]["holder"] == "node2"
