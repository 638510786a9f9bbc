# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection as users get it: the tarball `make build` makes, installed with
ansible-galaxy into an empty collections path. It ships only tests that run from it, its main
playbook is addressed as sdn.egress.egress, and its reports land outside the collection.
No lab, no root: the report role runs on localhost from a plan given as a variable."""
import json
import os
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.dirname(sys.executable)
DEPS = os.path.join(ROOT, ".cache", "collections")


def sh(argv, **kwargs):
    kwargs.setdefault("timeout", 600)
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    assert proc.returncode == 0, (argv, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(tarball, collections path holding only sdn.egress, the collection's directory)."""
    top = tmp_path_factory.mktemp("tarball")
    sh([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(top / "build"),
        ROOT], cwd=ROOT)
    tarball = [str(p) for p in (top / "build").iterdir() if p.name.endswith(".tar.gz")][0]
    path = top / "collections"
    # --no-deps: kubernetes.core (galaxy.yml dependencies) comes from the checkout's path below
    # --force: a copy a user installed elsewhere (~/.ansible/collections) must not stop this one
    sh([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--force", "--no-deps", "-p", str(path),
        tarball], cwd=str(top), env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(path)))
    config = top / "ansible.cfg"  # a user's: none of the checkout's settings
    config.write_text("[defaults]\n")
    return tarball, str(path), str(path / "ansible_collections" / "sdn" / "egress"), str(config)


def env_for(installed, **extra):
    # the installed copy first: it wins over the checkout that DEPS also holds
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH="%s:%s" % (installed[1], DEPS), ANSIBLE_NOCOLOR="1",
                ANSIBLE_CONFIG=installed[3], **extra)


def test_tarball_ships_no_lab_bench_or_integration_tests(installed):
    with tarfile.open(installed[0]) as tar:
        names = tar.getnames()
    assert "MANIFEST.json" in names and "playbooks/egress.yml" in names and "tests/unit/conftest.py" in names
    for prefix in ("lab/", "bench/", "tests/integration/", "molecule/", "inventories/lab/", ".cache/", "build/",
                   ".pytest_cache/", "reports/", "tests/unit/test_bench_analysis.py"):
        assert not [name for name in names if name.startswith(prefix)], prefix


def test_shipped_unit_tests_run_from_the_installed_collection(installed, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit"],
                          cwd=installed[2], capture_output=True, text=True, timeout=600, check=False,
                          env=env_for(installed))
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert " passed" in proc.stdout and "error" not in proc.stdout.splitlines()[-1], proc.stdout[-2000:]


def test_playbook_is_addressed_by_its_collection_name(installed, tmp_path):
    for name in ("sdn.egress.egress", "sdn.egress.unlock"):
        proc = sh([os.path.join(BIN, "ansible-playbook"), name, "--syntax-check", "-i", "localhost,"],
                  cwd=str(tmp_path), env=env_for(installed))
        assert "playbook: %s" % name in proc.stdout or proc.returncode == 0
    where = sh([os.path.join(BIN, "ansible-doc"), "-t", "filter", "--json", "sdn.egress.vnid_to_hex"],
               cwd=str(tmp_path), env=env_for(installed)).stdout
    assert json.loads(where)["sdn.egress.vnid_to_hex"]["doc"]["filename"].startswith(installed[2])


def test_reports_of_the_installed_collection_land_outside_it(installed, tmp_path):
    """The report role of the installed collection, its default egress_report_dir: the user's
    state directory, not the collection, the playbook's directory or the current directory."""
    plan = {"plan": {"namespaces": [{"name": "ns-a", "netid": 10, "mark": "0xa", "egress_ips": ["192.0.2.5"],
                                     "active_ip": "192.0.2.5", "node": "node-a", "state": "active"}]}}
    book = tmp_path / "play" / "report.yml"
    book.parent.mkdir()
    book.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False,
                                     "vars": {"egress_plan": plan, "egress_run_token": "tok-1"},
                                     "tasks": [{"name": "Report", "ansible.builtin.include_role": {
                                         "name": "sdn.egress.egress_report"}}]}]))
    state = tmp_path / "state"
    proc = sh([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", str(book)],
              cwd=str(tmp_path), env=env_for(installed, XDG_STATE_HOME=str(state), ANSIBLE_STDOUT_CALLBACK="default"))
    reports = state / "sdn.egress" / "reports"
    assert "namespace ns-a: 192.0.2.5 on node-a (active)" in proc.stdout, proc.stdout
    assert "report (json): %s" % (reports / "egress-report.json") in proc.stdout
    with open(str(reports / "egress-report.json")) as handle:
        run = json.load(handle)["run"]
    with open(os.path.join(installed[2], "MANIFEST.json")) as handle:
        assert run["collection_version"] == json.load(handle)["collection_info"]["version"]
    assert run["token"] == "tok-1"
    for place in (installed[1], str(book.parent), str(tmp_path)):
        found = [os.path.join(d, f) for d, dummy, files in os.walk(place) for f in files if f.startswith("egress-report")]
        assert all(path.startswith(str(reports)) for path in found), found
