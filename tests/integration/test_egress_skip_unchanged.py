# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""egress_skip_unchanged against the lab: a warm run starts only the lock, the preflight and
the unlock on each node; a node changed by hand runs the phase of what changed, and only that.

Module runs per node are counted from the run's results: every task result of an
``sdn.egress`` module that runs on the node (not the controller's egress_plan/egress_report)
and was not skipped.
"""
import os
import subprocess

import yaml

import labplay
from labplay import task_results

lab = labplay.lab_fixture()

CONTROLLER = ("sdn.egress.egress_plan", "sdn.egress.egress_report")


def module_runs(doc):
    """{host: sorted [module, ...]} of the module runs each node started."""
    runs = {}
    for play in doc["plays"]:
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                action = result.get("action", "")
                if result.get("skipped") or not action.startswith("sdn.egress.") or action in CONTROLLER:
                    continue
                runs.setdefault(host, []).append(action.split(".")[-1])
    return dict((host, sorted(names)) for host, names in runs.items())


WARM = ["egress_lock", "egress_lock", "egress_preflight"]

PHASE_FILES = ("claim.yml", "flows.yml", "prune.yml")


def phase_task_names():
    """The names of the tasks of the three phases (roles/egress_node/tasks)."""
    names = set()
    for name in PHASE_FILES:
        with open(os.path.join(labplay.ROOT, "roles", "egress_node", "tasks", name)) as handle:
            names.update(task["name"] for task in yaml.safe_load(handle))
    return names


def phase_tasks_run(doc):
    """The phase tasks the run evaluated on any node (skipped or not): none when every node is
    settled, because the phases' includes are skipped as a whole."""
    seen = set()
    for play in doc["plays"]:
        for task in play["tasks"]:
            name = task["task"]["name"].split(" : ", 1)[-1]  # "sdn.egress.egress_node : <name>"
            if task["hosts"] and name in phase_task_names():
                seen.add(name)
    return seen


def changed(doc):
    """{node: changed count} of the lab's three nodes."""
    return dict((host, n) for host, n in labplay.changed(doc).items() if host in labplay.NODES)


def test_warm_run_starts_only_preflight_and_lock(lab):
    cold = labplay.playbook()
    assert cold["rc"] == 0, cold
    warm = labplay.playbook()
    assert warm["rc"] == 0, warm
    assert set(changed(warm).values()) == {0}, changed(warm)
    assert module_runs(warm) == dict((node, WARM) for node in labplay.NODES), module_runs(warm)
    assert phase_task_names() and phase_tasks_run(warm) == set(), phase_tasks_run(warm)
    check = labplay.playbook(check=True)
    assert check["rc"] == 0 and set(changed(check).values()) == {0}, changed(check)
    assert module_runs(check) == dict((node, WARM) for node in labplay.NODES), module_runs(check)
    # the off switch: every module runs again, and still changes nothing
    every = labplay.playbook("-e", "egress_skip_unchanged=false")
    assert every["rc"] == 0 and set(changed(every).values()) == {0}, changed(every)
    assert all("ovs_flow" in names for names in module_runs(every).values()), module_runs(every)
    assert phase_tasks_run(every) == phase_task_names(), phase_tasks_run(every)


def test_a_flow_deleted_by_hand_runs_that_nodes_flow_phase_only(lab):
    assert labplay.playbook()["rc"] == 0
    env = dict(os.environ, OVS_RUNDIR=labplay.OVS_RUNDIR.format(node="master01"))
    subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "del-flows", "br0", "table=100,reg0=0x2ec40e,cookie=0x65677265/-1"],
                   check=True, env=env)
    report = labplay.playbook(check=True)
    assert report["rc"] == 0, report
    assert changed(report) == {"master01": 1, "router01": 0, "router02": 0}, changed(report)
    flows = task_results(report, "Converge this node's owned")["master01"]
    assert "reg0=0x2ec40e" in flows["diff"]["after"] and "reg0=0x2ec40e" not in flows["diff"]["before"], flows["diff"]
    runs = module_runs(report)
    assert runs["master01"] == sorted(WARM + ["ovs_flow"]), runs
    assert runs["router01"] == runs["router02"] == WARM, runs
    repair = labplay.playbook()
    assert repair["rc"] == 0
    assert changed(repair) == {"master01": 1, "router01": 0, "router02": 0}, changed(repair)
    assert module_runs(repair) == module_runs(report)
    assert "reg0=0x2ec40e" in labplay.ovs("master01", "ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "br0",
                                          "table=100")
    warm = labplay.playbook()
    assert set(changed(warm).values()) == {0} and module_runs(warm) == dict((n, WARM) for n in labplay.NODES)


def test_a_rule_or_an_address_removed_by_hand_runs_that_phase_only(lab):
    assert labplay.playbook()["rc"] == 0
    subprocess.run(["ip", "netns", "exec", "sdnlab-router02", "iptables", "-t", "nat", "-D", "OPENSHIFT-MASQUERADE",
                    "-s", "10.128.0.0/14", "-m", "mark", "--mark", "0x2ec40e", "-m", "comment", "--comment",
                    "sdn.egress egress-test3", "-j", "SNAT", "--to-source", "198.51.100.53"], check=True)
    address = labplay.egress_addresses("router01")[0]
    iface = [line.split()[1] for line in labplay.in_node("router01", "ip", "-o", "-4", "addr", "show").splitlines()
             if address in line][0]
    labplay.in_node("router01", "ip", "addr", "del", address, "dev", iface)
    repair = labplay.playbook()
    assert repair["rc"] == 0, repair
    assert changed(repair)["master01"] == 0 and changed(repair)["router01"] > 0 and changed(repair)["router02"] > 0
    runs = module_runs(repair)
    assert runs["master01"] == WARM, runs
    assert "egress_addr" in runs["router01"] and "egress_snat" not in runs["router01"], runs
    assert "ovs_flow" not in runs["router01"], runs
    assert "egress_snat" in runs["router02"] and "egress_addr" not in runs["router02"], runs
    assert "ovs_flow" not in runs["router02"], runs
    claim = task_results(repair, "Claim and announce")["router01"]
    assert claim["changed"] is True and claim.get("announced"), claim
    assert address in labplay.egress_addresses("router01")
    warm = labplay.playbook()
    assert set(changed(warm).values()) == {0} and module_runs(warm) == dict((n, WARM) for n in labplay.NODES)
