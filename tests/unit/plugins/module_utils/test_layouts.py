# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the typed model (model.py), the layout registry (plan.LAYOUTS), the sdn48
layout (layout_sdn48.py) and the phase-1 selection of the compact plan (compact.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
from netaddr import IPAddress, IPNetwork

from ansible_collections.sdn.egress.plugins.module_utils import model
from ansible_collections.sdn.egress.plugins.module_utils.compact import compact_node_plan
from ansible_collections.sdn.egress.plugins.module_utils.layout_sdn3 import Sdn3
from ansible_collections.sdn.egress.plugins.module_utils.layout_sdn48 import Sdn48
from ansible_collections.sdn.egress.plugins.module_utils.layouts import Layout, NodeObjects
from ansible_collections.sdn.egress.plugins.module_utils.ovs import parse_dump_flows, parse_flows_text
from ansible_collections.sdn.egress.plugins.module_utils.plan import LAYOUTS, plan, validate
from ansible_collections.sdn.egress.plugins.module_utils.sources import from_inventory

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "planner")
TUNNEL = "move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:%s->tun_dst,output:1"
LOCAL = "set_field:%s->eth_dst,set_field:%s->pkt_mark,output:2"
MAC = {"node-a": "0a:58:0a:80:00:00", "node-b": "0a:58:0a:80:00:01", "node-c": "0a:58:0a:80:00:02"}


def facts(**overrides):
    result = dict((name, {"reachable": True, "tun0_mac": mac, "tun0_ofport": 2, "vxlan_ofport": 1})
                  for name, mac in MAC.items())
    for name, values in overrides.items():
        result[name.replace("_", "-")].update(values)
    return result


def nodes(**egress):
    """node-a .2, node-b .3, node-c .4 in 10.0.0.0/24; ``egress`` maps node_x -> its egress IPs."""
    result = [{"name": "node-a", "host_ip": "10.0.0.2/24"}, {"name": "node-b", "host_ip": "10.0.0.3/24"},
              {"name": "node-c", "host_ip": "10.0.0.4/24"}]
    for node in result:
        node["egress_ips"] = egress.get(node["name"].replace("-", "_"), [])
    return result


def flow(match, actions, table=101):
    return {"table": table, "priority": 100, "match": match, "actions": actions}


def group(group_id, *buckets):
    return {"group_id": group_id, "type": "select", "buckets": list(buckets)}


# the recorded example: fixtures/planner/sdn48_*.txt
SDN48_NAMESPACES = [{"name": "ha", "netid": 0x2ec40e, "egress_ips": ["10.0.0.50", "10.0.0.60"]},
                    {"name": "one", "netid": 7305526, "egress_ips": ["10.0.0.61"]},
                    {"name": "zero", "netid": 0, "egress_ips": ["10.0.0.51"]},
                    {"name": "lost", "netid": 9, "egress_ips": ["10.0.0.99"]}]
SDN48_NODES = nodes(node_a=["10.0.0.50", "10.0.0.51"], node_b=["10.0.0.60", "10.0.0.61"])


def sdn48_plan(node_facts=None, settings=None, **kwargs):
    settings = dict({"layout": "sdn48"}, **(settings or {}))
    return plan(from_inventory(SDN48_NAMESPACES, SDN48_NODES), facts() if node_facts is None else node_facts,
                settings, **kwargs)


# ----------------------------------------------------------------------------- registry

def test_registry_names_classes_and_defaults():
    assert list(LAYOUTS) == ["sdn3", "sdn48"]
    assert LAYOUTS["sdn3"] is Sdn3 and LAYOUTS["sdn48"] is Sdn48
    for name, layout in LAYOUTS.items():
        assert issubclass(layout, Layout) and layout.name == name
        assert layout.families == (4,)
    assert (Sdn3.table, Sdn3.mark_rule, Sdn3.load_balanced, Sdn3.groups, Sdn3.snat_masquerade) == \
        (100, "3.x", False, False, False)
    assert (Sdn48.table, Sdn48.mark_rule, Sdn48.load_balanced, Sdn48.groups, Sdn48.snat_masquerade) == \
        (101, "4.8", True, True, True)
    assert model.DEFAULT_LAYOUT == "sdn3"


@pytest.mark.parametrize("layout", [None, "sdn3"])
def test_sdn3_is_the_default(layout):
    result = plan(from_inventory([], nodes()), facts(), {"layout": layout} if layout else {})
    assert result["settings"]["layout"] == "sdn3" and result["settings"]["table"] == 100
    assert result["settings"]["mark_rule"] == "3.x"
    assert "groups" not in result["nodes"]["node-a"]


@pytest.mark.parametrize("value, shown", [("sdn49", "sdn49"), ("", '""'), (48, "48"), (["sdn48"], '["sdn48"]')])
def test_unknown_layout_is_a_problem_listed_with_the_others(value, shown):
    problems = validate(from_inventory([{"name": "a", "netid": "x"}], nodes()), facts(), {"layout": value})
    assert problems == ["namespaces[a].netid: x is not an integer",
                        "settings.layout: %s is not one of sdn3, sdn48" % shown]


def test_a_layout_sees_only_its_interface():
    """A new layout: a Layout subclass in the registry; plan() calls render for reachable nodes
    only and builds rows, settings and problems the same way for every layout."""
    calls = []

    class Probe(Layout):
        name = "probe"
        table = 7
        mark_rule = "4.8"

        def render(self, node, namespaces, assignment, facts, settings):
            calls.append((node.name, [group.vnid for group in namespaces], settings.table))
            out = NodeObjects()
            out.flow(settings.table, settings.priority, "reg0=0x1", "drop", local=node.name == "node-a")
            return out

    registry = dict(LAYOUTS, probe=Probe)
    raw = from_inventory([{"name": "a", "netid": 0x8001, "egress_ips": ["10.0.0.50"]}], nodes(node_a=["10.0.0.50"]))
    intent = model.build(raw, facts(node_c={"reachable": False}), {"layout": "probe"}, registry)
    assert intent.problems == []
    assert intent.settings.table == 7 and intent.namespaces[0].mark == "0x11000000"   # the layout's defaults
    layout = Probe()
    for node in intent.nodes[:2]:
        objects = layout.render(node, intent.namespaces, None, intent.facts, intent.settings)
        compact = compact_node_plan({"inventory_host": node.name, "host_ip": str(node.host_ip), "reachable": True},
                                    objects, layout, intent.settings)
        assert "scope_table" not in compact  # phase 2 converges our flows in every table
        assert compact["mark_flows_text"] == ("table=7,priority=100,reg0=0x1,actions=drop" if node.name == "node-a" else "")
    assert calls == [("node-a", [0x8001], 7), ("node-b", [0x8001], 7)]


# ----------------------------------------------------------------------------- the typed model

class Dual(Layout):
    """A layout taking both families, to check the model's own parsing."""
    name = "dual"
    families = (4, 6)


def test_model_parses_both_families_into_netaddr_objects():
    raw = from_inventory(
        [{"name": "v6", "netid": 1, "egress_ips": ["2001:DB8::50"]}, {"name": "v4", "netid": 2, "egress_ips": [" 10.0.0.50 "]}],
        [{"name": "n1", "host_ip": "2001:db8::2/64", "egress_ips": ["2001:db8::50"], "subnet": "fd00:1::/64",
          "interfaces": [{"name": "eth1", "cidr": "10.0.0.2/24"}], "egress_cidrs": ["2001:db8::/64", "10.0.0.0/24"]}])
    intent = model.build(raw, {"n1": {"vxlan_ofport": "0x1", "tun0_ofport": "2"}},
                         {"cluster_cidrs": ["fd00::/48", "10.128.0.0/14"], "layout": "dual"}, {"dual": Dual})
    assert intent.problems == []
    v6, v4 = intent.namespaces
    assert isinstance(v6.ips[0], IPAddress) and v6.ips[0] == IPAddress("2001:db8::50")
    assert str(v6.ips[0]) == "2001:db8::50"        # canonical text, not the spelling given
    assert str(v4.ips[0]) == "10.0.0.50" and v4.ips[0].version == 4
    node = intent.nodes[0]
    assert node.host_ip == IPAddress("2001:db8::2") and node.host_net == IPNetwork("2001:db8::/64")
    assert node.subnet == IPNetwork("fd00:1::/64") and node.egress_cidrs[1] == IPNetwork("10.0.0.0/24")
    assert node.interfaces == [("eth1", IPNetwork("10.0.0.2/24"))]
    assert node.address_entry(node.egress_ips[0]) == {"address": "2001:db8::50", "prefix": 64}
    assert [str(net) for net in intent.settings.cluster_networks] == ["fd00::/48", "10.128.0.0/14"]
    assert (intent.facts["n1"].vxlan_ofport, intent.facts["n1"].tun0_ofport) == (1, 2)
    assert hash(v6.ips[0]) == hash(IPAddress("2001:db8::50"))   # usable with plain IPAddress keys


@pytest.mark.parametrize("layout", ["sdn3", "sdn48"])
def test_sdn_layouts_refuse_ipv6_naming_field_and_value(layout):
    raw = from_inventory([{"name": "a", "netid": 1, "egress_ips": ["10.0.0.50", "2001:db8::50"]}],
                         [{"name": "n1", "host_ip": "2001:db8::2", "egress_ips": ["10.0.0.50"], "subnet": "fd00::/64",
                           "egress_cidrs": ["2001:db8::/64"], "interfaces": [{"name": "eth0", "cidr": "2001:db8::2/64"}]}])
    problems = validate(raw, {"n1": {"vxlan_ofport": 1}},
                        {"layout": layout, "cluster_cidrs": ["fd00::/48"]})
    assert problems == [
        "namespaces[a].egress_ips: 2001:db8::50 is not an IPv4 address",
        "node_facts[n1].tun0_mac: missing; needed because node n1 hosts an active egress IP",
    ] + (["node_facts[n1].tun0_ofport: missing; needed because node n1 hosts an active egress IP"]
         if layout == "sdn48" else []) + [
        "nodes[n1].egress_cidrs: 2001:db8::/64 is not an IPv4 CIDR",
        "nodes[n1].host_ip: 2001:db8::2 is not an IPv4 address",
        "nodes[n1].interfaces[0].cidr: 2001:db8::2/64 is not an IPv4 address/prefix",
        "nodes[n1].subnet: fd00::/64 is not an IPv4 CIDR",
        "settings.cluster_cidrs: fd00::/48 is not an IPv4 CIDR",
    ]


def test_every_value_problem_names_its_field_path():
    raw = from_inventory([{"name": "a", "netid": "0x10", "egress_ips": ["10.0.0.50", 7, True]},
                          {"name": "b", "netid": True}],
                         [{"name": "n1", "host_ip": "10.0.0.2\n", "egress_ips": ["10.0.0.50"]}])
    problems = validate(raw, {"n1": {"tun0_mac": "0a:58:0a:80:00:00", "tun0_ofport": "two", "vxlan_ofport": 70000}},
                        {"layout": "sdn48", "masquerade_bit": "0x20", "priority": "high"})
    assert problems == [
        "namespaces[a].egress_ips: 7 is not an IPv4 address",
        "namespaces[a].egress_ips: true is not an IPv4 address",
        "namespaces[b].netid: true is not an integer",
        "node_facts[n1].tun0_ofport: missing; needed because node n1 hosts an active egress IP",
        "node_facts[n1].tun0_ofport: two is not an integer",
        "node_facts[n1].vxlan_ofport: 70000 is out of range 1..65279",
        "settings.masquerade_bit: 0x20 is out of range 0..31",
        "settings.priority: high is not an integer",
    ]


# ----------------------------------------------------------------------------- sdn48

def test_sdn48_egress_node_has_one_local_bucket_and_no_ct():
    result = sdn48_plan()
    assert result["problems"] == []
    node_a = result["nodes"]["node-a"]
    assert node_a["flows"] == [
        flow("ip,reg0=0", "group:0"),                            # zero: 10.0.0.51 on node-a
        flow("reg0=0x9", "drop"),                                # lost: no node lists 10.0.0.99
        flow("ip,reg0=0x2ec40e", "group:3064846"),               # ha: 10.0.0.50 here, 10.0.0.60 on node-b
        flow("ip,reg0=0x6f7936", "ct(commit),group:7305526"),    # one: only on node-b
    ]
    assert node_a["groups"] == [
        group(0, LOCAL % (MAC["node-a"], "0xff000000")),
        group(3064846, LOCAL % (MAC["node-a"], "0x102e440e")),   # 4.8 mark: bit 15 moved to bit 28
        group(7305526, TUNNEL % "10.0.0.3"),
    ]
    node_b = result["nodes"]["node-b"]
    assert node_b["groups"][1] == group(3064846, LOCAL % (MAC["node-b"], "0x102e440e"))


def test_sdn48_other_nodes_balance_over_every_online_egress_node_in_ip_order():
    result = sdn48_plan()
    node_c = result["nodes"]["node-c"]
    assert node_c["flows"] == [
        flow("ip,reg0=0", "ct(commit),group:0"),
        flow("reg0=0x9", "drop"),
        flow("ip,reg0=0x2ec40e", "ct(commit),group:3064846"),
        flow("ip,reg0=0x6f7936", "ct(commit),group:7305526"),
    ]
    assert node_c["groups"] == [group(0, TUNNEL % "10.0.0.2"),
                                group(3064846, TUNNEL % "10.0.0.2", TUNNEL % "10.0.0.3"),
                                group(7305526, TUNNEL % "10.0.0.3")]
    assert node_c["snat"] == node_c["addresses"] == node_c["reject"] == []
    # egress-IP order, not node order
    swapped = [dict(SDN48_NAMESPACES[0], egress_ips=["10.0.0.60", "10.0.0.50"])] + SDN48_NAMESPACES[1:]
    result = plan(from_inventory(swapped, SDN48_NODES), facts(), {"layout": "sdn48"})
    assert result["nodes"]["node-c"]["groups"][1]["buckets"] == [TUNNEL % "10.0.0.3", TUNNEL % "10.0.0.2"]


def test_sdn48_rows_list_every_online_ip():
    rows = dict((row["name"], row) for row in sdn48_plan()["namespaces"])
    assert rows["ha"] == {"name": "ha", "netid": 3064846, "vnid_hex": "0x2ec40e", "mark": "0x102e440e",
                          "egress_ips": ["10.0.0.50", "10.0.0.60"], "active_ip": "10.0.0.50", "node": "node-a",
                          "active_ips": ["10.0.0.50", "10.0.0.60"], "nodes": ["node-a", "node-b"],
                          "state": "active", "reason": None}
    assert rows["lost"]["state"] == "dropped" and rows["lost"]["active_ips"] == [] and rows["lost"]["nodes"] == []
    assert rows["lost"]["reason"] == "10.0.0.99: no node lists it"


def test_sdn48_claims_every_assigned_ip_like_sdn3():
    sdn48 = sdn48_plan()["nodes"]
    sdn3 = plan(from_inventory(SDN48_NAMESPACES, SDN48_NODES), facts(), {"mark_rule": "4.8"})["nodes"]
    for name in MAC:
        for key in ("snat", "reject", "addresses"):
            assert sdn48[name][key] == sdn3[name][key], (name, key)
    assert sdn48["node-b"]["snat"] == [
        {"mark": "0x102e440e", "egress_ip": "10.0.0.60", "name": "ha"},
        {"mark": "0x6f7936", "egress_ip": "10.0.0.61", "name": "one"},
    ]


def test_sdn48_failover_drops_the_unreachable_nodes_bucket():
    result = sdn48_plan(facts(node_b={"reachable": False}))
    assert result["problems"] == []
    assert result["nodes"]["node-b"] == {"inventory_host": "node-b", "host_ip": "10.0.0.3", "reachable": False,
                                         "flows": [], "groups": [], "snat": [], "reject": [], "addresses": [],
                                         "probes": []}
    node_c = result["nodes"]["node-c"]
    assert node_c["groups"] == [group(0, TUNNEL % "10.0.0.2"), group(3064846, TUNNEL % "10.0.0.2")]
    assert node_c["flows"][3] == flow("reg0=0x6f7936", "drop")      # one: its only node is gone
    rows = dict((row["name"], row) for row in result["namespaces"])
    assert (rows["ha"]["active_ips"], rows["ha"]["nodes"]) == (["10.0.0.50"], ["node-a"])
    assert rows["one"]["reason"] == "10.0.0.61: node node-b is unreachable"


def test_sdn48_nothing_online_drops_without_groups():
    result = sdn48_plan(facts(node_a={"reachable": False}, node_b={"reachable": False}))
    node_c = result["nodes"]["node-c"]
    assert node_c["groups"] == []
    assert node_c["flows"] == [flow("reg0=%s" % vnid, "drop") for vnid in ("0", "0x9", "0x2ec40e", "0x6f7936")]


def test_sdn48_explicit_mark_rule_and_table_win():
    result = sdn48_plan(settings={"mark_rule": "3.x", "table": 99})
    node_a = result["nodes"]["node-a"]
    assert node_a["groups"][1] == group(3064846, LOCAL % (MAC["node-a"], "0x2ec40e"))
    assert {entry["table"] for entry in node_a["flows"]} == {99}
    assert result["settings"] == {"cluster_cidrs": ["10.128.0.0/14"], "layout": "sdn48", "mark_rule": "3.x",
                                  "masquerade_bit": 0, "table": 99, "priority": 100,
                                  "failover": "run", "failover_vni": 0xFFFFFE,
                                  "snat_conflicts": "fail", "flow_conflicts": "fail", "flow_force": False}


def test_sdn48_missing_facts_are_named_with_the_reason():
    problems = sdn48_plan(facts(node_a={"tun0_ofport": None}, node_c={"vxlan_ofport": None}))["problems"]
    assert problems == [
        "node_facts[node-a].tun0_ofport: missing; needed because node node-a hosts an active egress IP",
        "node_facts[node-c].vxlan_ofport: missing; needed because node node-c tunnels traffic to egress nodes",
    ]


def test_sdn48_text_is_what_ovs_prints_back():
    """groups_text and flows_text installed into Open vSwitch 3.1 and dumped (fixtures/planner/README.md)."""
    nodes_plan = sdn48_plan(compact=True)["nodes"]
    for name in ("node-a", "node-c"):
        with open(os.path.join(FIXTURES, "sdn48_%s.dump-groups.txt" % name)) as handle:
            dumped = [line.strip() for line in handle.read().splitlines()[1:]]
        assert sorted(nodes_plan[name]["groups_text"].splitlines()) == sorted(dumped)
        with open(os.path.join(FIXTURES, "sdn48_%s.dump-flows.txt" % name)) as handle:
            dumped = sorted((f.table, f.priority, f.match, f.actions) for f in parse_dump_flows(handle.read()))
        ours = sorted((f["table"], f["priority"], f["match"], f["actions"])
                      for dummy, dummy2, f in parse_flows_text(nodes_plan[name]["flows_text"]))
        assert ours == dumped


# ----------------------------------------------------------------------------- compact: phase 1

def test_compact_sdn48_phase_one_is_the_local_groups_and_their_flows():
    nodes_plan = sdn48_plan(compact=True)["nodes"]
    node_a = nodes_plan["node-a"]
    assert node_a["mark_flows_text"].splitlines() == ["table=101,priority=100,ip,reg0=0,actions=group:0",
                                                      "table=101,priority=100,ip,reg0=0x2ec40e,actions=group:3064846"]
    assert node_a["mark_groups_text"].splitlines() == [
        "group_id=0,type=select,bucket=actions=" + LOCAL % (MAC["node-a"], "0xff000000"),
        "group_id=3064846,type=select,bucket=actions=" + LOCAL % (MAC["node-a"], "0x102e440e")]
    assert node_a["groups_text"].splitlines()[2] == "group_id=7305526,type=select,bucket=actions=" + TUNNEL % "10.0.0.3"
    assert node_a["snat_masquerade"] is True
    assert node_a["counts"] == {"flows": 4, "mark_flows": 2, "groups": 3, "mark_groups": 2, "snat": 2, "addresses": 2,
                                "probes": 2}
    node_c = nodes_plan["node-c"]
    assert node_c["mark_flows_text"] == node_c["mark_groups_text"] == ""
    assert len(node_c["groups_text"].splitlines()) == 3


def test_compact_sdn3_keeps_its_keys_and_has_no_groups():
    result = plan(from_inventory(SDN48_NAMESPACES, SDN48_NODES), facts(), {}, compact=True)
    node_a = result["nodes"]["node-a"]
    assert node_a["groups_text"] == node_a["mark_groups_text"] == ""
    assert node_a["snat_masquerade"] is False
    assert node_a["mark_flows_text"].splitlines() == [
        "table=100,priority=100,ip,reg0=0,actions=set_field:%s->eth_dst,set_field:0xff000000->pkt_mark,goto_table:101"
        % MAC["node-a"],
        "table=100,priority=100,ip,reg0=0x2ec40e,actions=set_field:%s->eth_dst,set_field:0x2ec40e->pkt_mark,"
        "goto_table:101" % MAC["node-a"]]
    assert sorted(node_a) == sorted([
        "inventory_host", "host_ip", "reachable", "flows_text", "mark_flows_text", "groups_text", "mark_groups_text",
        "snat_text", "snat_masquerade", "addresses", "named_addresses", "all_addresses", "counts", "probe_text",
        "prune_monitor_ports", "unchanged"])


def test_compact_phase_one_follows_the_layout_not_the_action_text():
    """A local flow without pkt_mark is phase 1; a remote one that sets pkt_mark is not."""
    objects = NodeObjects()
    objects.flow(100, 100, "ip,reg0=0x1", "set_field:0x1->pkt_mark,output:1")
    objects.flow(100, 100, "ip,reg0=0x2", "group:2", local=True)
    objects.group(3, "select", ["set_field:0x3->pkt_mark,output:1"])
    objects.group(2, "select", ["output:2"], local=True)
    settings = model.Settings()
    settings.table = 100
    compact = compact_node_plan({"inventory_host": "h", "host_ip": "10.0.0.2", "reachable": True},
                                objects, Sdn48, settings)
    assert compact["mark_flows_text"] == "table=100,priority=100,ip,reg0=0x2,actions=group:2"
    assert compact["mark_groups_text"] == "group_id=2,type=select,bucket=actions=output:2"
    assert compact["counts"]["mark_flows"] == compact["counts"]["mark_groups"] == 1
