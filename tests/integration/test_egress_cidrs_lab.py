# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Automatic egress IPs (egressCIDRs) in the built-in lab, the way openshift-sdn's master
allocates them (issue 19): playbooks/egress.yml with the live-API source (the lab's stand-in
API server, lab/sdnlab/fakeapi.py) and egress_write_back=true.

router01 and router02 both get egressCIDRs 198.51.100.0/24 (their eth1 network). egress-test2
(198.51.100.51, pods on every node) starts on router01; two namespaces without pods
(auto-a 198.51.100.61 on router01, auto-b 198.51.100.62 on router02) make rebalancing visible.
router01 is taken away -> the next run moves its IPs to router02 and writes that back; the
echo server sees the same egress IP; the external router's neighbour entry follows (gratuitous
ARP). router01 back -> the next run gives it its share again. The lab lock is held for the
module; the lab is built fresh and brought down at the end.
"""
import json
import subprocess

from sdnlab import check as labcheck  # conftest puts lab/ and this directory on the path
from sdnlab import topology as topo
from sdnlab.fakeapi import FakeApi
from sdnlab.ocdump import oc_list

import labplay
from labplay import LAB, in_node, task_results

TOKEN = "sdnlab-cidrs-token"
CIDRS = ["198.51.100.0/24"]
ONLY = "198.51.100.51"          # egress-test2's single egress IP
NODE_IPS = set(node.host_ip for node in topo.NODES)

lab = labplay.lab_fixture(before_down=[("node-up", "router01")])


def cluster_document():
    namespaces = [("egress-test", 7305526, ["192.0.2.51", "192.0.2.52"]),
                  ("egress-test2", 14640467, [ONLY]),
                  ("egress-test3", 3064846, ["198.51.100.53"]),
                  ("auto-a", 5001, ["198.51.100.61"]),
                  ("auto-b", 5002, ["198.51.100.62"])]
    hostsubnets = [("master01", "192.0.2.11", "10.128.0.0/23", []),
                   ("router01", "192.0.2.12", "10.129.0.0/23", ["192.0.2.51", ONLY, "198.51.100.61"]),
                   ("router02", "192.0.2.13", "10.130.0.0/23", ["192.0.2.52", "198.51.100.53", "198.51.100.62"])]
    document = oc_list(namespaces, hostsubnets)
    for item in document["items"]:
        if item["kind"] == "HostSubnet" and item["host"] != "master01":
            item["egressCIDRs"] = list(CIDRS)
    return document


def playbook(api, *args, check=False):
    return labplay.playbook("-e", "egress_source=k8s", "-e", "egress_k8s_host=%s" % api.url,
                            "-e", "egress_k8s_api_key=%s" % TOKEN, "-e", "egress_k8s_validate_certs=false",
                            "-e", "egress_write_back=true", *args, check=check)


def failures(doc):
    """(task, host, msg) of every failed or unreachable result: what an assertion shows."""
    return [(task["task"]["name"], host, result.get("msg"))
            for play in doc["plays"] for task in play["tasks"] for host, result in task["hosts"].items()
            if result.get("failed") or result.get("unreachable")]


def the_plan(doc):
    return list(task_results(doc, "Plan every node").values())[0]["plan"]


def changed(doc):
    return labplay.changed(doc, exclude=("localhost",))


def addresses(node):
    return sorted(address.split("/")[0] for address in labplay.egress_addresses(node))


def mac_of(node, ifname="eth1"):
    out = in_node(node, "ip", "-j", "link", "show", ifname)
    return json.loads(out)[0]["address"]


def neighbour(ip):
    """The external router's neighbour entry for ``ip`` on its interface in the egress network
    (the one holding topo.EXT_EGRESS_IP): its MAC (None when it has none). The router can also
    learn the address on its underlay side, from a node's ARP request for the gateway sent with
    the egress IP as sender (Linux's arp_announce 0); that entry is not the claim."""
    links = json.loads(subprocess.run(["ip", "netns", "exec", topo.EXT_NS, "ip", "-j", "addr", "show"],
                                      capture_output=True, text=True, check=True).stdout)
    dev = [link["ifname"] for link in links
           if any(a.get("local") == topo.EXT_EGRESS_IP for a in link.get("addr_info", []))][0]
    out = subprocess.run(["ip", "netns", "exec", topo.EXT_NS, "ip", "-j", "neigh", "show", ip, "dev", dev],
                         capture_output=True, text=True, check=True).stdout
    entries = [entry for entry in json.loads(out or "[]") if entry.get("lladdr")]
    return entries[0]["lladdr"] if entries else None


def seen(project, nodes):
    """What the echo server saw from the project's pods on ``nodes`` (TCP and UDP)."""
    out = {}
    for pod in topo.pods():
        if pod.project.name == project and pod.node.name in nodes:
            for proto in ("tcp", "udp"):
                out[(pod.node.name, proto)] = labcheck.probe(pod, proto, 3.0).get("seen")
    return out


def hostsubnet_ips(api, name):
    for item in api.items:
        if item["kind"] == "HostSubnet" and item["metadata"]["name"] == name:
            return sorted(item.get("egressIPs") or [])
    raise KeyError(name)


def test_automatic_egress_ips_move_off_a_lost_node_and_come_back(lab):
    with FakeApi(cluster_document(), TOKEN) as api:
        # -- start: the allocation the API holds is kept; multi-IP egress-test is taken off
        first = playbook(api)
        assert first["rc"] == 0, failures(first)
        plan = the_plan(first)
        # the automatic IPs stay; egress-test's two IPs are taken off (written back as the master would)
        assert plan["allocation"]["moved"] == []
        assert plan["allocation"]["changed"] == ["router01", "router02"]
        assert plan["allocation"]["nodes"] == {"router01": [ONLY, "198.51.100.61"],
                                               "router02": ["198.51.100.53", "198.51.100.62"]}
        fields = [(w["field"], w["value"]) for w in plan["warnings"]]
        assert ("nodes[router01].egress_ips", "192.0.2.51") in fields and \
               ("nodes[router02].egress_ips", "192.0.2.52") in fields
        assert [p[:2] for p in api.patches] == [("hostsubnets", "router01"), ("hostsubnets", "router02")]
        assert hostsubnet_ips(api, "router01") == [ONLY, "198.51.100.61"]
        assert hostsubnet_ips(api, "router02") == ["198.51.100.53", "198.51.100.62"]
        del api.patches[:]
        assert addresses("router01") == [ONLY, "198.51.100.61"]
        assert addresses("router02") == ["198.51.100.53", "198.51.100.62"]
        before = seen("egress-test2", ("master01", "router01", "router02"))
        assert set(before.values()) == {ONLY}, before
        # egress-test lost its IPs (manual HA on egressCIDRs nodes is refused): dropped, never leaked
        dropped = seen("egress-test", ("master01",))
        assert set(dropped.values()) == {None}, dropped
        assert neighbour(ONLY) == mac_of("router01")

        # -- router01 is lost: the next run moves its automatic IPs to router02 and writes it back
        subprocess.run(LAB + ["node-down", "router01"], check=True, capture_output=True, timeout=120)
        # check mode says where the IPs would move, writes nothing back and changes no node
        preview = playbook(api, check=True)
        assert preview["rc"] == 0, failures(preview)
        assert [entry["ip"] for entry in the_plan(preview)["allocation"]["moved"]] == [ONLY, "198.51.100.61"]
        assert task_results(preview, "Say where the automatic egress IPs")
        assert api.patches == [] and hostsubnet_ips(api, "router01") == [ONLY, "198.51.100.61"]
        assert addresses("router02") == ["198.51.100.53", "198.51.100.62"]
        moved = playbook(api)
        assert moved["rc"] == 0, failures(moved)
        plan = the_plan(moved)
        assert plan["allocation"]["moved"] == [
            {"ip": ONLY, "namespace": "egress-test2", "node": "router02", "from": "router01",
             "why": "node router01 is unreachable"},
            {"ip": "198.51.100.61", "namespace": "auto-a", "node": "router02", "from": "router01",
             "why": "node router01 is unreachable"}]
        said = task_results(moved, "Say where the automatic egress IPs")
        assert said, moved
        assert [p[:2] for p in api.patches] == [("hostsubnets", "router01"), ("hostsubnets", "router02")]
        assert hostsubnet_ips(api, "router01") == []
        assert hostsubnet_ips(api, "router02") == [ONLY, "198.51.100.53", "198.51.100.61", "198.51.100.62"]
        assert addresses("router02") == [ONLY, "198.51.100.53", "198.51.100.61", "198.51.100.62"]
        # gratuitous ARP moved the external router's entry before any packet of ours asked
        assert neighbour(ONLY) == mac_of("router02")
        during = seen("egress-test2", ("master01", "router02"))
        assert set(during.values()) == {ONLY}, during      # the same egress IP, now from router02

        # the next run with router01 still away changes nothing and writes nothing
        count = len(api.patches)
        again = playbook(api)
        assert again["rc"] == 0 and set(changed(again).values()) == {0}, changed(again)
        assert len(api.patches) == count

        # -- router01 returns: it still holds its old addresses until a run (the documented window)
        subprocess.run(LAB + ["node-up", "router01"], check=True, capture_output=True, timeout=120)
        assert ONLY in addresses("router01") and ONLY in addresses("router02")
        back = playbook(api)
        assert back["rc"] == 0, failures(back)
        plan = the_plan(back)
        # rebalanced: router01 (none of the 2 a fresh allocation gives it) gets them back
        assert plan["allocation"]["nodes"] == {"router01": [ONLY, "198.51.100.61"],
                                               "router02": ["198.51.100.53", "198.51.100.62"]}
        assert all(entry["node"] == "router01" and entry["why"].startswith("rebalanced: node router01")
                   for entry in plan["allocation"]["moved"]) and len(plan["allocation"]["moved"]) == 2
        assert hostsubnet_ips(api, "router01") == [ONLY, "198.51.100.61"]
        assert hostsubnet_ips(api, "router02") == ["198.51.100.53", "198.51.100.62"]
        assert addresses("router01") == [ONLY, "198.51.100.61"]
        assert addresses("router02") == ["198.51.100.53", "198.51.100.62"]
        # router01 kept the address through the outage; the take-over announcement still moves the entry
        assert neighbour(ONLY) == mac_of("router01")
        after = seen("egress-test2", ("master01", "router01", "router02"))
        assert set(after.values()) == {ONLY}, after

        count = len(api.patches)
        stable = playbook(api)
        assert stable["rc"] == 0 and set(changed(stable).values()) == {0}, changed(stable)
        assert len(api.patches) == count

        # -- an IP shared by two namespaces: refused before any change, nothing claimed for it
        state = dict((node, addresses(node)) for node in ("router01", "router02"))
        api.items.append({"apiVersion": "network.openshift.io/v1", "kind": "NetNamespace",
                          "metadata": {"name": "zz-shared"}, "netname": "zz-shared", "netid": 5003,
                          "egressIPs": ["198.51.100.70", "198.51.100.53"]})
        shared = playbook(api)
        assert shared["rc"] != 0
        msg = list(task_results(shared, "Plan every node").values())[0]["msg"]
        assert "198.51.100.53 is also listed by namespace" in msg, msg
        assert dict((node, addresses(node)) for node in ("router01", "router02")) == state
        assert "198.51.100.70" not in addresses("router01") + addresses("router02")
        assert len(api.patches) == count
    assert TOKEN not in json.dumps(first) + json.dumps(moved) + json.dumps(back)
