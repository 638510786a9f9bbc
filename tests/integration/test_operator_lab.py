# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an operator sees of a run of playbooks/egress.yml on the built-in lab: the summary at the
end (printed, and published as set_stats), the report files outside the collection with the
run's token, times and version; the same from the collection installed from its tarball.

The lab is one per machine: the module holds the lab lock file, builds the lab fresh and brings
it down at the end (do not wrap this file in flock: the fixture takes the lock itself).
"""
import json
import os
import subprocess

import labplay  # conftest puts this directory on the path
from labplay import BIN, ROOT, playbook_env

lab = labplay.lab_fixture()


def run(argv, state, callback="default", cwd=ROOT, collections=None, **env_extra):
    env = playbook_env(ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK=callback, ANSIBLE_SHOW_CUSTOM_STATS="1",
                       XDG_STATE_HOME=str(state), **env_extra)
    if collections:
        env["ANSIBLE_COLLECTIONS_PATH"] = collections
    return subprocess.run([os.path.join(BIN, "ansible-playbook")] + argv, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd, timeout=600, check=False)


def galaxy_version():
    with open(os.path.join(ROOT, "galaxy.yml")) as handle:
        return [line.split(":", 1)[1].strip() for line in handle if line.startswith("version:")][0]


def test_summary_is_printed_and_published_and_reports_are_the_users(lab, tmp_path):
    state = tmp_path / "state"
    proc = run([os.path.join(ROOT, "playbooks", "egress.yml"), "-i", "inventories/lab"], state)
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:]
    tail = out[out.rindex("TASK ["):out.index("PLAY RECAP")]
    assert "Write the run report and print the summary" in tail
    reports = state / "sdn.egress" / "reports"
    for line in ("namespace egress-test: ", "(active)", "node router01: changed - addresses claimed",
                 "report (markdown): %s" % (reports / "egress-report.md"),
                 "report (json): %s" % (reports / "egress-report.json")):
        assert line in tail, (line, tail)
    assert "run " in tail and "(converge)" in tail
    assert not os.path.exists(os.path.join(ROOT, "reports", "egress-report.json")) or \
        os.path.getmtime(os.path.join(ROOT, "reports", "egress-report.json")) < os.path.getmtime(
            str(reports / "egress-report.json"))  # the run wrote the user's directory, not the checkout's
    with open(str(reports / "egress-report.json")) as handle:
        report = json.load(handle)
    run_info = report["run"]
    assert run_info["collection_version"] == galaxy_version() and run_info["check_mode"] is False
    assert run_info["token"] and run_info["started"] <= run_info["finished"], run_info
    assert "Run: %s, " % run_info["token"] in (reports / "egress-report.md").read_text()

    # the json callback (what tools read): the same summary as the run's custom stats (set_stats)
    drift = run([os.path.join(ROOT, "playbooks", "egress.yml"), "-i", "inventories/lab", "--check", "--diff"],
                state, callback="json")
    assert drift.returncode == 0, drift.stdout[-4000:]
    doc = json.loads(drift.stdout)
    summary = doc["global_custom_stats"]["egress_summary"]
    assert summary["check_mode"] is True and summary["collection_version"] == galaxy_version()
    assert summary["run_token"] != run_info["token"]  # a run of its own
    assert {row["name"]: row["state"] for row in summary["namespaces"]}["egress-test"] == "active"
    active = [row for row in summary["namespaces"] if row["state"] == "active"]
    assert active and all(row["ips_in_use"] and row["nodes"] for row in active), summary
    assert set(summary["nodes"]) == {"master01", "router01", "router02"}
    assert not any(node["changed"] for node in summary["nodes"].values()), summary  # converged: no drift
    assert summary["reports"]["json"] == str(reports / "egress-report.json")
