# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/egress.yml against the built-in lab: intent that is ignored or leaves a namespace
dropped is printed as warnings at the end of the run (and written into the report), and
egress_strict=true fails the run on them before any node changes.

Holds the lab lock file for the whole module, builds the lab fresh and brings it down at the end.
"""
import json
import os
import subprocess

import pytest

from sdnlab.ocdump import oc_list  # conftest puts lab/ and this directory on the path

import labplay
from labplay import BIN, NODES, ROOT, in_node, oc_dump, ovs, playbook, playbook_env

lab = labplay.lab_fixture()

# "lost" lists an egress IP no HostSubnet has; "far" one only the HostSubnet of ghost01 has, a
# node that is not in the inventory; "esc\x1bns" (a control character in its name) is dropped too
EXTRA_NAMESPACES = [("lost", 0x51a1, ["192.0.2.91"]), ("far", 0x51a2, ["192.0.2.92"]),
                    ("esc\x1bns", 0x51a3, ["192.0.2.93"])]
GHOST = ("ghost01", "192.0.2.19", "10.131.0.0/23", ["192.0.2.92"])


def full_state():
    """Everything on every node, read with the tools themselves: all flows and groups, the whole
    iptables-save (counters and comment lines left out) and every address."""
    state = {}
    for node in NODES:
        state[node] = {
            "flows": sorted(ovs(node, "ovs-ofctl", "-O", "OpenFlow13", "--no-stats", "dump-flows", "br0").splitlines()),
            "groups": sorted(ovs(node, "ovs-ofctl", "-O", "OpenFlow13", "dump-groups", "br0").splitlines()),
            "iptables": [line for line in in_node(node, "iptables-save").splitlines() if not line.startswith("#")],
            "addrs": sorted(in_node(node, "ip", "-o", "addr", "show").splitlines()),
        }
    return state


@pytest.fixture(scope="module")
def dump_with_faults(lab, tmp_path_factory):
    document = oc_dump()
    extra = oc_list(EXTRA_NAMESPACES, [GHOST])
    document["items"] = document["items"] + extra["items"]
    path = tmp_path_factory.mktemp("warn") / "cluster.json"
    path.write_text(json.dumps(document))
    first = playbook()
    assert first["rc"] == 0, first
    return ["-e", "egress_source=oc_json", "-e", "egress_oc_json=%s" % path]


def expected_warnings():
    return [
        'namespaces["esc\\u001bns"].egress_ips: ["192.0.2.93"] cannot be used, the traffic of namespace '
        '"esc\\u001bns" is dropped: 192.0.2.93: no node lists it',
        'namespaces[far].egress_ips: ["192.0.2.92"] cannot be used, the traffic of namespace far is dropped: '
        '192.0.2.92: node ghost01 is not in the inventory',
        'namespaces[lost].egress_ips: ["192.0.2.91"] cannot be used, the traffic of namespace lost is dropped: '
        '192.0.2.91: no node lists it',
        "nodes[ghost01]: ghost01 is not in the inventory (no host of the run is this node): planned as offline, "
        "its egress IPs (192.0.2.92) are not used and nothing is sent to it",
    ]


def test_strict_fails_before_any_change_naming_each_warning(dump_with_faults):
    before = full_state()
    doc = playbook(*dump_with_faults, "-e", "egress_strict=true")
    assert doc["rc"] != 0
    plan = [result for play in doc["plays"] for task in play["tasks"] if "Plan every node" in task["task"]["name"]
            for result in task["hosts"].values()]
    assert plan and plan[0]["failed"], plan
    assert plan[0]["problems"] == ["strict: " + text for text in expected_warnings()]
    assert not any(result.get("changed") for play in doc["plays"] for task in play["tasks"]
                   for result in task["hosts"].values() if "lock" not in task["task"]["name"].lower())
    assert full_state() == before


def test_warnings_are_the_last_output_and_in_the_report(dump_with_faults):
    doc = playbook(*dump_with_faults)
    assert doc["rc"] == 0, doc
    tasks = [task for play in doc["plays"] for task in play["tasks"]]
    last = tasks[-1]
    assert "report" in last["task"]["name"].lower()
    result = list(last["hosts"].values())[0]
    assert result["warnings"] == expected_warnings()
    assert result["summary"]["warnings"] == 4
    assert not any(res.get("warnings") for task in tasks[:-1] for res in task["hosts"].values()
                   if "Plan every node" in task["task"]["name"])   # not at plan time
    with open(result["paths"]["json"]) as handle:
        report = json.load(handle)
    assert [w["field"] for w in report["warnings"]] == [
        'namespaces["esc\\u001bns"].egress_ips', "namespaces[far].egress_ips", "namespaces[lost].egress_ips",
        "nodes[ghost01]"]
    with open(result["paths"]["markdown"]) as handle:
        markdown = handle.read()
    assert "## Warnings" in markdown and "\x1b" not in markdown

    # the terminal of an operator (default callback): the warnings come after the report task,
    # right before the recap, escaped
    env = playbook_env(ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="default")
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"),
                           os.path.join(ROOT, "playbooks", "egress.yml"), "-i", "inventories/lab", "--check"]
                          + dump_with_faults, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,  # one stream, in order
                          text=True, env=env, cwd=ROOT, timeout=600, check=False)
    output = proc.stdout
    assert proc.returncode == 0, output[-3000:]
    assert "\x1b" not in output
    report_task = output.rindex("TASK [")
    recap = output.index("PLAY RECAP")
    assert "report" in output[report_task:report_task + 200].lower()
    for text in expected_warnings():
        # the default callback wraps long warnings: compare the start, then the position
        position = output.find(text[:50])
        assert position != -1, (text, output[report_task:])
        assert report_task < position < recap, (text, output[report_task:])
    assert "[WARNING]" not in output[:report_task] or "ghost01" not in output[:report_task]
