# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sdn.egress.egress_snat with match=source (OVN-Kubernetes EgressService SNAT) through
ansible-playbook inside a network namespace, on iptables-nft and iptables-legacy: the chain
OVN-KUBE-EGRESS-SVC is created, jumped to first from POSTROUTING, DoNotSNAT first, one SNAT per
endpoint; idempotent; check mode writes nothing; a foreign rule stays below ours; overridden
prunes; absent removes what it names (the RETURN rule with the last SNAT rule). Real traffic
through these rules: tests/integration/test_egress_service_playbook.py on the OVN lab."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

CHAIN = "OVN-KUBE-EGRESS-SVC"
BASE = """*nat
-A POSTROUTING -s 10.131.2.0/24 ! -d 10.131.0.0/16 -j MASQUERADE
COMMIT
"""
OWNER = "sdn.egress/egress-service"
JUMP = '-A POSTROUTING -m comment --comment "sdn.egress/egress-service" -j OVN-KUBE-EGRESS-SVC'
RET = '-A OVN-KUBE-EGRESS-SVC -m mark --mark 0x3f0 -m comment --comment "sdn.egress/egress-service DoNotSNAT" -j RETURN'


def snat(src, lb, name="shop/web"):
    return ('-A OVN-KUBE-EGRESS-SVC -s %s/32 -m comment --comment "sdn.egress/egress-service %s" -j SNAT '
            '--to-source %s' % (src, name, lb))


backends = pytest.mark.parametrize("backend", ["nft", "legacy"])


def save(ns, backend):
    out = ns.run(["iptables-%s-save" % backend, "-t", "nat"]).stdout
    return [l for l in out.splitlines() if l.startswith("-A ")]


def task(backend, rules, state="overridden", **extra):
    args = dict({"chain": CHAIN, "match": "source", "return_mark": "0x3f0", "jump_from": "POSTROUTING",
                 "create_chain": True, "owner": OWNER, "backend": backend, "state": state, "rules": rules}, **extra)
    return [{"name": "snat", "sdn.egress.egress_snat": args}]


RULES = [{"source": "10.131.3.11", "egress_ip": "198.51.100.113", "name": "shop/web"},
         {"source": "10.131.1.10", "egress_ip": "198.51.100.113", "name": "shop/web"}]


@backends
def test_source_snat_converges_first_and_idempotent(backend, netns, ansible):
    netns.run(["iptables-%s-restore" % backend, "--noflush"], input=BASE)
    res = ansible(task(backend, RULES), check=True, diff=True, netns=netns)
    assert res.rc == 0 and res.changed, res
    assert save(netns, backend) == ["-A POSTROUTING -s 10.131.2.0/24 ! -d 10.131.0.0/16 -j MASQUERADE"]
    res = ansible(task(backend, RULES), netns=netns)
    assert res.rc == 0 and res.changed, res
    assert save(netns, backend) == [
        JUMP, "-A POSTROUTING -s 10.131.2.0/24 ! -d 10.131.0.0/16 -j MASQUERADE",
        RET, snat("10.131.1.10", "198.51.100.113"), snat("10.131.3.11", "198.51.100.113")]
    again = ansible(task(backend, RULES), netns=netns)
    assert again.rc == 0 and not again.changed, again

    # a foreign rule put first in our chain: ours move above it; it stays
    netns.run(["iptables-%s" % backend, "-t", "nat", "-I", CHAIN, "1", "-s", "10.9.9.9", "-j", "RETURN"])
    moved = {"source": "10.131.1.10", "egress_ip": "198.51.100.114", "name": "shop/web"}
    res = ansible(task(backend, RULES[:1] + [moved]), diff=True, netns=netns)
    assert res.rc == 0 and res.changed, res
    chain = [l for l in save(netns, backend) if l.startswith("-A " + CHAIN)]
    assert chain == [RET, snat("10.131.1.10", "198.51.100.114"), snat("10.131.3.11", "198.51.100.113"),
                     "-A OVN-KUBE-EGRESS-SVC -s 10.9.9.9/32 -j RETURN"]

    assert not ansible(task(backend, [], state="absent"), netns=netns).changed   # absent names what goes
    res = ansible(task(backend, []), netns=netns)                               # overridden with none
    assert res.rc == 0 and res.changed, res
    chain = [l for l in save(netns, backend) if l.startswith("-A " + CHAIN)]
    assert chain == ["-A OVN-KUBE-EGRESS-SVC -s 10.9.9.9/32 -j RETURN"]
    assert save(netns, backend)[0] == JUMP          # absent leaves the jump (an empty chain is harmless)


@backends
def test_absent_names_sources_and_drops_return_with_the_last(backend, netns, ansible):
    netns.run(["iptables-%s-restore" % backend, "--noflush"], input=BASE)
    assert ansible(task(backend, RULES), netns=netns).rc == 0
    res = ansible(task(backend, [{"source": "10.131.1.10"}], state="absent"), netns=netns)
    assert res.rc == 0 and res.changed, res
    chain = [l for l in save(netns, backend) if l.startswith("-A " + CHAIN)]
    assert chain == [RET, snat("10.131.3.11", "198.51.100.113")]
    res = ansible(task(backend, [{"source": "10.131.3.11"}], state="absent"), netns=netns)
    assert [l for l in save(netns, backend) if l.startswith("-A " + CHAIN)] == []


def test_validation_names_field_and_value(netns, ansible):
    res = ansible(task("nft", [{"source": "10.131.1.300", "egress_ip": "198.51.100.113"}]), netns=netns)
    assert res.rc != 0 and "rules[0].source: 10.131.1.300 is not" in res.last["msg"], res
    res = ansible(task("nft", [{"mark": "0x1", "source": "10.131.1.3", "egress_ip": "198.51.100.113"}]), netns=netns)
    assert res.rc != 0 and "rules[0].mark" in res.last["msg"], res
    res = ansible(task("nft", [{"source": "10.131.1.3"}]), netns=netns)
    assert res.rc != 0 and "rules[0].egress_ip: required with state=overridden" in res.last["msg"], res
