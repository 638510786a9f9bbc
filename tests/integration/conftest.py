"""Fixtures for integration tests: real namespaces, real Open vSwitch, real ansible-playbook runs.

- `make_netns(suffix)` creates a network namespace (deleted at teardown); `netns` is one of them.
  Each has `.name`, `.run(argv)`, and `.python`, an interpreter wrapper that runs the module
  inside the namespace (use it as ansible_python_interpreter).
- `ovs` starts ovsdb-server + ovs-vswitchd inside `netns` with br0 laid out as openshift-sdn
  (vxlan0 = ofport 1, tun0 = ofport 2); `.rundir`, `.bridge`, `.ofctl()`, `.vsctl()`.
- `ansible(tasks, check=False, diff=False, extra_vars=None, netns=None)` runs a one-play
  playbook on localhost (inside `netns` when given) and returns a `PlaybookResult`.
"""
import itertools
import json
import os
import subprocess
import sys
import tempfile

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "lab"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # labplay, what the lab test files share

from sdnlab.netns import Netns  # noqa: E402
from sdnlab.ovs import Ovs  # noqa: E402

_counter = itertools.count()


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="integration tests need root (network namespaces)")
        for item in items:
            item.add_marker(skip)


@pytest.fixture
def workdir(tmp_path):
    return str(tmp_path)


@pytest.fixture
def make_netns(workdir):
    made = []

    def make(suffix="n"):
        # names are short (interface-name limits elsewhere) and unique per xdist worker
        worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
        name = "sdnt-%s%s-%d-%s" % (worker[-2:], os.getpid() % 1000, next(_counter), suffix)
        ns = Netns(name, os.path.join(workdir, name), sys.executable).create()
        made.append(ns)
        return ns

    yield make
    for ns in reversed(made):
        ns.delete()


@pytest.fixture
def netns(make_netns):
    return make_netns("a")


@pytest.fixture
def ovs(netns, workdir):
    instance = Ovs(netns, os.path.join(workdir, "ovs")).start()
    instance.bridge = instance.add_sdn_bridge()
    yield instance
    instance.stop()


class PlaybookResult:
    """Parsed output of the json stdout callback for a one-host, one-play run."""

    def __init__(self, proc):
        self.rc = proc.returncode
        self.output = proc.stdout + proc.stderr
        try:
            doc = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError("ansible-playbook printed no JSON:\n%s" % self.output)
        self.results = []
        for play in doc.get("plays", []):
            for task in play["tasks"]:
                for res in task["hosts"].values():
                    res = dict(res)
                    res.setdefault("task", task["task"]["name"])
                    self.results.append(res)
        self.stats = doc.get("stats", {})

    @property
    def changed(self):
        return any(r.get("changed") for r in self.results)

    @property
    def failed(self):
        return [r for r in self.results if r.get("failed")]

    @property
    def last(self):
        return self.results[-1]

    def __repr__(self):
        return "PlaybookResult(rc=%d, results=%s)" % (self.rc, json.dumps(self.results, indent=1)[:4000])


def run_playbook(workdir, path, extra_vars=(), check=False, diff=False, timeout=600):
    """ansible-playbook on localhost (local connection, json callback) -> PlaybookResult.

    ``extra_vars``: each item is one ``-e`` (a string as given, anything else as JSON)."""
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
            "-i", "localhost,", "-c", "local", path]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    for item in extra_vars:
        argv += ["-e", item if isinstance(item, str) else json.dumps(item)]
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"),
               ANSIBLE_LOCAL_TEMP=os.path.join(workdir, "ansible-local"),
               ANSIBLE_REMOTE_TEMP=os.path.join(workdir, "ansible-remote"))
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout, check=False)
    return PlaybookResult(proc)


@pytest.fixture
def ansible(workdir):
    def play(tasks, check=False, diff=False, extra_vars=None, netns=None, play_vars=None):
        if isinstance(tasks, str):
            tasks = yaml.safe_load(tasks)
        pvars = {"ansible_python_interpreter": netns.python if netns else sys.executable}
        pvars.update(play_vars or {})
        book = [{"hosts": "localhost", "gather_facts": False, "vars": pvars, "tasks": tasks}]
        fd, path = tempfile.mkstemp(suffix=".yml", dir=workdir)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(book, f)
        return run_playbook(workdir, path, [extra_vars] if extra_vars else (), check=check, diff=diff)

    return play


@pytest.fixture
def playbook(workdir):
    """Run one of the collection's playbook files on localhost: playbook(name, *extra_vars, check=False)."""
    def play(name, *extra_vars, check=False):
        defaults = {"egress_hosts": "localhost", "ansible_python_interpreter": sys.executable}
        return run_playbook(workdir, os.path.join(ROOT, "playbooks", name), (defaults,) + extra_vars,
                            check=check, timeout=300)

    return play
