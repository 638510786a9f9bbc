"""playbooks/egress_service.yml against the OVN lab (real OVN NB/SB/northd/ovn-controller,
userspace OVS, Geneve) with real traffic to the echo server.

Converge -> every EgressService endpoint leaves with its LB IP (also from a node that does not
hold the service: rerouted over Geneve), the pod of a service without EgressService with its node
IP; a second run changes nothing; a check-mode run after a holder failure reports changes and
writes none; the holder taken away (NotReady) -> re-converge moves the service and traffic leaves
via the new holder, and the node coming back does not move it again (stable); no eligible node ->
endpoints leave with their node IPs by default, and get nothing with egress_service_fail_closed.
The nftables-era backend (egress_service_snat_backend=nftables) converges and answers the same.

The OVN lab is one per machine: the module holds /tmp/ovnlab-dev.lock while it uses it.
"""
import json
import os
import subprocess

from ovnlab import cluster  # conftest puts lab/ and this directory on the path
from ovnlab import topology as topo

import labplay
from labplay import BIN, OVNLAB

ROOT = topo.REPO_ROOT
INVENTORY = os.path.join(ROOT, "inventories", "ovnlab")
PLAYBOOK = [os.path.join(BIN, "ansible-playbook"), os.path.join(ROOT, "playbooks", "egress_service.yml"), "-i", INVENTORY]
ENV = labplay.playbook_env()

lab = labplay.lab_fixture(lab=OVNLAB, lock=labplay.OVNLAB_LOCK, check_down=True)


def lab_cli(*args, check_rc=True):
    return labplay.lab_cli(*args, lab=OVNLAB, check_rc=check_rc)


def converge(*extra, check=False):
    doc = labplay.playbook(*extra, play="egress_service.yml", inventory=INVENTORY, check=check, diff=False)
    assert doc["rc"] == 0, json.dumps(doc)[-6000:]
    changed = sum(h.get("changed", 0) for h in doc["stats"].values())
    plan = next(r for play in doc["plays"] for t in play["tasks"] for h, r in t["hosts"].items()
                if t["task"]["name"] == "Plan (validate, choose holders, render)")
    return changed, {s["service"]: s for s in plan["services"]}


def seen(fail_closed=False):
    proc = lab_cli("check", "--json", *(["--fail-closed"] if fail_closed else []), check_rc=False)
    rows = json.loads(proc.stdout)
    return proc.returncode, {r["pod"]: r for r in rows}


def nb_policies():
    return cluster.nbctl("lr-policy-list", topo.ROUTER)


def test_converge_traffic_idempotence_failover_fail_closed(lab):
    changed, plan = converge()
    assert changed > 0
    holder = plan["shop/web"]["host"]
    assert plan["bank/api"]["host"] == "node2"               # ETP Local: the endpoint's node
    rc, rows = seen()
    assert rc == 0, rows
    assert rows["web-a"]["seen"] == rows["web-b"]["seen"] == "198.51.100.113"
    assert rows["api-a"]["seen"] == "198.51.100.114"
    assert rows["app-a"]["seen"] == topo.NODE_BY_NAME["node1"].host_ip
    listing = nb_policies()
    assert "ip4.src == 10.131.1.10" in listing and "pkt_mark=1008" in listing

    changed, plan2 = converge()
    assert changed == 0 and plan2["shop/web"]["host"] == holder

    # the holder goes away: check mode tells and changes nothing
    lab_cli("node-down", holder)
    before = nb_policies()
    changed, plan3 = converge(check=True)
    assert changed > 0 and plan3["shop/web"]["host"] not in (holder, None)
    assert nb_policies() == before
    changed, plan3 = converge()
    new = plan3["shop/web"]["host"]
    assert plan3["shop/web"]["state"] == "moved" and new != holder
    rc, rows = seen()
    assert rc == 0 and rows["web-a"]["seen"] == "198.51.100.113", rows
    assert cluster.holders()["shop/web"] == new
    lab_cli("node-up", holder)
    changed, plan4 = converge()
    assert plan4["shop/web"]["host"] == new and plan4["shop/web"]["state"] == "kept"

    # no eligible node for either service: node IPs by default ...
    lab_cli("node-down", "node2")
    lab_cli("node-down", "node3")
    changed, plan5 = converge()
    assert plan5["shop/web"]["state"] == plan5["bank/api"]["state"] == "no-holder"
    rc, rows = seen()
    assert rows["web-a"]["seen"] == topo.NODE_BY_NAME["node1"].host_ip, rows
    assert "10.131.1.10" not in nb_policies()
    # ... and nothing with fail-closed (a drop policy per endpoint)
    converge("-e", "egress_service_fail_closed=true")
    assert "drop" in nb_policies()
    rc, rows = seen(fail_closed=True)
    assert rc == 0 and rows["web-a"]["seen"] is None, rows
    lab_cli("node-up", "node2")
    lab_cli("node-up", "node3")
    converge()
    rc, rows = seen()
    assert rc == 0, rows


def test_nftables_era_backend(lab):
    """egress_service_snat_backend=nftables: the holder SNATs through the inet ovn-kubernetes map
    (a fresh lab, so no iptables-era rule can be what answers)."""
    lab_cli("up", "--rebuild")
    changed, plan = converge("-e", "egress_service_snat_backend=nftables")
    assert changed > 0
    holder = topo.NODE_BY_NAME[plan["shop/web"]["host"]]
    rc, rows = seen()
    assert rc == 0 and rows["web-a"]["seen"] == "198.51.100.113", rows
    nat = subprocess.run(["ip", "netns", "exec", holder.netns, "iptables-save", "-t", "nat"], capture_output=True,
                         text=True, check=True).stdout
    assert "OVN-KUBE-EGRESS-SVC" not in nat
    elements = subprocess.run(["ip", "netns", "exec", holder.netns, "nft", "list", "map", "inet", "ovn-kubernetes",
                               "egress-service-snat-v4"], capture_output=True, text=True, check=True).stdout
    assert '10.131.1.10 comment "sdn.egress/egress-service shop/web" : 198.51.100.113' in elements
    changed, _plan = converge("-e", "egress_service_snat_backend=nftables")
    assert changed == 0


def test_live_api_source_and_node_labels(lab):
    """egress_service_source=k8s against a stand-in API server (lab/ovnlab/fakeapi.py) serving the
    lab's cluster objects: the intent is read with kubernetes.core.k8s_info, the holder Node gets
    its label through kubernetes.core.k8s (a merge PATCH) and keeps it on the next run (no PATCH);
    the holder turned NotReady -> the label moves: removed from the old holder, set on the new."""
    from ovnlab.fakeapi import FakeKubeApi
    lab_cli("up", "--rebuild")
    with open(cluster.dump()) as f:
        document = json.load(f)
    token = "ovnlab-test-token"
    with FakeKubeApi(document, token) as api:
        args = ["-e", "egress_service_source=k8s", "-e", "egress_service_k8s_host=%s" % api.url,
                "-e", "egress_service_k8s_api_key=%s" % token, "-e", "egress_service_k8s_validate_certs=false"]
        changed, plan = converge(*args)
        holder = plan["shop/web"]["host"]
        label = cluster.SERVICE_LABEL % ("shop", "web")
        assert label in api.node(holder)["metadata"]["labels"]
        assert "egress-service.k8s.ovn.org/bank-api" in api.node("node2")["metadata"]["labels"]
        assert api.count("GET", "/apis/k8s.ovn.org/v1/egressservices") >= 1
        assert all(ok for _m, _p, ok in api.requests)
        rc, rows = seen()
        assert rc == 0 and rows["web-a"]["seen"] == "198.51.100.113", rows
        patches = api.count("PATCH", "/api/v1/nodes")
        changed, plan2 = converge(*args)
        assert changed == 0 and plan2["shop/web"]["state"] == "kept"
        assert api.count("PATCH", "/api/v1/nodes") == patches
        with api.lock:
            node = next(i for i in api.items if i.get("kind") == "Node" and i["metadata"]["name"] == holder)
            node["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
        changed, plan3 = converge(*args)
        new = plan3["shop/web"]["host"]
        assert new not in (holder, None) and plan3["shop/web"]["state"] == "moved"
        assert label not in api.node(holder)["metadata"]["labels"]
        assert label in api.node(new)["metadata"]["labels"]
        assert api.node(holder)["metadata"]["labels"].get("egress") == "yes"     # its other labels kept
        rc, rows = seen()
        assert rc == 0 and rows["web-a"]["seen"] == "198.51.100.113", rows


def test_ipv6_endpoint_rerouted_over_geneve_nftables(lab):
    """A dual-stack lab (`up --ipv6`): the IPv6 service six/web6 (endpoint on node1, holders only
    among egress=yes nodes) gets an `ip6.src` reroute to the holder's IPv6 management-port IP and
    leaves with its IPv6 LB IP through the nftables-era SNAT map; the IPv4 services as before.
    The iptables era cannot SNAT an IPv6 endpoint (egress_snat is IPv4): that converge fails,
    naming the endpoint, before it changes the northbound database."""
    lab_cli("up", "--rebuild", "--ipv6")
    argv = PLAYBOOK + ["-e", "egress_service_snat_backend=iptables"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=ENV, check=False)
    assert proc.returncode != 0 and "fd00:131:0:1::e" in proc.stdout
    assert "fd00:131:0:1::e" not in nb_policies()
    changed, plan = converge("-e", "egress_service_snat_backend=nftables")
    holder = plan["six/web6"]["host"]
    assert holder in ("node2", "node3")                         # not the endpoint's node: over Geneve
    assert "ip6.src == fd00:131:0:1::e" in nb_policies()
    assert topo.NODE_BY_NAME[holder].mgmt_ip6 in nb_policies()
    rc, rows = seen()
    assert rc == 0, rows
    assert rows["web6-a"]["seen"] == "2001:db8:113::1"
    assert rows["web-a"]["seen"] == "198.51.100.113"
    assert converge("-e", "egress_service_snat_backend=nftables")[0] == 0
