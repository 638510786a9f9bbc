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
from ansible_collections.sdn.egress.plugins.module_utils.ovs import parse_ovsdb_ports
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
        "ovs-vsctl": fixture("ovs", "vsctl_ports.json"),
        "ovs-ofctl": "",
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
