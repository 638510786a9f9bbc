# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a run probes before any change: the addresses each node newly claims (plan.new_addresses,
the compact ``probe_text``), the probe text format, the parallel probe and its message."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket

import pytest

from ansible_collections.sdn.egress.plugins.module_utils import garp
from ansible_collections.sdn.egress.plugins.module_utils.plan import plan
from ansible_collections.sdn.egress.plugins.module_utils.sources import from_inventory
from ansible_collections.sdn.egress.plugins.modules.garp_claim import conflict_message

NAMESPACES = [{"name": "ha", "netid": 100, "egress_ips": ["10.0.0.50", "10.0.0.60"]},
              {"name": "web", "netid": 200, "egress_ips": ["10.0.0.51"]}]
MAC = {"node-a": "02:00:00:00:00:0a", "node-b": "02:00:00:00:00:0b", "node-c": "02:00:00:00:00:0c"}


def raw():
    nodes = [{"name": "node-a", "host_ip": "10.0.0.2", "subnet": "10.128.0.0/23", "egress_ips": ["10.0.0.50", "10.0.0.51"]},
             {"name": "node-b", "host_ip": "10.0.0.3", "subnet": "10.129.0.0/23", "egress_ips": ["10.0.0.60"]},
             {"name": "node-c", "host_ip": "10.0.0.4", "subnet": "10.130.0.0/23"}]
    return from_inventory(NAMESPACES, nodes)


def facts(held=None, **overrides):
    """Preflight facts: eth0 in 10.0.0.0/24 with the host IP and ``held[node]`` addresses."""
    held = held or {}
    result = {}
    for index, name in enumerate(sorted(MAC)):
        addresses = ["10.0.0.%d/24" % (index + 2)] + ["%s/24" % a for a in held.get(name, [])]
        result[name] = {"reachable": True, "tun0_mac": "0a:00:00:00:00:%02x" % index, "vxlan_ofport": 1,
                        "networks": {"eth0": ["10.0.0.0/24"]},
                        "interfaces": {"eth0": {"up": True, "mac": MAC[name], "addresses": addresses,
                                                "networks": ["10.0.0.0/24"]},
                                       "lo": {"up": True, "mac": "00:00:00:00:00:00", "addresses": ["127.0.0.1/8"],
                                              "networks": []}}}
        result[name].update(overrides.get(name, {}))
    return result


def probe_texts(result):
    assert result["problems"] == []
    return dict((name, node["probe_text"]) for name, node in result["nodes"].items())


def test_cold_run_probes_every_planned_address_on_the_interface_of_its_network():
    result = plan(raw(), facts(), compact=True)
    assert probe_texts(result) == {"node-a": "10.0.0.50 eth0 ha\n10.0.0.51 eth0 web", "node-b": "10.0.0.60 eth0 ha",
                                   "node-c": ""}
    assert result["nodes"]["node-a"]["counts"]["probes"] == 2


def test_warm_run_probes_nothing():
    held = {"node-a": ["10.0.0.50", "10.0.0.51"], "node-b": ["10.0.0.60"]}
    result = plan(raw(), facts(held), compact=True)
    assert probe_texts(result) == {"node-a": "", "node-b": "", "node-c": ""}
    assert [node["counts"]["probes"] for node in result["nodes"].values()] == [0, 0, 0]


def test_only_the_new_address_is_probed_matched_by_address_not_prefix():
    held = {"node-a": ["10.0.0.50"], "node-b": ["10.0.0.60"]}
    result = plan(raw(), facts(held), compact=True)
    assert probe_texts(result)["node-a"] == "10.0.0.51 eth0 web"


def test_an_address_another_node_of_ours_gives_up_names_its_mac():
    """10.0.0.51 moves from node-c (which still holds it) to node-a: node-c's answer is expected."""
    held = {"node-a": ["10.0.0.50"], "node-b": ["10.0.0.60"], "node-c": ["10.0.0.51"]}
    result = plan(raw(), facts(held), compact=True)
    assert probe_texts(result)["node-a"] == "10.0.0.51 eth0 web %s" % MAC["node-c"]
    entries = garp.parse_probe_text(result["nodes"]["node-a"]["probe_text"])
    assert entries == [{"address": "10.0.0.51", "interface": "eth0", "owners": ["web"], "known": [MAC["node-c"]]}]


def test_unreachable_nodes_probe_nothing_and_no_interfaces_fact_probes_everything():
    result = plan(raw(), facts(**{"node-b": {"reachable": False}}), compact=True)
    assert probe_texts(result)["node-b"] == ""
    bare = facts()
    for name in bare:
        del bare[name]["interfaces"], bare[name]["networks"]
    texts = probe_texts(plan(raw(), bare, compact=True))
    assert texts["node-a"] == "10.0.0.50 - ha\n10.0.0.51 - web"  # the node finds the interface


def test_full_plan_lists_the_probes():
    result = plan(raw(), facts({"node-a": ["10.0.0.50"]}))
    assert result["nodes"]["node-a"]["probes"] == [
        {"address": "10.0.0.51", "interface": "eth0", "owners": ["web"], "known": []}]


def test_a_bad_interfaces_fact_is_a_problem_naming_it():
    bad = facts(**{"node-a": {"interfaces": {"eth0": {"mac": "x", "addresses": ["nope/24"]}}}})
    problems = plan(raw(), bad)["problems"]
    assert any(p.startswith("node_facts[node-a].interfaces[eth0].addresses") and "nope" in p for p in problems), problems
    assert any("node_facts[node-b].interfaces" in p for p in plan(raw(), facts(**{"node-b": {"interfaces": []}}))["problems"])


@pytest.mark.parametrize("text,error", [
    ("10.0.0.5 eth0", "line 1: '10.0.0.5 eth0' is not"),
    ("\n10.0.0.5 eth0 ns a b", "line 2:"),
    ("10.0.0.5 eth0 ns zz:zz", "is not a MAC address"),
])
def test_probe_text_errors_name_the_line(text, error):
    with pytest.raises(ValueError, match=error):
        garp.parse_probe_text(text)


def test_probe_duration_is_the_rfc_5227_timing_and_does_not_depend_on_the_count_of_addresses():
    assert garp.probe_duration() == 4.0
    assert garp.probe_duration(3, 0.5, 1.0) == 2.0


def arp(op, sender_mac, sender_ip, target_ip, target_mac="00:00:00:00:00:00"):
    return garp.build_arp_frame(op, garp.mac_bytes(sender_mac), sender_ip, garp.mac_bytes(target_mac), target_ip)


def test_foreign_user_reply_probe_and_ours():
    watch = {"10.0.0.50": {MAC["node-a"]}, "10.0.0.51": {MAC["node-a"], MAC["node-c"]}}
    parse = garp.parse_arp_frame
    other = "02:00:00:00:00:99"
    assert garp.foreign_user(parse(arp(2, other, "10.0.0.50", "0.0.0.0", MAC["node-a"])), watch) == "10.0.0.50"
    assert garp.foreign_user(parse(arp(1, other, "0.0.0.0", "10.0.0.51")), watch) == "10.0.0.51"  # its probe
    assert garp.foreign_user(parse(arp(2, MAC["node-c"], "10.0.0.51", "0.0.0.0")), watch) is None  # known
    assert garp.foreign_user(parse(arp(1, MAC["node-a"], "0.0.0.0", "10.0.0.50")), watch) is None  # our probe
    assert garp.foreign_user(parse(arp(2, other, "10.0.0.77", "0.0.0.0")), watch) is None  # not watched
    assert garp.foreign_user(None, watch) is None


def test_probe_all_sends_every_probe_in_each_burst_and_names_the_conflict():
    """A datagram socket pair stands in for the raw socket: the peer sees the bursts and answers."""
    ours, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    addresses = ["10.0.0.%d" % n for n in range(50, 60)]
    frames = [garp.probe_frame(MAC["node-a"], a) for a in addresses]
    peer.send(arp(2, "02:00:00:00:00:99", "10.0.0.57", "0.0.0.0", MAC["node-a"]))
    peer.send(arp(2, "02:00:00:00:00:98", "10.0.0.57", "0.0.0.0", MAC["node-a"]))  # second answer: first one kept
    try:
        sent, conflicts = garp.probe_all([(ours, frames, "eth0")], dict((a, {MAC["node-a"]}) for a in addresses),
                                         count=3, interval=0.05, listen=0.1)
        received = []
        peer.setblocking(False)
        while True:
            try:
                received.append(garp.parse_arp_frame(peer.recv(2048)))
            except BlockingIOError:
                break
    finally:
        ours.close()
        peer.close()
    assert sent == 30 and [f["target_ip"] for f in received] == addresses * 3
    assert conflicts == [{"address": "10.0.0.57", "interface": "eth0", "mac": "02:00:00:00:00:99", "op": "reply"}]


def test_conflict_message_names_ip_mac_namespace_node_and_interface():
    conflict = {"address": "10.0.0.57", "interface": "eth1", "mac": "02:00:00:00:00:99", "op": "reply",
                "owners": ["ha", "ha-copy"]}
    assert conflict_message(conflict, "node-a") == (
        "10.0.0.57 (egress IP of namespace ha, ha-copy) is in use by another host: MAC 02:00:00:00:00:99 sent an "
        "ARP reply for it while node node-a probed on eth1")
    assert conflict_message(dict(conflict, owners=[]), None) == (
        "10.0.0.57 is in use by another host: MAC 02:00:00:00:00:99 sent an ARP reply for it while node "
        "(this host) probed on eth1")
