# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the run report: the rendering functions and the sdn.egress.egress_report action."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import html
import json
import os
import shutil
import stat
from unittest.mock import MagicMock

import pytest

from ansible._internal._datatag._tags import Origin
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.template import trust_as_template

from ansible_collections.sdn.egress.plugins.action import egress_report as action_plugin
from ansible_collections.sdn.egress.plugins.action.egress_report import ActionModule
from ansible_collections.sdn.egress.plugins.module_utils import report

NAMESPACES = [
    {"name": "egress-a", "netid": 7305526, "vnid_hex": "0x6f7936", "mark": "0x6f7936",
     "egress_ips": ["192.0.2.51", "192.0.2.52"], "active_ip": "192.0.2.51", "node": "router-01",
     "state": "active", "reason": None},
    {"name": "egress-b", "netid": 3064846, "vnid_hex": "0x2ec40e", "mark": "0x2ec40e",
     "egress_ips": ["198.51.100.53"], "active_ip": None, "node": None, "state": "dropped",
     "reason": "no usable egress IP"},
    {"name": "plain", "netid": 1234567, "vnid_hex": "0x12d687", "mark": "0x12d687", "egress_ips": [],
     "active_ip": None, "node": None, "state": "no-egress", "reason": None},
    {"name": "egress-c", "netid": 42, "vnid_hex": "0x2a", "mark": "0x2a", "egress_ips": ["198.51.100.60"],
     "active_ip": "198.51.100.60", "node": "router02", "state": "active", "reason": None},
]
SKIPPED = {"changed": False, "skipped": True, "skip_reason": "Conditional result was False"}
ADDR_A = {"address": "192.0.2.51", "interface": "eth0", "prefix": 24, "label": "eth0:sdne"}
ADDR_C = {"address": "198.51.100.60", "interface": "eth1", "prefix": 24, "label": "eth1:sdne"}
ADDR_GONE = {"address": "192.0.2.99", "interface": "eth0", "prefix": 24, "label": "eth0:sdne"}
HOST_VARS = {
    "r1": {
        "egress_node_name": "router-01",
        "egress_node_facts": {"reachable": True, "tun0_mac": "0a:58:0a:81:00:01", "vxlan_ofport": 1},
        "egress_claim": {"changed": True, "claimed": [ADDR_A], "released": [],
                         "commands": [["/usr/sbin/ip", "addr", "add", "192.0.2.51/24", "dev", "eth0"]]},
        "egress_claim_named": {"changed": False, "skipped": True, "results": []},
        "egress_mark_flows": {"changed": True, "commands": ["add A"]},
        "egress_snat_added": {"changed": True, "commands": ["*nat", "-I X", "COMMIT"]},
        "egress_flows": {"changed": True, "commands": ["add B"]},
        "egress_snat_pruned": SKIPPED,
        "egress_released": {"changed": False, "released": [], "commands": []},
    },
    "r2": {
        "egress_node_name": "router02",
        "egress_node_facts": {"reachable": True},
        "egress_claim": {"changed": False, "claimed": [], "released": [], "commands": []},
        "egress_claim_named": {"changed": True, "results": [
            {"changed": True, "claimed": [ADDR_C], "item": {"interface": "eth1"}},
            {"changed": False, "claimed": [], "item": {"interface": "eth2"}},
            {"changed": False, "skipped": True, "item": {"interface": "eth3"}},
        ]},
        "egress_mark_flows": {"changed": False, "commands": []},
        "egress_snat_added": {"changed": False, "commands": []},
        "egress_flows": {"changed": False, "commands": []},
        "egress_snat_pruned": {"changed": True, "commands": [["iptables", "-t", "nat", "-D", "X", "3"]]},
        "egress_released": {"changed": True, "released": [ADDR_GONE], "commands": []},
    },
    "m1": {"inventory_hostname": "m1"},
}
HOSTS = ["r1", "r2", "m1"]
PLAIN_SCALARS = (str, int, bool, float, type(None))

EXPECTED_NODES = {
    "m1": {"reachable": False, "changed": False, "addresses_claimed": [], "addresses_released": [],
           "flow_commands": [], "iptables_commands": []},
    "router-01": {"reachable": True, "changed": True, "addresses_claimed": [ADDR_A], "addresses_released": [],
                  "flow_commands": ["add A", "add B"], "iptables_commands": ["*nat", "-I X", "COMMIT"]},
    "router02": {"reachable": True, "changed": True, "addresses_claimed": [ADDR_C],
                 "addresses_released": [ADDR_GONE], "flow_commands": [],
                 "iptables_commands": [["iptables", "-t", "nat", "-D", "X", "3"]]},
}

EXPECTED_MARKDOWN = """\
# Egress report
Mode: converge

## Namespaces

| namespace | VNID | mark | egress IPs (failover order) | in use | node | state |
|---|---|---|---|---|---|---|
| egress-a | 7305526 | 0x6f7936 | 192.0.2.51, 192.0.2.52 | 192.0.2.51 | router-01 | active |
| egress-b | 3064846 | 0x2ec40e | 198.51.100.53 | - | - | dropped |
| plain | 1234567 | 0x12d687 |  | - | - | no-egress |
| egress-c | 42 | 0x2a | 198.51.100.60 | 198.51.100.60 | router02 | active |

## Namespaces, egress IPs and nodes

```mermaid
flowchart LR
  ns_1["egress-a"] --> ip_192_0_2_51["192.0.2.51"]
  ip_192_0_2_51 --> node_router_01[["router-01"]]
  ns_2["egress-b"] -.->|dropped| ip_none["no usable IP"]
  ns_3["egress-c"] --> ip_198_51_100_60["198.51.100.60"]
  ip_198_51_100_60 --> node_router02[["router02"]]
```

## Nodes

| node | reachable | changed | addresses claimed | addresses released | flow commands | iptables commands |
|---|---|---|---|---|---|---|
| m1 | False | False | - | - | 0 | 0 |
| router-01 | True | True | 192.0.2.51 | - | 2 | 3 |
| router02 | True | True | 198.51.100.60 | 192.0.2.99 | 0 | 1 |

### router-01

```
add A
add B
*nat
-I X
COMMIT
```

### router02

```
iptables -t nat -D X 3
```
"""


def hosts_vars():
    return [(host, copy.deepcopy(HOST_VARS[host])) for host in HOSTS]


def test_nodes_from_registered_results():
    assert report.collect_nodes(hosts_vars()) == EXPECTED_NODES


def test_named_interface_claims_count_as_claimed_and_changed():
    host_vars = {"egress_claim": {"changed": False, "claimed": [ADDR_A]},
                 "egress_claim_named": {"changed": True, "results": [{"changed": True, "claimed": [ADDR_C]}]}}
    name, node = report.node_report("r9", host_vars)
    assert name == "r9"
    assert node["addresses_claimed"] == [ADDR_A, ADDR_C]
    assert node["changed"] is True


def test_claims_without_entries_are_read_from_the_commands():
    # egress_addr with return_entries=false (as the role runs it): no `claimed`, the batch lines
    host_vars = {"egress_claim": {"changed": True, "claimed_addresses": ["192.0.2.51"],
                                  "commands": ["addr del 192.0.2.9/24 dev eth0",
                                               "addr add 192.0.2.51/24 dev eth0 label eth0:sdne"]},
                 "egress_claim_named": {"changed": True, "results": [
                     {"changed": True, "commands": ["addr add 198.51.100.60/24 dev eth1 label eth1:sdne"]}]}}
    assert report.node_report("r9", host_vars)[1]["addresses_claimed"] == [ADDR_A, ADDR_C]


@pytest.mark.parametrize("host_vars", [
    {},
    {"egress_claim": SKIPPED, "egress_claim_named": {"changed": False, "skipped": True, "results": []},
     "egress_mark_flows": SKIPPED, "egress_snat_added": SKIPPED, "egress_flows": SKIPPED,
     "egress_snat_pruned": SKIPPED, "egress_released": SKIPPED, "egress_node_facts": {"reachable": False}},
    {"egress_claim": None, "egress_flows": "not a result", "egress_node_facts": "odd"},
])
def test_missing_or_skipped_results_are_empty(host_vars):
    assert report.node_report("m1", host_vars) == ("m1", EXPECTED_NODES["m1"])


def test_json_is_what_to_nice_json_prints():
    nodes = report.collect_nodes(hosts_vars())
    text = report.render_json(False, NAMESPACES, nodes)
    expected = {"check_mode": False, "namespaces": NAMESPACES, "nodes": EXPECTED_NODES}
    assert text == json.dumps(expected, indent=4, sort_keys=True, separators=(",", ": ")) + "\n"
    assert text.startswith('{\n    "check_mode": false,\n    "namespaces": [\n        {\n            "active_ip"')


def test_markdown_report():
    nodes = report.collect_nodes(hosts_vars())
    assert report.render_markdown(False, NAMESPACES, nodes) == EXPECTED_MARKDOWN


def test_load_balanced_rows_show_every_ip_in_use():
    """sdn48 rows list all online IPs (active_ips/nodes); the report shows them all."""
    row = dict(NAMESPACES[0], active_ips=["192.0.2.51", "192.0.2.52"], nodes=["router-01", "router02"])
    dropped = dict(NAMESPACES[1], active_ips=[], nodes=[])
    text = report.render_markdown(False, [row, dropped], {})
    assert "| egress-a | 7305526 | 0x6f7936 | 192.0.2.51, 192.0.2.52 | 192.0.2.51, 192.0.2.52 | router-01, router02 " \
           "| active |" in text.splitlines()
    assert "| egress-b | 3064846 | 0x2ec40e | 198.51.100.53 | - | - | dropped |" in text.splitlines()
    mermaid = text.split("```mermaid\n")[1].split("```")[0].splitlines()
    assert mermaid == ["flowchart LR",
                       '  ns_1["egress-a"] --> ip_192_0_2_51["192.0.2.51"]',
                       '  ip_192_0_2_51 --> node_router_01[["router-01"]]',
                       '  ns_1["egress-a"] --> ip_192_0_2_52["192.0.2.52"]',
                       '  ip_192_0_2_52 --> node_router02[["router02"]]',
                       '  ns_2["egress-b"] -.->|dropped| ip_none["no usable IP"]']


def test_automatic_egress_ips_say_where_they_live_and_why():
    """Rows of automatic IPs (egress_cidrs, issue 19) carry ``allocated``; the report lists them."""
    moved = dict(NAMESPACES[3], node="router02", allocated={
        "ip": "198.51.100.60", "mode": "automatic", "node": "router02", "from": "router-01",
        "why": "node router-01 is unreachable"})
    lost = dict(NAMESPACES[1], allocated={"ip": "198.51.100.53", "mode": "automatic", "node": None,
                                          "from": "router-01", "why": "no reachable node's egress_cidrs hold it"})
    lines = report.render_markdown(False, [NAMESPACES[0], lost, moved], {}).splitlines()
    start = lines.index("## Automatic egress IPs (egress_cidrs)")
    assert lines[start + 2:start + 6] == [
        "| egress IP | namespace | node | declared on | why |", "|---|---|---|---|---|",
        "| 198.51.100.53 | egress-b | - | router-01 | no reachable node's egress_cidrs hold it |",
        "| 198.51.100.60 | egress-c | router02 | router-01 | node router-01 is unreachable |"]
    assert json.loads(report.render_json(False, [moved], {}))["namespaces"][0]["allocated"]["from"] == "router-01"
    # without automatic IPs the section is not there
    assert "## Automatic egress IPs (egress_cidrs)" not in report.render_markdown(False, NAMESPACES, {})


def test_check_mode_is_stated():
    nodes = report.collect_nodes(hosts_vars())
    assert report.render_markdown(True, NAMESPACES, nodes).splitlines()[1] == "Mode: check (nothing was changed)"
    assert json.loads(report.render_json(True, NAMESPACES, nodes))["check_mode"] is True


def test_empty_plan_and_no_nodes():
    text = report.render_markdown(False, [], {})
    assert "|---|---|---|---|---|---|---|\n\n## Namespaces, egress IPs and nodes" in text
    assert text.endswith("```mermaid\nflowchart LR\n```\n\n## Nodes\n\n"
                         "| node | reachable | changed | addresses claimed | addresses released | flow commands "
                         "| iptables commands |\n|---|---|---|---|---|---|---|\n")
    assert json.loads(report.render_json(False, None, {})) == {"check_mode": False, "namespaces": [], "nodes": {}}


def test_tagged_values_become_plain():
    tagged = Origin(path="/inventory/host_vars/r1.yml", line_num=3).tag(copy.deepcopy(HOST_VARS["r1"]))
    tagged["egress_node_name"] = trust_as_template("router-01")
    tagged["egress_claim"]["claimed"][0]["prefix"] = Origin(path="/x").tag(24)
    name, node = report.node_report("r1", tagged)
    assert type(name) in PLAIN_SCALARS
    assert node == EXPECTED_NODES["router-01"]

    def exact(value):
        """Whether value and everything in it are of the base types themselves, not subclasses."""
        if isinstance(value, dict):
            return type(value) in (dict,) and all(type(k) in (str,) and exact(v) for k, v in value.items())
        if isinstance(value, list):
            return type(value) in (list,) and all(exact(v) for v in value)
        return type(value) in PLAIN_SCALARS

    assert exact(node)
    namespaces = Origin(path="/plan").tag(copy.deepcopy(NAMESPACES))
    namespaces[0]["name"] = trust_as_template("egress-a")
    nodes = report.collect_nodes(hosts_vars())
    assert report.render_json(False, namespaces, nodes) == report.render_json(False, NAMESPACES, nodes)
    assert report.render_markdown(False, namespaces, nodes) == EXPECTED_MARKDOWN


def test_plain_keeps_scalars_and_stringifies_the_rest():
    assert report.plain({1: (True, None, 1.5), "k": {"x"}}) == {"1": [True, None, 1.5], "k": "{'x'}"}


def test_summary_counts():
    nodes = report.collect_nodes(hosts_vars())
    assert report.summary(NAMESPACES, nodes) == {
        "namespaces": 4, "namespaces_by_state": {"active": 2, "dropped": 1, "no-egress": 1}, "nodes": 3,
        "nodes_changed": 2, "nodes_unreachable": 1, "addresses_claimed": 2, "addresses_released": 1,
        "flow_commands": 2, "iptables_commands": 4}


def test_write_if_changed_writes_atomically_and_only_changes(tmp_path):
    path = str(tmp_path / "report.md")
    assert report.write_if_changed(path, "one\n") is True
    inode = os.stat(path).st_ino
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    os.chmod(path, 0o600)
    assert report.write_if_changed(path, "one\n") is False
    assert os.stat(path).st_ino == inode
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert report.write_if_changed(path, "two\n") is True
    assert os.stat(path).st_ino != inode  # replaced by rename, never truncated in place
    with open(path) as handle:
        assert handle.read() == "two\n"
    assert sorted(os.listdir(str(tmp_path))) == ["report.md"]


class RawOnlyHostVars:
    """Like Ansible's HostVars, but fails when a host's variables would be templated."""

    def __init__(self, data):
        self.data = data

    def raw_get(self, host):
        return self.data.get(host)

    def __getitem__(self, host):
        raise AssertionError("hostvars[%r] templates every value it returns" % host)


def run_action(args, task_vars, check_mode=False):
    task = Task()
    task.args = args
    task.check_mode = check_mode
    action = ActionModule(task=task, connection=MagicMock(), play_context=PlayContext(), loader=DataLoader(),
                          templar=None, shared_loader_obj=None)
    return action.run(task_vars=task_vars)


def task_vars(**extra):
    out = {"egress_plan": {"changed": False, "plan": {"namespaces": NAMESPACES, "nodes": {}, "settings": {}}},
           "ansible_play_hosts_all": HOSTS, "hostvars": RawOnlyHostVars(copy.deepcopy(HOST_VARS))}
    out.update(extra)
    return out


FINISHED = "2026-11-30T10:00:05Z"
RUN_VARS = {"egress_run_token": "20261130T100000-42", "egress_run_started": "2026-11-30T10:00:00Z"}


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(action_plugin, "utc_now", lambda: FINISHED)


def expected_run(check_mode=False, picture=None):
    return {"token": "20261130T100000-42", "started": "2026-11-30T10:00:00Z", "finished": FINISHED,
            "collection_version": action_plugin.collection_version(), "check_mode": check_mode,
            "picture": picture or {"svg": None, "png": None, "note": "not rendered as SVG/PNG (picture=false)"}}


def markdown_with_run(markdown, run_lines):
    lines = markdown.split("\n")
    return "\n".join(lines[:2] + run_lines + lines[2:])


def test_action_writes_both_reports_and_rewrites_only_on_change(tmp_path):
    dest = tmp_path / "reports" / "run"
    old_umask = os.umask(0o077)
    try:
        result = run_action({"dest": str(dest), "picture": False}, task_vars(**RUN_VARS))
    finally:
        os.umask(old_umask)
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert stat.S_IMODE(os.stat(str(dest)).st_mode) == 0o755
    paths = {"json": str(dest / "egress-report.json"), "markdown": str(dest / "egress-report.md")}
    assert result["paths"] == paths
    assert result["updated"] == [paths["json"], paths["markdown"]]
    assert result["summary"]["nodes_changed"] == 2
    with open(paths["markdown"]) as handle:
        assert handle.read() == markdown_with_run(EXPECTED_MARKDOWN, [
            "Run: 20261130T100000-42, 2026-11-30T10:00:00Z -> 2026-11-30T10:00:05Z, sdn.egress %s"
            % action_plugin.collection_version(),
            "Picture: not rendered as SVG/PNG (picture=false)"])
    with open(paths["json"]) as handle:
        assert json.load(handle) == {"check_mode": False, "namespaces": NAMESPACES, "nodes": EXPECTED_NODES,
                                     "warnings": [], "run": expected_run()}
    for path in paths.values():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644

    again = run_action({"dest": str(dest), "picture": False}, task_vars(**RUN_VARS))
    assert again["changed"] is False and again["updated"] == []

    checked = run_action({"dest": str(dest), "picture": False}, task_vars(**RUN_VARS), check_mode=True)
    assert checked["changed"] is False and checked["check_mode"] is True
    assert checked["updated"] == [paths["json"], paths["markdown"]]  # written in check mode too
    with open(paths["markdown"]) as handle:
        assert "Mode: check (nothing was changed)\n" in handle.read()
    with open(paths["json"]) as handle:
        assert json.load(handle)["run"] == expected_run(check_mode=True)


def test_collection_version_from_galaxy_yml_or_manifest(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if os.path.exists(os.path.join(root, "MANIFEST.json")):  # the tests of an installed tarball
        with open(os.path.join(root, "MANIFEST.json")) as handle:
            version = json.load(handle)["collection_info"]["version"]
    else:
        with open(os.path.join(root, "galaxy.yml")) as handle:
            version = [line.split(":", 1)[1].strip() for line in handle if line.startswith("version:")][0]
    assert action_plugin.collection_version(root) == version
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"collection_info": {"version": "9.8.7"}}))
    (tmp_path / "galaxy.yml").write_text("version: 1.0.0\n")
    assert action_plugin.collection_version(str(tmp_path)) == "9.8.7"  # the installed collection's word
    os.unlink(str(tmp_path / "MANIFEST.json"))
    assert action_plugin.collection_version(str(tmp_path)) == "1.0.0"
    assert action_plugin.collection_version(str(tmp_path / "nowhere")) is None


def test_default_report_dir_is_the_users_not_the_collections(monkeypatch, tmp_path):
    assert action_plugin.default_report_dir({"XDG_STATE_HOME": "/state", "HOME": "/home/u"}) == \
        "/state/sdn.egress/reports"
    assert action_plugin.default_report_dir({"HOME": "/home/u"}) == "/home/u/.local/state/sdn.egress/reports"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    result = run_action({"picture": False}, task_vars(**RUN_VARS))
    assert not result.get("failed"), result
    assert result["dest"] == str(tmp_path / "state" / "sdn.egress" / "reports")
    assert sorted(os.listdir(result["dest"])) == ["egress-report.json", "egress-report.md"]


def test_summary_is_printed_and_published_as_set_stats(tmp_path):
    result = run_action({"dest": str(tmp_path), "picture": False}, task_vars(**RUN_VARS))
    assert result["_ansible_verbose_always"] is True  # printed at the default verbosity
    assert result["msg"] == [
        "sdn.egress %s run 20261130T100000-42 (converge), 2026-11-30T10:00:00Z -> 2026-11-30T10:00:05Z"
        % action_plugin.collection_version(),
        "namespace egress-a: 192.0.2.51 on router-01 (active)",
        "namespace egress-b: no egress IP in use (dropped)",
        "namespace egress-c: 198.51.100.60 on router02 (active)",
        "namespaces without egress IPs: 1",
        "node m1: did not answer, nothing changed on it",
        "node router-01: changed - addresses claimed 192.0.2.51, released -, 2 flow commands, 3 iptables lines",
        "node router02: changed - addresses claimed 198.51.100.60, released 192.0.2.99, 0 flow commands, "
        "1 iptables lines",
        "report (markdown): %s" % (tmp_path / "egress-report.md"),
        "report (json): %s" % (tmp_path / "egress-report.json"),
        "picture: not rendered as SVG/PNG (picture=false)",
    ]
    stats = result["ansible_stats"]
    assert stats["per_host"] is False and stats["aggregate"] is False
    data = stats["data"]["egress_summary"]
    assert data["run_token"] == "20261130T100000-42" and data["check_mode"] is False
    assert data["namespaces"][0] == {"name": "egress-a", "state": "active", "ips_in_use": ["192.0.2.51"],
                                     "nodes": ["router-01"]}
    assert data["nodes"]["router02"] == {"reachable": True, "changed": True, "addresses_claimed": ["198.51.100.60"],
                                         "addresses_released": ["192.0.2.99"], "flow_commands": 0,
                                         "iptables_commands": 1, "addresses_claimed_count": 1,
                                         "addresses_released_count": 1}
    assert data["reports"] == result["paths"]
    json.dumps(data)  # plain data, as AWX stores it

    checked = run_action({"dest": str(tmp_path), "picture": False, "stats_var": "drift"}, task_vars(**RUN_VARS),
                         check_mode=True)
    assert "(check mode, nothing was changed)" in checked["msg"][0]
    assert "node router-01: would change - addresses claimed 192.0.2.51" in checked["msg"][6]
    assert list(checked["ansible_stats"]["data"]) == ["drift"]


def test_dot_picture_escapes_and_links_namespaces_ips_nodes():
    row = dict(NAMESPACES[0], name='a"b\x1b', active_ips=["192.0.2.51", "192.0.2.52"], nodes=["router-01", "router02"])
    dot = report.render_dot([row, NAMESPACES[1], NAMESPACES[2]])
    assert "\x1b" not in dot
    ns_id = '"ns:\\"a\\\\\\"b\\\\u001b\\""'  # the name as addr.show escapes it, quoted for DOT
    assert dot.splitlines() == [
        "digraph egress {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=11];', '  edge [color="#555555"];',
        '  %s [label="\\"a\\\\\\"b\\\\u001b\\"", shape=box];' % ns_id,
        '  "ip:192.0.2.51" [label="192.0.2.51", shape=ellipse];',
        '  "node:router-01" [label="router-01", shape=box3d];',
        '  "ip:192.0.2.52" [label="192.0.2.52", shape=ellipse];',
        '  "node:router02" [label="router02", shape=box3d];',
        '  "ns:egress-b" [label="egress-b", shape=box];',
        '  "none" [label="no usable IP", shape=plaintext];',
        '  %s -> "ip:192.0.2.51";' % ns_id,
        '  "ip:192.0.2.51" -> "node:router-01";',
        '  %s -> "ip:192.0.2.52";' % ns_id,
        '  "ip:192.0.2.52" -> "node:router02";',
        '  "ns:egress-b" -> "none" [style=dashed, label="dropped"];',
        "}"]  # "plain" has no egress IPs: not in the picture


@pytest.mark.skipif(not shutil.which("dot"), reason="graphviz (dot) is not installed (make bootstrap installs it)")
def test_pictures_are_rendered_with_graphviz(tmp_path):
    result = run_action({"dest": str(tmp_path)}, task_vars(**RUN_VARS))
    assert not result.get("failed"), result
    assert result["paths"]["svg"] == str(tmp_path / "egress-report.svg")
    with open(result["paths"]["svg"]) as handle:
        svg = html.unescape(handle.read())
    assert "<svg" in svg and "egress-a" in svg and "router-01" in svg and "198.51.100.60" in svg
    with open(result["paths"]["png"], "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(result["paths"]["markdown"]) as handle:
        markdown = handle.read()
    assert "Picture: egress-report.svg, egress-report.png\n" in markdown and "```mermaid" in markdown
    with open(result["paths"]["json"]) as handle:
        assert json.load(handle)["run"]["picture"] == {"svg": result["paths"]["svg"], "png": result["paths"]["png"],
                                                       "note": None}
    again = run_action({"dest": str(tmp_path)}, task_vars(**RUN_VARS))
    assert again["updated"] == []  # the same picture is not rewritten


def test_without_graphviz_the_report_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(action_plugin.shutil, "which", lambda name: None)
    result = run_action({"dest": str(tmp_path)}, task_vars(**RUN_VARS))
    assert "svg" not in result["paths"] and "png" not in result["paths"]
    with open(result["paths"]["json"]) as handle:
        note = json.load(handle)["run"]["picture"]["note"]
    assert "graphviz (dot) is not installed on the controller" in note
    assert "picture: " + note in result["msg"]
    images, note = action_plugin.render_pictures("digraph {", dot=shutil.which("false") or "/bin/false")
    assert images == {} and "exited 1" in note


def test_picture_limit(tmp_path):
    result = run_action({"dest": str(tmp_path), "picture_limit": 2}, task_vars(**RUN_VARS))
    assert "more namespaces with egress IPs than picture_limit (2)" in result["msg"][-1]


def test_action_hosts_and_plan_var_options(tmp_path):
    plan = {"plan": {"namespaces": NAMESPACES[:1]}}
    result = run_action({"dest": str(tmp_path), "hosts": ["r2"], "plan_var": "other_plan"},
                        task_vars(other_plan=plan, egress_plan=None))
    assert not result.get("failed"), result
    assert result["summary"]["nodes"] == 1 and result["summary"]["namespaces"] == 1
    with open(str(tmp_path / "egress-report.json")) as handle:
        assert list(json.load(handle)["nodes"]) == ["router02"]


def test_action_reads_the_compact_plan_json_rows(tmp_path):
    compact = {"plan": {"namespaces_json": json.dumps(NAMESPACES), "nodes": {}, "settings": {}}}
    result = run_action({"dest": str(tmp_path), "picture": False}, task_vars(egress_plan=compact))
    assert not result.get("failed"), result
    with open(str(tmp_path / "egress-report.md")) as handle:
        lines = handle.read().split("\n")
    assert lines[2].startswith("Run: -, - -> %s" % FINISHED)  # no token, no start time given
    assert "\n".join(lines[:2] + lines[4:]) == EXPECTED_MARKDOWN
    with open(str(tmp_path / "egress-report.json")) as handle:
        assert json.load(handle)["namespaces"] == NAMESPACES


@pytest.mark.parametrize("args, extra, message", [
    ({"picture": "maybe"}, {}, "picture"),
    ({"hosts": ["r1", "nowhere"]}, {}, "not in the inventory: nowhere"),
    ({}, {"egress_plan": SKIPPED}, "egress_plan.plan.namespaces (or namespaces_json) is not defined"),
    ({"plan_var": "nothing"}, {}, "nothing.plan.namespaces (or namespaces_json) is not defined"),
    ({}, {"egress_plan": {"plan": {"namespaces_json": "[not json"}}},
     "egress_plan.plan.namespaces (or namespaces_json) is not defined"),
])
def test_action_failures(tmp_path, args, extra, message):
    args = dict(args)
    if "dest" not in args:
        args["dest"] = str(tmp_path)
    result = run_action(args, task_vars(**extra))
    assert result["failed"] is True
    assert message in result["msg"]
    assert os.listdir(str(tmp_path)) == []


@pytest.mark.parametrize("value", [
    {"check_mode": False, "namespaces": [], "nodes": {}},
    {"a": [], "b": {}, "c": [[], {}, [1, [2, {"x": None}]]], "d": "", "e": 0, "f": -7, "g": 1.5, "h": True},
    {"unicode": "caf\u00e9 \u2603 \U0001f600", "quotes": "a\"b\\c\n\t\x00", "floats": [0.1, 1e100, -0.0, 2.5e-8]},
    {"z": 1, "a": 2, "m": {"b": [{"y": 1, "x": 2}], "a": ()}},
    {"set": {"b", "a"}, "other": object.__name__, "tuple": (1, "2", None)},
    [1, "two", {"three": [3]}],
    "just a string",
    {2: "int key"}, {"1": "str key"},
    {True: "bool key"}, {None: "none key"}, {1.5: "float key"},
])
def test_json_text_is_the_standard_encoders(value):
    """The report's own indented encoder writes exactly what json.dumps writes."""
    expected = json.dumps(value, indent=4, sort_keys=True, separators=(",", ": "), default=report._json_default)
    out = []
    report._encode_indented(value, out, "\n")
    assert "".join(out) == expected


def test_json_text_of_a_tagged_report_is_the_standard_encoders():
    namespaces = Origin(path="/plan").tag(copy.deepcopy(NAMESPACES))
    namespaces[0]["name"] = trust_as_template("egress-a")
    nodes = report.collect_nodes(hosts_vars())
    expected = json.dumps({"check_mode": True, "namespaces": namespaces, "nodes": nodes}, indent=4, sort_keys=True,
                          separators=(",", ": ")) + "\n"
    assert report.render_json(True, namespaces, nodes) == expected


# --- dataplane failover: which bucket serves now, from the nodes' BFD view -------------------

FF_ROWS = [
    {"name": "ha", "egress_ips": ["192.0.2.51", "192.0.2.52"], "active_ip": "192.0.2.51", "node": "router01",
     "state": "active", "buckets": [["192.0.2.51", "router01", "192.0.2.12"], ["192.0.2.52", "router02", "192.0.2.13"]]},
    {"name": "only", "egress_ips": ["198.51.100.51"], "active_ip": "198.51.100.51", "node": "router01",
     "state": "active", "buckets": [["198.51.100.51", "router01", "192.0.2.12"]]},
    {"name": "plain", "egress_ips": [], "active_ip": None, "node": None, "state": "no-egress"},
]


def bfd_nodes(router01_seen_up, router01_reachable=False):
    return {"master01": {"reachable": True, "bfd_live": {"192.0.2.12": router01_seen_up, "192.0.2.13": True}},
            "router02": {"reachable": True, "bfd_live": {"192.0.2.12": router01_seen_up, "192.0.2.11": True}},
            "router01": {"reachable": router01_reachable, "bfd_live": {"192.0.2.11": True, "192.0.2.13": True}}}


def test_node_report_carries_the_bfd_view_of_phase_three():
    host_vars = {"egress_node_facts": {"reachable": True},
                 "egress_monitor_ports": {"changed": False, "live": {"192.0.2.12": True}},
                 "egress_monitor_pruned": {"changed": False, "live": {"192.0.2.12": False}}}
    assert report.node_report("m", host_vars)[1]["bfd_live"] == {"192.0.2.12": False}
    assert "bfd_live" not in report.node_report("m", {"egress_node_facts": {"reachable": True}})[1]
    # run mode: phase 3 prunes (no ports, live {}): the node report is as before
    run_mode = {"egress_node_facts": {"reachable": True}, "egress_monitor_pruned": {"changed": False, "live": {}}}
    assert "bfd_live" not in report.node_report("m", run_mode)[1]


def test_dataplane_rows_say_which_bucket_serves_and_why():
    rows = dict((row["name"], row) for row in report.dataplane_rows(FF_ROWS, bfd_nodes(False)))
    assert rows["ha"]["live_ip"] == "192.0.2.52"
    assert rows["ha"]["dataplane"] == "serving via 192.0.2.52 (router02) because router01 is down (BFD)"
    assert rows["only"]["live_ip"] is None
    assert rows["only"]["dataplane"] == "no live bucket, traffic dropped: router01 is down (BFD)"
    assert rows["plain"] is FF_ROWS[2] and "dataplane" not in rows["plain"]
    assert "dataplane" not in FF_ROWS[0]  # the input rows are not changed

    up = dict((row["name"], row) for row in report.dataplane_rows(FF_ROWS, bfd_nodes(True, True)))
    assert up["ha"]["live_ip"] == "192.0.2.51"
    assert up["ha"]["dataplane"] == "serving via 192.0.2.51 (router01), the first IP"


def test_dataplane_rows_name_the_nodes_when_their_views_differ():
    nodes = bfd_nodes(True)
    nodes["router02"]["bfd_live"]["192.0.2.12"] = False  # only router02 lost router01
    row = report.dataplane_rows(FF_ROWS, nodes)[0]
    assert row["live_ip"] is None
    assert row["dataplane"] == ("master01: serving via 192.0.2.51 (router01), the first IP; "
                                "router02: serving via 192.0.2.52 (router02) because router01 is down (BFD)")


def test_without_bfd_views_rows_stay_and_markdown_has_no_dataplane_column():
    assert report.dataplane_rows(NAMESPACES, {"r": {"reachable": True}}) == NAMESPACES
    assert "dataplane (BFD, now)" not in report.render_markdown(False, NAMESPACES, {})


def test_markdown_shows_the_dataplane_column():
    text = report.render_markdown(True, report.dataplane_rows(FF_ROWS, bfd_nodes(False)), {})
    assert "| state | dataplane (BFD, now) |" in text
    assert "| active | serving via 192.0.2.52 (router02) because router01 is down (BFD) |" in text
    assert "| - | - | no-egress | - |" in text  # a row without buckets: a dash


def test_the_summary_does_not_grow_with_the_namespaces():
    """Past the limit the summary keeps the namespaces that are not active first and counts the
    rest; the addresses per node likewise (a task result Ansible copies and prints)."""
    namespaces = [{"name": "ns-%04d" % i, "egress_ips": ["192.0.2.%d" % (i % 200 + 1)], "state": "active",
                   "active_ip": "192.0.2.%d" % (i % 200 + 1), "node": "n1"} for i in range(300)]
    namespaces[250] = dict(namespaces[250], state="dropped", active_ip=None, node=None)
    nodes = {"n1": {"reachable": True, "changed": True, "flow_commands": [], "iptables_commands": [],
                    "addresses_claimed": ["192.0.2.%d/24" % (i + 1) for i in range(120)], "addresses_released": []}}
    data = report.operator_summary(False, namespaces, nodes, limit=10)
    assert len(data["namespaces"]) == 10 and data["namespaces_total"] == 300
    assert data["namespaces"][0]["name"] == "ns-0250" and data["namespaces"][0]["state"] == "dropped"
    assert data["states"] == {"active": 299, "dropped": 1}
    assert len(data["nodes"]["n1"]["addresses_claimed"]) == 10 and data["nodes"]["n1"]["addresses_claimed_count"] == 120
    lines = report.summary_lines(data)
    assert "... and 290 more namespaces with egress IPs (all: active 299, dropped 1; every one is in the report)" in lines
    assert any(line.endswith("and 110 more, released -, 0 flow commands, 0 iptables lines") for line in lines), lines
