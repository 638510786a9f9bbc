# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sdn.egress.egress_snat through ansible-playbook, inside network namespaces, on iptables-nft
and iptables-legacy. Needs root (fixtures from tests/integration/conftest.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import selectors
import shlex
import subprocess
import sys

import pytest

CHAIN = "OPENSHIFT-MASQUERADE"
REJECT_CHAIN = "OPENSHIFT-FIREWALL-ALLOW"
ANCHOR = '-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m comment --comment "masquerade pod-to-external traffic" -j OPENSHIFT-MASQUERADE-2'
RETURN = "-A OPENSHIFT-MASQUERADE -m mark --mark 0x1/0x1 -j RETURN"
SDN = """*nat
:OPENSHIFT-MASQUERADE - [0:0]
:OPENSHIFT-MASQUERADE-2 - [0:0]
-A POSTROUTING -m comment --comment "rules for masquerading OpenShift traffic" -j OPENSHIFT-MASQUERADE
%s
-A OPENSHIFT-MASQUERADE-2 -d 10.128.0.0/14 -m comment --comment "masquerade pod-to-external traffic" -j RETURN
-A OPENSHIFT-MASQUERADE-2 -j MASQUERADE
COMMIT
*filter
:OPENSHIFT-FIREWALL-ALLOW - [0:0]
-A INPUT -m comment --comment "firewall overrides" -j OPENSHIFT-FIREWALL-ALLOW
-A OPENSHIFT-FIREWALL-ALLOW -p udp -m udp --dport 4789 -m comment --comment "VXLAN incoming" -j ACCEPT
COMMIT
"""
# the seed notes' hand-made rules (node IPs 10.0.0.11/12 mapped to 192.0.2.11/12)
SEED = [
    "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x6f7936 -j SNAT --to-source 192.0.2.12",
    "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x1df6552 -j SNAT --to-source 192.0.2.12",
    "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x6f7936 -j SNAT --to-source 192.0.2.11",
]
RULES = [
    {"mark": "0x2EC40E", "egress_ip": "192.0.2.50", "name": "egress-test3"},
    {"mark": 0x6F7936, "egress_ip": "192.0.2.11", "name": "egress-test"},
]
OURS = [
    '-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x2ec40e -m comment --comment "sdn.egress egress-test3" -j SNAT --to-source 192.0.2.50',
    '-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x6f7936 -m comment --comment "sdn.egress egress-test" -j SNAT --to-source 192.0.2.11',
]

backends = pytest.mark.parametrize("backend", ["nft", "legacy"])


class Tables:
    """iptables of one backend inside a namespace, with the openshift-sdn chains built."""

    def __init__(self, ns, backend, chain_rules=None, build=True):
        self.ns = ns
        self.backend = backend
        if build:
            rules = [RETURN] + list(chain_rules or []) + [ANCHOR]
            self.ns.run(["iptables-%s-restore" % backend, "--noflush"], input=SDN % "\n".join(rules))

    def save(self, table):
        out = self.ns.run(["iptables-%s-save" % self.backend, "-t", table]).stdout
        return "".join(line + "\n" for line in out.splitlines() if not line.startswith("#"))

    def chain(self, table="nat", chain=CHAIN):
        prefix = "-A %s " % chain
        return [line for line in self.save(table).splitlines() if line.startswith(prefix)]

    def restore(self, lines):
        self.ns.run(["iptables-%s-restore" % self.backend, "--noflush"], input="".join(line + "\n" for line in lines))


def snat(ansible, ns, backend, check=False, diff=False, **params):
    params.setdefault("backend", backend)
    result = ansible([{"name": "snat", "sdn.egress.egress_snat": params}], check=check, diff=diff, netns=ns)
    assert len(result.results) == 1, result
    return result, result.results[0]


@backends
def test_first_run_second_run_and_check_mode(netns, ansible, backend):
    tables = Tables(netns, backend, SEED[:1])
    initial = tables.save("nat") + tables.save("filter")
    args = dict(rules=RULES, reject_inbound=True, conflicts="warn")  # SEED[0] shadows 0x6f7936: left, warned

    run, check = snat(ansible, netns, backend, check=True, diff=True, **args)
    assert run.rc == 0 and check["changed"], run
    assert tables.save("nat") + tables.save("filter") == initial            # check mode changed nothing
    assert "egress-test3" in check["diff"]["after"] and "egress-test3" not in check["diff"]["before"]

    run, first = snat(ansible, netns, backend, diff=True, **args)
    assert run.rc == 0 and first["changed"], run
    assert first["commands"] == check["commands"]                            # check mode predicted the run
    assert [c for c in first["commands"] if c.startswith("*")] == ["*nat", "*filter"]
    # what we render is byte-identical to what this backend's iptables-save prints
    assert first["after"] == check["after"]
    assert tables.chain() == first["after"]["nat"] == [RETURN, SEED[0]] + OURS + [ANCHOR]
    assert tables.chain("filter", REJECT_CHAIN)[1:] == [
        '-A OPENSHIFT-FIREWALL-ALLOW -d 192.0.2.50/32 -m conntrack --ctstate NEW -m comment --comment "sdn.egress egress-test3" '
        '-j REJECT --reject-with icmp-port-unreachable',
        '-A OPENSHIFT-FIREWALL-ALLOW -d 192.0.2.11/32 -m conntrack --ctstate NEW -m comment --comment "sdn.egress egress-test" '
        '-j REJECT --reject-with icmp-port-unreachable',
    ]

    after_first = tables.save("nat") + tables.save("filter")
    run, second = snat(ansible, netns, backend, **args)
    assert run.rc == 0 and not second["changed"] and second["commands"] == [], run
    assert tables.save("nat") + tables.save("filter") == after_first
    run, check_again = snat(ansible, netns, backend, check=True, **args)
    assert not check_again["changed"]


@backends
def test_overridden_removes_only_unlisted_owned(netns, ansible, backend):
    tables = Tables(netns, backend, SEED)
    extra = {"mark": 0x1234, "egress_ip": "198.51.100.34", "name": "gone"}
    run, dummy = snat(ansible, netns, backend, rules=RULES + [extra], reject_inbound=True, conflicts="warn")
    assert run.rc == 0, run
    assert len(tables.chain()) == 2 + len(SEED) + 3

    run, result = snat(ansible, netns, backend, rules=RULES, state="overridden", reject_inbound=True, conflicts="warn")
    assert run.rc == 0 and result["changed"], run
    assert tables.chain() == [RETURN] + SEED + OURS + [ANCHOR]
    assert not [line for line in tables.chain("filter", REJECT_CHAIN) if "198.51.100.34" in line]
    assert len(tables.chain("filter", REJECT_CHAIN)) == 3
    assert [c.split(" ", 2)[0] for c in result["commands"] if c.startswith("-")] == ["-D", "-D"]

    run, result = snat(ansible, netns, backend, rules=[], state="overridden")
    assert run.rc == 0 and result["changed"], run
    assert tables.chain() == [RETURN] + SEED + [ANCHOR]
    assert len(tables.chain("filter", REJECT_CHAIN)) == 1


@backends
def test_rule_moved_below_anchor_is_put_back(netns, ansible, backend):
    tables = Tables(netns, backend)
    run, dummy = snat(ansible, netns, backend, rules=RULES)
    assert run.rc == 0, run
    assert tables.chain() == [RETURN] + OURS + [ANCHOR]
    tables.restore(["*nat", "-D %s 2" % CHAIN, "-A %s" % OURS[0][len("-A "):], "COMMIT"])
    assert tables.chain() == [RETURN, OURS[1], ANCHOR, OURS[0]]

    run, result = snat(ansible, netns, backend, rules=RULES)
    assert run.rc == 0 and result["changed"], run
    assert result["commands"] == ["*nat", "-D %s 4" % CHAIN, "-I %s 2 %s" % (CHAIN, OURS[0][len("-A %s " % CHAIN):]), "COMMIT"]
    assert tables.chain() == [RETURN] + OURS + [ANCHOR]


@backends
def test_remove_conflicts_deletes_the_seed_duplicate(netns, ansible, backend):
    tables = Tables(netns, backend, SEED)
    rules = [{"mark": "0x6f7936", "egress_ip": "192.0.2.11", "name": "egress-test"}]
    run, kept = snat(ansible, netns, backend, rules=rules, conflicts="warn")
    assert run.rc == 0, run
    assert tables.chain() == [RETURN] + SEED + [OURS[1], ANCHOR]            # foreign rules untouched

    run, result = snat(ansible, netns, backend, rules=rules, remove_conflicts=True)
    assert run.rc == 0 and result["changed"], run
    assert tables.chain() == [RETURN, SEED[1], OURS[1], ANCHOR]
    assert not snat(ansible, netns, backend, rules=rules, remove_conflicts=True)[1]["changed"]


@backends
def test_300_rules_in_one_restore(netns, ansible, backend):
    tables = Tables(netns, backend)
    rules = [{"mark": 0x100 + 2 * i, "egress_ip": "198.51.100.%d" % (i % 250 + 1), "name": "ns-%03d" % i}
             for i in range(300)]
    run, result = snat(ansible, netns, backend, rules=rules, reject_inbound=True)
    assert run.rc == 0 and result["changed"], run
    commands = result["commands"]
    assert [c for c in commands if not c.startswith("-I ")] == ["*nat", "COMMIT", "*filter", "COMMIT"]
    inserts = [c for c in commands if c.startswith("-I %s " % CHAIN)]
    assert [int(c.split()[2]) for c in inserts] == list(range(2, 302))
    assert len([c for c in commands if c.startswith("-I %s " % REJECT_CHAIN)]) == 250   # one per distinct egress IP
    chain = tables.chain()
    assert len(chain) == 302 and chain[0] == RETURN and chain[-1] == ANCHOR
    assert chain[1:-1] == result["after"]["nat"][1:-1]
    assert not snat(ansible, netns, backend, rules=rules, reject_inbound=True)[1]["changed"]


@backends
@pytest.mark.parametrize("rules, cidrs, message", [
    ([{"mark": "0x1", "egress_ip": "192.0.2.1"}, {"mark": "0xnope", "egress_ip": "192.0.2.2"}], None,
     "rules[1].mark: 0xnope is not an integer"),
    ([{"mark": "0x1", "egress_ip": "192.0.2.1"}, {"mark": "0x2", "egress_ip": "192.0.2.256"}], None,
     "rules[1].egress_ip: 192.0.2.256 is not an IPv4 address"),
    ([{"mark": "0x1", "egress_ip": "192.0.2.1"}], ["10.128.0.0/14", "10.128.0.0/99"],
     "cluster_cidrs[1]: 10.128.0.0/99 is not an IPv4 network (address/prefix)"),
])
def test_bad_input_changes_nothing(netns, ansible, backend, rules, cidrs, message):
    tables = Tables(netns, backend)
    initial = tables.save("nat") + tables.save("filter")
    params = dict(rules=rules, reject_inbound=True)
    if cidrs:
        params["cluster_cidrs"] = cidrs
    run, result = snat(ansible, netns, backend, **params)
    assert run.rc != 0 and result.get("failed"), run
    assert result["msg"].startswith(message), result["msg"]
    assert tables.save("nat") + tables.save("filter") == initial


@backends
def test_missing_chain_fails_unless_created(netns, ansible, backend):
    tables = Tables(netns, backend)
    rules = [{"mark": 7 * 2, "egress_ip": "203.0.113.7"}]
    run, result = snat(ansible, netns, backend, rules=rules, chain="EGRESS-SNAT")
    assert run.rc != 0 and "chain EGRESS-SNAT does not exist in the nat table" in result["msg"], run
    run, result = snat(ansible, netns, backend, rules=rules, chain="EGRESS-SNAT", create_chain=True)
    assert run.rc == 0 and result["changed"], run
    assert tables.chain(chain="EGRESS-SNAT") == [
        '-A EGRESS-SNAT -s 10.128.0.0/14 -m mark --mark 0xe -m comment --comment "sdn.egress" -j SNAT --to-source 203.0.113.7']


SERVER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
s.settimeout(float(sys.argv[2]))
print(s.getsockname()[1], flush=True)
try:
    while True:
        data, peer = s.recvfrom(100)
        s.sendto(peer[0].encode(), peer)
except socket.timeout:
    pass
"""

CLIENT = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
mark = int(sys.argv[3], 0)
if mark:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, mark)
s.bind(("10.128.0.5", 0))
s.settimeout(5)
s.sendto(b"who am i", (sys.argv[1], int(sys.argv[2])))
print(s.recv(100).decode())
"""


def _read_line(proc, timeout):
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            raise AssertionError("server did not start within %ss" % timeout)
        return proc.stdout.readline().strip()
    finally:
        sel.close()


@backends
def test_packet_is_snated_to_the_egress_ip(make_netns, ansible, backend):
    """A pod-sourced (10.128.0.5) UDP packet with the namespace's mark leaves with the egress IP;
    without the mark it is masqueraded with the node IP."""
    node, ext = make_netns("n"), make_netns("x")
    veth_node, veth_ext = "eth0", "eth1"
    node.run(["ip", "link", "add", veth_node, "type", "veth", "peer", "name", veth_ext, "netns", ext.name])
    node.run(["ip", "addr", "add", "192.0.2.1/24", "dev", veth_node])
    node.run(["ip", "addr", "add", "192.0.2.50/24", "dev", veth_node])       # the egress IP is held here
    node.run(["ip", "addr", "add", "10.128.0.5/32", "dev", "lo"])            # a "pod" source
    node.run(["ip", "link", "set", veth_node, "up"])
    ext.run(["ip", "addr", "add", "192.0.2.2/24", "dev", veth_ext])
    ext.run(["ip", "link", "set", veth_ext, "up"])
    Tables(node, backend)
    run, result = snat(ansible, node, backend, rules=[RULES[0]])
    assert run.rc == 0 and result["changed"], run

    server = ext.popen([sys.executable, "-c", SERVER, "192.0.2.2", "20"], stdout=subprocess.PIPE, text=True)
    try:
        port = _read_line(server, 10)
        seen = node.run([sys.executable, "-c", CLIENT, "192.0.2.2", port, "0x2ec40e"], timeout=15).stdout.strip()
        assert seen == "192.0.2.50"
        seen = node.run([sys.executable, "-c", CLIENT, "192.0.2.2", port, "0"], timeout=15).stdout.strip()
        assert seen == "192.0.2.1"
    finally:
        server.kill()
        server.wait(timeout=10)
        server.stdout.close()


# --- rules_text: the same rules as one string --------------------------------------------

def as_text(rules):
    return "".join("%s %s %s\n" % (r["mark"], r["egress_ip"], r["name"]) for r in rules)


@backends
def test_rules_text_converges_and_equals_the_list_form(netns, ansible, backend):
    tables = Tables(netns, backend, SEED[:1])
    text = "# mark egress-ip name\n\n0x2ec40e  192.0.2.50  egress-test3\n   \n7305526\t192.0.2.11 egress-test\n"
    initial = tables.save("nat") + tables.save("filter")

    run, check = snat(ansible, netns, backend, check=True, rules_text=text, reject_inbound=True, conflicts="warn")
    assert run.rc == 0 and check["changed"], run
    assert tables.save("nat") + tables.save("filter") == initial

    run, first = snat(ansible, netns, backend, rules_text=text, reject_inbound=True, conflicts="warn")
    assert run.rc == 0 and first["changed"] and first["commands"] == check["commands"], run
    assert tables.chain() == first["after"]["nat"] == [RETURN, SEED[0]] + OURS + [ANCHOR]
    assert [line.split(" --comment ")[1] for line in tables.chain("filter", REJECT_CHAIN)[1:]] == [
        '"sdn.egress egress-test3" -j REJECT --reject-with icmp-port-unreachable',
        '"sdn.egress egress-test" -j REJECT --reject-with icmp-port-unreachable',
    ]
    converged = tables.save("nat") + tables.save("filter")

    # the list form of the same data finds nothing to do, in both states
    for state in ("present", "overridden"):
        run, again = snat(ansible, netns, backend, rules=RULES, reject_inbound=True, state=state, conflicts="warn")
        assert run.rc == 0 and not again["changed"] and again["commands"] == [], run
        run, again = snat(ansible, netns, backend, rules_text=as_text(RULES), reject_inbound=True, state=state,
                          conflicts="warn")
        assert run.rc == 0 and not again["changed"], run
    assert tables.save("nat") + tables.save("filter") == converged

    run, gone = snat(ansible, netns, backend, rules_text="# none left\n", state="overridden")
    assert run.rc == 0 and gone["changed"], run
    assert tables.chain() == [RETURN, SEED[0], ANCHOR] and len(tables.chain("filter", REJECT_CHAIN)) == 1


@backends
@pytest.mark.parametrize("bad, message", [
    ("0xnope 192.0.2.2 b", "rules_text line 3: '0xnope 192.0.2.2 b': mark: 0xnope is not an integer"),
    ("0x2 192.0.2.256 b", "rules_text line 3: '0x2 192.0.2.256 b': egress_ip: 192.0.2.256 is not an IPv4 address"),
    ("0x2 192.0.2.2 two words", "rules_text line 3: '0x2 192.0.2.2 two words': expected MARK EGRESS_IP [NAME]"),
])
def test_rules_text_malformed_line_changes_nothing(netns, ansible, backend, bad, message):
    tables = Tables(netns, backend)
    initial = tables.save("nat") + tables.save("filter")
    run, result = snat(ansible, netns, backend, rules_text="0x1 192.0.2.1 a\n# b next\n%s\n" % bad,
                       reject_inbound=True, state="overridden")
    assert run.rc != 0 and result.get("failed"), run
    assert result["msg"].startswith(message), result["msg"]
    assert tables.save("nat") + tables.save("filter") == initial


# --- masquerade_cluster (openshift-sdn 4.8+), gathered, rendered ---------------------------

def masquerade(mark, name, cidr="10.128.0.0/14"):
    return ('-A OPENSHIFT-MASQUERADE -s %s -d %s -m mark --mark %s -m comment --comment "sdn.egress %s" -j MASQUERADE'
            % (cidr, cidr, mark, name))


OURS_48 = [masquerade("0x2ec40e", "egress-test3"), OURS[0], masquerade("0x6f7936", "egress-test"), OURS[1]]
# the 4.8 pair openshift-sdn itself writes (no comment: not ours)
SDN_48 = ["-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -d 10.128.0.0/14 -m mark --mark 0x1df6552 -j MASQUERADE",
          "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x1df6552 -j SNAT --to-source 192.0.2.12"]


@backends
def test_masquerade_cluster_check_mode_converge_idempotent_and_pruned(netns, ansible, backend):
    tables = Tables(netns, backend, SDN_48)
    initial = tables.save("nat") + tables.save("filter")
    args = dict(rules=RULES, masquerade_cluster=True, reject_inbound=True)

    run, check = snat(ansible, netns, backend, check=True, diff=True, **args)
    assert run.rc == 0 and check["changed"], run
    assert tables.save("nat") + tables.save("filter") == initial
    run, first = snat(ansible, netns, backend, diff=True, **args)
    assert run.rc == 0 and first["changed"] and first["commands"] == check["commands"], run
    # byte-identical to this backend's iptables-save, each MASQUERADE right above its SNAT rule
    assert tables.chain() == first["after"]["nat"] == check["after"]["nat"] == [RETURN] + SDN_48 + OURS_48 + [ANCHOR]
    converged = tables.save("nat") + tables.save("filter")
    for check_mode in (False, True):
        run, again = snat(ansible, netns, backend, check=check_mode, **args)
        assert run.rc == 0 and not again["changed"] and again["commands"] == [], run
    assert tables.save("nat") + tables.save("filter") == converged

    # a MASQUERADE rule moved below its SNAT rule is put back
    tables.restore(["*nat", "-D %s 4" % CHAIN, "-I %s 5 %s" % (CHAIN, OURS_48[0][len("-A %s " % CHAIN):]), "COMMIT"])
    assert tables.chain()[3:5] == [OURS_48[1], OURS_48[0]]
    run, moved = snat(ansible, netns, backend, **args)
    assert run.rc == 0 and moved["changed"], run
    assert tables.chain() == [RETURN] + SDN_48 + OURS_48 + [ANCHOR]

    # option off: our MASQUERADE rules go, openshift-sdn's stays; overridden to nothing removes the rest
    run, off = snat(ansible, netns, backend, rules=RULES, reject_inbound=True)
    assert run.rc == 0 and off["changed"], run
    assert tables.chain() == [RETURN] + SDN_48 + OURS + [ANCHOR]
    run, gone = snat(ansible, netns, backend, rules=[], state="overridden", masquerade_cluster=True)
    assert run.rc == 0 and gone["changed"], run
    assert tables.chain() == [RETURN] + SDN_48 + [ANCHOR]


@backends
def test_gathered_returns_what_we_own_and_changes_nothing(netns, ansible, backend):
    tables = Tables(netns, backend, SDN_48)
    run, dummy = snat(ansible, netns, backend, rules=RULES, masquerade_cluster=True, reject_inbound=True,
                      cluster_cidrs=["10.128.0.0/14", "10.132.0.0/14"])
    assert run.rc == 0, run
    state = tables.save("nat") + tables.save("filter")
    for check_mode in (False, True):
        run, found = snat(ansible, netns, backend, check=check_mode, state="gathered")
        assert run.rc == 0 and found["changed"] is False, run
        assert found["gathered"] == {
            "rules": [{"mark": "0x2ec40e", "egress_ip": "192.0.2.50", "name": "egress-test3"},
                      {"mark": "0x6f7936", "egress_ip": "192.0.2.11", "name": "egress-test"}],
            "rules_text": "0x2ec40e 192.0.2.50 egress-test3\n0x6f7936 192.0.2.11 egress-test\n",
            "cluster_cidrs": ["10.128.0.0/14", "10.132.0.0/14"],
            "masquerade_cluster": True,
            "reject_inbound": True,
            "reject_ips": ["192.0.2.50", "192.0.2.11"],
        }
    assert tables.save("nat") + tables.save("filter") == state
    # fed back, in either form, it is what is there
    found = found["gathered"]
    for form in ({"rules": found["rules"]}, {"rules_text": found["rules_text"]}):
        run, again = snat(ansible, netns, backend, state="overridden", cluster_cidrs=found["cluster_cidrs"],
                          masquerade_cluster=found["masquerade_cluster"], reject_inbound=found["reject_inbound"], **form)
        assert run.rc == 0 and not again["changed"], run
    # nothing of ours: empty
    run, dummy = snat(ansible, netns, backend, rules=[], state="overridden")
    run, empty = snat(ansible, netns, backend, state="gathered")
    assert empty["gathered"]["rules"] == [] and empty["gathered"]["masquerade_cluster"] is False


def _wrapper(workdir, name, body):
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)
    return path


# every directory of PATH and those get_bin_path adds gets an empty tmpfs over it, in a mount
# namespace of the module's own (the host keeps its iptables)
HIDE_SBIN = ('for d in /sbin /usr/sbin /usr/local/sbin; do if [ -d "$d" ] && [ ! -L "$d" ]; then '
             'mount -t tmpfs -o size=1m sdnt-empty "$d" || exit 1; fi; done; PATH=/usr/bin:/bin; export PATH; '
             'exec "$0" "$@"')


def test_rendered_runs_without_iptables_installed(netns, ansible, workdir):
    python = _wrapper(workdir, "python-no-iptables", "exec %s \"$@\"" % " ".join(
        shlex.quote(arg) for arg in netns.argv(["unshare", "--mount", "--propagation", "private",
                                                "sh", "-c", HIDE_SBIN, sys.executable])))
    probe = subprocess.run([python, "-c", "import os, shutil; print(shutil.which('iptables-save'), "
                            "[d for d in ('/sbin', '/usr/sbin', '/usr/local/sbin') if os.path.exists(d + '/iptables-save')])"],
                           capture_output=True, text=True, timeout=60, check=True)
    assert probe.stdout.strip() == "None []", probe
    play_vars = {"ansible_python_interpreter": python}

    # the same module, asked to read the host, finds no iptables there: the hiding works
    present = ansible([{"name": "snat", "sdn.egress.egress_snat": {"rules": RULES}}], play_vars=play_vars)
    assert present.rc != 0 and present.last["msg"].startswith(
        "Failed to find required executable \"iptables-save\""), present.last

    text = "0x2EC40E 192.0.2.50 egress-test3\n7305526 192.0.2.11 egress-test\n"
    done = ansible([{"name": "snat", "sdn.egress.egress_snat": {
        "state": "rendered", "rules_text": text, "masquerade_cluster": True, "reject_inbound": True}}],
        play_vars=play_vars)
    assert done.rc == 0 and done.last["changed"] is False, done
    rendered = done.last["rendered"]
    prefix = "-A %s " % CHAIN
    assert rendered == ["*nat"] + ["-I %s %d %s" % (CHAIN, n, line[len(prefix):]) for n, line in enumerate(OURS_48, 1)] + [
        "COMMIT", "*filter",
        '-I OPENSHIFT-FIREWALL-ALLOW 1 -d 192.0.2.50/32 -m conntrack --ctstate NEW -m comment --comment '
        '"sdn.egress egress-test3" -j REJECT --reject-with icmp-port-unreachable',
        '-I OPENSHIFT-FIREWALL-ALLOW 2 -d 192.0.2.11/32 -m conntrack --ctstate NEW -m comment --comment '
        '"sdn.egress egress-test" -j REJECT --reject-with icmp-port-unreachable',
        "COMMIT"]


@backends
def test_rendered_payload_applied_to_empty_chains_is_what_present_makes(make_netns, ansible, workdir, backend):
    """The rendered lines, fed to this backend's iptables-restore --noflush on empty chains, give
    exactly the chains a present run converges to (and a present run then changes nothing)."""
    ns = make_netns("r")
    ns.run(["iptables-%s-restore" % backend, "--noflush"],
           input="*nat\n:%s - [0:0]\nCOMMIT\n*filter\n:%s - [0:0]\nCOMMIT\n" % (CHAIN, REJECT_CHAIN))
    args = dict(rules=RULES, masquerade_cluster=True, reject_inbound=True)
    done = ansible([{"name": "snat", "sdn.egress.egress_snat": dict(args, state="rendered")}])  # no host involved
    assert done.rc == 0, done
    ns.run(["iptables-%s-restore" % backend, "--noflush"], input="\n".join(done.last["rendered"]) + "\n")
    tables = Tables(ns, backend, build=False)
    assert tables.chain() == OURS_48
    run, present = snat(ansible, ns, backend, **args)
    assert run.rc == 0 and not present["changed"], run


@pytest.mark.parametrize("state", ["present", "rendered", "gathered"])
def test_without_netaddr_the_module_names_the_library(netns, ansible, workdir, state):
    """On a Python whose path lacks netaddr (-S: no site-packages), the module fails naming it and
    changes nothing."""
    python = _wrapper(workdir, "python-no-netaddr", 'exec %s -S "$@"' % shlex.quote(netns.python))
    check = subprocess.run([python, "-c", "import netaddr"], capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode != 0 and "No module named 'netaddr'" in check.stderr, check
    tables = Tables(netns, "nft")
    initial = tables.save("nat") + tables.save("filter")
    params = {"state": state, "backend": "nft"}
    if state != "gathered":
        params["rules"] = RULES
    run = ansible([{"name": "snat", "sdn.egress.egress_snat": params}],
                  play_vars={"ansible_python_interpreter": python})
    assert run.rc != 0 and run.last["failed"], run
    assert run.last["msg"].startswith("Failed to import the required Python library (netaddr) on "), run.last
    assert tables.save("nat") + tables.save("filter") == initial


CLIENT_FROM = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, int(sys.argv[3], 0))
s.bind(("10.128.0.5", int(sys.argv[4])))
s.settimeout(5)
s.sendto(b"who am i", (sys.argv[1], int(sys.argv[2])))
print(s.recv(100).decode())
"""


@backends
def test_packet_to_the_cluster_network_is_masqueraded_not_snated(make_netns, ansible, backend):
    """A marked pod packet (10.128.0.5) to an address outside the cluster network leaves with the
    egress IP; to a cluster address (10.129.0.9, reached through the same link) it leaves with
    the node IP when masquerade_cluster is on, and with the egress IP when it is off."""
    node, ext = make_netns("n"), make_netns("x")
    node.run(["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth1", "netns", ext.name])
    node.run(["ip", "addr", "add", "192.0.2.1/24", "dev", "eth0"])
    node.run(["ip", "addr", "add", "192.0.2.50/24", "dev", "eth0"])           # the egress IP is held here
    node.run(["ip", "addr", "add", "10.128.0.5/32", "dev", "lo"])              # a "pod" source
    node.run(["ip", "link", "set", "eth0", "up"])
    node.run(["ip", "route", "add", "10.129.0.9/32", "via", "192.0.2.2"])     # another node's pod, behind eth0
    ext.run(["ip", "addr", "add", "192.0.2.2/24", "dev", "eth1"])
    ext.run(["ip", "addr", "add", "10.129.0.9/32", "dev", "eth1"])
    ext.run(["ip", "link", "set", "eth1", "up"])
    Tables(node, backend)
    servers = [ext.popen([sys.executable, "-c", SERVER, address, "30"], stdout=subprocess.PIPE, text=True)
               for address in ("192.0.2.2", "10.129.0.9")]
    source_ports = iter(range(40001, 40100))  # a new 5-tuple per packet: no conntrack entry is reused

    def seen(server, address):
        port = ports[server]
        return node.run([sys.executable, "-c", CLIENT_FROM, address, port, "0x2ec40e", str(next(source_ports))],
                        timeout=15).stdout.strip()

    try:
        ports = [_read_line(server, 10) for server in servers]
        run, result = snat(ansible, node, backend, rules=[RULES[0]], masquerade_cluster=True)
        assert run.rc == 0 and result["changed"], run
        assert seen(0, "192.0.2.2") == "192.0.2.50"
        assert seen(1, "10.129.0.9") == "192.0.2.1"
        run, result = snat(ansible, node, backend, rules=[RULES[0]], masquerade_cluster=False)
        assert run.rc == 0 and result["changed"], run
        assert seen(1, "10.129.0.9") == "192.0.2.50"
        assert seen(0, "192.0.2.2") == "192.0.2.50"
    finally:
        for server in servers:
            server.kill()
            server.wait(timeout=10)
            server.stdout.close()


# --- conflicts: foreign rules above ours that can catch a declared mark ----------------------

# one foreign rule per class, all above the anchor; each catches 0x2ec40e (egress-test3)
CONFLICTING = [
    "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x2ec40e -j SNAT --to-source 192.0.2.1",   # same mark
    "-A OPENSHIFT-MASQUERADE -s 10.0.0.0/8 -j ACCEPT",                                                 # no mark, source covers
    "-A OPENSHIFT-MASQUERADE -m mark --mark 0x2ec400/0xffff00 -j MASQUERADE",                         # covering mask
    "-A OPENSHIFT-MASQUERADE -m mark ! --mark 0x6f7936 -j RETURN",                                    # negation
]
HARMLESS = [
    "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x1df6552 -j SNAT --to-source 192.0.2.12",  # other mark
    "-A OPENSHIFT-MASQUERADE -s 192.0.2.0/24 -j MASQUERADE",                                              # outside the cluster
    "-A OPENSHIFT-MASQUERADE -m mark --mark 0x2ec40e -j LOG",                                             # no effect
]
TEST3 = [RULES[0]]


def everything(tables):
    return tables.save("nat") + tables.save("filter")


@backends
def test_conflicts_fail_by_default_and_nothing_changes(netns, ansible, backend):
    tables = Tables(netns, backend, HARMLESS + CONFLICTING)
    initial = everything(tables)
    for check in (True, False):
        run, result = snat(ansible, netns, backend, check=check, diff=True, rules=TEST3, reject_inbound=True)
        assert run.rc != 0 and result["failed"], run
        assert everything(tables) == initial                                   # nothing changed, both tables
        assert [c["rule"] for c in result["conflicts"]] == CONFLICTING
        assert set(c["mark"] for c in result["conflicts"]) == {"0x2ec40e"}
        assert "4 foreign rule(s)" in result["msg"] and "(egress-test3)" in result["msg"]
        for rule in CONFLICTING:
            assert rule in result["msg"]


@backends
def test_conflicts_warn_leaves_them_and_changes_only_ours(netns, ansible, backend):
    tables = Tables(netns, backend, HARMLESS + CONFLICTING)
    before = tables.chain()
    run, result = snat(ansible, netns, backend, rules=TEST3, conflicts="warn")
    assert run.rc == 0 and result["changed"], run
    assert [c["rule"] for c in result["conflicts"]] == CONFLICTING
    warnings = " ".join(str(w) for w in result.get("warnings", []))
    assert warnings.count("left in place (conflicts=warn)") == 4, result
    after = tables.chain()
    assert sorted(set(after) ^ set(before)) == [OURS[0]]                       # only our rule was added
    assert after == [RETURN] + HARMLESS + CONFLICTING + [OURS[0], ANCHOR]


@backends
@pytest.mark.parametrize("how", [{"conflicts": "remove"}, {"remove_conflicts": True}])
def test_conflicts_remove_deletes_them_in_one_restore(netns, ansible, backend, how):
    tables = Tables(netns, backend, HARMLESS + CONFLICTING)
    initial = everything(tables)
    run, check = snat(ansible, netns, backend, check=True, diff=True, rules=TEST3, **how)
    assert run.rc == 0 and check["changed"] and everything(tables) == initial, run
    for rule in CONFLICTING:
        assert rule in check["diff"]["before"] and rule not in check["diff"]["after"]
    run, result = snat(ansible, netns, backend, rules=TEST3, **how)
    assert run.rc == 0 and result["commands"] == check["commands"], run
    assert tables.chain() == [RETURN] + HARMLESS + [OURS[0], ANCHOR]
    run, again = snat(ansible, netns, backend, rules=TEST3, **how)
    assert run.rc == 0 and not again["changed"] and again["conflicts"] == [], run
