# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the AWX job templates of playbooks/awx_setup.yml run, run the way AWX runs a job:
ansible-runner with a private_data_dir shaped like AWX's - the project checkout in project/,
the collections its project sync installed from collections/requirements.yml in
requirements_collections/, the inventory as an inventory script, the survey answers and the
credential type's extra vars in env/extravars, its env injectors in env/envvars, the machine
credential's key in env/ssh_key - against the lab, reading NetNamespaces/HostSubnets from an
API stand-in with the injected token. The summary is checked where AWX takes it from: the
playbook_on_stats event's artifact_data (what set_stats published, the job's artifacts).

The lab is one per machine: the module holds the lab lock file (do not wrap it in flock).
"""
import glob
import json
import os
import subprocess

import ansible_runner
import jinja2
import pytest
import yaml

from sdnlab.fakeapi import FakeApi  # conftest puts lab/ and this directory on the path

import labplay
from labplay import BIN, LAB, ROOT

TOKEN = "sdnlab-awx-token-7"


class AwxVarsLoader(yaml.SafeLoader):
    """Reads playbooks/vars/awx_objects.yml (its injector templates are tagged !unsafe)."""


AwxVarsLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def awx_objects():
    with open(os.path.join(ROOT, "playbooks", "vars", "awx_objects.yml")) as handle:
        return yaml.load(handle, Loader=AwxVarsLoader)  # nosec - our own file, a SafeLoader


lab = labplay.lab_fixture()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The project as AWX has it after a sync: the checkout, and requirements_collections from
    collections/requirements.yml (ansible-galaxy in the project directory, as AWX runs it;
    --offline with kubernetes.core already there, as in an EE: no Galaxy here)."""
    top = tmp_path_factory.mktemp("awx")
    checkout = top / "project"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout
    files = "\n".join(f for f in files.splitlines() if not f.startswith((".cache/", ".venv/")))
    subprocess.run(["rsync", "-a", "--files-from=-", "./", str(checkout)], input=files, text=True, cwd=ROOT,
                   check=True)
    collections = top / "requirements_collections"
    os.makedirs(str(collections / "ansible_collections"))
    for namespace in ("kubernetes", "ansible"):
        subprocess.run(["cp", "-rL", os.path.join(ROOT, ".cache", "collections", "ansible_collections", namespace),
                        str(collections / "ansible_collections")], check=True)
    proc = subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--offline", "-r",
                           "collections/requirements.yml", "--collections-path", str(collections)],
                          cwd=str(checkout), capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections)))
    assert proc.returncode == 0 and "sdn.egress:" in proc.stdout, proc.stdout + proc.stderr
    assert os.path.isfile(str(collections / "ansible_collections" / "sdn" / "egress" / "MANIFEST.json"))
    return top


def inventory_script(directory):
    """The lab inventory as AWX hands it to a job (an inventory script printing the imported
    JSON); paths the lab derives from inventory_dir are this machine's, the key comes from the
    machine credential (env/ssh_key)."""
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", os.path.join(ROOT, "inventories", "lab"),
                           "--list", "--export"], capture_output=True, text=True, check=True, timeout=120,
                          env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg")))
    text = proc.stdout.replace("inventory_dir ~ '/../../", "'%s/" % ROOT)
    data = json.loads(text)
    data["sdn_nodes"]["vars"].pop("ansible_ssh_private_key_file")
    os.makedirs(directory)
    path = os.path.join(directory, "hosts")
    with open(path, "w") as handle:
        handle.write("#!/bin/sh\ncat <<'INVENTORY'\n%s\nINVENTORY\n" % json.dumps(data))
    os.chmod(path, 0o700)


def job(top, name, api=None, survey=None):
    """Run job template ``name`` of awx_objects.yml as AWX would; (runner, stats artifact_data, stdout)."""
    objects = awx_objects()
    template = [t for t in objects["awx_job_templates"] if t["name"] == name][0]
    pdd = top / ("job-%d-%s" % (len(glob.glob(str(top / "job-*"))), name.replace(" ", "-").replace(".", "-")))
    os.makedirs(str(pdd / "env"))
    os.symlink(str(top / "project"), str(pdd / "project"))
    inventory_script(str(pdd / "inventory"))
    # the cluster credential is attached to the egress.yml templates only (awx_setup.yml)
    injectors = objects["awx_credential_type"]["injectors"] if api else {"env": {}, "extra_vars": {}}
    inputs = {"host": api.url if api else "", "api_key": TOKEN, "verify_ssl": False}

    def render(values):
        return {key: jinja2.Environment().from_string(value).render(**inputs) if isinstance(value, str) else value
                for key, value in values.items()}

    extravars = dict(render(injectors["extra_vars"]), **(survey or {}))
    envvars = dict(render(injectors["env"]),
                   ANSIBLE_COLLECTIONS_PATH=str(top / "requirements_collections"),
                   ANSIBLE_CONFIG=str(top / "project" / "ansible.cfg"), XDG_STATE_HOME=str(top / "home-state"),
                   PATH=BIN + os.pathsep + os.environ.get("PATH", ""))  # the EE's ansible-playbook: this venv's
    (pdd / "env" / "extravars").write_text(yaml.safe_dump(extravars))
    (pdd / "env" / "envvars").write_text(yaml.safe_dump(envvars))
    with open(os.path.join(ROOT, ".cache", "lab", "ssh", "id_ed25519")) as handle:
        (pdd / "env" / "ssh_key").write_text(handle.read())
    cmdline = (["--check"] if template["job_type"] == "check" else []) + (["--diff"] if template["diff_mode"] else [])
    runner = ansible_runner.run(private_data_dir=str(pdd), playbook=template["playbook"], cmdline=" ".join(cmdline),
                                ident="1", quiet=True, timeout=600)
    artifacts = pdd / "artifacts" / "1"
    stats = []
    for path in sorted(glob.glob(str(artifacts / "job_events" / "*.json"))):
        with open(path) as handle:
            event = json.load(handle)
        if event.get("event") == "playbook_on_stats":
            stats.append(event["event_data"].get("artifact_data"))
    stdout = (artifacts / "stdout").read_text()
    return runner, stats, stdout


def test_job_templates_run_through_ansible_runner_as_awx_runs_them(lab, project):
    with FakeApi(labplay.oc_dump(), TOKEN) as api:
        drift, stats, stdout = job(project, "sdn.egress drift report", api)
        assert drift.rc == 0 and drift.status == "successful", stdout[-4000:]
        assert api.listed("netnamespaces") == 1 and api.listed("hostsubnets") == 1, api.requests  # the injected token
        assert len(stats) == 1, stats
        summary = stats[0]["egress_summary"]  # the job's artifacts: what a workflow's next node receives
        assert summary["check_mode"] is True and summary["run_token"]
        assert summary["nodes"]["router01"]["changed"] is True, summary  # a fresh lab: all would change
        assert {row["name"] for row in summary["namespaces"]} >= {"egress-test", "egress-test2", "egress-test3"}
        assert summary["reports"]["json"].startswith(str(project / "home-state" / "sdn.egress" / "reports"))
        assert "namespace egress-test: " in stdout and "would change" in stdout  # printed in the job output
        events = glob.glob(str(project / "job-*" / "artifacts" / "1" / "job_events" / "*.json"))
        assert TOKEN not in stdout and not [p for p in events if TOKEN in open(p).read()]

        converge, stats, stdout = job(project, "sdn.egress converge", api)
        assert converge.rc == 0, stdout[-4000:]
        summary = stats[0]["egress_summary"]
        assert summary["check_mode"] is False and summary["nodes"]["router01"]["changed"] is True
        active = [row for row in summary["namespaces"] if row["state"] == "active"]
        assert active and all(row["ips_in_use"] and row["nodes"] for row in active), summary

        again, stats, stdout = job(project, "sdn.egress drift report", api)
        assert again.rc == 0, stdout[-4000:]
        assert not any(node["changed"] for node in stats[0]["egress_summary"]["nodes"].values()), stats

    check = subprocess.run(LAB + ["check", "--json"], capture_output=True, text=True, timeout=300, check=False)
    assert json.loads(check.stdout)["ok"], check.stdout[-3000:]  # real traffic leaves with the egress IPs

    # the survey's answer is the extra var unlock.yml asks for; no run holds that token: nothing released
    unlock, stats, stdout = job(project, "sdn.egress unlock", survey={"egress_unlock_token": "20261127T223041-1"})
    assert unlock.rc == 0 and unlock.status == "successful", stdout[-4000:]
    assert "changed=0" in stdout and "failed=0" in stdout, stdout[-2000:]
