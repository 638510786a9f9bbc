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
                  "node_facts": {"n2": {}}})
    assert result["failed"] is True
    assert result["problems"] == [
        "namespaces[egress-test].egress_ips: 10.0.0.2 is the host_ip of node n1",
        "namespaces[egress-test].netid: 16777216 is out of range 0..16777215",
        "node_facts[n2]: n2 is not a known node (known: n1)",
    ]
    assert result["msg"].startswith("egress plan has 3 problem(s): namespaces[egress-test]")
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
