# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The execution environment definition: `ansible-builder create` makes a build context with
what the controller side needs (pinned base image and ansible-core, sdn.egress from the tarball,
kubernetes.core, netaddr, kubernetes, graphviz) and no node package; an EE that includes
sdn.egress inherits only that (`ansible-builder introspect`). Building the image needs the base
image from its registry, which these machines cannot reach (see docs/awx.md)."""
import os
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.dirname(sys.executable)
NODE_PACKAGES = ("openvswitch", "iptables", "iproute", "openssh", "python3-netaddr")


def sh(argv, **kwargs):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600, **kwargs)
    assert proc.returncode == 0, (argv, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    top = tmp_path_factory.mktemp("ee")
    sh([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(top / "build"),
        ROOT])
    built = [p for p in (top / "build").iterdir() if p.name.endswith(".tar.gz")][0]
    return top, built


def test_builder_create_makes_the_controller_side_context(tarball):
    top, built = tarball
    # the layout `make ee` gives: the definition beside build/sdn-egress.tar.gz
    shutil.copy(os.path.join(ROOT, "execution-environment.yml"), str(top / "execution-environment.yml"))
    shutil.copy(str(built), str(top / "build" / "sdn-egress.tar.gz"))
    sh([os.path.join(BIN, "ansible-builder"), "create", "-f", "execution-environment.yml", "-c", "context",
        "--output-filename", "Containerfile"], cwd=str(top))
    context = top / "context"
    containerfile = (context / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="quay.io/ansible/awx-ee:24.6.1"' in containerfile  # an exact tag, not latest
    assert "ansible-core==2.19.14 ansible-runner==2.4.3" in containerfile
    assert "COPY _build/collections/ /build/collections/" in containerfile
    assert containerfile.index("COPY _build/collections/") < containerfile.index("ansible-galaxy collection install")
    assert (context / "_build" / "collections" / "sdn-egress.tar.gz").read_bytes() == built.read_bytes()
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert [c["name"] for c in galaxy["collections"]] == ["collections/sdn-egress.tar.gz", "kubernetes.core"]
    python = (context / "_build" / "requirements.txt").read_text().split()
    assert sorted(python) == ["kubernetes==37.0.2", "netaddr==1.3.0"]
    system = (context / "_build" / "bindep.txt").read_text()
    assert "graphviz" in system
    assert not [p for p in NODE_PACKAGES if p in system.lower() or p in containerfile.lower()]


def test_an_ee_including_sdn_egress_inherits_no_node_package(tarball, tmp_path):
    top, built = tarball
    path = tmp_path / "collections"
    sh([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--force", "--no-deps", "-p", str(path),
        str(built)], env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(path)))
    proc = sh([os.path.join(BIN, "ansible-builder"), "introspect", str(path)])
    doc = yaml.safe_load(proc.stdout)
    python = list(doc["python"])
    system = list(doc["system"])
    assert python == ["netaddr>=0.10.1  # from collection sdn.egress", "kubernetes>=24.2.0  # from collection sdn.egress"], doc
    assert system == ["graphviz [platform:rpm platform:dpkg]  # from collection sdn.egress"], doc
    assert not [p for p in NODE_PACKAGES if p in proc.stdout.lower()], proc.stdout
