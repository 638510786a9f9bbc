# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the lab test files share: the lab fixture, ansible-playbook with the json callback,
reading its result, and reading a lab node with the tools themselves.

The lab (lab/lab.py, fixed names sdnlab-*) is one per machine: `lab_fixture()` holds the lab
lock file for the whole module (so such files are run directly, never under `flock` of the same
file), builds the lab fresh and brings it down at the end. The OVN lab's files hold the OVN
lab's own lock file the same way (`lock=OVNLAB_LOCK`).
conftest.py puts this directory and lab/ on the path.
"""
import fcntl
import json
import os
import subprocess
import sys

import pytest
import yaml

from sdnlab.ocdump import oc_list

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.dirname(sys.executable)
LAB = [sys.executable, os.path.join(ROOT, "lab", "lab.py")]
OVNLAB = [sys.executable, os.path.join(ROOT, "lab", "ovnlab.py")]
LOCK = "/tmp/sdnlab-dev.lock"
OVNLAB_LOCK = "/tmp/ovnlab-dev.lock"
OVS_RUNDIR = os.path.join(ROOT, ".cache", "lab", "{node}", "ovs")
COOKIE = "cookie=0x65677265"
NODES = ("master01", "router01", "router02")


def lab_cli(*args, lab=None, check_rc=False, timeout=300):
    """lab/lab.py (or `lab`, e.g. OVNLAB) with ``args``; with check_rc a failure raises
    AssertionError naming the command and its output."""
    argv = list(lab or LAB)
    proc = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=timeout, check=False)
    if check_rc and proc.returncode != 0:
        raise AssertionError("%s %s rc=%d\n%s%s" % (os.path.basename(argv[-1]), " ".join(args), proc.returncode,
                                                    proc.stdout, proc.stderr))
    return proc


def lab_fixture(*up_args, lab=None, lock=LOCK, before_down=(), check_down=False, name="lab"):
    """A module-scoped fixture `name`: under `lock` (None: none taken), `up --rebuild *up_args`,
    then at the end each command of `before_down` (argument tuples, e.g. ("node-up", "router01");
    a failure is ignored) and `down` (a failure of which fails the teardown with check_down)."""

    def run():
        lab_cli("up", "--rebuild", *up_args, lab=lab, check_rc=True)
        try:
            yield
        finally:
            for args in before_down:
                lab_cli(*args, lab=lab, timeout=60)
            lab_cli("down", lab=lab, check_rc=check_down)

    @pytest.fixture(scope="module", name=name)
    def fixture():
        if lock is None:
            yield from run()
            return
        with open(lock, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield from run()

    return fixture


def playbook_env(**extra):
    """The environment of an ansible-playbook run of this checkout (json callback unless `extra`
    says otherwise)."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"))
    env.update(extra)
    return env


def playbook(*args, inventory="inventories/lab", play="egress.yml", check=False, diff=None, env=None):
    """ansible-playbook playbooks/`play` -i `inventory` [--check] [--diff] *args with the json
    callback, from the checkout; its document with "rc" added. diff follows check unless given."""
    argv = [os.path.join(BIN, "ansible-playbook"), os.path.join(ROOT, "playbooks", play), "-i", inventory]
    argv += ["--check"] if check else []
    argv += ["--diff"] if (check if diff is None else diff) else []
    proc = subprocess.run(argv + list(args), capture_output=True, text=True, env=playbook_env(**(env or {})),
                          cwd=ROOT, timeout=600, check=False)
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("no JSON from ansible-playbook (rc=%d):\n%s\n%s"
                             % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    doc["rc"] = proc.returncode
    return doc


def changed(doc, exclude=()):
    """{host: changed count} of a run's stats, hosts in `exclude` left out."""
    return {host: stats["changed"] for host, stats in doc["stats"].items() if host not in exclude}


def task_results(doc, name_part):
    """{host: result} of every task whose name contains `name_part`."""
    out = {}
    for play in doc["plays"]:
        for task in play["tasks"]:
            if name_part in task["task"]["name"]:
                out.update(task["hosts"])
    return out


def ovs(node, *argv):
    """An OVS tool's stdout against a lab node's OVS."""
    env = dict(os.environ, OVS_RUNDIR=OVS_RUNDIR.format(node=node))
    return subprocess.run(list(argv), capture_output=True, text=True, env=env, check=True).stdout


def in_node(node, *argv):
    """A command's stdout inside a lab node's namespace (sdnlab-<node>)."""
    return subprocess.run(["ip", "netns", "exec", "sdnlab-" + node] + list(argv), capture_output=True, text=True,
                          check=True).stdout


def egress_addresses(node):
    """The addresses we claimed on a node (label :sdne...), as ip -o prints them (with prefix)."""
    out = in_node(node, "ip", "-o", "-4", "addr", "show")
    return sorted(line.split()[3] for line in out.splitlines() if ":sdne" in line)


def oc_dump():
    """`oc get netnamespace,hostsubnet -o json` as the lab's cluster would print it."""
    inv = os.path.join(ROOT, "inventories", "lab")
    namespaces = []
    for name in sorted(os.listdir(os.path.join(inv, "group_vars", "all"))):
        if name.startswith("netnamespace_"):
            with open(os.path.join(inv, "group_vars", "all", name)) as handle:
                ns = list(yaml.safe_load(handle).values())[0]
            namespaces.append((ns["name"], ns["netid"], ns["egress_ips"]))
    hostsubnets = []
    for host in NODES:
        with open(os.path.join(inv, "host_vars", host + ".yml")) as handle:
            hs = yaml.safe_load(handle)["egress_hostsubnet"]
        hostsubnets.append((host, hs["host_ip"], hs["subnet"], hs.get("egress_ips")))
    return oc_list(namespaces, hostsubnets)
