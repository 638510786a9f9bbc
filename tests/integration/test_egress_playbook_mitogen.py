# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/egress.yml against the built-in lab under the Mitogen strategy (optional: PyPI
`mitogen`, README "Connection settings and the Mitogen strategy"); skipped when it is not
installed.

A cold converge under mitogen_linear, then a warm run under it and one with Ansible's own
strategy find nothing to change (the end state is the one the default strategy converges to),
and `--check --diff` under mitogen changes nothing. Each node's interpreter wrapper counts its
starts: under Mitogen one per node for the whole run (the point of it), under the default
strategy one per module run.

Holds the lab lock for the whole module (labplay.lab_fixture; do not wrap it in flock).
"""
import importlib.util
import os

import pytest

import labplay

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ansible_mitogen") is None,
                                reason="the optional mitogen package is not installed")

lab = labplay.lab_fixture()


def mitogen_env():
    spec = importlib.util.find_spec("ansible_mitogen")
    return {"ANSIBLE_STRATEGY_PLUGINS": os.path.join(os.path.dirname(spec.origin), "plugins", "strategy"),
            "ANSIBLE_STRATEGY": "mitogen_linear"}


@pytest.fixture
def counted(tmp_path):
    """(extra args naming an interpreter wrapper that logs each start, reader of the count)."""
    log = tmp_path / "starts"
    wrapper = tmp_path / "python3"
    wrapper.write_text('#!/bin/sh\necho start >>%s\nexec /usr/bin/python3 "$@"\n' % log)
    wrapper.chmod(0o755)

    def starts():
        return len(log.read_text().splitlines()) if log.exists() else 0
    return ["-e", "ansible_python_interpreter=%s" % wrapper], starts


def test_converge_warm_and_check_under_mitogen(lab, counted):
    args, starts = counted
    cold = labplay.playbook(*args, env=mitogen_env())
    assert cold["rc"] == 0, cold
    assert labplay.changed(cold)["router01"] > 0
    # one interpreter per node for the whole run (the inventory's three nodes)
    assert 0 < starts() <= len(labplay.NODES), starts()
    assert labplay.egress_addresses("router01"), "router01 claimed nothing"
    state = {node: (labplay.egress_addresses(node), labplay.ovs(node, "ovs-ofctl", "-O", "OpenFlow13",
                                                                "--no-stats", "dump-flows", "br0"))
             for node in labplay.NODES}

    warm = labplay.playbook(env=mitogen_env())
    assert warm["rc"] == 0 and set(labplay.changed(warm).values()) == {0}, labplay.changed(warm)

    check = labplay.playbook(check=True, env=mitogen_env())
    assert check["rc"] == 0 and set(labplay.changed(check).values()) == {0}, labplay.changed(check)

    before = starts()
    default = labplay.playbook(*args)                  # Ansible's linear strategy
    assert default["rc"] == 0 and set(labplay.changed(default).values()) == {0}, labplay.changed(default)
    assert starts() - before > len(labplay.NODES)      # one start per module run without Mitogen
    after = {node: (labplay.egress_addresses(node), labplay.ovs(node, "ovs-ofctl", "-O", "OpenFlow13",
                                                                "--no-stats", "dump-flows", "br0"))
             for node in labplay.NODES}
    assert after == state
