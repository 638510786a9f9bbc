# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the plan: sources.py, model.py, assign.py, layout_sdn3.py and plan.py together.

The tests of the former planner.py; changed only where the planner's interface changed: the
imports, ``settings`` now holds ``layout`` and refuses ``cookie``, and the address-parse test
checks the model's parse (addr.py) instead of the planner's own dotted-quad parser."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import os
import random

import pytest

from ansible_collections.sdn.egress.plugins.module_utils import model
from ansible_collections.sdn.egress.plugins.module_utils.marks import vnid_to_hex, vnid_to_mark
from ansible_collections.sdn.egress.plugins.module_utils.plan import plan, validate
from ansible_collections.sdn.egress.plugins.module_utils.sources import (
    from_inventory,
    from_k8s_info,
    from_oc_json,
    merge_node_vars,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "planner")
SEED_JSON = os.path.join(FIXTURES, "seed_netnamespace_hostsubnet.json")
ROUTER_MAC = "22:3b:a9:a4:8e:0c"   # tun0 mac_in_use of ocprouter01 in the seed notes
TUNNEL = "move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:%s->tun_dst,output:%d"
LOCAL = "set_field:%s->eth_dst,set_field:%s->pkt_mark,goto_table:101"


def load_seed():
    with open(SEED_JSON) as handle:
        return json.load(handle)


def seed_facts():
    return {
        "ocpmaster01": {"reachable": True, "tun0_mac": "9a:2f:89:5a:ba:01", "vxlan_ofport": 1},
        "ocpnode01": {"reachable": True, "tun0_mac": "9a:2f:89:5a:ba:02", "vxlan_ofport": 1},
        "ocprouter01": {"reachable": True, "tun0_mac": ROUTER_MAC, "vxlan_ofport": 1},
    }


def flow(match, actions):
    return {"table": 100, "priority": 100, "match": match, "actions": actions}


def three_nodes(**extra):
    """Three nodes in 10.0.0.0/24; ``extra`` maps node name -> keys to set."""
    nodes = [
        {"name": "node-a", "host_ip": "10.0.0.2", "subnet": "10.128.0.0/23"},
        {"name": "node-b", "host_ip": "10.0.0.3", "subnet": "10.129.0.0/23"},
        {"name": "node-c", "host_ip": "10.0.0.4", "subnet": "10.130.0.0/23"},
    ]
    for node in nodes:
        node.update(extra.get(node["name"], {}))
    return nodes


def facts_for(names, **overrides):
    facts = dict((name, {"reachable": True, "tun0_mac": "0a:00:00:00:00:%02x" % index, "vxlan_ofport": 1})
                 for index, name in enumerate(names))
    for name, values in overrides.items():
        facts[name.replace("_", "-")].update(values)
    return facts


ALL_FACTS = facts_for(["node-a", "node-b", "node-c"])


# ----------------------------------------------------------------------------- marks

@pytest.mark.parametrize("vnid, rule, mark", [
    (0xdf6553, "3.x", "0x1df6552"),     # egress-test2 in the seed notes
    (0x6f7936, "3.x", "0x6f7936"),      # egress-test
    (0x2ec40e, "3.x", "0x2ec40e"),      # egress-test3
    (0x2ec40e, "4.8", "0x102e440e"),    # bit 15 moved to bit 28 first
    (0xdf6553, "4.8", "0x1df6552"),     # no bit 15: same as 3.x
    (0, "3.x", "0xff000000"),
    (0, "4.8", "0xff000000"),
    (1, "3.x", "0x1000000"),
    (0x8001, "4.8", "0x11000000"),      # both rules apply, drop-bit rule first
    (0xffffff, "4.8", "0x11ff7ffe"),
])
def test_vnid_to_mark(vnid, rule, mark):
    assert vnid_to_mark(vnid, rule=rule) == mark


def test_vnid_to_mark_masquerade_bit():
    assert vnid_to_mark(0x2ec40e, masquerade_bit=1) == "0x12ec40c"   # bit 1 set -> moved
    assert vnid_to_mark(0x6f7935, masquerade_bit=1) == "0x6f7935"    # bit 1 clear -> unchanged
    assert vnid_to_mark(0, masquerade_bit=24) == "0xfe000000"        # 0xff000000 holds bit 24


def test_vnid_to_mark_accepts_strings():
    assert vnid_to_mark("14640467") == "0x1df6552"
    assert vnid_to_mark("0xDF6553") == "0x1df6552"
    assert vnid_to_hex(3064846) == "0x2ec40e"
    assert vnid_to_hex("0") == "0x0"


@pytest.mark.parametrize("args, message", [
    ((16777216,), "vnid: 16777216 is out of range 0..16777215"),
    ((-1,), "vnid: -1 is out of range 0..16777215"),
    (("abc",), "vnid: abc is not an integer"),
    ((True,), "vnid: true is not an integer"),
    ((1, "4.7"), "mark_rule: 4.7 is not one of 3.x, 4.8"),
    ((1, "3.x", 32), "masquerade_bit: 32 is out of range 0..31"),
])
def test_vnid_to_mark_rejects(args, message):
    with pytest.raises(ValueError) as err:
        vnid_to_mark(*args)
    assert str(err.value) == message


@pytest.mark.parametrize("rule", ["3.x", "4.8"])
def test_marks_never_collide(rule):
    """Mark collisions are impossible for in-range VNIDs, so the planner has no check for them.

    Both rules only move a bit that a 24-bit VNID can hold to a bit it cannot (15 -> 28,
    masquerade bit -> 24), and VNID 0 alone reaches bits 24..31, so the mapping is injective.
    Checked here on every combination of the bits involved plus a fixed random sample.
    """
    rng = random.Random(7305526)
    sample = set(rng.randrange(0, 0x1000000) for dummy in range(1500))
    for masquerade_bit in range(32):
        special = sorted(set(bit for bit in (0, 15, 23, masquerade_bit) if bit < 24))
        vnids = set(sample)
        for combo in range(1 << len(special)):
            value = sum(1 << bit for index, bit in enumerate(special) if combo >> index & 1)
            vnids.update((value, value | 0x0a0a0a & ~(1 << masquerade_bit)))
        marks = set(vnid_to_mark(vnid, rule, masquerade_bit) for vnid in vnids)
        assert len(marks) == len(vnids), masquerade_bit
        assert not any(int(mark, 16) & (1 << masquerade_bit) for mark in marks)
        if rule == "4.8":
            assert not any(int(mark, 16) & 0x8000 for mark in marks)


# ----------------------------------------------------------------------------- normalisation

def seed_inventory():
    doc = load_seed()
    namespaces = [{"name": item["netname"], "netid": item["netid"], "egress_ips": item.get("egressIPs", [])}
                  for item in doc["items"] if item["kind"] == "NetNamespace"]
    nodes = [{"name": item["host"], "host_ip": item["hostIP"], "subnet": item["subnet"],
              "egress_ips": item.get("egressIPs", [])}
             for item in doc["items"] if item["kind"] == "HostSubnet"]
    return namespaces, nodes


def test_three_shapes_give_one_model():
    doc = load_seed()
    from_json = from_oc_json(doc)
    assert from_oc_json(json.dumps(doc)) == from_json
    resources = {"NetNamespace": [], "HostSubnet": []}
    for item in doc["items"]:
        resources[item["kind"]].append(item)
    from_k8s = from_k8s_info({"resources": resources["NetNamespace"]}, resources["HostSubnet"])
    from_inv = from_inventory(*seed_inventory())
    assert from_json == from_k8s == from_inv
    assert from_json["problems"] == []
    assert len(from_json["namespaces"]) == 19
    assert from_json["nodes"][2] == {"name": "ocprouter01", "host_ip": "10.0.0.2", "subnet": "10.130.0.0/23",
                                     "egress_ips": ["10.0.0.11", "10.0.0.12", "10.0.0.13"],
                                     "egress_cidrs": [], "interfaces": []}
    assert {"name": "default", "netid": 0, "egress_ips": []} in from_json["namespaces"]


def test_oc_json_single_object_and_typed_list():
    netns = {"kind": "NetNamespace", "netname": "a", "netid": 5, "egressIPs": ["10.0.0.9"]}
    assert from_oc_json(netns)["namespaces"] == [{"name": "a", "netid": 5, "egress_ips": ["10.0.0.9"]}]
    typed = {"kind": "HostSubnetList", "items": [{"kind": "HostSubnet", "metadata": {"name": "n1"},
                                                  "hostIP": "10.0.0.2", "subnet": "10.128.0.0/23"}]}
    assert from_oc_json(typed)["nodes"][0]["name"] == "n1"   # falls back to metadata.name


@pytest.mark.parametrize("document, problem", [
    ("{not json", "oc_json: not valid JSON"),
    ([1, 2], "oc_json: [1, 2] is not a JSON object"),
    ({"kind": "List", "items": {"a": 1}}, 'oc_json.items: {"a": 1} is not a list'),
    ({"kind": "List", "items": [{"kind": "Pod", "metadata": {"name": "web"}}]},
     "oc_json.items[web].kind: Pod is not NetNamespace or HostSubnet"),
    ({"kind": "List", "items": ["x"]}, "oc_json.items[#0].kind: missing"),
])
def test_oc_json_shape_problems(document, problem):
    problems = from_oc_json(document)["problems"]
    assert len(problems) == 1 and problems[0].startswith(problem)


def test_k8s_kinds_are_checked():
    model = from_k8s_info([{"kind": "HostSubnet", "metadata": {"name": "n1"}}], None)
    assert model["problems"] == ["namespaces[n1].kind: HostSubnet is not NetNamespace"]


def test_inventory_shape_problems():
    model = from_inventory({"name": "x"}, [{"name": "n1", "hostIP": "10.0.0.2"}, "n2"])
    assert model["problems"] == [
        'namespaces: {"name": "x"} is not a list',
        "nodes[n1]: unknown key hostIP (known: name, host_ip, subnet, egress_ips, egress_cidrs, "
        "interfaces, inventory_host)",
        "nodes[#1]: n2 is not a mapping",
    ]
    assert model["nodes"] == [{"name": "n1", "egress_ips": [], "egress_cidrs": [], "interfaces": []}]


def test_merge_node_vars():
    model = from_oc_json(load_seed())
    merged = merge_node_vars(model, [
        {"name": "ocprouter01", "interfaces": [{"name": "ens19", "cidr": "10.0.0.200/24"}],
         "inventory_host": "router1.example.com", "host_ip": None},
        {"name": "ocprouter1", "interfaces": []},
    ])
    router = merged["nodes"][2]
    assert router["inventory_host"] == "router1.example.com"
    assert router["host_ip"] == "10.0.0.2"          # None leaves the API value alone
    assert model["nodes"][2]["interfaces"] == []    # input not changed
    assert merged["problems"] == []   # a host without HostSubnet is a warning (test_warnings.py)
    assert [w["field"] for w in merged["warnings"]] == ["node_vars[ocprouter1].name"]
    assert merged["no_hostsubnet"] == ["ocprouter1"]


# ----------------------------------------------------------------------------- the seed cluster

def test_seed_plan_reproduces_the_flows_of_the_notes():
    model = merge_node_vars(from_oc_json(load_seed()), [{"name": "ocprouter01", "interfaces": [
        {"name": "ens18", "cidr": "10.0.0.2/24"}, {"name": "ens19", "cidr": "10.0.0.200/24"}]}])
    result = plan(model, seed_facts())
    assert result["problems"] == []
    master = result["nodes"]["ocpmaster01"]
    assert master["flows"] == [flow("ip,reg0=" + vnid, TUNNEL % ("10.0.0.2", 1))
                               for vnid in ("0x2ec40e", "0x6f7936", "0xdf6553")]
    assert master["snat"] == master["reject"] == master["addresses"] == []
    router = result["nodes"]["ocprouter01"]
    assert router["flows"] == [
        flow("ip,reg0=0x2ec40e", LOCAL % (ROUTER_MAC, "0x2ec40e")),
        flow("ip,reg0=0x6f7936", LOCAL % (ROUTER_MAC, "0x6f7936")),
        flow("ip,reg0=0xdf6553", LOCAL % (ROUTER_MAC, "0x1df6552")),
    ]
    assert router["snat"] == [
        {"mark": "0x6f7936", "egress_ip": "10.0.0.11", "name": "egress-test"},
        {"mark": "0x2ec40e", "egress_ip": "10.0.0.12", "name": "egress-test3"},
        {"mark": "0x1df6552", "egress_ip": "10.0.0.13", "name": "egress-test2"},
    ]
    assert router["reject"] == ["10.0.0.11", "10.0.0.12", "10.0.0.13"]
    assert router["addresses"][0] == {"address": "10.0.0.11", "interface": "ens18", "prefix": 24}
    rows = dict((row["name"], row) for row in result["namespaces"])
    assert rows["egress-test2"] == {
        "name": "egress-test2", "netid": 14640467, "vnid_hex": "0xdf6553", "mark": "0x1df6552",
        "egress_ips": ["10.0.0.13"], "active_ip": "10.0.0.13", "node": "ocprouter01",
        "state": "active", "reason": None}
    assert rows["default"]["state"] == "no-egress" and rows["default"]["mark"] == "0xff000000"
    assert [row["name"] for row in result["namespaces"]] == sorted(rows)
    assert result["settings"] == {"cluster_cidrs": ["10.128.0.0/14"], "layout": "sdn3", "mark_rule": "3.x",
                                  "masquerade_bit": 0, "table": 100, "priority": 100,
                                  "failover": "run", "failover_vni": 0xFFFFFE,
                                  "snat_conflicts": "fail", "flow_conflicts": "fail", "flow_force": False}


def test_seed_plan_is_the_same_from_every_shape_and_order():
    doc = load_seed()
    expected = plan(from_oc_json(doc), seed_facts())
    shuffled = copy.deepcopy(doc)
    random.Random(1).shuffle(shuffled["items"])
    assert plan(from_oc_json(shuffled), seed_facts()) == expected
    assert plan(from_inventory(*seed_inventory()), seed_facts()) == expected


def test_settings_table_priority_and_4_8_marks():
    result = plan(from_oc_json(load_seed()), seed_facts(),
                  {"table": 99, "priority": 123, "mark_rule": "4.8"})
    router = result["nodes"]["ocprouter01"]
    assert router["flows"][0] == {"table": 99, "priority": 123, "match": "ip,reg0=0x2ec40e",
                                  "actions": LOCAL % (ROUTER_MAC, "0x102e440e")}
    assert router["snat"][1]["mark"] == "0x102e440e"
    assert "cookie" not in result["settings"]


def test_cookie_is_not_a_plan_setting():
    """The plan used to accept and ignore a cookie; the flow module's cookie is the role's."""
    assert validate(from_oc_json(load_seed()), seed_facts(), {"cookie": "0x65677265"}) == [
        "settings: unknown key cookie (known: cluster_cidrs, failover, failover_vni, flow_conflicts, flow_force, layout, "
        "mark_rule, masquerade_bit, priority, snat_conflicts, snat_remove_conflicts, strict, table)"]


# ----------------------------------------------------------------------------- failover

def failover_model():
    return from_inventory(
        [{"name": "ha", "netid": 100, "egress_ips": ["10.0.0.50", "10.0.0.60"]}],
        three_nodes(**{"node-a": {"egress_ips": ["10.0.0.50"]}, "node-b": {"egress_ips": ["10.0.0.60"]}}))


def test_first_ip_wins_and_second_node_pre_installs_snat():
    result = plan(failover_model(), ALL_FACTS)
    assert result["problems"] == []
    nodes = result["nodes"]
    assert nodes["node-a"]["flows"] == [flow("ip,reg0=0x64", LOCAL % ("0a:00:00:00:00:00", "0x64"))]
    assert nodes["node-b"]["flows"] == [flow("ip,reg0=0x64", TUNNEL % ("10.0.0.2", 1))]
    assert nodes["node-c"]["flows"] == [flow("ip,reg0=0x64", TUNNEL % ("10.0.0.2", 1))]
    # like openshift-sdn ClaimEgressIP: every assigned IP is claimed on its node
    assert nodes["node-a"]["snat"] == [{"mark": "0x64", "egress_ip": "10.0.0.50", "name": "ha"}]
    assert nodes["node-b"]["snat"] == [{"mark": "0x64", "egress_ip": "10.0.0.60", "name": "ha"}]
    assert result["namespaces"][0]["active_ip"] == "10.0.0.50"


def test_first_node_unreachable_second_ip_wins():
    facts = facts_for(["node-a", "node-b", "node-c"], node_a={"reachable": False})
    result = plan(failover_model(), facts)
    assert result["problems"] == []
    nodes = result["nodes"]
    assert nodes["node-a"] == {"inventory_host": "node-a", "host_ip": "10.0.0.2", "reachable": False,
                               "flows": [], "snat": [], "reject": [], "addresses": [], "probes": []}
    assert nodes["node-b"]["flows"] == [flow("ip,reg0=0x64", LOCAL % ("0a:00:00:00:00:01", "0x64"))]
    assert nodes["node-c"]["flows"] == [flow("ip,reg0=0x64", TUNNEL % ("10.0.0.3", 1))]
    assert nodes["node-b"]["snat"] == [{"mark": "0x64", "egress_ip": "10.0.0.60", "name": "ha"}]
    row = result["namespaces"][0]
    assert (row["state"], row["active_ip"], row["node"]) == ("active", "10.0.0.60", "node-b")


def test_all_egress_nodes_unreachable_drops_everywhere():
    facts = facts_for(["node-a", "node-b", "node-c"], node_a={"reachable": False}, node_b={"reachable": False})
    result = plan(failover_model(), facts)
    assert result["problems"] == []
    nodes = result["nodes"]
    assert nodes["node-c"]["flows"] == [flow("reg0=0x64", "drop")]   # no "ip": all traffic
    assert all(not node["snat"] and not node["addresses"] and not node["reject"] for node in nodes.values())
    row = result["namespaces"][0]
    assert row["state"] == "dropped" and row["active_ip"] is None and row["node"] is None
    assert row["reason"] == "10.0.0.50: node node-a is unreachable; 10.0.0.60: node node-b is unreachable"


def test_single_ip_on_unreachable_node_is_dropped():
    model = from_inventory([{"name": "one", "netid": 0, "egress_ips": ["10.0.0.50"]}],
                           three_nodes(**{"node-a": {"egress_ips": ["10.0.0.50"]}}))
    result = plan(model, facts_for(["node-a", "node-b", "node-c"], node_a={"reachable": False}))
    assert result["nodes"]["node-b"]["flows"] == [flow("reg0=0", "drop")]   # VNID 0 as ovs-ofctl prints it
    assert result["nodes"]["node-c"]["flows"] == [flow("reg0=0", "drop")]


def test_ip_no_node_lists_is_dropped_with_reason():
    model = from_inventory([{"name": "lost", "netid": 7, "egress_ips": ["10.0.0.70"]}], three_nodes())
    result = plan(model, ALL_FACTS)
    assert result["problems"] == []
    assert [node["flows"] for node in result["nodes"].values()] == [[flow("reg0=0x7", "drop")]] * 3
    assert result["namespaces"][0]["reason"] == "10.0.0.70: no node lists it"


def test_no_egress_namespaces_get_no_flows():
    model = from_inventory([{"name": "plain", "netid": 9}], three_nodes())
    result = plan(model, {})
    assert result["problems"] == []
    assert all(node["flows"] == [] for node in result["nodes"].values())
    assert result["namespaces"][0]["state"] == "no-egress"


def test_joined_namespaces_share_one_flow():
    model = from_inventory([{"name": "a", "netid": 300, "egress_ips": ["10.0.0.50"]},
                            {"name": "b", "netid": 300, "egress_ips": ["10.0.0.50"]}],
                           three_nodes(**{"node-a": {"egress_ips": ["10.0.0.50"]}}))
    result = plan(model, ALL_FACTS)
    assert result["problems"] == []
    assert len(result["nodes"]["node-b"]["flows"]) == 1
    assert result["nodes"]["node-a"]["snat"] == [{"mark": "0x12c", "egress_ip": "10.0.0.50", "name": "a"}]
    assert [(row["name"], row["state"]) for row in result["namespaces"]] == [("a", "active"), ("b", "active")]


# ----------------------------------------------------------------------------- egressCIDRs

def test_egress_cidrs_fewest_ips_then_name():
    nodes = three_nodes(**{
        "node-a": {"egress_cidrs": ["10.0.0.0/24"], "egress_ips": ["10.0.0.10"]},
        "node-b": {"egress_cidrs": ["10.0.0.0/24"]},
        "node-c": {"egress_cidrs": ["10.0.0.0/24"]},
    })
    namespaces = [{"name": "fixed", "netid": 10, "egress_ips": ["10.0.0.10"]}] + [
        {"name": "ns%d" % index, "netid": 20 + index, "egress_ips": ["10.0.0.%d" % (20 + index)]}
        for index in range(4)]
    result = plan(from_inventory(namespaces, nodes), ALL_FACTS)
    assert result["problems"] == []
    placed = dict((row["name"], row["node"]) for row in result["namespaces"])
    assert placed == {"fixed": "node-a", "ns0": "node-b", "ns1": "node-c", "ns2": "node-a", "ns3": "node-b"}


def test_egress_cidrs_single_candidate_first_and_reachable_only():
    nodes = three_nodes(**{
        "node-a": {"egress_cidrs": ["10.0.0.0/24"]},
        "node-b": {"egress_cidrs": ["10.0.0.0/24", "10.0.1.0/24"]},
        "node-c": {"egress_cidrs": ["10.0.0.0/24"]},
    })
    namespaces = [{"name": "x", "netid": 1, "egress_ips": ["10.0.0.5"]},
                  {"name": "y", "netid": 2, "egress_ips": ["10.0.1.5"]},      # only node-b holds it
                  {"name": "ha", "netid": 3, "egress_ips": ["10.0.0.6", "10.0.0.7"]}]
    facts = facts_for(["node-a", "node-b", "node-c"], node_a={"reachable": False})
    result = plan(from_inventory(namespaces, nodes), facts)
    placed = dict((row["name"], (row["node"], row["state"])) for row in result["namespaces"])
    # y goes to node-b first, so x goes to the emptier node-c; node-a is offline;
    # 3.x never auto-assigns the IPs of a namespace with several egress IPs
    assert placed == {"x": ("node-c", "active"), "y": ("node-b", "active"), "ha": (None, "dropped")}


# ----------------------------------------------------------------------------- validation

def problems_of(namespaces, nodes, facts=None, settings=None):
    return validate(from_inventory(namespaces, nodes), ALL_FACTS if facts is None else facts, settings)


def test_netid_out_of_range_message():
    assert problems_of([{"name": "egress-test", "netid": 16777216}], three_nodes()) == [
        "namespaces[egress-test].netid: 16777216 is out of range 0..16777215"]


@pytest.mark.parametrize("namespaces, node_extra, expected", [
    ([{"name": "a", "netid": "x1"}], {},
     ["namespaces[a].netid: x1 is not an integer"]),
    ([{"name": "a"}], {}, ["namespaces[a].netid: missing"]),
    ([{"netid": 1}], {}, ["namespaces[#0].name: missing"]),
    ([{"name": "a", "netid": 1}, {"name": "a", "netid": 2}], {},
     ["namespaces[a].name: a is declared twice"]),
    ([{"name": "a", "netid": 1, "egress_ips": ["10.0.0.300"]}], {},
     ["namespaces[a].egress_ips: 10.0.0.300 is not an IPv4 address"]),
    ([{"name": "a", "netid": 1, "egress_ips": ["2001:db8::1"]}], {},
     ["namespaces[a].egress_ips: 2001:db8::1 is not an IPv4 address"]),
    ([{"name": "a", "netid": 1, "egress_ips": "10.0.0.50"}], {},
     ["namespaces[a].egress_ips: 10.0.0.50 is not a list"]),
    ([{"name": "a", "netid": 1, "egress_ips": ["10.0.0.50", "10.0.0.50"]}],
     {"node-a": {"egress_ips": ["10.0.0.50"]}},
     ["namespaces[a].egress_ips: 10.0.0.50 is listed twice"]),
    # duplicate egress IP across namespaces: both namespaces are dropped
    ([{"name": "a", "netid": 1, "egress_ips": ["10.0.0.50"]}, {"name": "b", "netid": 2, "egress_ips": ["10.0.0.50"]}],
     {"node-a": {"egress_ips": ["10.0.0.50"]}},
     ["namespaces[b].egress_ips: 10.0.0.50 is also listed by namespace a"]),
    # duplicate across nodes
    ([{"name": "a", "netid": 1, "egress_ips": ["10.0.0.50"]}],
     {"node-a": {"egress_ips": ["10.0.0.50"]}, "node-b": {"egress_ips": ["10.0.0.50"]}},
     ["nodes[node-b].egress_ips: 10.0.0.50 is also listed by node node-a"]),
    # the IP of some node
    ([{"name": "a", "netid": 1, "egress_ips": ["10.0.0.3"]}], {"node-a": {"egress_ips": ["10.0.0.3"]}},
     ["namespaces[a].egress_ips: 10.0.0.3 is the host_ip of node node-b",
      "nodes[node-a].egress_ips: 10.0.0.3 is the host_ip of node node-b"]),
    ([{"name": "a", "netid": 1, "egress_ips": ["10.0.0.200"]}],
     {"node-a": {"egress_ips": ["10.0.0.200"], "interfaces": [{"name": "ens19", "cidr": "10.0.0.200/24"}]}},
     ["namespaces[a].egress_ips: 10.0.0.200 is the address of interface ens19 on node node-a",
      "nodes[node-a].egress_ips: 10.0.0.200 is the address of interface ens19 on node node-a"]),
    # inside the pod networks
    ([{"name": "a", "netid": 1, "egress_ips": ["10.131.0.5"]}], {},
     ["namespaces[a].egress_ips: 10.131.0.5 is inside the cluster network 10.128.0.0/14"]),
    # outside the node's networks, with and without interfaces
    ([{"name": "a", "netid": 1, "egress_ips": ["192.0.2.50"]}],
     {"node-a": {"egress_ips": ["192.0.2.50"], "interfaces": [{"name": "ens18", "cidr": "10.0.0.2/24"}]}},
     ["nodes[node-a].egress_ips: 192.0.2.50 is outside the networks of node node-a (10.0.0.0/24)"]),
    ([{"name": "a", "netid": 1, "egress_ips": ["192.0.2.50"]}],
     {"node-a": {"egress_ips": ["192.0.2.50"], "host_ip": "10.0.0.2/24"}},
     ["nodes[node-a].egress_ips: 192.0.2.50 is outside the networks of node node-a (10.0.0.0/24)"]),
    # two IPs of one namespace on one node
    ([{"name": "a", "netid": 1, "egress_ips": ["10.0.0.50", "10.0.0.51"]}],
     {"node-a": {"egress_ips": ["10.0.0.50", "10.0.0.51"]}},
     ["namespaces[a].egress_ips: 10.0.0.50, 10.0.0.51 are all on node node-a; openshift-sdn uses none of them"]),
    # joined namespaces (same netid) with different egress IPs
    ([{"name": "a", "netid": 1, "egress_ips": ["10.0.0.50"]}, {"name": "b", "netid": 1}],
     {"node-a": {"egress_ips": ["10.0.0.50"]}},
     ["namespaces[b].egress_ips: [] differs from namespace a [10.0.0.50], which has the same netid 1 "
      "(namespaces sharing a netid must list the same egress IPs)"]),
])
def test_each_problem_class(namespaces, node_extra, expected):
    assert problems_of(namespaces, three_nodes(**node_extra)) == expected


@pytest.mark.parametrize("node_extra, expected", [
    ({"node-a": {"host_ip": None}}, ["nodes[node-a].host_ip: missing"]),
    ({"node-a": {"host_ip": "10.0.0.3"}}, ["nodes[node-b].host_ip: 10.0.0.3 is also the host_ip of node node-a"]),
    ({"node-a": {"subnet": "10.128.0.1/23"}},
     ["nodes[node-a].subnet: 10.128.0.1/23 has host bits set (the network is 10.128.0.0/23)"]),
    ({"node-a": {"egress_cidrs": ["10.0.0.0"]}}, ["nodes[node-a].egress_cidrs: 10.0.0.0 is not an IPv4 CIDR"]),
    ({"node-a": {"egress_cidrs": "10.0.0.0/24"}}, ["nodes[node-a].egress_cidrs: 10.0.0.0/24 is not a list"]),
    ({"node-a": {"interfaces": [{"name": "ens18", "cidr": "10.0.0.2"}]}},
     ["nodes[node-a].interfaces[0].cidr: 10.0.0.2 is not an IPv4 address/prefix"]),
    ({"node-a": {"interfaces": ["ens18"]}},
     ["nodes[node-a].interfaces[0]: ens18 is not a mapping with name and cidr"]),
    ({"node-a": {"host_ip": "10.0.0.2/33"}}, ["nodes[node-a].host_ip: 10.0.0.2/33 is not an IPv4 address/prefix"]),
])
def test_node_problems(node_extra, expected):
    assert problems_of([], three_nodes(**node_extra)) == expected


def test_duplicate_node_name():
    nodes = three_nodes() + [{"name": "node-a", "host_ip": "10.0.0.9"}]
    assert problems_of([], nodes) == ["nodes[node-a].name: node-a is declared twice"]


@pytest.mark.parametrize("facts, expected", [
    (dict(ALL_FACTS, node_z={}), []),   # a host without HostSubnet: a warning (test_warnings.py)
    (facts_for(["node-a", "node-b", "node-c"], node_a={"tun0_mac": "zz:3b:a9:a4:8e:0c"}),
     ["node_facts[node-a].tun0_mac: missing; needed because node node-a hosts an active egress IP",
      "node_facts[node-a].tun0_mac: zz:3b:a9:a4:8e:0c is not a MAC address"]),
    (facts_for(["node-a", "node-b", "node-c"], node_b={"vxlan_ofport": 0}),
     ["node_facts[node-b].vxlan_ofport: 0 is out of range 1..65279",
      "node_facts[node-b].vxlan_ofport: missing; needed because node node-b tunnels traffic to egress nodes"]),
    (facts_for(["node-a", "node-b", "node-c"], node_c={"reachable": "yes"}),
     ["node_facts[node-c].reachable: yes is not a boolean"]),
    ({"node-a": {"vxlan_ofport": 1}, "node-b": {"vxlan_ofport": 1}, "node-c": {}},
     ["node_facts[node-a].tun0_mac: missing; needed because node node-a hosts an active egress IP",
      "node_facts[node-c].vxlan_ofport: missing; needed because node node-c tunnels traffic to egress nodes"]),
])
def test_node_fact_problems(facts, expected):
    namespaces = [{"name": "a", "netid": 1, "egress_ips": ["10.0.0.50"]}]
    assert problems_of(namespaces, three_nodes(**{"node-a": {"egress_ips": ["10.0.0.50"]}}), facts) == expected


def test_unreachable_nodes_need_no_facts():
    namespaces = [{"name": "a", "netid": 1, "egress_ips": ["10.0.0.50"]}]
    nodes = three_nodes(**{"node-a": {"egress_ips": ["10.0.0.50"]}})
    facts = {"node-a": {"reachable": False}, "node-b": {"reachable": False}, "node-c": {"reachable": False}}
    assert problems_of(namespaces, nodes, facts) == []


@pytest.mark.parametrize("settings, expected", [
    ({"mark_rule": "4.7"}, ["settings.mark_rule: 4.7 is not one of 3.x, 4.8"]),
    ({"masquerade_bit": 32}, ["settings.masquerade_bit: 32 is out of range 0..31"]),
    ({"table": 255, "priority": -1}, ["settings.priority: -1 is out of range 0..65535",
                                      "settings.table: 255 is out of range 0..254"]),
    ({"cluster_cidrs": ["10.128.0.0/33"]},
     ["settings.cluster_cidrs: 10.128.0.0/33 is not an IPv4 CIDR"]),
    ({"bridge": "br0"}, ["settings: unknown key bridge (known: cluster_cidrs, failover, failover_vni, flow_conflicts, "
                         "flow_force, layout, mark_rule, masquerade_bit, priority, snat_conflicts, "
                         "snat_remove_conflicts, strict, table)"]),
    ("x", ["settings: x is not a mapping"]),
])
def test_settings_problems(settings, expected):
    assert problems_of([], three_nodes(), settings=settings) == expected


def test_every_problem_is_reported_at_once():
    namespaces = [
        {"name": "egress-test", "netid": 16777216, "egress_ips": ["10.0.0.11"]},
        {"name": "b", "netid": 2, "egress_ips": ["10.0.0.50", "bogus"]},
        {"name": "c", "netid": 3, "egress_ips": ["10.0.0.50"]},
        {"name": "d", "netid": 4, "egress_ips": ["10.0.0.2"]},
    ]
    nodes = three_nodes(**{"node-a": {"egress_ips": ["10.0.0.50"], "subnet": "nope"},
                           "node-b": {"egress_ips": ["10.0.0.50"]}})
    model = from_inventory(namespaces, nodes + [{"name": "node-d", "host_ip": "10.0.0.9", "ip": 1}])
    model = merge_node_vars(model, [{"name": "node-x"}])
    problems = validate(model, dict(ALL_FACTS, node_y={}, **{"node-d": {}}), {"mark_rule": "5"})
    assert problems == sorted(problems)
    assert problems == [
        "namespaces[b].egress_ips: bogus is not an IPv4 address",
        "namespaces[c].egress_ips: 10.0.0.50 is also listed by namespace b",
        "namespaces[d].egress_ips: 10.0.0.2 is the host_ip of node node-a",
        "namespaces[egress-test].netid: 16777216 is out of range 0..16777215",
        "nodes[node-a].subnet: nope is not an IPv4 CIDR",
        "nodes[node-b].egress_ips: 10.0.0.50 is also listed by node node-a",
        "nodes[node-d]: unknown key ip (known: name, host_ip, subnet, egress_ips, egress_cidrs, "
        "interfaces, inventory_host)",
        "settings.mark_rule: 5 is not one of 3.x, 4.8",
    ]


def test_duplicate_ip_drops_both_namespaces():
    namespaces = [{"name": "a", "netid": 1, "egress_ips": ["10.0.0.40", "10.0.0.50"]},
                  {"name": "b", "netid": 2, "egress_ips": ["10.0.0.50"]}]
    nodes = three_nodes(**{"node-a": {"egress_ips": ["10.0.0.40"]}, "node-b": {"egress_ips": ["10.0.0.50"]}})
    result = plan(from_inventory(namespaces, nodes), ALL_FACTS)
    assert [(row["name"], row["state"]) for row in result["namespaces"]] == [("a", "dropped"), ("b", "dropped")]
    assert result["namespaces"][0]["reason"] == "10.0.0.50 is listed by namespaces a, b"
    # issue 19 fix 2: openshift-sdn counts every requested IP, so namespace a is refused for
    # 10.0.0.40 too: nothing of a's or b's is planned on any node (before, node-a got
    # 10.0.0.40's address, SNAT rule and REJECT although a was dropped)
    for name, node in result["nodes"].items():
        assert (name, node["snat"], node["reject"], node["addresses"]) == (name, [], [], [])
        assert [entry["actions"] for entry in node["flows"]] == ["drop", "drop"]


def test_shared_ip_listed_second_refuses_all_ips_of_the_namespace():
    # the shared IP is the namespace's second (failover) IP: still refused as a whole
    namespaces = [{"name": "a", "netid": 1, "egress_ips": ["10.0.0.40", "10.0.0.50"]},
                  {"name": "b", "netid": 2, "egress_ips": ["10.0.0.50"]},
                  {"name": "c", "netid": 3, "egress_ips": ["10.0.0.60"]}]
    nodes = three_nodes(**{"node-a": {"egress_ips": ["10.0.0.40"]}, "node-b": {"egress_ips": ["10.0.0.50"]},
                           "node-c": {"egress_ips": ["10.0.0.60"]}})
    result = plan(from_inventory(namespaces, nodes), ALL_FACTS)
    states = dict((row["name"], (row["state"], row["active_ip"])) for row in result["namespaces"])
    assert states == {"a": ("dropped", None), "b": ("dropped", None), "c": ("active", "10.0.0.60")}
    claimed = dict((name, [entry["address"] for entry in node["addresses"]]) for name, node in result["nodes"].items())
    assert claimed == {"node-a": [], "node-b": [], "node-c": ["10.0.0.60"]}
    assert [rule["egress_ip"] for rule in result["nodes"]["node-c"]["snat"]] == ["10.0.0.60"]
    assert result["nodes"]["node-a"]["reject"] == [] and result["nodes"]["node-b"]["reject"] == []


# ----------------------------------------------------------------------------- size

def test_plans_5000_namespaces_on_3_nodes():
    namespaces = [{"name": "ns%04d" % index, "netid": 1000 + index,
                   "egress_ips": ["10.%d.%d.%d" % (1 + index % 3, index // 250, 1 + index % 250)]}
                  for index in range(5000)]
    nodes = [{"name": "node-%d" % part, "host_ip": "10.%d.255.254/16" % part, "subnet": "10.%d.0.0/23" % (127 + part),
              "egress_ips": [ns["egress_ips"][0] for ns in namespaces if ns["egress_ips"][0].startswith("10.%d." % part)]}
             for part in (1, 2, 3)]
    facts = dict((node["name"], {"tun0_mac": "0a:00:00:00:00:0%d" % index, "vxlan_ofport": 1})
                 for index, node in enumerate(nodes))
    result = plan(from_inventory(namespaces, nodes), facts, {"cluster_cidrs": ["10.128.0.0/14"]})
    assert result["problems"] == []
    assert len(result["namespaces"]) == 5000
    assert all(row["state"] == "active" for row in result["namespaces"])
    for node in result["nodes"].values():
        assert len(node["flows"]) == 5000
        assert len(node["snat"]) == len(node["reject"]) == len(node["addresses"])
    assert sum(len(node["snat"]) for node in result["nodes"].values()) == 5000
    assert sum(flow["actions"].startswith("set_field:") for node in result["nodes"].values()
               for flow in node["flows"]) == 5000


def test_namespace_name_with_whitespace_is_a_problem():
    model = from_inventory([{"name": "egress test", "netid": 1, "egress_ips": []}],
                           [{"name": "n1", "host_ip": "10.0.0.2"}])
    problems = validate(model, {"n1": {"reachable": True, "vxlan_ofport": 1}})
    assert any(p.startswith("namespaces[egress test].name") and "is not a name" in p for p in problems), problems


def test_address_parse_accepts_exactly_what_ipaddress_accepts():
    """The model's address parse (addr.parse_ip: netaddr, inet_pton spellings, blanks around
    ignored) agrees with ipaddress.IPv4Address on valid, odd and malformed spellings, and keeps
    the canonical text."""
    import ipaddress
    import random

    rng = random.Random(7)
    samples = ["0.0.0.0", "255.255.255.255", "1.2.3.4", "01.2.3.4", "1.2.3.04", "1.2.3.256", "1.2.3", "1.2.3.4.5",
               "", ".", "1..3.4", "1.2.3.4/24", "a.b.c.d", "1.2.3.\u0663", "\u0661.2.3.4", "1.2.3.+4", "1.2.3.-0",
               " 1.2.3.4", "1.2.3.4 ", "1.2.3.0x1", "1.2.3.1e2", "1_0.2.3.4", "1.2.3.0000", "00.0.0.0", "1.2.3.\uff14"]
    alphabet = "0123456789.0123456789.x /-+_\u0663"
    samples += ["".join(rng.choice(alphabet) for dummy in range(rng.randint(0, 16))) for dummy in range(3000)]
    samples += [str(ipaddress.IPv4Address(rng.getrandbits(32))) for dummy in range(500)]
    for text in samples:
        try:
            expected = int(ipaddress.IPv4Address(text.strip()))
        except ValueError:
            expected = None
        problems = model.Problems()
        address = model._Values((4,), problems).ip(text, "x")
        assert (None if address is None else int(address)) == expected, text
        assert bool(problems) == (expected is None), text
        if expected is not None:
            assert str(address) == text.strip()
