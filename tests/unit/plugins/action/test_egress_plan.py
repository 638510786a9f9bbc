# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the sdn.egress.egress_plan action plugin (controller only, no hosts)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
from unittest.mock import MagicMock

import pytest

from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task

from ansible_collections.sdn.egress.plugins.action.egress_plan import ActionModule

SEED_JSON = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "planner",
                                         "seed_netnamespace_hostsubnet.json"))
FACTS = {
    "ocpmaster01": {"reachable": True, "vxlan_ofport": 1},
    "ocpnode01": {"reachable": True, "vxlan_ofport": 1},
    "ocprouter01": {"reachable": True, "tun0_mac": "22:3b:a9:a4:8e:0c", "vxlan_ofport": 1},
}


def run(args):
    task = Task()
    task.args = args
    loader = DataLoader()
    action = ActionModule(task=task, connection=MagicMock(), play_context=PlayContext(), loader=loader,
                          templar=None, shared_loader_obj=None)
    return action.run(task_vars={})


def seed_items():
    with open(SEED_JSON) as handle:
        return json.load(handle)["items"]


@pytest.mark.parametrize("oc_json", [SEED_JSON, "dict", "text"])
def test_oc_json_from_file_dict_or_text(oc_json):
    if oc_json != SEED_JSON:
        with open(SEED_JSON) as handle:
            text = handle.read()
        oc_json = json.loads(text) if oc_json == "dict" else text
    result = run({"source": "oc_json", "oc_json": oc_json, "node_facts": FACTS,
                  "node_vars": [{"name": "ocprouter01", "interfaces": [{"name": "ens18", "cidr": "10.0.0.2/24"}]}]})
    assert not result.get("failed"), result
    assert result["changed"] is False
    router = result["plan"]["nodes"]["ocprouter01"]
    assert router["snat"][2] == {"mark": "0x1df6552", "egress_ip": "10.0.0.13", "name": "egress-test2"}
    assert router["addresses"][0] == {"address": "10.0.0.11", "interface": "ens18", "prefix": 24}
    assert result["plan"]["settings"]["table"] == 100
    assert "problems" not in result["plan"]


def test_k8s_source():
    items = seed_items()
    result = run({"source": "k8s", "node_facts": FACTS, "settings": {"mark_rule": "4.8"},
                  "namespaces": {"resources": [i for i in items if i["kind"] == "NetNamespace"]},
                  "nodes": [i for i in items if i["kind"] == "HostSubnet"]})
    assert not result.get("failed"), result
    rows = dict((row["name"], row) for row in result["plan"]["namespaces"])
    assert rows["egress-test3"]["mark"] == "0x102e440e"


def test_inventory_source():
    result = run({"namespaces": [{"name": "a", "netid": 1, "egress_ips": ["10.0.0.50"]}],
                  "nodes": [{"name": "n1", "host_ip": "10.0.0.2", "egress_ips": ["10.0.0.50"]}],
                  "node_facts": {"n1": {"tun0_mac": "0a:58:0a:80:00:01"}}})
    assert not result.get("failed"), result
    assert result["plan"]["nodes"]["n1"]["flows"][0]["match"] == "ip,reg0=0x1"


def test_every_problem_fails_the_task():
    result = run({"namespaces": [{"name": "egress-test", "netid": 16777216, "egress_ips": ["10.0.0.2"]}],
                  "nodes": [{"name": "n1", "host_ip": "10.0.0.2"}],
                  "node_facts": {"n1": {}, "n2": {}}})
    assert result["failed"] is True
    assert result["problems"] == [
        "namespaces[egress-test].egress_ips: 10.0.0.2 is the host_ip of node n1",
        "namespaces[egress-test].netid: 16777216 is out of range 0..16777215",
    ]  # node_facts[n2] (a host without HostSubnet) is a warning, see test_warnings_*
    assert result["msg"].startswith("egress plan has 2 problem(s): namespaces[egress-test]")
    assert "plan" not in result


def test_argument_problems_are_listed_together():
    result = run({"source": "oc_json", "settings": {"mark_rule": "5"}, "bogus": 1})
    assert result["failed"] is True
    text = " ".join(result["problems"])
    assert "bogus" in text and "mark_rule" in text and "oc_json" in text


def test_missing_oc_json_file():
    result = run({"source": "oc_json", "oc_json": "/nonexistent/dump.json"})
    assert result["failed"] is True
    assert result["problems"][0].startswith("oc_json: /nonexistent/dump.json cannot be read")


def run_vars(args, task_vars, templar=None):
    task = Task()
    task.args = args
    action = ActionModule(task=task, connection=MagicMock(), play_context=PlayContext(), loader=DataLoader(),
                          templar=templar, shared_loader_obj=None)
    return action.run(task_vars=task_vars)


NODES = [{"name": "n1", "host_ip": "10.0.0.2/24", "egress_ips": ["10.0.0.50", "10.0.0.51"]},
         {"name": "n2", "host_ip": "10.0.0.3/24"}]
N_FACTS = {"n1": {"reachable": True, "tun0_mac": "0a:58:0a:80:00:01", "vxlan_ofport": 1},
           "n2": {"reachable": True, "vxlan_ofport": 1}}


def test_namespaces_from_variables_by_prefix():
    task_vars = {
        "egress_netnamespace_b": {"name": "b", "netid": 2, "egress_ips": ["10.0.0.51"]},
        "egress_netnamespace_a": {"name": "a", "netid": 1, "egress_ips": ["10.0.0.50"]},
        "egress_netnamespace_prefix_like_but_other": {"name": "c", "netid": 3},
        "unrelated": {"name": "zz", "netid": 9},
    }
    result = run_vars({"namespaces_prefix": "egress_netnamespace_", "nodes": NODES, "node_facts": N_FACTS},
                      task_vars)
    assert not result.get("failed"), result
    assert [row["name"] for row in result["plan"]["namespaces"]] == ["a", "b", "c"]


def test_templated_namespace_variable_is_rendered():
    templar = MagicMock()
    templar.template.side_effect = lambda value: dict(value, egress_ips=["10.0.0.50"])
    task_vars = {"egress_netnamespace_a": {"name": "a", "netid": 1, "egress_ips": "{{ ips }}"},
                 "egress_netnamespace_b": {"name": "b", "netid": 2}}
    result = run_vars({"namespaces_prefix": "egress_netnamespace_", "nodes": NODES, "node_facts": N_FACTS},
                      task_vars, templar=templar)
    assert not result.get("failed"), result
    assert templar.template.call_count == 1   # only the value holding a template
    rows = dict((row["name"], row) for row in result["plan"]["namespaces"])
    assert rows["a"]["active_ip"] == "10.0.0.50"


def test_namespaces_and_prefix_are_exclusive():
    result = run_vars({"namespaces": [], "namespaces_prefix": "x_", "nodes": NODES}, {})
    assert result["failed"] and "mutually exclusive" in result["msg"]


def test_compact_plan_matches_the_lists():
    args = {"namespaces": [{"name": "a", "netid": 1, "egress_ips": ["10.0.0.50"]},
                           {"name": "b", "netid": 2, "egress_ips": ["10.0.0.51"]},
                           {"name": "c", "netid": 3, "egress_ips": ["10.0.0.99"]}],
            "nodes": NODES, "node_facts": N_FACTS}
    full_plan = run_vars(dict(args), {})["plan"]
    compact_plan = run_vars(dict(args, compact=True), {})["plan"]
    full, compact = full_plan["nodes"], compact_plan["nodes"]
    assert "namespaces" not in compact_plan and "namespaces_json" not in full_plan
    assert json.loads(compact_plan["namespaces_json"]) == full_plan["namespaces"]
    for name in ("n1", "n2"):
        lines = compact[name]["flows_text"].splitlines()
        assert len(lines) == len(full[name]["flows"]) == compact[name]["counts"]["flows"]
        for flow, line in zip(full[name]["flows"], lines):
            assert line == "table=%d,priority=%d,%s,actions=%s" % (
                flow["table"], flow["priority"], flow["match"], flow["actions"])
    n1 = compact["n1"]
    assert n1["mark_flows_text"].splitlines() == [
        line for line in n1["flows_text"].splitlines() if "pkt_mark" in line]
    assert n1["counts"]["mark_flows"] == 2
    assert n1["snat_text"].splitlines() == ["%s %s %s" % (rule["mark"], rule["egress_ip"], rule["name"])
                                            for rule in full["n1"]["snat"]]
    assert [line.split()[1:] for line in n1["snat_text"].splitlines()] == [["10.0.0.50", "a"], ["10.0.0.51", "b"]]
    assert n1["addresses"] == n1["all_addresses"] == "10.0.0.50,10.0.0.51"
    assert n1["named_addresses"] == []
    assert compact["n2"]["snat_text"] == "" and compact["n2"]["all_addresses"] == ""
    assert "flows" not in n1


def test_compact_named_interfaces_group_addresses():
    nodes = [dict(NODES[0], interfaces=[{"name": "eth1", "cidr": "10.0.0.2/24"}]), NODES[1]]
    args = {"namespaces": [{"name": "a", "netid": 1, "egress_ips": ["10.0.0.50"]},
                           {"name": "b", "netid": 2, "egress_ips": ["10.0.0.51"]}],
            "nodes": nodes, "node_facts": N_FACTS, "compact": True}
    n1 = run_vars(args, {})["plan"]["nodes"]["n1"]
    assert n1["addresses"] == ""
    assert n1["named_addresses"] == [{"interface": "eth1", "prefix": 24, "addresses": "10.0.0.50,10.0.0.51"}]
    assert n1["all_addresses"] == "10.0.0.50,10.0.0.51"


def test_flow_line_without_match():
    from ansible_collections.sdn.egress.plugins.module_utils.ovs import flow_line
    assert flow_line({"table": 100, "priority": 100, "match": "", "actions": "drop"}) == \
        "table=100,priority=100,actions=drop"


def test_namespaces_from_a_list_variable_and_prefixed_variables():
    task_vars = {
        "egress_netnamespaces": [{"name": "a", "netid": 1, "egress_ips": ["10.0.0.50"]},
                                 {"name": "b", "netid": 2}],
        "egress_netnamespace_c": {"name": "c", "netid": 3, "egress_ips": ["10.0.0.51"]},
    }
    result = run_vars({"namespaces_var": "egress_netnamespaces", "namespaces_prefix": "egress_netnamespace_",
                       "nodes": NODES, "node_facts": N_FACTS}, task_vars)
    assert not result.get("failed"), result
    rows = dict((row["name"], row) for row in result["plan"]["namespaces"])
    assert sorted(rows) == ["a", "b", "c"]
    assert rows["a"]["state"] == rows["c"]["state"] == "active"


def test_undefined_list_variable_means_no_namespaces():
    result = run_vars({"namespaces_var": "egress_netnamespaces", "nodes": NODES, "node_facts": N_FACTS}, {})
    assert not result.get("failed"), result
    assert result["plan"]["namespaces"] == []


def test_list_variable_that_is_not_a_list_fails_naming_it():
    result = run_vars({"namespaces_var": "egress_netnamespaces", "nodes": NODES, "node_facts": N_FACTS},
                      {"egress_netnamespaces": {"name": "a"}})
    assert result["failed"]
    assert result["problems"] == ["egress_netnamespaces: must be a list of namespaces, got dict"]


def test_same_namespace_in_list_and_prefixed_variable_is_a_problem():
    task_vars = {"egress_netnamespaces": [{"name": "a", "netid": 1}],
                 "egress_netnamespace_a": {"name": "a", "netid": 1}}
    result = run_vars({"namespaces_var": "egress_netnamespaces", "namespaces_prefix": "egress_netnamespace_",
                       "nodes": NODES, "node_facts": N_FACTS}, task_vars)
    assert result["failed"]
    assert any("is declared twice" in p for p in result["problems"]), result["problems"]


class FakeHostVars:
    """Ansible's HostVars in small: raw_get gives the variables as stored, [] templates them."""

    def __init__(self, raw, rendered=None):
        self.raw = raw
        self.rendered = rendered or {}
        self.templated = []

    def raw_get(self, host):
        return self.raw.get(host)

    def __getitem__(self, host):
        outer = self

        class _Vars(dict):
            def __getitem__(self, name):
                outer.templated.append((host, name))
                return outer.rendered[host][name]
        return _Vars()


def test_node_hosts_read_each_hosts_hostsubnet_as_stored():
    hostvars = FakeHostVars({
        "router-a": {"egress_hostsubnet": {"host_ip": "10.0.0.2/24", "egress_ips": ["10.0.0.50", "10.0.0.51"]},
                     "egress_hostsubnet_name": "n1", "egress_interfaces": [{"name": "eth1", "cidr": "10.0.0.2/24"}]},
        "n2": {"egress_hostsubnet": {"host_ip": "10.0.0.3/24"}, "other": "{{ not read }}"},
    })
    args = {"namespaces": [{"name": "a", "netid": 1, "egress_ips": ["10.0.0.50"]}],
            "node_hosts": ["router-a", "n2"], "node_facts": N_FACTS, "compact": True}
    result = run_vars(args, {"hostvars": hostvars})
    assert not result.get("failed"), result
    nodes = result["plan"]["nodes"]
    assert sorted(nodes) == ["n1", "n2"]
    assert nodes["n1"]["inventory_host"] == "router-a" and nodes["n2"]["inventory_host"] == "n2"
    assert nodes["n1"]["named_addresses"] == [{"interface": "eth1", "prefix": 24, "addresses": "10.0.0.50"}]
    assert nodes["n1"]["snat_text"] == "0x1000000 10.0.0.50 a"  # odd VNID: high bit (3.x rule)
    assert hostvars.templated == []  # nothing held a template: nothing was templated


def test_node_hosts_name_falls_back_to_the_hostsubnet_name_then_the_host():
    hostvars = FakeHostVars({"h1": {"egress_hostsubnet": {"host_ip": "10.0.0.2/24", "name": "n1"},
                                    "egress_hostsubnet_name": ""},
                             "n2": {"egress_hostsubnet": {"host_ip": "10.0.0.3/24"}}})
    result = run_vars({"namespaces": [], "node_hosts": ["h1", "n2"], "node_facts": N_FACTS}, {"hostvars": hostvars})
    assert not result.get("failed"), result
    assert {name: node["inventory_host"] for name, node in result["plan"]["nodes"].items()} == {"n1": "h1", "n2": "n2"}


def test_node_hosts_template_a_value_in_the_hosts_own_context():
    hostvars = FakeHostVars(
        {"n1": {"egress_hostsubnet": {"host_ip": "{{ ansible_host }}/24", "egress_ips": ["10.0.0.50"]}},
         "n2": {"egress_hostsubnet": {"host_ip": "10.0.0.3/24"}}},
        rendered={"n1": {"egress_hostsubnet": {"host_ip": "10.0.0.2/24", "egress_ips": ["10.0.0.50"]}}})
    result = run_vars({"namespaces": [{"name": "a", "netid": 1, "egress_ips": ["10.0.0.50"]}],
                       "node_hosts": ["n1", "n2"], "node_facts": N_FACTS}, {"hostvars": hostvars})
    assert not result.get("failed"), result
    assert hostvars.templated == [("n1", "egress_hostsubnet")]
    assert result["plan"]["nodes"]["n1"]["host_ip"] == "10.0.0.2"
    assert result["plan"]["nodes"]["n1"]["snat"][0]["egress_ip"] == "10.0.0.50"


@pytest.mark.parametrize("raw, message", [
    ({"n1": {"egress_hostsubnet": ["10.0.0.2"]}, "n2": {}},
     "egress_hostsubnet of n1: must be a mapping (the node's HostSubnet), got list: ['10.0.0.2']"),
    ({"n1": {}}, "node_hosts: n2 is not in the inventory"),
    ({"n1": {"egress_hostsubnet": {"host_ip": "10.0.0.999"}}, "n2": {}}, "nodes[n1].host_ip: 10.0.0.999"),
])
def test_node_hosts_bad_input_names_host_and_value(raw, message):
    result = run_vars({"namespaces": [], "node_hosts": ["n1", "n2"], "node_facts": N_FACTS},
                      {"hostvars": FakeHostVars(raw)})
    assert result["failed"] is True
    assert any(message in problem for problem in result["problems"]), result["problems"]


def test_nodes_and_node_hosts_are_exclusive():
    result = run_vars({"namespaces": [], "nodes": NODES, "node_hosts": ["n1"]}, {"hostvars": FakeHostVars({})})
    assert result["failed"] and "mutually exclusive" in result["msg"]


N48_FACTS = {"n1": {"reachable": True, "tun0_mac": "0a:58:0a:80:00:01", "tun0_ofport": 2, "vxlan_ofport": 1},
             "n2": {"reachable": True, "tun0_mac": "0a:58:0a:80:00:02", "tun0_ofport": 2, "vxlan_ofport": 1}}


def test_layout_sdn48_compact_plan():
    args = {"namespaces": [{"name": "a", "netid": 0x2ec40e, "egress_ips": ["10.0.0.50"]}],
            "nodes": NODES, "node_facts": N48_FACTS, "compact": True, "settings": {"layout": "sdn48"}}
    result = run_vars(args, {})
    assert not result.get("failed"), result
    planned = result["plan"]
    assert planned["settings"] == {"cluster_cidrs": ["10.128.0.0/14"], "layout": "sdn48", "mark_rule": "4.8",
                                   "masquerade_bit": 0, "table": 101, "priority": 100,
                                   "failover": "run", "failover_vni": 0xFFFFFE,
                                   "snat_conflicts": "fail", "flow_conflicts": "fail", "flow_force": False}
    n1, n2 = planned["nodes"]["n1"], planned["nodes"]["n2"]
    assert n1["mark_flows_text"] == n1["flows_text"] == "table=101,priority=100,ip,reg0=0x2ec40e,actions=group:3064846"
    assert n1["mark_groups_text"] == n1["groups_text"] == (
        "group_id=3064846,type=select,bucket=actions=set_field:0a:58:0a:80:00:01->eth_dst,"
        "set_field:0x102e440e->pkt_mark,output:2")
    assert n2["flows_text"] == "table=101,priority=100,ip,reg0=0x2ec40e,actions=ct(commit),group:3064846"
    assert n2["groups_text"] == ("group_id=3064846,type=select,bucket=actions=move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],"
                                 "set_field:10.0.0.2->tun_dst,output:1")
    assert n2["mark_flows_text"] == n2["mark_groups_text"] == ""
    assert n1["snat_masquerade"] is True and "scope_table" not in n1
    assert n1["snat_text"] == "0x102e440e 10.0.0.50 a"
    row = json.loads(planned["namespaces_json"])[0]
    assert (row["active_ips"], row["nodes"]) == (["10.0.0.50"], ["n1"])


def test_layout_sdn3_is_the_default_and_the_role_settings_still_apply():
    args = {"namespaces": [{"name": "a", "netid": 1, "egress_ips": ["10.0.0.50"]}], "nodes": NODES,
            "node_facts": N_FACTS, "compact": True,
            "settings": {"cluster_cidrs": ["10.128.0.0/14"], "mark_rule": "3.x", "masquerade_bit": 0,
                         "table": 100, "priority": 100}}
    first = run_vars(dict(args), {})["plan"]
    assert first["settings"]["layout"] == "sdn3"
    assert first["nodes"]["n1"]["groups_text"] == ""
    # the argument spec is not changed by a run (its settings default is filled in place)
    second = run_vars({"namespaces": [], "nodes": NODES, "node_facts": N_FACTS, "settings": {"layout": "sdn48"}}, {})
    assert not second.get("failed"), second
    assert second["plan"]["settings"]["table"] == 101 and second["plan"]["settings"]["mark_rule"] == "4.8"


def test_unknown_layout_fails_naming_it():
    result = run_vars({"namespaces": [], "nodes": NODES, "settings": {"layout": "ovn"}}, {})
    assert result["failed"] is True
    assert any("layout" in problem and "sdn3, sdn48" in problem and "ovn" in problem for problem in result["problems"])


def test_cookie_is_no_longer_a_setting():
    result = run_vars({"namespaces": [], "nodes": NODES, "settings": {"cookie": "0x65677265"}}, {})
    assert result["failed"] is True and "cookie" in " ".join(result["problems"])


def test_missing_netaddr_is_named(monkeypatch):
    from ansible_collections.sdn.egress.plugins.action import egress_plan
    monkeypatch.setattr(egress_plan, "HAS_NETADDR", False)
    result = run_vars({"namespaces": [], "nodes": NODES}, {})
    assert result["failed"] is True
    assert result["problems"][0].startswith("the egress plan needs the Python library netaddr on the controller")
