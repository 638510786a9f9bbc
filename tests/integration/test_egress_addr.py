# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sdn.egress.egress_addr through ansible-playbook, inside a node namespace.

The node has eth0 192.0.2.12/24 (the node IP) and a second NIC eth1 198.51.100.12/24; both are
veth ends whose peers sit in a second namespace.
"""
import json
import os
import shlex
import subprocess

import pytest


@pytest.fixture
def node(make_netns):
    ns = make_netns("addr")
    peer = make_netns("addrp")
    for ifname, peer_if, cidr in (("eth0", "p0", "192.0.2.12/24"), ("eth1", "p1", "198.51.100.12/24")):
        ns.run(["ip", "link", "add", ifname, "type", "veth", "peer", "name", peer_if, "netns", peer.name])
        ns.run(["ip", "link", "set", ifname, "up"])
        peer.run(["ip", "link", "set", peer_if, "up"])
        ns.run(["ip", "addr", "add", cidr, "dev", ifname])
    return ns


def addrs(ns):
    """Every IPv4 address in the namespace as (ifname, "ip/prefix", label)."""
    links = json.loads(ns.run(["ip", "-j", "addr", "show"]).stdout)
    return sorted((link["ifname"], "%s/%d" % (a["local"], a["prefixlen"]), a.get("label"))
                  for link in links for a in link.get("addr_info", []) if a["family"] == "inet")


def task(**args):
    return [{"name": "egress_addr", "sdn.egress.egress_addr": args}]


def entry(address, interface, prefix):
    return {"address": address, "interface": interface, "prefix": prefix, "label": interface + ":sdne"}


def ok(result):
    assert result.rc == 0, result
    return result.last


def failed(result):
    assert result.rc != 0 and result.last.get("failed"), result
    return result.last


def test_claim_on_second_interface_then_unchanged(node, ansible):
    first = ok(ansible(task(address="198.51.100.50", node_ip="192.0.2.12"), netns=node))
    assert first["changed"] is True
    assert first["claimed"] == [entry("198.51.100.50", "eth1", 24)]
    assert first["before"] == [] and first["after"] == [entry("198.51.100.50", "eth1", 24)]
    assert first["commands"] == ["addr add 198.51.100.50/24 dev eth1 label eth1:sdne"]
    assert ("eth1", "198.51.100.50/24", "eth1:sdne") in addrs(node)

    second = ok(ansible(task(address="198.51.100.50", node_ip="192.0.2.12"), netns=node))
    assert second["changed"] is False
    assert second["claimed"] == [] and second["commands"] == []
    assert second["after"] == [entry("198.51.100.50", "eth1", 24)]


def test_check_mode_predicts_and_changes_nothing(node, ansible):
    before = addrs(node)
    res = ok(ansible(task(addresses=["192.0.2.50", "198.51.100.50"]), netns=node, check=True, diff=True))
    assert res["changed"] is True
    assert res["claimed"] == [entry("192.0.2.50", "eth0", 24), entry("198.51.100.50", "eth1", 24)]
    assert res["after"] == res["claimed"]
    assert len(res["commands"]) == 2
    assert res["diff"]["after"] == ("192.0.2.50/24 dev eth0 label eth0:sdne\n"
                                    "198.51.100.50/24 dev eth1 label eth1:sdne\n")
    assert addrs(node) == before


def test_node_ip_is_refused(node, ansible):
    before = addrs(node)
    res = failed(ansible(task(addresses=["192.0.2.50", "192.0.2.12"], node_ip="192.0.2.12"), netns=node))
    assert "desired egress IP is the node IP" in res["msg"]
    assert addrs(node) == before  # 192.0.2.50 was not claimed either


def test_outside_every_network_needs_interface_and_prefix(node, ansible):
    before = addrs(node)
    res = failed(ansible(task(address="203.0.113.7"), netns=node))
    assert res["msg"].startswith("address: 203.0.113.7 is not in the local network of any interface")
    res = failed(ansible(task(address="203.0.113.7", interface="eth1"), netns=node))
    assert "not in local network eth1 198.51.100.0/24 of interface eth1" in res["msg"]
    assert addrs(node) == before

    res = ok(ansible(task(address="203.0.113.7", interface="eth1", prefix=32), netns=node))
    assert res["claimed"] == [entry("203.0.113.7", "eth1", 32)]
    assert ("eth1", "203.0.113.7/32", "eth1:sdne") in addrs(node)
    # our own out-of-network address did not make 203.0.113.0/24 local
    assert "not in the local network of any interface" in failed(ansible(task(address="203.0.113.8"),
                                                                         netns=node))["msg"]


def test_address_on_another_interface_fails_clearly(node, ansible):
    node.run(["ip", "addr", "add", "198.51.100.70/24", "dev", "eth1"])
    res = failed(ansible(task(address="198.51.100.70", interface="eth0", prefix=32), netns=node))
    assert res["msg"].startswith("address: 198.51.100.70 is already configured on interface eth1 (label eth1), "
                                 "not on the requested interface eth0")
    # without an interface an address already there (any label) is fine
    assert ok(ansible(task(address="198.51.100.70"), netns=node))["changed"] is False


def test_overridden_releases_only_our_addresses(node, ansible):
    ok(ansible(task(addresses=["192.0.2.50", "198.51.100.50"]), netns=node))
    node.run(["ip", "addr", "add", "192.0.2.60/24", "dev", "eth0"])
    node.run(["ip", "addr", "add", "198.51.100.61/24", "dev", "eth1", "label", "eth1:hand"])

    res = ok(ansible(task(addresses=["198.51.100.50", "198.51.100.51"], state="overridden"), netns=node, diff=True))
    assert res["changed"] is True
    assert res["released"] == [entry("192.0.2.50", "eth0", 24)]
    assert res["claimed"] == [entry("198.51.100.51", "eth1", 24)]
    assert res["diff"]["before"].startswith("192.0.2.50/24 dev eth0 label eth0:sdne\n")
    have = addrs(node)
    assert ("eth0", "192.0.2.60/24", "eth0") in have
    assert ("eth1", "198.51.100.61/24", "eth1:hand") in have
    assert not [a for a in have if a[1] == "192.0.2.50/24"]

    again = ok(ansible(task(addresses=["198.51.100.50", "198.51.100.51"], state="overridden"), netns=node))
    assert again["changed"] is False

    empty = ok(ansible(task(addresses=[], state="overridden"), netns=node))
    assert [e["address"] for e in empty["released"]] == ["198.51.100.50", "198.51.100.51"]
    assert [a for a in addrs(node) if a[2] and a[2].endswith(":sdne")] == []
    assert ("eth1", "198.51.100.61/24", "eth1:hand") in addrs(node)


def test_absent(node, ansible):
    ok(ansible(task(address="198.51.100.50"), netns=node))
    node.run(["ip", "addr", "add", "198.51.100.60/24", "dev", "eth1"])
    res = ok(ansible(task(addresses=["198.51.100.50", "198.51.100.60"], state="absent"), netns=node))
    assert res["changed"] is True
    assert res["released"] == [entry("198.51.100.50", "eth1", 24)]
    assert res["commands"] == ["addr del 198.51.100.50/24 dev eth1"]
    assert any("198.51.100.60" in w and "left in place" in w for w in res.get("warnings", []))
    have = addrs(node)
    assert ("eth1", "198.51.100.60/24", "eth1") in have
    assert not [a for a in have if a[1] == "198.51.100.50/24"]
    assert ok(ansible(task(address="198.51.100.50", state="absent"), netns=node))["changed"] is False


@pytest.mark.parametrize("args,msg", [
    ({"address": "192.0.2.500"}, "address: 192.0.2.500 is not an IPv4 address"),
    ({"addresses": ["198.51.100.50", "198.51.100"]}, "addresses[1]: 198.51.100 is not an IPv4 address"),
    ({"address": "198.51.100.50", "interface": "eth1:0"}, "interface: 'eth1:0' is not a valid interface name"),
    ({"address": "198.51.100.50", "label_suffix": "x y"}, "label_suffix: 'x y' must be"),
    ({"address": "198.51.100.50", "node_ip": "node"}, "node_ip: node is not an IPv4 address"),
])
def test_bad_input_names_the_field_and_changes_nothing(node, ansible, args, msg):
    before = addrs(node)
    res = failed(ansible(task(**args), netns=node))
    assert res["msg"].startswith(msg), res["msg"]
    assert res.get("changed") is not True
    assert addrs(node) == before


def test_named_groups_claim_with_the_others_in_one_run_then_unchanged(node, ansible):
    """addresses go to their network's interface, each named group to its interface (here /32
    outside every network); a second run changes nothing; overridden keeps the groups' addresses."""
    args = dict(addresses=["192.0.2.50"], named=[{"interface": "eth1", "prefix": 32, "addresses": ["203.0.113.7"]}],
                node_ip="192.0.2.12", declared=["192.0.2.50"])
    first = ok(ansible(task(**args), netns=node))
    assert first["changed"] is True and first["undeclared"] == []
    assert first["claimed"] == [entry("192.0.2.50", "eth0", 24), entry("203.0.113.7", "eth1", 32)]
    assert {("eth0", "192.0.2.50/24", "eth0:sdne"), ("eth1", "203.0.113.7/32", "eth1:sdne")} <= set(addrs(node))
    assert ok(ansible(task(**args), netns=node))["changed"] is False

    node.run(["ip", "addr", "add", "198.51.100.61/24", "dev", "eth1", "label", "eth1:sdne"])  # ours, undeclared
    res = ok(ansible(task(**args), netns=node))
    assert res["changed"] is False and res["undeclared"] == ["198.51.100.61"]
    res = ok(ansible(task(**dict(args, state="overridden")), netns=node))
    assert [e["address"] for e in res["released"]] == ["198.51.100.61"]
    assert ("eth1", "203.0.113.7/32", "eth1:sdne") in addrs(node)
    assert ("eth1", "198.51.100.61/24", "eth1:sdne") not in addrs(node)


@pytest.mark.parametrize("module, args", [
    ("sdn.egress.egress_addr", {"address": "198.51.100.50"}),
    ("sdn.egress.garp_claim", {"address": "192.0.2.12"}),
])
def test_without_netaddr_the_module_names_the_library(node, ansible, workdir, module, args):
    """On a Python whose path lacks netaddr (-S: no site-packages) the module fails naming it,
    before it reads or changes anything."""
    python = os.path.join(workdir, "python-no-netaddr")
    with open(python, "w") as f:
        f.write('#!/bin/sh\nexec %s -S "$@"\n' % shlex.quote(node.python))
    os.chmod(python, 0o755)
    check = subprocess.run([python, "-c", "import netaddr"], capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode != 0 and "No module named 'netaddr'" in check.stderr, check
    before = addrs(node)
    res = failed(ansible([{"name": "m", module: args}], play_vars={"ansible_python_interpreter": python}))
    assert res["msg"].startswith("Failed to import the required Python library (netaddr) on "), res
    assert addrs(node) == before
