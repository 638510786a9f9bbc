# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/egress.yml against the built-in lab: a problem only a node itself can show (an
egress IP outside its networks, a dead ovs-vswitchd) fails the run at plan time, before any
node changes. "Nothing changed" is checked on full dumps of every node: all flows and groups,
every iptables table, every address.

Holds the lab lock for the whole module (as test_egress_playbook.py does), builds the lab
fresh and brings it down at the end.
"""
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from sdnlab.ovs import running  # conftest puts lab/ on the path

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.dirname(sys.executable)
LAB = [sys.executable, os.path.join(ROOT, "lab", "lab.py")]
LOCK = "/tmp/sdnlab-dev.lock"
OVS_RUNDIR = os.path.join(ROOT, ".cache", "lab", "{node}", "ovs")
NODES = ("master01", "router01", "router02")
OUTSIDE = "198.18.0.77"  # in no network of any lab node


@pytest.fixture(scope="module")
def lab():
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(LAB + ["up", "--rebuild"], check=True, capture_output=True, timeout=300)
        try:
            yield
        finally:
            subprocess.run(LAB + ["down"], check=False, capture_output=True, timeout=300)


def playbook(inventory, *args):
    argv = [os.path.join(BIN, "ansible-playbook"), os.path.join(ROOT, "playbooks", "egress.yml"), "-i", inventory]
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"))
    proc = subprocess.run(argv + list(args), capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=600, check=False)
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("no JSON from ansible-playbook (rc=%d):\n%s\n%s"
                             % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    doc["rc"] = proc.returncode
    return doc


def task_results(doc, name_part):
    out = {}
    for play in doc["plays"]:
        for task in play["tasks"]:
            if name_part in task["task"]["name"]:
                out.update(task["hosts"])
    return out


def _run(argv, env=None):
    return subprocess.run(argv, capture_output=True, text=True, env=env, check=True).stdout


def addresses(netns):
    """Every address of every interface (both families) with its prefix, label and scope; not
    the link state or address flags, which the kernel changes by itself (a port whose
    ovs-vswitchd died loses its carrier, IPv6 flags follow) and a run never touches."""
    links = json.loads(_run(netns + ["ip", "-j", "addr", "show"]))
    return sorted((link["ifname"], info["family"], "%s/%s" % (info["local"], info["prefixlen"]),
                   info.get("label", ""), info.get("scope", "")) for link in links
                  for info in link.get("addr_info", []))


def full_dump(node):
    """Everything on a node a run could change: every flow and group of br0 (no counters), every
    iptables table (no counters, no header comments with timestamps), every address."""
    netns = ["ip", "netns", "exec", "sdnlab-" + node]
    env = dict(os.environ, OVS_RUNDIR=OVS_RUNDIR.format(node=node))
    dump = {
        "iptables": [line for line in _run(netns + ["iptables-save"]).splitlines() if not line.startswith("#")],
        "addrs": addresses(netns),
    }
    pids = vswitchd_pid(node)
    if pids is not None:  # with ovs-vswitchd dead there is no OpenFlow to dump (and nothing to change)
        ofctl = ["ovs-ofctl", "-O", "OpenFlow13"]
        dump["flows"] = sorted(_run(ofctl + ["--no-stats", "dump-flows", "br0"], env).splitlines())
        dump["groups"] = sorted(_run(ofctl + ["dump-groups", "br0"], env).splitlines())
    return dump


def all_dumps():
    return dict((node, full_dump(node)) for node in NODES)


def assert_unchanged(before):
    """Every node's full dump as ``before``; the message names node, part and lines that differ."""
    after = all_dumps()
    for node in NODES:
        for part in before[node]:
            old, new = before[node][part], after[node].get(part)
            assert new == old, (node, part, [x for x in old if x not in new], [x for x in new if x not in old])
    assert after == before


def vswitchd_pid(node):
    try:
        with open(os.path.join(OVS_RUNDIR.format(node=node), "ovs-vswitchd.pid")) as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return None
    return pid if running(pid) else None


def copy_inventory(tmp_path):
    """The lab inventory, still finding the lab's state directory from another place."""
    inv = tmp_path / "lab"
    shutil.copytree(os.path.join(ROOT, "inventories", "lab"), inv)
    for name in os.listdir(inv / "host_vars"):
        path = inv / "host_vars" / name
        path.write_text(path.read_text().replace("inventory_dir ~ '/../../.cache", "'%s/.cache" % ROOT))
    for path in (inv / "hosts.yml", inv / "group_vars" / "all" / "egress.yml"):
        path.write_text(path.read_text().replace("inventory_dir ~ '/../../.cache", "'%s/.cache" % ROOT).replace(
            "{{ inventory_dir }}/../../.cache", "%s/.cache" % ROOT))
    return inv


def test_the_lab_passes_its_preflight_and_converges(lab):
    """Every lab node passes (its networks hold its egress IPs exactly once, OpenFlow and the
    chains answer); the run converges, and a second run changes nothing."""
    doc = playbook("inventories/lab")
    assert doc["rc"] == 0, list(task_results(doc, "Plan every node").values())
    preflight = task_results(doc, "Preflight")
    assert set(preflight) == set(NODES) and all(not r["problems"] and r["openflow"] for r in preflight.values())
    assert not any(r.get("changed") for r in preflight.values())
    # the conflict data is foreign objects only: nothing of ours (cookie, owner comment)
    for result in preflight.values():
        assert result["foreign_rules"] is not None and result["foreign_flows"] is not None, result
        assert not any("sdn.egress" in r["rule"] for r in result["foreign_rules"]), result["foreign_rules"]
        assert not any("0x65677265" in line for line in result["foreign_flows"]), result["foreign_flows"]
        assert result["owned_monitor_ports"] == [], result   # failover: run, no monitor port anywhere
    again = playbook("inventories/lab")
    assert again["rc"] == 0 and set(s["changed"] for s in again["stats"].values()) == {0}, again["stats"]
    # no monitor port of ours anywhere and none wanted: the prune runs on no node. Every node is
    # settled (which needs the plan's prune_monitor_ports false): the phases are not included
    pruned = task_results(again, "Remove BFD monitor ports")
    assert all(r.get("skipped") for r in pruned.values()), pruned
    phase3 = task_results(again, "Phase 3 - prune")
    assert set(phase3) == set(NODES) and all(r.get("skipped") for r in phase3.values()), phase3
    assert task_results(again, "Check for foreign") == {}   # the plan checks conflicts, no extra module runs


def test_egress_ip_outside_every_network_of_its_node_fails_at_plan_and_changes_nothing(lab, tmp_path):
    """router01 declares neither a host_ip prefix nor egress_interfaces: only the node itself
    knows its networks. Without the preflight the claim found out on router01, after the other
    egress node had claimed its addresses."""
    inv = copy_inventory(tmp_path)
    host_vars = inv / "host_vars" / "router01.yml"
    text = host_vars.read_text()
    assert "egress_interfaces" not in text and "host_ip: 192.0.2.12\n" in text
    host_vars.write_text(text.replace("egress_ips: [192.0.2.51, 198.51.100.51]",
                                      "egress_ips: [192.0.2.51, 198.51.100.51, %s]" % OUTSIDE))
    (inv / "group_vars" / "all" / "netnamespace_zz-outside.yml").write_text(
        "egress_netnamespace_zz_outside: {name: zz-outside, netid: 4242, egress_ips: [%s]}\n" % OUTSIDE)
    before = all_dumps()
    doc = playbook(str(inv))
    assert doc["rc"] != 0
    plan = list(task_results(doc, "Plan every node").values())[0]
    assert plan.get("failed"), plan
    expected = "nodes[router01].egress_ips: %s is not inside any network of node router01" % OUTSIDE
    assert [p for p in plan["problems"] if p.startswith(expected)], plan["problems"]
    assert "eth1 198.51.100.0/24" in plan["msg"], plan["msg"]  # the networks the node reported
    # no phase ran anywhere
    assert task_results(doc, "Claim this node's egress addresses") == {}
    assert task_results(doc, "SNAT this node's egress traffic") == {}
    assert task_results(doc, "Converge this node's owned") == {}
    assert_unchanged(before)


def test_dead_vswitchd_with_ovsdb_alive_fails_the_run_naming_the_node_before_any_change(lab):
    """router02's ovs-vswitchd is stopped (by its PID), its ovsdb-server still answers: the
    ports still read fine from OVSDB, but the bridge answers no OpenFlow. The run fails at plan
    naming router02 and OpenFlow; no node (router01 included) changes."""
    pid = vswitchd_pid("router02")
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(pid)
    env = dict(os.environ, OVS_RUNDIR=OVS_RUNDIR.format(node="router02"))
    assert _run(["ovs-vsctl", "--timeout=5", "get", "Interface", "tun0", "ofport"], env).strip() == "2"
    # taken after the kill: the ports ovs-vswitchd held lose their carrier when it exits
    before = all_dumps()
    assert "flows" not in before["router02"] and before["router01"]["flows"]
    doc = playbook("inventories/lab")
    assert doc["rc"] != 0
    preflight = task_results(doc, "Preflight")
    assert not preflight["router02"].get("failed"), preflight["router02"]  # the node reports, the plan decides
    assert [p["what"] for p in preflight["router02"]["problems"]] == ["OpenFlow"], preflight["router02"]
    assert preflight["router01"]["problems"] == [] and preflight["master01"]["problems"] == []
    plan = list(task_results(doc, "Plan every node").values())[0]
    lacks = [p for p in plan["problems"] if p.startswith("nodes[router02]: lacks OpenFlow: ")]
    assert lacks and "ovs-vswitchd" in lacks[0], plan["problems"]
    assert task_results(doc, "Claim this node's egress addresses") == {}
    assert task_results(doc, "Mark the traffic") == {}
    assert_unchanged(before)
