# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/egress.yml against the built-in lab: an egress IP another host on the node's network
already answers for stops the run before any change (issue 18).

An extra host (namespace sdnlab-intruder, one veth into the lab switch's `egress` bridge, the
network of the routers' eth1) holds 198.51.100.51, namespace egress-test2's egress IP on
router01. On a fresh lab every egress IP is new, so every egress node probes. The run (and a
--check run) fails naming the IP, the intruder's MAC, router01 and egress-test2; full dumps of
every node are equal before and after. Once the intruder lets the address go, the claim goes
through, and a second run probes nothing (warm run).

Holds the lab lock for the whole module (its fixture takes it; do not wrap it in flock), builds
the lab fresh and brings it down at the end.
"""
import fcntl
import importlib.util
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# the dump and playbook helpers of the preflight lab test (loaded as a module: its tests are not
# collected again here)
_SPEC = importlib.util.spec_from_file_location(
    "egress_preflight_lab_helpers", os.path.join(os.path.dirname(__file__), "test_egress_playbook_preflight.py"))
pre = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(pre)
LAB = [sys.executable, os.path.join(ROOT, "lab", "lab.py")]
LOCK = "/tmp/sdnlab-dev.lock"
INTRUDER = "sdnlab-intruder"   # a lab name: `lab.py down` deletes it as well
EGRESS_IP = "198.51.100.51"    # egress-test2's, claimed by router01 on eth1
PROBE_TASK = "Probe for other holders"


@pytest.fixture(scope="module")
def lab():
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(LAB + ["up", "--rebuild"], check=True, capture_output=True, timeout=300)
        try:
            yield
        finally:
            subprocess.run(["ip", "netns", "del", INTRUDER], check=False, capture_output=True)
            subprocess.run(LAB + ["down"], check=False, capture_output=True, timeout=300)


def ip(*argv, ns=INTRUDER):
    return subprocess.run(["ip", "-n", ns] + list(argv), check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def intruder(lab):
    """A host on the egress bridge holding EGRESS_IP; returns its MAC."""
    subprocess.run(["ip", "netns", "add", INTRUDER], check=True)
    ip("link", "add", "eth0", "type", "veth", "peer", "name", "xin", "netns", "sdnlab-sw")
    ip("link", "set", "xin", "master", "egress", ns="sdnlab-sw")
    ip("link", "set", "xin", "up", ns="sdnlab-sw")
    ip("addr", "add", EGRESS_IP + "/24", "dev", "eth0")
    ip("link", "set", "eth0", "up")
    return json.loads(ip("-j", "link", "show", "eth0"))[0]["address"]


def probe_results(doc):
    return pre.task_results(doc, PROBE_TASK)


def test_an_address_another_host_answers_for_fails_the_run_before_any_change(intruder):
    before = pre.all_dumps()
    assert not [a for a in before["router01"]["addrs"] if a[2].startswith(EGRESS_IP + "/")]
    for args in ((), ("--check",)):
        doc = pre.playbook("inventories/lab", *args)
        assert doc["rc"] != 0, args
        probes = probe_results(doc)
        failed = probes["router01"]
        assert failed.get("failed"), failed
        assert failed["msg"] == (
            "%s (egress IP of namespace egress-test2) is in use by another host: MAC %s sent an ARP reply for it "
            "while node router01 probed on eth1; nothing was claimed" % (EGRESS_IP, intruder)), failed["msg"]
        assert failed["conflicts"] == [{"address": EGRESS_IP, "interface": "eth1", "mac": intruder, "op": "reply",
                                        "owners": ["egress-test2"]}]
        # router02 probed its own new addresses and found nobody; master01 claims nothing
        assert not probes["router02"].get("failed") and probes["router02"]["conflicts"] == []
        assert probes["master01"].get("skipped"), probes["master01"]
        assert pre.task_results(doc, "Claim this node's egress addresses") == {}
        assert pre.task_results(doc, "SNAT this node's egress traffic") == {}
        assert pre.task_results(doc, "Converge this node's owned") == {}
        pre.assert_unchanged(before)


def test_the_freed_address_is_claimed_and_a_warm_run_probes_nothing(intruder):
    ip("addr", "del", EGRESS_IP + "/24", "dev", "eth0")
    doc = pre.playbook("inventories/lab")
    assert doc["rc"] == 0, [r.get("msg") for r in probe_results(doc).values()]
    probes = probe_results(doc)
    assert EGRESS_IP in [p["address"] for p in probes["router01"]["probed"]]
    assert probes["router01"]["conflicts"] == [] and probes["router01"]["seconds"] < 6
    after = pre.full_dump("router01")
    assert [a for a in after["addrs"] if a[2] == EGRESS_IP + "/24"], after["addrs"]
    warm = pre.playbook("inventories/lab")
    assert warm["rc"] == 0
    assert all(r.get("skipped") for r in probe_results(warm).values()), probe_results(warm)
    assert set(s["changed"] for s in warm["stats"].values()) == {0}, warm["stats"]
