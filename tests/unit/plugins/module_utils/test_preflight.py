# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the preflight (module_utils/preflight.py and the egress_preflight module) on
recorded tool output, and of the plan's use of its facts (networks, problems)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from ansible_collections.sdn.egress.plugins.module_utils import preflight as pf
from ansible_collections.sdn.egress.plugins.module_utils.ipaddr import parse_ip_addr
from ansible_collections.sdn.egress.plugins.module_utils.iptables import parse_save
from ansible_collections.sdn.egress.plugins.module_utils.ovs import parse_dump_flows, parse_ovsdb_ports
from ansible_collections.sdn.egress.plugins.module_utils.plan import plan, validate
from ansible_collections.sdn.egress.plugins.module_utils.sources import from_inventory
from ansible_collections.sdn.egress.plugins.modules import egress_preflight

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures")


def fixture(*path):
    with open(os.path.join(FIXTURES, *path)) as handle:
        return handle.read()


# ----------------------------------------------------------------------------- parsing

def test_networks_of_both_families_without_link_local_secondary_or_ours():
    interfaces = parse_ip_addr(fixture("ip", "two_nics.json"), pf.FAMILIES)
    entries = pf.address_entries(interfaces, "sdne")
    assert entries["ens18"] == {
        "up": True, "mac": "3a:17:ed:19:8a:0e",
        "addresses": ["192.0.2.12/24", "2001:db8::12/64", "fe80::3817:edff:fe19:8a0e/64"],
        "networks": ["192.0.2.0/24", "2001:db8::/64"]}
    assert entries["ens19"]["networks"] == ["198.51.100.0/24"]
    assert entries["lo"]["networks"] == []  # host scope
    assert entries["lo"]["addresses"] == ["127.0.0.1/8", "::1/128"]


def test_our_labelled_and_secondary_addresses_define_no_network():
    interfaces = [{"name": "eth0", "mac": None, "up": True, "addresses": [
        {"address": "192.0.2.12", "prefix": 24, "label": "eth0", "secondary": False, "scope": "global",
         "interface": "eth0"},
        {"address": "192.0.2.51", "prefix": 24, "label": "eth0", "secondary": True, "scope": "global",
         "interface": "eth0"},
        {"address": "203.0.113.9", "prefix": 32, "label": "eth0:sdne", "secondary": False, "scope": "global",
         "interface": "eth0"}]}]
    assert pf.address_entries(interfaces, "sdne")["eth0"]["networks"] == ["192.0.2.0/24"]
    # with another suffix the /32 is not ours: it is a network of the node
    assert pf.address_entries(interfaces, "other")["eth0"]["networks"] == ["192.0.2.0/24", "203.0.113.9/32"]


def test_port_facts_from_recorded_ovsdb():
    ports = parse_ovsdb_ports(fixture("ovs", "vsctl_ports.json"))
    facts, problems = pf.port_facts(ports, "tun0", "vxlan0", "br0")
    assert problems == []
    assert facts["tun0_ofport"] == 2 and facts["vxlan_ofport"] == 1
    assert facts["tun0_mac"] == ports["tun0"]["mac_in_use"]
    facts, problems = pf.port_facts(ports, "ghost0", "ext0", "br0")
    assert facts == {"tun0_mac": None, "tun0_ofport": None, "vxlan_ofport": None}
    assert [p["what"] for p in problems] == ["ghost0", "ext0"]
    assert problems[0]["detail"].startswith("ghost0 has no OpenFlow port number (ofport -1)")
    assert problems[1]["detail"] == "ext0 is on bridge br1, not on bridge br0"
    dummy, problems = pf.port_facts(ports, "nosuch0", "vxlan0", "br0")
    assert problems == [{"what": "nosuch0", "detail": "nosuch0 is not an interface in the Open vSwitch database"}]


def test_foreign_rules_are_the_rules_not_ours_above_the_anchor_jump():
    owned = '-A C -s 10.128.0.0/14 -m mark --mark 0x7 -m comment --comment "sdn.egress ns1" -j SNAT --to-source 192.0.2.9'
    lines = ["-A C -s 10.128.0.0/14 -m mark --mark 0x7 -j SNAT --to-source 192.0.2.12",
             owned,
             '-A C -m comment --comment "sdn.egress" -j OPENSHIFT-MASQUERADE-2',  # ours: not the anchor
             "-A C -j ACCEPT",
             "-A C -s 10.128.0.0/14 -j OPENSHIFT-MASQUERADE-2",
             "-A C -m mark --mark 0x7 -j SNAT --to-source 192.0.2.13"]
    assert pf.foreign_rules(lines, "sdn.egress", "OPENSHIFT-MASQUERADE-2") == [
        {"index": 0, "rule": lines[0]}, {"index": 3, "rule": lines[3]}]
    # without an anchor (or none in the chain): every foreign rule
    assert [r["index"] for r in pf.foreign_rules(lines, "sdn.egress", None)] == [0, 3, 4, 5]
    assert [r["index"] for r in pf.foreign_rules(lines, "other", "NOSUCH")] == [0, 1, 2, 3, 4, 5]


def test_foreign_flows_leave_ours_and_the_lower_priorities_out():
    flows = parse_dump_flows(fixture("ovs", "dump_seed_node_a.txt"))
    found = pf.foreign_flows(flows, 0x65677265, 150)
    assert found == ["table=100, priority=300,udp,tp_dst=4789 actions=drop",
                     "table=100, priority=200,tcp,nw_dst=10.0.0.3,tp_dst=53 actions=output:2",
                     "table=100, priority=200,udp,nw_dst=10.0.0.3,tp_dst=53 actions=output:2"]
    assert len(pf.foreign_flows(flows, 0x65677265)) == 7   # every foreign one, priority 0 too
    assert not any("0x65677265" in line for line in pf.foreign_flows(flows, 0x65677265))
    # the lines read back as the same flows
    assert parse_dump_flows("\n".join(found)) == [f for f in flows if f.cookie != 0x65677265 and f.priority >= 150]


def test_owned_monitor_ports_come_from_the_same_ovsdb_read():
    class Runner:
        def run(self, order, **values):
            self.commands = values["commands"]
            return type("R", (), {"out": fixture("ovs", "vsctl_ports_owned.json")})()

    vsctl = type("V", (), {"runner": Runner()})()
    ports, owned, dummy = pf.read_ports(vsctl, ["tun0", "vxlan0"], "0x65677265")
    assert owned == ["sdne-c000020b"] and sorted(ports) == ["tun0", "vxlan0"]
    assert ports["vxlan0"]["ofport"] == 1 and ports["tun0"]["bridge"] == "br0"
    with pytest.raises(ValueError, match="expected 3 JSON documents"):
        pf.read_ports(vsctl, ["tun0", "vxlan0"], None)  # no owner: three documents expected


def test_chain_problems():
    tables = parse_save(fixture("iptables", "seed_nat_nft.txt"))
    assert pf.chain_problems(tables, [("nat", "OPENSHIFT-MASQUERADE")], "nft") == []
    assert pf.chain_problems(tables, [("nat", "NOSUCH")], "nft") == [
        {"what": "iptables", "detail": "chain NOSUCH does not exist in the nat table (iptables backend nft)"}]
    assert pf.chain_problems({"nat": None}, [("nat", "OPENSHIFT-MASQUERADE")], "legacy")[0]["detail"] == (
        "the nat table has no chains with iptables backend legacy (is the SDN using another backend?)")


# ----------------------------------------------------------------------------- the module

@pytest.fixture
def tools(monkeypatch):
    """Each tool answers with recorded output; a tool named in `fail` fails; calls recorded."""
    outputs = {
        "ovs-vsctl": fixture("ovs", "vsctl_ports_owned.json"),
        "ovs-ofctl": fixture("ovs", "dump_seed_node_a.txt"),  # what dump-flows prints; probe's output is not read
        "ip": fixture("ip", "two_nics.json"),
        "iptables-save": fixture("iptables", "seed_nat_nft.txt"),
    }
    state = dict(calls=[], fail=set(), missing=set())

    def run_command(module, args, data=None, environ_update=None, **kwargs):
        tool = os.path.basename(args[0])
        state["calls"].append(args)
        if tool in state["fail"]:
            return 1, "", "%s: cannot connect\n" % tool
        return 0, outputs[tool], ""

    def get_bin_path(self, name, required=False, opt_dirs=None):
        if name in state["missing"]:
            if required:
                self.fail_json(msg="no %s" % name)
            return None
        return "/usr/bin/" + name
    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", get_bin_path)
    return state


def run_module(capsys, args, check=False):
    with patch_module_args(dict(args, _ansible_check_mode=check)):
        with pytest.raises(SystemExit):
            egress_preflight.main()
    return json.loads(capsys.readouterr().out)


def test_module_reads_once_per_tool_and_never_changes(tools, capsys):
    out = run_module(capsys, {"backend": "auto"}, check=True)
    assert not out.get("failed") and out["changed"] is False, out
    # the recorded node has no tun0 interface in the kernel (it has in OVSDB)
    assert out["problems"] == [{"what": "tun0", "detail": "there is no network interface tun0 on the node"}], out
    assert out["openflow"] is True and out["tun0_ofport"] == 2 and out["vxlan_ofport"] == 1
    assert out["networks"] == {"ens18": ["192.0.2.0/24", "2001:db8::/64"], "ens19": ["198.51.100.0/24"]}
    assert out["tun0_present"] is False
    assert [os.path.basename(call[0]) for call in tools["calls"]] == ["ovs-vsctl", "ovs-ofctl", "ip",
                                                                      "iptables-save"]
    probe = tools["calls"][1]
    assert probe[-2:] == ["probe", "br0"] and "-O" in probe
    # the monitor ports owned by the default cookie, in the same ovs-vsctl read
    assert out["owned_monitor_ports"] == ["sdne-c000020b"]
    assert tools["calls"][0][-4:] == ["--columns=name", "find", "Interface", 'external_ids:sdn-egress-owner="0x65677265"']
    # neither a SNAT chain nor flow tables asked for: no conflict data
    assert out["foreign_rules"] is None and out["foreign_flows"] is None


def test_module_returns_foreign_rules_and_flows_in_the_same_processes(tools, capsys):
    out = run_module(capsys, {"snat_chain": "OPENSHIFT-MASQUERADE", "flow_tables": [100], "flow_priority": 100,
                              "nat_chains": []}, check=True)
    assert not out.get("failed") and out["changed"] is False, out
    # one dump-flows of table 100 instead of the probe, still four processes
    assert [os.path.basename(call[0]) for call in tools["calls"]] == ["ovs-vsctl", "ovs-ofctl", "ip",
                                                                      "iptables-save"]
    assert tools["calls"][1][-3:] == ["dump-flows", "br0", "table=100"] and "--no-stats" in tools["calls"][1]
    assert out["openflow"] is True
    # the seed's four foreign SNAT rules above the jump to OPENSHIFT-MASQUERADE-2, with their place
    assert [r["index"] for r in out["foreign_rules"]] == [0, 1, 2, 3]
    assert out["foreign_rules"][0]["rule"] == (
        "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x2ec40e -j SNAT --to-source 192.0.2.12")
    # flows of another cookie at priority 100 or above (the recording answers every table with
    # table 100 and 101 flows; the module keeps what it is given), never ours
    assert out["foreign_flows"] == [
        "table=100, priority=300,udp,tp_dst=4789 actions=drop",
        "table=100, priority=200,tcp,nw_dst=10.0.0.3,tp_dst=53 actions=output:2",
        "table=100, priority=200,udp,nw_dst=10.0.0.3,tp_dst=53 actions=output:2",
        "table=100, priority=100,ip,reg0=0x6f7936 actions=move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],"
        "set_field:10.0.0.2->tun_dst,output:1",
        "table=100, priority=100,ip,reg0=0xdf6553 actions=move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],"
        "set_field:10.0.0.2->tun_dst,output:1"]


def test_module_refuses_bad_conflict_options(tools, capsys):
    assert run_module(capsys, {"snat_chain": "-x"})["msg"].startswith("snat_chain: ")
    assert run_module(capsys, {"cookie": "0"})["msg"].startswith("cookie: ")
    assert run_module(capsys, {"flow_tables": [255]})["msg"] == "flow_tables[0]: 255 is not an OpenFlow table (0-254)"
    assert run_module(capsys, {"owner": "two words"})["msg"].startswith("owner: ")
    assert tools["calls"] == []


def test_module_reports_dead_vswitchd_and_missing_tools_as_problems(tools, capsys):
    tools["fail"].add("ovs-ofctl")
    tools["missing"].add("iptables-legacy-save")
    out = run_module(capsys, {"backend": "legacy", "tun_port": "ens18"})
    assert not out.get("failed") and out["changed"] is False, out
    assert out["openflow"] is False
    assert [p["what"] for p in out["problems"]] == ["ens18", "OpenFlow", "iptables"], out["problems"]
    assert "ovs-vswitchd" in out["problems"][1]["detail"] and "cannot connect" in out["problems"][1]["detail"]
    assert out["problems"][2]["detail"] == "iptables-legacy-save is not installed (not found on PATH)"


def test_module_refuses_bad_names(tools, capsys):
    out = run_module(capsys, {"nat_chains": ["-bad"]})
    assert out["failed"] and out["msg"].startswith("nat_chains[0]: "), out
    assert tools["calls"] == []


# ----------------------------------------------------------------------------- the plan

def nodes(**extra):
    result = [{"name": "node-a", "host_ip": "192.0.2.11", "subnet": "10.128.0.0/23"},
              {"name": "node-b", "host_ip": "192.0.2.12", "subnet": "10.129.0.0/23",
               "egress_ips": ["198.51.100.51"]}]
    for node in result:
        node.update(extra.get(node["name"].replace("-", "_"), {}))
    return result


NAMESPACES = [{"name": "ns1", "netid": 7, "egress_ips": ["198.51.100.51"]}]


def facts(**extra):
    result = {
        "node-a": {"reachable": True, "tun0_mac": "0a:00:00:00:00:01", "tun0_ofport": 2, "vxlan_ofport": 1,
                   "networks": {"eth0": ["192.0.2.0/24"]}, "problems": []},
        "node-b": {"reachable": True, "tun0_mac": "0a:00:00:00:00:02", "tun0_ofport": 2, "vxlan_ofport": 1,
                   "networks": {"eth0": ["192.0.2.0/24"], "eth1": ["198.51.100.0/24", "2001:db8::/64"]},
                   "problems": []},
    }
    for name, values in extra.items():
        result[name.replace("_", "-")].update(values)
    return result


def test_egress_ip_inside_one_reported_network_plans():
    assert validate(from_inventory(NAMESPACES, nodes()), facts()) == []


def test_egress_ip_outside_every_reported_network_fails_naming_the_field():
    only_v6 = {"networks": {"eth0": ["192.0.2.0/24"], "eth1": ["2001:db8::/64"]}}
    problems = validate(from_inventory(NAMESPACES, nodes()), facts(node_b=only_v6))
    assert problems == ["nodes[node-b].egress_ips: 198.51.100.51 is not inside any network of node node-b "
                        "(the node has: eth0 192.0.2.0/24)"]


def test_egress_ip_in_networks_of_two_interfaces_fails():
    problems = validate(from_inventory(NAMESPACES, nodes()),
                        facts(node_b={"networks": {"eth1": ["198.51.100.0/24"], "eth2": ["198.51.100.0/25"]}}))
    assert problems == ["nodes[node-b].egress_ips: 198.51.100.51 is inside networks of several interfaces of node "
                        "node-b (eth1 198.51.100.0/24, eth2 198.51.100.0/25); name the interface in egress_interfaces"]


def test_an_interface_the_inventory_names_is_trusted_and_an_unreachable_node_is_not_checked():
    named = nodes(node_b={"interfaces": [{"name": "eth9", "cidr": "198.51.100.12/24"}]})
    assert validate(from_inventory(NAMESPACES, named), facts(node_b={"networks": {}})) == []
    # a host_ip prefix does not name an interface: the claim still needs a reported network
    prefixed = nodes(node_b={"host_ip": "198.51.100.12/24"})
    assert validate(from_inventory(NAMESPACES, prefixed), facts(node_b={"networks": {}}))[0].startswith(
        "nodes[node-b].egress_ips: 198.51.100.51 is not inside any network of node node-b")
    # no networks reported (an older caller): nothing to check against
    legacy = facts()
    del legacy["node-b"]["networks"]
    assert validate(from_inventory(NAMESPACES, nodes()), legacy) == []
    down = facts(node_b={"reachable": False, "networks": {}})
    assert not [p for p in validate(from_inventory(NAMESPACES, nodes()), down) if "not inside" in p]


def test_node_problems_fail_the_plan_naming_node_and_what():
    bad = facts(node_a={"problems": [
        {"what": "OpenFlow", "detail": "bridge br0 does not answer OpenFlow (is ovs-vswitchd running?)"},
        {"what": "iptables", "detail": "chain X does not exist\nin the nat table"}]})
    result = plan(from_inventory(NAMESPACES, nodes()), bad)
    assert result["problems"] == [
        "nodes[node-a]: lacks OpenFlow: bridge br0 does not answer OpenFlow (is ovs-vswitchd running?)",
        'nodes[node-a]: lacks iptables: "chain X does not exist\\nin the nat table"',
    ]


@pytest.mark.parametrize("value, expected", [
    ({"networks": ["192.0.2.0/24"]},
     'node_facts[node-a].networks: ["192.0.2.0/24"] is not a mapping of interface names to lists of networks'),
    ({"networks": {"eth0": ["192.0.2.1/24"]}},
     "node_facts[node-a].networks[eth0]: 192.0.2.1/24 has host bits set (the network is 192.0.2.0/24)"),
    ({"problems": ["x"]}, "node_facts[node-a].problems[0]: x is not a mapping with what and detail"),
])
def test_malformed_preflight_facts(value, expected):
    assert validate(from_inventory(NAMESPACES, nodes()), facts(node_a=value)) == [expected]


# ----------------------------------------------------------------------------- conflicts at plan time

# node-b is ns1's egress node (mark 0x1000006 with the 3.x rule); node-a tunnels ns1 there
SHADOW_RULE = "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x1000006 -j SNAT --to-source 192.0.2.12"
HARMLESS_RULE = "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x1000008 -j SNAT --to-source 192.0.2.12"
CATCH_ALL_FLOW = "cookie=0x99, table=100, priority=200,ip actions=drop"
SDN_FLOW = "table=100, priority=200,udp,nw_dst=10.0.0.3,tp_dst=53 actions=output:2"


def conflict_facts(rules=(), flows=(), node="node_b"):
    return facts(**{node: {"foreign_rules": [{"index": i + 2, "rule": rule} for i, rule in enumerate(rules)],
                           "foreign_flows": list(flows)}})


def test_foreign_snat_rule_fails_the_plan_naming_node_rule_mark_vnid_namespace_and_reason():
    result = plan(from_inventory(NAMESPACES, nodes()), conflict_facts([HARMLESS_RULE, SHADOW_RULE]))
    assert result["problems"] == [
        "nodes[node-b]: %s is a foreign rule (position 4 of its chain) above our SNAT rules that catches the packets "
        "of mark 0x1000006, VNID 7 (namespace ns1), first: same mark, source 10.128.0.0/14 overlaps cluster CIDR "
        "10.128.0.0/14, -j SNAT --to-source 192.0.2.12 (nothing was changed; egress_snat_conflicts: remove deletes "
        "it, warn leaves it)" % SHADOW_RULE]
    assert result["warnings"] == []


def test_foreign_snat_rule_with_warn_is_a_warning_and_with_remove_nothing():
    raw = from_inventory(NAMESPACES, nodes())
    warned = plan(raw, conflict_facts([SHADOW_RULE]), {"snat_conflicts": "warn"})
    assert warned["problems"] == []
    assert [w for w in warned["warnings"] if w["field"] == "nodes[node-b]"] == [{
        "field": "nodes[node-b]", "value": SHADOW_RULE,
        "reason": "is a foreign rule (position 3 of its chain) above our SNAT rules that catches the packets of mark "
                  "0x1000006, VNID 7 (namespace ns1), first: same mark, source 10.128.0.0/14 overlaps cluster CIDR "
                  "10.128.0.0/14, -j SNAT --to-source 192.0.2.12: left in place (warn)"}]
    # strict turns the warning into a problem, as every warning
    strict = plan(raw, conflict_facts([SHADOW_RULE]), {"snat_conflicts": "warn", "strict": True})
    assert any(p.startswith("strict: nodes[node-b]: %s is a foreign rule" % SHADOW_RULE) for p in strict["problems"])
    for settings in ({"snat_conflicts": "remove"}, {"snat_remove_conflicts": True}):
        removed = plan(raw, conflict_facts([SHADOW_RULE]), settings)
        assert removed["problems"] == [] and removed["warnings"] == [], settings
        assert removed["settings"]["snat_conflicts"] == "remove"


def test_a_rule_on_a_node_that_is_not_the_egress_node_is_no_conflict():
    # node-a has no SNAT rule of ours: nothing there can be shadowed
    assert validate(from_inventory(NAMESPACES, nodes()), conflict_facts([SHADOW_RULE], node="node_a")) == []
    # and a node without preflight data is not checked (the modules still are)
    assert validate(from_inventory(NAMESPACES, nodes()), facts()) == []


def test_foreign_flow_fails_warns_or_is_left_to_the_module():
    raw = from_inventory(NAMESPACES, nodes())
    result = plan(raw, conflict_facts(flows=[SDN_FLOW, CATCH_ALL_FLOW], node="node_a"))
    assert result["problems"] == [
        "nodes[node-a]: %s is a foreign flow that takes the traffic of VNID 7 (namespace ns1) first (our flow: "
        "table=100, priority=100, ip,reg0=0x7): matches only ip, priority 200 above ours (100) (nothing was "
        "changed; egress_flow_conflicts: remove deletes it, warn leaves it)" % CATCH_ALL_FLOW]
    warned = plan(raw, conflict_facts(flows=[CATCH_ALL_FLOW], node="node_a"), {"flow_conflicts": "warn"})
    assert warned["problems"] == []
    assert [w["value"] for w in warned["warnings"] if w["field"] == "nodes[node-a]"] == [CATCH_ALL_FLOW]
    removed = plan(raw, conflict_facts(flows=[CATCH_ALL_FLOW], node="node_a"), {"flow_conflicts": "remove"})
    assert removed["problems"] == [] and removed["warnings"] == []


def test_foreign_flow_with_our_key_fails_unless_force_whatever_the_mode():
    same = "cookie=0x99, table=100, priority=100,ip,reg0=0x7 actions=drop"
    raw = from_inventory(NAMESPACES, nodes())
    for mode in ("fail", "warn", "remove"):
        problems = validate(raw, conflict_facts(flows=[same], node="node_b"), {"flow_conflicts": mode})
        assert problems == [
            "nodes[node-b]: %s is a foreign flow with the table, priority and match of our flow for VNID 7 "
            "(namespace ns1) (nothing was changed; egress_flow_force: true replaces it)" % same], mode
    assert validate(raw, conflict_facts(flows=[same], node="node_b"), {"flow_force": True}) == []


def test_conflict_messages_escape_user_strings():
    odd = [{"name": "ns\x1bx", "netid": 7, "egress_ips": ["198.51.100.51"]}]
    problems = validate(from_inventory(odd, nodes()), conflict_facts([SHADOW_RULE]))
    assert len(problems) == 1 and '(namespace "ns\\u001bx")' in problems[0], problems


def test_bad_preflight_conflict_data_and_modes_are_problems():
    raw = from_inventory(NAMESPACES, nodes())
    bad = facts(node_b={"foreign_rules": [{"index": 0, "rule": "not a rule"}], "foreign_flows": "x",
                        "owned_monitor_ports": [1]})
    assert validate(raw, bad) == [
        'node_facts[node-b].foreign_flows: x is not a list',
        'node_facts[node-b].foreign_rules[0]: {"index": 0, "rule": "not a rule"} is not a mapping with index and '
        'rule (an iptables-save line)',
        'node_facts[node-b].owned_monitor_ports[0]: 1 is not a string']
    assert validate(raw, facts(), {"snat_conflicts": "ignore", "flow_conflicts": "warn"}) == [
        "settings.snat_conflicts: ignore is not one of fail, warn, remove"]
    assert validate(raw, facts(), {"snat_conflicts": "warn", "snat_remove_conflicts": True}) == [
        "settings.snat_remove_conflicts: true means snat_conflicts=remove, which contradicts snat_conflicts=warn"]


def test_monitor_port_prune_only_where_there_is_something_to_prune():
    raw = from_inventory(NAMESPACES, nodes())
    result = plan(raw, facts(node_a={"owned_monitor_ports": []}, node_b={"owned_monitor_ports": ["sdne-c000020b"]}),
                  compact=True)
    assert result["nodes"]["node-a"]["prune_monitor_ports"] is False
    assert result["nodes"]["node-b"]["prune_monitor_ports"] is True   # left over from dataplane failover
    unknown = plan(raw, facts(), compact=True)  # no preflight data: prune
    assert unknown["nodes"]["node-a"]["prune_monitor_ports"] is True
    wanted = plan(raw, facts(node_a={"owned_monitor_ports": []}), {"failover": "dataplane"}, compact=True)
    assert wanted["nodes"]["node-a"]["prune_monitor_ports"] is True   # it wants a monitor port towards node-b


# ----------------------------------------------------------------------------- digests of what we own

BRIDGE_IDS = '{"data":[[["map",%s]]],"headings":["external_ids"]}\n'


def test_module_digests_read_every_table_once_and_the_bridge_ids_in_the_same_ovsdb_read(tools, capsys, monkeypatch):
    from ansible_collections.sdn.egress.plugins.module_utils import digests

    vsctl = fixture("ovs", "vsctl_ports_owned.json")
    outputs = {"ovs-vsctl": vsctl.rstrip("\n") + "\n" + BRIDGE_IDS % "[]"}
    real = basic.AnsibleModule.run_command

    def run_command(module, args, **kwargs):
        if os.path.basename(args[0]) in outputs:
            tools["calls"].append(args)
            return 0, outputs[os.path.basename(args[0])], ""
        return real(module, args, **kwargs)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    args = {"snat_chain": "OPENSHIFT-MASQUERADE", "flow_tables": [100], "flow_priority": 100,
            "reject_chain": "OPENSHIFT-FIREWALL-ALLOW", "digests": True}
    out = run_module(capsys, args, check=True)
    assert not out.get("failed") and out["changed"] is False, out
    # one dump-flows of every table (no table=), the nat and the filter table
    assert [os.path.basename(call[0]) for call in tools["calls"]] == ["ovs-vsctl", "ovs-ofctl", "ip",
                                                                      "iptables-save", "iptables-save"]
    assert tools["calls"][1][-2:] == ["dump-flows", "br0"]
    assert tools["calls"][0][-4:] == ["--columns=external_ids", "list", "Bridge", "br0"]
    flows = parse_dump_flows(fixture("ovs", "dump_seed_node_a.txt"))
    nat = parse_save(fixture("iptables", "seed_nat_nft.txt"))["nat"].rules["OPENSHIFT-MASQUERADE"]
    assert out["owned"] == {
        "flows": digests.node_flows(flows, 0x65677265, {}, set()),
        "rules": digests.node_rules(nat, [], "sdn.egress", "OPENSHIFT-MASQUERADE-2"),
        "addresses": digests.node_addresses(parse_ip_addr(fixture("ip", "two_nics.json"), pf.FAMILIES), "sdne"),
        "rules_spec": {"owner": "sdn.egress", "chain": "OPENSHIFT-MASQUERADE", "anchor": "OPENSHIFT-MASQUERADE-2",
                       "reject_chain": "OPENSHIFT-FIREWALL-ALLOW", "reject_inbound": True}}
    # the foreign flows are those of flow_tables only, from the same dump
    assert out["foreign_flows"] == pf.foreign_flows([f for f in flows if f.table == 100], 0x65677265, 100)
    # groups recorded as ours: one dump-groups more; a recorded group the switch lacks changes the digest
    tools["calls"][:] = []
    outputs["ovs-vsctl"] = vsctl.rstrip("\n") + "\n" + BRIDGE_IDS % '[["sdn-egress-groups-65677265","7"]]'
    again = run_module(capsys, args, check=True)
    assert [call[-2:] for call in tools["calls"] if os.path.basename(call[0]) == "ovs-ofctl"] == [
        ["dump-flows", "br0"], ["dump-groups", "br0"]]
    assert again["owned"]["flows"] == digests.node_flows(flows, 0x65677265, {}, {7}) != out["owned"]["flows"]
    # without digests: no owned, the per-table dump as before
    tools["calls"][:] = []
    outputs["ovs-vsctl"] = vsctl
    plain = run_module(capsys, dict(args, digests=False), check=True)
    assert not [p for p in plain["problems"] if p["what"] == "OVSDB"], plain["problems"]
    assert "owned" not in plain and tools["calls"][1][-3:] == ["dump-flows", "br0", "table=100"]
