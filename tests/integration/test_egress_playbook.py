# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/egress.yml against the built-in lab: sources, validation, drift and pruning.

The lab (lab/lab.py) is shared with molecule and the demo, so the whole module holds the lab
lock file other tools use, builds the lab fresh, and brings it down at the end.
"""
import fcntl
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from sdnlab.fakeapi import FakeApi  # conftest puts lab/ on the path
from sdnlab.ocdump import oc_list

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.dirname(sys.executable)
LAB = [sys.executable, os.path.join(ROOT, "lab", "lab.py")]
LOCK = "/tmp/sdnlab-dev.lock"
OVS_RUNDIR = os.path.join(ROOT, ".cache", "lab", "{node}", "ovs")
COOKIE = "cookie=0x65677265"


@pytest.fixture(scope="module")
def lab():
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(LAB + ["up", "--rebuild"], check=True, capture_output=True, timeout=300)
        try:
            yield
        finally:
            subprocess.run(LAB + ["down"], check=False, capture_output=True, timeout=300)


def playbook(inventory, *args, check=False):
    argv = [os.path.join(BIN, "ansible-playbook"), os.path.join(ROOT, "playbooks", "egress.yml"), "-i", inventory]
    argv += ["--check", "--diff"] if check else []
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


def changed(doc):
    return {host: stats["changed"] for host, stats in doc["stats"].items()}


def task_results(doc, name_part):
    out = {}
    for play in doc["plays"]:
        for task in play["tasks"]:
            if name_part in task["task"]["name"]:
                out.update(task["hosts"])
    return out


def node_state(node):
    """What we own on a node, read independently of the modules."""
    env = dict(os.environ, OVS_RUNDIR=OVS_RUNDIR.format(node=node))
    flows = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "--no-stats", "dump-flows", "br0", "table=100"],
                           capture_output=True, text=True, env=env, check=True).stdout
    nat = subprocess.run(["ip", "netns", "exec", "sdnlab-" + node, "iptables-save", "-t", "nat"],
                         capture_output=True, text=True, check=True).stdout
    addrs = subprocess.run(["ip", "netns", "exec", "sdnlab-" + node, "ip", "-o", "-4", "addr", "show"],
                           capture_output=True, text=True, check=True).stdout
    return {"flows": sorted(line.strip() for line in flows.splitlines() if COOKIE in line),
            "snat": sorted(line for line in nat.splitlines() if "sdn.egress" in line),
            "addrs": sorted(line.split()[3] for line in addrs.splitlines() if ":sdne" in line)}


def all_state():
    return {node: node_state(node) for node in ("master01", "router01", "router02")}


@pytest.fixture(scope="module")
def converged(lab):
    first = playbook("inventories/lab")
    assert first["rc"] == 0, first
    assert changed(first)["router01"] > 0
    second = playbook("inventories/lab")
    assert second["rc"] == 0 and set(changed(second).values()) == {0}, changed(second)
    # egress_skip_unchanged (default): every node's preflight found its flows, rules and addresses
    # as planned, so every node is settled: the phases are not included, their tasks (the prune
    # passes among them) not even evaluated (test_egress_skip_unchanged.py counts the rest)
    for task in ("Remove SNAT and REJECT rules", "Release egress addresses"):
        assert task_results(second, task) == {}, task_results(second, task)
    phase3 = task_results(second, "Phase 3 - prune")
    assert all(phase3[node].get("skipped") for node in ("master01", "router01", "router02")), phase3
    assert "egress_node_settled" in phase3["master01"]["false_condition"], phase3
    # without it: egress nodes whose phase 1 found nothing undeclared skip the prune passes;
    # master01 (no egress IPs, no phase 1) runs them
    every = playbook("inventories/lab", "-e", "egress_skip_unchanged=false")
    assert every["rc"] == 0 and set(changed(every).values()) == {0}, changed(every)
    for task in ("Remove SNAT and REJECT rules", "Release egress addresses"):
        ran = task_results(every, task)
        assert ran["router01"].get("skipped") and ran["router02"].get("skipped"), ran
        assert not ran["master01"].get("skipped"), ran
    return all_state()


def oc_dump():
    """`oc get netnamespace,hostsubnet -o json` as the lab's cluster would print it."""
    inv = os.path.join(ROOT, "inventories", "lab")
    namespaces = []
    for name in sorted(os.listdir(os.path.join(inv, "group_vars", "all"))):
        if name.startswith("netnamespace_"):
            ns = list(yaml.safe_load(open(os.path.join(inv, "group_vars", "all", name))).values())[0]
            namespaces.append((ns["name"], ns["netid"], ns["egress_ips"]))
    hostsubnets = []
    for host in ("master01", "router01", "router02"):
        hs = yaml.safe_load(open(os.path.join(inv, "host_vars", host + ".yml")))["egress_hostsubnet"]
        hostsubnets.append((host, hs["host_ip"], hs["subnet"], hs.get("egress_ips")))
    return oc_list(namespaces, hostsubnets)


def test_oc_json_dump_plans_the_same_cluster(converged, tmp_path):
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps(oc_dump()))
    doc = playbook("inventories/lab", "-e", "egress_source=oc_json", "-e", "egress_oc_json=%s" % path, check=True)
    assert doc["rc"] == 0, doc
    assert set(changed(doc).values()) == {0}, changed(doc)
    assert all_state() == converged


def test_live_api_source_plans_the_same_cluster_and_drives_a_change(converged):
    """egress_source=k8s: kubernetes.core.k8s_info lists NetNamespaces and HostSubnets from an
    API server (a read-only stand-in speaking the same HTTP, with a bearer token)."""
    token = "sdnlab-token-1"
    document = oc_dump()

    def k8s_args(api, key=token):
        return ["-e", "egress_source=k8s", "-e", "egress_k8s_host=%s" % api.url, "-e", "egress_k8s_api_key=%s" % key,
                "-e", "egress_k8s_validate_certs=false"]

    with FakeApi(document, token) as api:
        doc = playbook("inventories/lab", *k8s_args(api), check=True)
        assert doc["rc"] == 0, doc
        assert set(changed(doc).values()) == {0}, changed(doc)
        assert api.listed("netnamespaces") == 1 and api.listed("hostsubnets") == 1, api.requests
        assert token not in json.dumps(doc)  # the key is not logged

        wrong = playbook("inventories/lab", *k8s_args(api, "not-the-token"))
        assert wrong["rc"] != 0
        assert list(task_results(wrong, "Read NetNamespaces and HostSubnets").values())[0].get("failed")
        assert task_results(wrong, "Claim this node's egress addresses") == {}
    assert all_state() == converged

    # the API no longer has egress-test3: a real run prunes it, as with the other sources
    gone = dict(document, items=[item for item in document["items"] if item["metadata"]["name"] != "egress-test3"])
    with FakeApi(gone, token) as api:
        doc = playbook("inventories/lab", *k8s_args(api))
        assert doc["rc"] == 0, doc
    after = all_state()
    for node, state in after.items():
        assert not [r for r in state["snat"] if "egress-test3" in r], (node, state["snat"])
        assert not [f for f in state["flows"] if "0x2ec40e" in f], (node, state["flows"])
    assert "198.51.100.53/24" not in after["router02"]["addrs"]
    assert after["router01"] == dict(converged["router01"], flows=[
        f for f in converged["router01"]["flows"] if "0x2ec40e" not in f])
    back = playbook("inventories/lab")
    assert back["rc"] == 0
    assert all_state() == converged


def test_bad_intent_fails_listing_every_problem_before_any_change(converged):
    bad = json.dumps({
        "egress_netnamespace_zz_dup": {"name": "zz-dup", "netid": 16777216, "egress_ips": ["198.51.100.53"]},
        "egress_netnamespace_zz_node": {"name": "zz-node", "netid": 42, "egress_ips": ["192.0.2.12"]},
    })
    doc = playbook("inventories/lab", "-e", bad)
    assert doc["rc"] != 0
    plan = list(task_results(doc, "Plan every node").values())[0]
    msg = plan["msg"]
    assert "16777216" in msg and "198.51.100.53" in msg and "192.0.2.12" in msg, msg
    assert len(plan["problems"]) >= 3, plan["problems"]
    assert all_state() == converged


def test_drift_is_reported_by_check_mode_and_repaired(converged):
    env = dict(os.environ, OVS_RUNDIR=OVS_RUNDIR.format(node="master01"))
    subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "del-flows", "br0", "table=100,reg0=0x2ec40e,cookie=0x65677265/-1"],
                   check=True, env=env)
    subprocess.run(["ip", "netns", "exec", "sdnlab-router02", "iptables", "-t", "nat", "-D", "OPENSHIFT-MASQUERADE",
                    "-s", "10.128.0.0/14", "-m", "mark", "--mark", "0x2ec40e", "-m", "comment", "--comment",
                    "sdn.egress egress-test3", "-j", "SNAT", "--to-source", "198.51.100.53"], check=True)
    drifted = all_state()
    report = playbook("inventories/lab", check=True)
    assert report["rc"] == 0, report
    assert changed(report)["master01"] > 0 and changed(report)["router02"] > 0 and changed(report)["router01"] == 0
    flows = task_results(report, "Converge this node's owned")["master01"]
    assert "reg0=0x2ec40e" in flows["diff"]["after"] and "reg0=0x2ec40e" not in flows["diff"]["before"], flows["diff"]
    assert all_state() == drifted
    repair = playbook("inventories/lab")
    assert repair["rc"] == 0
    assert all_state() == converged


def test_deleted_namespace_is_pruned_everywhere_and_nothing_foreign_is_touched(converged, tmp_path):
    inv = tmp_path / "lab"
    shutil.copytree(os.path.join(ROOT, "inventories", "lab"), inv)
    os.remove(inv / "group_vars" / "all" / "netnamespace_egress-test3.yml")
    foreign = ["ip", "netns", "exec", "sdnlab-router02", "iptables", "-t", "nat", "-I", "OPENSHIFT-MASQUERADE",
               "-s", "10.128.0.0/14", "-m", "mark", "--mark", "0x777", "-j", "SNAT", "--to-source", "198.51.100.77"]
    subprocess.run(foreign, check=True)
    # the copied inventory must still find the lab's state directory
    for name in os.listdir(inv / "host_vars"):
        path = inv / "host_vars" / name
        path.write_text(path.read_text().replace("inventory_dir ~ '/../../.cache", "'%s/.cache" % ROOT))
    (inv / "hosts.yml").write_text((inv / "hosts.yml").read_text().replace(
        "{{ inventory_dir }}/../../.cache", "%s/.cache" % ROOT))
    doc = playbook(str(inv))
    assert doc["rc"] == 0, doc
    # router02's phase 1 reported egress-test3's rules and address as undeclared: its prune ran
    assert task_results(doc, "Remove SNAT and REJECT rules")["router02"]["changed"] is True
    assert task_results(doc, "Release egress addresses")["router02"]["changed"] is True
    assert task_results(doc, "Release egress addresses")["router01"].get("skipped")
    after = all_state()
    for node, state in after.items():
        assert not [f for f in state["flows"] if "0x2ec40e" in f], (node, state["flows"])
        assert not [r for r in state["snat"] if "egress-test3" in r], (node, state["snat"])
    assert "198.51.100.53/24" not in after["router02"]["addrs"]
    # other namespaces keep everything; egress-test3 only lost its tunnel flow on router01
    assert after["router01"]["snat"] == converged["router01"]["snat"]
    assert after["router01"]["addrs"] == converged["router01"]["addrs"]
    assert after["router01"]["flows"] == [f for f in converged["router01"]["flows"] if "0x2ec40e" not in f]
    nat = subprocess.run(["ip", "netns", "exec", "sdnlab-router02", "iptables-save", "-t", "nat"],
                         capture_output=True, text=True, check=True).stdout
    assert "--mark 0x777 -j SNAT --to-source 198.51.100.77" in nat
    # and back: the namespace file returns, the dataplane with it
    doc = playbook("inventories/lab")
    assert doc["rc"] == 0
    subprocess.run(foreign[:7] + ["-D"] + foreign[8:], check=True)
    assert all_state() == converged


def check(project):
    proc = subprocess.run(LAB + ["check", "--json", "--project", project], capture_output=True, text=True,
                          timeout=120, check=False)
    return [row for row in json.loads(proc.stdout)["rows"] if row["result"] != "SKIP"]


def test_run_failing_halfway_through_a_failover_leaks_nothing_and_the_next_run_converges(converged):
    """router01 dies; the run that fails egress-test over to router02 stops in phase 1 on
    router02 (a foreign flow sits where our mark flow must go). Until a run completes,
    egress-test gets no traffic out - never with a node IP - and the next run converges."""
    env = dict(os.environ, OVS_RUNDIR=OVS_RUNDIR.format(node="router02"))
    ofctl = ["ovs-ofctl", "-O", "OpenFlow13"]
    foreign = "cookie=0x99,table=100,priority=100,ip,reg0=0x6f7936,actions=drop"
    subprocess.run(ofctl + ["add-flow", "br0", foreign], check=True, env=env)
    subprocess.run(LAB + ["node-down", "router01"], check=True, capture_output=True, timeout=120)
    try:
        failed = playbook("inventories/lab")
        assert failed["rc"] != 0
        # the plan refuses it (router02's preflight read the flow), before any node changes
        planned = list(task_results(failed, "Plan every node's flows").values())
        assert len(planned) == 1 and planned[0].get("failed"), planned
        assert ("nodes[router02]: cookie=0x99, table=100, priority=100,ip,reg0=0x6f7936 actions=drop is a foreign "
                "flow with the table, priority and match of our flow for VNID 7305526") in planned[0]["msg"], planned
        assert task_results(failed, "Claim and announce") == {}  # phase 1 changed nothing
        assert task_results(failed, "Converge this node's owned") == {}  # phase 2 never started
        node_ips = {"192.0.2.11", "192.0.2.12", "192.0.2.13"}
        rows = check("egress-test")
        assert rows and all(row["seen"] is None for row in rows), rows  # dropped, not leaked
        assert not node_ips & {row["seen"] for row in rows}

        subprocess.run(ofctl + ["del-flows", "br0", "cookie=0x99/-1"], check=True, env=env)
        repaired = playbook("inventories/lab")
        assert repaired["rc"] == 0, repaired
        rows = check("egress-test")
        assert rows and all(row["seen"] == "192.0.2.52" for row in rows), rows
    finally:
        subprocess.run(LAB + ["node-up", "router01"], check=True, capture_output=True, timeout=120)
        subprocess.run(ofctl + ["del-flows", "br0", "cookie=0x99/-1"], check=False, env=env)
    back = playbook("inventories/lab")
    assert back["rc"] == 0
    assert all_state() == converged


def test_run_blocked_by_another_runs_lock_fails_and_holds_no_lock_itself(converged):
    """router01 is locked by another run: the run fails there before any change, and gives
    back the locks it took on the other nodes (its unlock runs wherever the node answered)."""
    lock_dir = os.path.join(ROOT, ".cache", "lab", "{node}", "sdn-egress.lock")
    adhoc = [os.path.join(BIN, "ansible"), "router01", "-i", "inventories/lab", "-m", "sdn.egress.egress_lock"]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"))
    path = os.path.realpath(lock_dir.format(node="router01"))
    subprocess.run(adhoc + ["-a", "token=someone-else path=%s" % path], check=True, capture_output=True,
                   env=env, cwd=ROOT, timeout=120)
    try:
        doc = playbook("inventories/lab", "-e", "egress_lock_timeout=1")
        assert doc["rc"] != 0
        stop = task_results(doc, "Stop when a node could not be locked")
        assert stop["router01"].get("failed") and "someone-else" in stop["router01"]["msg"], stop
        assert stop["router02"].get("skipped") and stop["master01"].get("skipped"), stop
        assert task_results(doc, "Gather node facts") == {}  # stopped before planning
        assert not os.path.exists(lock_dir.format(node="router02"))
        assert not os.path.exists(lock_dir.format(node="master01"))
        assert os.path.exists(path)  # the other run's lock is left alone
    finally:
        subprocess.run(adhoc + ["-a", "token=someone-else state=released path=%s" % path], check=True,
                       capture_output=True, env=env, cwd=ROOT, timeout=120)
    assert all_state() == converged


def test_no_node_answering_fails_the_run_instead_of_planning_every_node_down(converged):
    """Every node unreachable (their address points where nothing listens): a node that does
    not answer counts as down, but with none answering there is nothing to plan, and saying
    so beats a run that reports success having done nothing."""
    doc = playbook("inventories/lab", "-e", "ansible_host=203.0.113.250")
    assert doc["rc"] != 0
    lock = task_results(doc, "Lock the node against a concurrent run (first try")
    assert all(result.get("unreachable") for result in lock.values()) and len(lock) == 3, lock
    stop = task_results(doc, "Stop when no node answered")
    assert [result.get("failed") for result in stop.values()] == [True], stop
    assert "No node answered (master01, router01, router02)" in list(stop.values())[0]["msg"]
    assert task_results(doc, "Gather node facts") == {}
    assert all_state() == converged


def full_dump(node):
    """Everything a run could change on a node, read independently: every flow and group of br0,
    iptables-save of nat and filter (without counters), every IPv4 address."""
    env = dict(os.environ, OVS_RUNDIR=OVS_RUNDIR.format(node=node))
    ofctl = ["ovs-ofctl", "-O", "OpenFlow13", "--no-stats"]
    flows = subprocess.run(ofctl + ["dump-flows", "br0"], capture_output=True, text=True, env=env, check=True).stdout
    groups = subprocess.run(ofctl + ["dump-groups", "br0"], capture_output=True, text=True, env=env, check=True).stdout
    ns = ["ip", "netns", "exec", "sdnlab-" + node]
    tables = subprocess.run(ns + ["iptables-save"], capture_output=True, text=True, check=True).stdout
    addrs = subprocess.run(ns + ["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True).stdout
    return {"flows": sorted(line.strip() for line in flows.splitlines() if "actions=" in line),
            "groups": sorted(line.strip() for line in groups.splitlines() if "group_id=" in line),
            "iptables": [line.split(" [")[0] for line in tables.splitlines() if not line.startswith("#")],
            "addrs": sorted(" ".join(line.split()[1:4]) for line in addrs.splitlines())}


def test_foreign_snat_rule_shadowing_a_namespace_fails_the_run_before_any_change(converged):
    """A hand-made SNAT rule for egress-test3's mark above ours on router02 sends the namespace
    out with router02's node IP. The run fails by default before any node changes, naming the
    rule and the namespace; egress_snat_conflicts=remove deletes it and the declared IP is back."""
    rule = ["-s", "10.128.0.0/14", "-m", "mark", "--mark", "0x2ec40e", "-j", "SNAT", "--to-source", "192.0.2.13"]
    iptables = ["ip", "netns", "exec", "sdnlab-router02", "iptables", "-t", "nat"]
    subprocess.run(iptables + ["-I", "OPENSHIFT-MASQUERADE", "1"] + rule, check=True)
    try:
        rows = check("egress-test3")
        assert rows and all(row["seen"] == "192.0.2.13" for row in rows), rows  # the leak this is about
        # a change on another node that the run would make (drift): it must not happen either
        env = dict(os.environ, OVS_RUNDIR=OVS_RUNDIR.format(node="master01"))
        subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "del-flows", "br0",
                        "table=100,reg0=0x6f7936,cookie=0x65677265/-1"], check=True, env=env)
        before = {node: full_dump(node) for node in ("master01", "router01", "router02")}
        for check_mode in (True, False):
            failed = playbook("inventories/lab", check=check_mode)
            assert failed["rc"] != 0
            # the plan finds it in router02's preflight: nothing is applied anywhere
            found = list(task_results(failed, "Plan every node's flows").values())
            assert len(found) == 1 and found[0].get("failed"), found
            assert ("nodes[router02]: -A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x2ec40e -j SNAT "
                    "--to-source 192.0.2.13 is a foreign rule (position 1 of its chain) above our SNAT rules that "
                    "catches the packets of mark 0x2ec40e, VNID 3064846 (namespace egress-test3), first: same mark"
                    ) in found[0]["msg"], found[0]["msg"]
            assert task_results(failed, "Claim and announce") == {}
            assert {node: full_dump(node) for node in before} == before   # nothing changed anywhere
        # warn: the run goes on, the rule stays, and the end of the run says so (not silent)
        warned = playbook("inventories/lab", "-e", "egress_snat_conflicts=warn", check=True)
        assert warned["rc"] == 0, warned
        tasks = [task for play in warned["plays"] for task in play["tasks"]]
        report = list(tasks[-1]["hosts"].values())[0]
        assert any(w.startswith("nodes[router02]: -A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x2ec40e -j "
                                "SNAT --to-source 192.0.2.13 is a foreign rule") and w.endswith("left in place (warn)")
                   for w in report["warnings"]), report
        assert {node: full_dump(node) for node in before} == before   # check mode: still nothing changed
        fixed = playbook("inventories/lab", "-e", "egress_snat_conflicts=remove")
        assert fixed["rc"] == 0, fixed
        rows = check("egress-test3")
        assert rows and all(row["seen"] == "198.51.100.53" for row in rows), rows
        assert all_state() == converged
    finally:
        subprocess.run(iptables + ["-D", "OPENSHIFT-MASQUERADE"] + rule, check=False, capture_output=True)
