# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan's warnings (plan._warnings, model, sources.merge_node_vars, the egress_plan action's
inventory reading), settings.strict, and how the report prints them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
from unittest.mock import MagicMock

import pytest

from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task

from ansible_collections.sdn.egress.plugins.action.egress_plan import ActionModule as PlanAction
from ansible_collections.sdn.egress.plugins.module_utils import report
from ansible_collections.sdn.egress.plugins.module_utils.model import warning_message
from ansible_collections.sdn.egress.plugins.module_utils.plan import plan
from ansible_collections.sdn.egress.plugins.module_utils.sources import from_inventory, from_oc_json, merge_node_vars

MAC = "0a:58:0a:80:00:01"


def facts(*names, **overrides):
    result = dict((name, {"reachable": True, "tun0_mac": MAC, "tun0_ofport": 2, "vxlan_ofport": 1}) for name in names)
    for name, values in overrides.items():
        result[name].update(values)
    return result


def node(name, host_ip, *egress_ips):
    return {"name": name, "host_ip": host_ip, "egress_ips": list(egress_ips)}


NODES = [node("n1", "10.0.0.2", "10.0.0.50", "10.0.0.51"), node("n2", "10.0.0.3", "10.0.0.60")]


def messages(result):
    return [warning_message(warning) for warning in result["warnings"]]


def test_a_clean_plan_has_no_warnings():
    namespaces = [{"name": "a", "netid": 10, "egress_ips": ["10.0.0.50"]},
                  {"name": "b", "netid": 11, "egress_ips": ["10.0.0.51", "10.0.0.60"]},
                  {"name": "quiet", "netid": 12}]   # no egress IP: not a warning
    result = plan(from_inventory(namespaces, NODES), facts("n1", "n2"))
    assert result["problems"] == [] and result["warnings"] == []


def test_dropped_namespace_no_node_lists_its_ip():
    namespaces = [{"name": "a", "netid": 10, "egress_ips": ["10.0.0.50"]},
                  {"name": "b", "netid": 12, "egress_ips": ["10.0.0.51"]},
                  {"name": "lost", "netid": 11, "egress_ips": ["10.0.0.99"]}]
    result = plan(from_inventory(namespaces, NODES[:1]), facts("n1"))
    assert result["problems"] == []
    assert result["warnings"] == [{
        "field": "namespaces[lost].egress_ips", "value": ["10.0.0.99"],
        "reason": "cannot be used, the traffic of namespace lost is dropped: 10.0.0.99: no node lists it"}]
    assert messages(result) == ["namespaces[lost].egress_ips: [\"10.0.0.99\"] cannot be used, the traffic of "
                                "namespace lost is dropped: 10.0.0.99: no node lists it"]


def test_unreachable_node_partial_and_dropped_namespaces():
    namespaces = [{"name": "ha", "netid": 10, "egress_ips": ["10.0.0.60", "10.0.0.50"]},
                  {"name": "only2", "netid": 11, "egress_ips": ["10.0.0.61"]}]
    nodes = [node("n1", "10.0.0.2", "10.0.0.50"), node("n2", "10.0.0.3", "10.0.0.60", "10.0.0.61")]
    result = plan(from_inventory(namespaces, nodes), facts("n1", "n2", n2={"reachable": False}))
    assert result["problems"] == []
    assert messages(result) == [
        'namespaces[ha].egress_ips: ["10.0.0.60", "10.0.0.50"] are not all usable, namespace ha leaves only '
        'through 10.0.0.50: 10.0.0.60: node n2 is unreachable',
        'namespaces[only2].egress_ips: ["10.0.0.61"] cannot be used, the traffic of namespace only2 is dropped: '
        '10.0.0.61: node n2 is unreachable',
        "nodes[n2]: n2 did not answer: planned as offline (nothing is changed on it, its egress IPs are not used)",
    ]


def test_node_egress_ip_no_namespace_lists():
    result = plan(from_inventory([{"name": "a", "netid": 10, "egress_ips": ["10.0.0.50"]}], NODES[:1]), facts("n1"))
    assert messages(result) == ["nodes[n1].egress_ips: 10.0.0.51 is listed by no namespace: not claimed"]


def test_hostsubnet_of_a_node_not_in_the_inventory_is_offline_and_says_so():
    """The oc dump case: a HostSubnet whose node no host of the run is. It used to fail with
    'node_facts[n9].tun0_mac: missing' (or be ignored); now it is planned as offline and named."""
    namespaces = [{"name": "far", "netid": 10, "egress_ips": ["10.0.0.90"]},
                  {"name": "both", "netid": 11, "egress_ips": ["10.0.0.91", "10.0.0.50"]}]
    nodes = [node("n1", "10.0.0.2", "10.0.0.50"), node("n9", "10.0.0.9", "10.0.0.90", "10.0.0.91")]
    result = plan(from_inventory(namespaces, nodes), facts("n1"))
    assert result["problems"] == []
    assert messages(result) == [
        'namespaces[both].egress_ips: ["10.0.0.91", "10.0.0.50"] are not all usable, namespace both leaves only '
        'through 10.0.0.50: 10.0.0.91: node n9 is not in the inventory',
        'namespaces[far].egress_ips: ["10.0.0.90"] cannot be used, the traffic of namespace far is dropped: '
        '10.0.0.90: node n9 is not in the inventory',
        "nodes[n9]: n9 is not in the inventory (no host of the run is this node): planned as offline, its egress "
        "IPs (10.0.0.90, 10.0.0.91) are not used and nothing is sent to it",
    ]
    assert result["nodes"]["n9"]["reachable"] is False
    assert "10.0.0.9" not in json.dumps(result["nodes"]["n1"]["flows"])   # no tunnel to it
    assert any(flow["actions"] == "drop" for flow in result["nodes"]["n1"]["flows"])   # far is dropped


def test_host_without_hostsubnet_from_oc_dump():
    seed = {"kind": "List", "items": [
        {"kind": "HostSubnet", "metadata": {"name": "n1"}, "host": "n1", "hostIP": "10.0.0.2", "egressIPs": []}]}
    raw = merge_node_vars(from_oc_json(seed), [{"name": "n1"}, {"name": "spare"}])
    result = plan(raw, facts("n1", "spare"))
    assert result["problems"] == []
    assert messages(result) == [
        "node_vars[spare].name: spare is a host of the run, but no HostSubnet names this node: nothing is planned "
        "for it (what this collection owns there is removed)"]   # once, not again for node_facts[spare]
    assert "spare" not in result["nodes"]


def test_node_facts_for_a_host_without_hostsubnet():
    result = plan(from_inventory([], [node("n1", "10.0.0.2")]), facts("n1", "extra"))
    assert messages(result) == [
        "node_facts[extra]: extra is a host of the run, but no HostSubnet names this node: nothing is planned for "
        "it (what this collection owns there is removed)"]


def test_user_strings_are_escaped():
    """A name may not hold whitespace (a problem), but other control characters reach the warning."""
    name = "evil\x1b[2Kns"
    result = plan(from_inventory([{"name": name, "netid": 10, "egress_ips": ["10.0.0.99"]}], [node("n1", "10.0.0.2")]),
                  facts("n1"))
    assert result["problems"] == []
    text = messages(result)[0]
    assert "\x1b" not in text and '"evil\\u001b[2Kns"' in text
    assert text.startswith('namespaces["evil\\u001b[2Kns"].egress_ips: ')


def test_strict_turns_every_warning_into_a_problem():
    namespaces = [{"name": "lost", "netid": 11, "egress_ips": ["10.0.0.99"]}]
    loose = plan(from_inventory(namespaces, NODES), facts("n1", "n2"))
    strict = plan(from_inventory(namespaces, NODES), facts("n1", "n2"), {"strict": True})
    assert loose["problems"] == [] and len(loose["warnings"]) == 4
    assert strict["problems"] == sorted("strict: " + message for message in messages(loose))
    assert strict["warnings"] == loose["warnings"]
    assert "strict" not in strict["settings"]


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_strict_must_be_a_boolean(value):
    result = plan(from_inventory([], [node("n1", "10.0.0.2")]), facts("n1"), {"strict": value})
    assert result["problems"] == ([] if value is None else ["settings.strict: %s is not a boolean"
                                                            % json.dumps(value).strip('"')])


# --------------------------------------------------------------------------- the egress_plan action

class HostVars:
    def __init__(self, raw):
        self.raw = raw

    def raw_get(self, host):
        return self.raw.get(host)


def run_plan(args, task_vars):
    task = Task()
    task.args = args
    action = PlanAction(task=task, connection=MagicMock(), play_context=PlayContext(), loader=DataLoader(),
                        templar=None, shared_loader_obj=None)
    return action.run(task_vars=task_vars)


HOSTVARS = {"n1": {"egress_hostsubnet": node("n1", "10.0.0.2", "10.0.0.50")},
            "bastion": {"egress_hostsubnet_name": "bastion01"}}   # no egress_hostsubnet


def test_action_host_without_egress_hostsubnet_is_a_warning():
    args = {"namespaces": [{"name": "a", "netid": 1, "egress_ips": ["10.0.0.50"]}], "node_hosts": ["n1", "bastion"],
            "node_facts": facts("n1", "bastion01")}
    result = run_plan(args, {"hostvars": HostVars(HOSTVARS)})
    assert not result.get("failed"), result
    assert "warnings" not in result   # not printed at plan time: the report prints them at the end
    assert [warning_message(w) for w in result["plan"]["warnings"]] == [
        "hosts[bastion].egress_hostsubnet: is not set: host bastion (node bastion01) has no HostSubnet, nothing "
        "is planned for it (what this collection owns there is removed)"]
    assert sorted(result["plan"]["nodes"]) == ["n1"]


def test_action_strict_fails_listing_the_warnings():
    args = {"namespaces": [{"name": "a", "netid": 1, "egress_ips": ["10.0.0.50"]}], "node_hosts": ["n1", "bastion"],
            "node_facts": facts("n1", "bastion01"), "settings": {"strict": True}}
    result = run_plan(args, {"hostvars": HostVars(HOSTVARS)})
    assert result["failed"] is True and "plan" not in result
    assert result["problems"] == ["strict: hosts[bastion].egress_hostsubnet: is not set: host bastion (node "
                                  "bastion01) has no HostSubnet, nothing is planned for it (what this collection "
                                  "owns there is removed)"]
    assert result["msg"].startswith("egress plan has 1 problem(s): strict: hosts[bastion]")


def test_action_strict_must_be_a_boolean():
    result = run_plan({"namespaces": [], "nodes": [], "settings": {"strict": "maybe"}}, {})
    assert result["failed"] is True and "strict" in result["msg"]


# --------------------------------------------------------------------------- the report

WARNINGS = [{"field": "namespaces[lost].egress_ips", "value": ["10.0.0.99"], "reason": "cannot be used"},
            {"field": "hosts[b].egress_hostsubnet", "value": None, "reason": "is not set"},
            {"field": "nodes[x]", "value": "x\ny", "reason": "is odd"}]


def test_report_prints_warnings_escaped():
    assert report.warning_lines(WARNINGS) == ['namespaces[lost].egress_ips: ["10.0.0.99"] cannot be used',
                                              "hosts[b].egress_hostsubnet: is not set", 'nodes[x]: "x\\ny" is odd']
    markdown = report.render_markdown(False, [], {}, WARNINGS)
    assert markdown.splitlines()[3:9] == ["## Warnings", "", '- namespaces[lost].egress_ips: ["10.0.0.99"] cannot be used',
                                          "- hosts[b].egress_hostsubnet: is not set", '- nodes[x]: "x\\ny" is odd', ""]
    assert "## Warnings" not in report.render_markdown(False, [], {}, [])
    assert json.loads(report.render_json(False, [], {}, WARNINGS))["warnings"] == WARNINGS


def test_report_markdown_escapes_a_namespace_name():
    row = {"name": "esc\x1bns", "netid": 1, "mark": "0x1", "egress_ips": ["192.0.2.93"], "state": "dropped"}
    markdown = report.render_markdown(False, [row], {})
    assert "\x1b" not in markdown and '| "esc\\u001bns" | 1 |' in markdown
