# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""digests.py: the preflight's digest of what a node has (from recorded ovs-ofctl, iptables-save
and `ip -j addr` outputs) equals the plan's digest of the same objects, and differs as soon as
one object drifts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.sdn.egress.plugins.module_utils import digests
from ansible_collections.sdn.egress.plugins.module_utils.iptables import parse_save
from ansible_collections.sdn.egress.plugins.module_utils.ipaddr import ClaimError, choose_interface, local_networks, parse_ip_addr
from ansible_collections.sdn.egress.plugins.module_utils.ovs import group_id_of, parse_dump_flows, parse_dump_groups
from ansible_collections.sdn.egress.plugins.module_utils.preflight import address_entries

from .test_layouts import sdn48_plan

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures")


def read(*path):
    with open(os.path.join(FIXTURES, *path)) as handle:
        return handle.read()


# ----------------------------------------------------------------------------- flows and groups

def node_side(name, flows_edit=None, groups_edit=None, recorded=None):
    """The preflight's digest of the recorded sdn48 dumps of ``name`` (fixtures/planner: added
    without a cookie, so cookie 0 is ours here)."""
    flows_text = read("planner", "sdn48_%s.dump-flows.txt" % name)
    groups_text = read("planner", "sdn48_%s.dump-groups.txt" % name)
    if flows_edit:
        flows_text = flows_edit(flows_text)
    if groups_edit:
        groups_text = groups_edit(groups_text)
    groups = parse_dump_groups(groups_text)
    ids = set(groups) if recorded is None else recorded
    return digests.node_flows(parse_dump_flows(flows_text), 0, groups, ids)


def test_flows_digest_of_the_recorded_dump_equals_the_plans():
    nodes = sdn48_plan(compact=True)["nodes"]
    for name in ("node-a", "node-c"):
        wanted = digests.plan_flows(nodes[name]["flows_text"], nodes[name]["groups_text"])
        assert wanted is not None
        assert node_side(name) == wanted


def test_flows_digest_changes_with_any_drift():
    node = sdn48_plan(compact=True)["nodes"]["node-a"]
    wanted = digests.plan_flows(node["flows_text"], node["groups_text"])

    def drop_first(text):
        return "\n".join(text.splitlines()[1:])

    assert node_side("node-a", flows_edit=drop_first) != wanted           # a flow deleted by hand
    assert node_side("node-a", flows_edit=lambda t: t.replace("actions=drop", "actions=NORMAL")) != wanted
    assert node_side("node-a", flows_edit=lambda t: t + " table=101, priority=5,ip actions=drop\n") != wanted
    groups = parse_dump_groups(read("planner", "sdn48_node-a.dump-groups.txt"))
    one = sorted(groups)[0]
    # a recorded group deleted, a group not recorded as ours, a group changed
    assert node_side("node-a", groups_edit=lambda t: "\n".join(
        line for line in t.splitlines() if not line.strip().startswith("group_id=%d," % one))) != wanted
    assert node_side("node-a", recorded=set(groups) - {one}) != wanted
    assert node_side("node-a", groups_edit=lambda t: t.replace("output:2", "output:3")) != wanted


def test_flows_of_another_cookie_do_not_count():
    flows = parse_dump_flows(read("planner", "sdn48_node-c.dump-flows.txt"))
    foreign = parse_dump_flows("cookie=0x99, table=101, priority=200,ip actions=drop\n")
    groups = parse_dump_groups(read("planner", "sdn48_node-c.dump-groups.txt"))
    assert digests.node_flows(flows + foreign, 0, groups, set(groups)) == \
        digests.node_flows(flows, 0, groups, set(groups))


def test_plan_flows_refuses_a_duplicate_group_id():
    line = "group_id=7,type=select,bucket=actions=drop"
    assert group_id_of(line) == 7
    assert digests.plan_flows("", line + "\n" + line) is None


# ----------------------------------------------------------------------------- rules

SPEC = {"owner": "sdn.egress", "chain": "OPENSHIFT-MASQUERADE", "anchor": "OPENSHIFT-MASQUERADE-2",
        "reject_chain": "OPENSHIFT-FIREWALL-ALLOW", "reject_inbound": True,
        "cluster_cidrs": ["10.128.0.0/14", "10.132.0.0/14"], "masquerade_cluster": False}
# the owned_* fixtures' rules of egress-test3 (both cluster CIDRs, one REJECT), as snat_text
TEST3 = "0x2ec40e 192.0.2.50 egress-test3"
NOT_TEST3 = ('--mark 0x0 ', '--mark 0xffffffff ', '"sdn.egressive"', 'plain_tag-1')


def node_rules(backend, drop=NOT_TEST3, spec=None):
    spec = spec or SPEC
    nat = parse_save(read("iptables", "owned_nat_%s.txt" % backend))["nat"].rules[spec["chain"]]
    nat = [line for line in nat if not any(word in line for word in drop)]
    filt = parse_save(read("iptables", "owned_filter_%s.txt" % backend))["filter"].rules[spec["reject_chain"]]
    return digests.node_rules(nat, filt, spec["owner"], spec["anchor"])


def test_rules_digest_of_iptables_save_equals_the_plans():
    wanted = digests.plan_rules(TEST3, SPEC)
    assert wanted is not None
    for backend in ("legacy", "nft"):
        assert node_rules(backend) == wanted


def test_rules_digest_changes_when_a_rule_drifts():
    wanted = digests.plan_rules(TEST3, SPEC)
    for backend in ("legacy", "nft"):
        # the recorded chain as it is: other rules of ours, a foreign rule between ours and the anchor
        assert node_rules(backend, drop=()) != wanted
        # one SNAT rule of ours removed by hand
        assert node_rules(backend, drop=NOT_TEST3 + ("-s 10.132.0.0/14",)) != wanted
        # a foreign rule between our block and the anchor jump (the block is not where egress_snat puts it)
        assert node_rules(backend, drop=NOT_TEST3[:3]) != wanted
    # another egress IP, no REJECT wanted, another owner
    assert digests.plan_rules("0x2ec40e 192.0.2.51 egress-test3", SPEC) != wanted
    assert digests.plan_rules(TEST3, dict(SPEC, reject_inbound=False)) != wanted
    assert node_rules("legacy", spec=dict(SPEC, owner="other")) != wanted


def test_rules_unreadable_or_unrenderable_is_none():
    assert digests.node_rules(None, [], "sdn.egress", None) is None
    assert digests.plan_rules("0xzz 192.0.2.1 bad", SPEC) is None


# ----------------------------------------------------------------------------- addresses

def claimed():
    return parse_ip_addr(read("ip", "claimed.json"), ("inet", "inet6"))


def networks_of(interfaces):
    return dict((name, entry["networks"]) for name, entry in address_entries(interfaces, "sdne").items()
                if entry["networks"])


def test_addresses_digest_of_ip_addr_equals_the_plans():
    interfaces = claimed()
    wanted = digests.plan_addresses("198.51.100.50,192.0.2.51",
                                    [{"interface": "ens19", "prefix": 32, "addresses": "203.0.113.77"}],
                                    networks_of(interfaces))
    assert wanted is not None
    assert digests.node_addresses(interfaces, "sdne") == wanted


def test_addresses_digest_changes_when_one_is_missing_moved_or_foreign():
    interfaces = claimed()
    networks = networks_of(interfaces)
    have = digests.node_addresses(interfaces, "sdne")
    named = [{"interface": "ens19", "prefix": 32, "addresses": "203.0.113.77"}]
    assert digests.plan_addresses("198.51.100.50", named, networks) != have                    # one to release
    assert digests.plan_addresses("198.51.100.50,192.0.2.51,198.51.100.61", named, networks) != have  # one to claim
    assert digests.plan_addresses("198.51.100.50,192.0.2.51",
                                  [{"interface": "ens19", "prefix": 24, "addresses": "203.0.113.77"}],
                                  networks) != have                                          # another prefix
    # a foreign address (label ens19:hand) is not ours: planning it is a difference, not a match
    assert digests.plan_addresses("198.51.100.50,192.0.2.51,198.51.100.60", named, networks) != have
    # an address of ours deleted by hand
    for iface in interfaces:
        iface["addresses"] = [a for a in iface["addresses"] if a["address"] != "192.0.2.51"]
    wanted = digests.plan_addresses("198.51.100.50,192.0.2.51", named, networks)
    assert digests.node_addresses(interfaces, "sdne") != wanted


def test_an_address_in_no_or_two_networks_is_not_placed():
    networks = {"eth0": ["192.0.2.0/24"], "eth1": ["192.0.2.0/25"]}
    assert digests.plan_addresses("192.0.2.5", [], networks) is None      # two interfaces hold it
    assert digests.plan_addresses("203.0.113.5", [], networks) is None    # none does
    assert digests.plan_addresses("192.0.2.200", [], networks) is not None
    assert digests.plan_addresses("192.0.2.200", [], None) is None


def test_the_plan_side_places_as_egress_addr_does():
    """Over the recorded host, for addresses in one, none and nested networks, with and without
    a named interface: the plan side's place is egress_addr's choose_interface's, or None
    exactly where that refuses."""
    interfaces = claimed()
    nets = digests._local_networks(networks_of(interfaces))
    interfaces = parse_ip_addr(read("ip", "claimed.json"))  # IPv4, as egress_addr reads it
    host = local_networks(interfaces, "sdne")
    assert dict((k, [str(n) for n in v]) for k, v in nets.items() if v) == \
        dict((k, [str(n) for n in v]) for k, v in host.items() if v)
    names = sorted(host) + [None, "nosuch0"]
    for address in ("198.51.100.50", "192.0.2.51", "203.0.113.77", "10.9.9.9", "192.0.2.255"):
        for name in names:
            try:
                want = choose_interface(interfaces, address, "sdne", name)
            except ClaimError:
                want = None
            assert digests._place(address, nets, name) == want, (address, name)


# ----------------------------------------------------------------------------- the decision

def test_unchanged_needs_equal_digests_and_no_foreign_object_to_remove():
    node = sdn48_plan(compact=True)["nodes"]["node-c"]
    owned = {"flows": node_side("node-c"), "rules": None, "addresses": None, "rules_spec": SPEC}
    settings = {"cluster_cidrs": SPEC["cluster_cidrs"], "flow_conflicts": "fail", "snat_conflicts": "fail"}
    foreign = {"flows": [], "rules": []}
    assert digests.unchanged(node, owned, {}, settings, True, foreign) == {
        "flows": True, "rules": False, "addresses": False}
    remove = dict(settings, flow_conflicts="remove")
    assert digests.unchanged(node, owned, {}, remove, True, foreign)["flows"] is True
    assert digests.unchanged(node, owned, {}, remove, True, {"flows": ["x"], "rules": []})["flows"] is False
    assert digests.unchanged(node, owned, {}, remove, True, {"flows": None, "rules": None})["flows"] is False
    assert digests.unchanged(node, dict(owned, flows="0"), {}, settings, True, foreign)["flows"] is False
    assert digests.unchanged(node, None, {}, settings, True, foreign) == {
        "flows": False, "rules": False, "addresses": False}


def test_failover_flows_and_ff_groups_digest_as_ovs_prints_them_back():
    """The dataplane failover plan of an egress node (reflector flows, ff groups) against what
    ovs-ofctl parse-flows / parse-group print for it (fixtures/planner/README.md)."""
    from ansible_collections.sdn.egress.plugins.module_utils.ovs import parse_flow_mods, parse_group_mod
    from ansible_collections.sdn.egress.plugins.module_utils.plan import plan

    from .test_failover import DATAPLANE, facts, raw

    node = plan(raw(), facts(), DATAPLANE, compact=True)["nodes"]["node-a"]
    flows = parse_flow_mods(read("planner", "failover_node-a.parse-flows.txt"))
    groups = {}
    for chunk in read("planner", "failover_node-a.parse-group.txt").split("usable protocols")[1:]:
        line = parse_group_mod(chunk)
        groups[group_id_of(line)] = line
    assert any("IN_PORT" in f.actions for f in flows) and any("type=ff" in g for g in groups.values())
    wanted = digests.plan_flows(node["flows_text"], node["groups_text"])
    assert digests.node_flows(flows, 0, groups, set(groups)) == wanted
