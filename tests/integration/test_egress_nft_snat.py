# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sdn.egress.egress_nft_snat through ansible-playbook against real nftables in network
namespaces: the OVN-Kubernetes 1.1 layout is created (table inet ovn-kubernetes, the two maps,
chain egress-services with the DoNotSNAT return first), owned elements converge, a second run
changes nothing, check mode changes nothing (the kernel checks the transaction), a foreign
element is left alone and a clash with it fails, overridden prunes, absent removes what it names.
Real TCP from a client namespace through the router namespace proves the map SNATs, IPv4 and IPv6."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys
import time

from sdnlab.netns import veth_between

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OWNER = "sdn.egress/egress-service"
RULES = [{"source": "10.131.1.10", "egress_ip": "198.51.100.113", "name": "shop/web"},
         {"source": "fd00:131:1::10", "egress_ip": "2001:db8:113::1", "name": "shop/web"}]


def task(rules, state="overridden", **extra):
    args = dict({"owner": OWNER, "state": state, "rules": rules}, **extra)
    return [{"name": "nft", "sdn.egress.egress_nft_snat": args}]


def listing(ns):
    return ns.run(["nft", "list", "table", "inet", "ovn-kubernetes"]).stdout


def elements(ns, version=4):
    doc = json.loads(ns.run(["nft", "-j", "list", "map", "inet", "ovn-kubernetes",
                             "egress-service-snat-v%d" % version]).stdout)
    m = next(i["map"] for i in doc["nftables"] if "map" in i)
    out = {}
    for key, value in m.get("elem", []):
        comment = key["elem"].get("comment") if isinstance(key, dict) else None
        out[key["elem"]["val"] if isinstance(key, dict) else key] = (value, comment)
    return out


def test_layout_created_idempotent_check_diff_foreign_prune(netns, ansible):
    res = ansible(task(RULES), check=True, diff=True, netns=netns)
    assert res.rc == 0 and res.changed, res
    assert netns.run(["nft", "list", "tables"]).stdout.strip() == ""      # check mode: nothing
    assert "10.131.1.10 : 198.51.100.113" in res.last["diff"]["after"]
    res = ansible(task(RULES), netns=netns)
    assert res.rc == 0 and res.changed, res
    text = listing(netns)
    chain = text[text.index("chain egress-services"):]
    lines = [l.strip() for l in chain.splitlines()[1:] if l.strip() and l.strip() != "}"]
    assert lines == ["type nat hook postrouting priority srcnat; policy accept;", "meta mark 0x000003f0 return",
                     "snat ip to ip saddr map @egress-service-snat-v4",
                     "snat ip6 to ip6 saddr map @egress-service-snat-v6"], text
    assert elements(netns, 4) == {"10.131.1.10": ("198.51.100.113", OWNER + " shop/web")}
    assert elements(netns, 6) == {"fd00:131:1::10": ("2001:db8:113::1", OWNER + " shop/web")}
    again = ansible(task(RULES), netns=netns)
    assert again.rc == 0 and not again.changed and again.last["commands"] == [], again

    # a foreign element (OVN-Kubernetes' own comment) stays; listing its source fails the run
    netns.run(["nft", "add", "element", "inet", "ovn-kubernetes", "egress-service-snat-v4",
               '{ 10.131.9.9 comment "bank/api" : 198.51.100.114 }'])
    clash = ansible(task(RULES + [{"source": "10.131.9.9", "egress_ip": "198.51.100.113"}]), netns=netns)
    assert clash.rc != 0 and "10.131.9.9 : 198.51.100.114 in map egress-service-snat-v4" in clash.last["msg"], clash
    # moved LB IP for one source, the v6 source gone: one transaction, foreign element kept
    res = ansible(task([dict(RULES[0], egress_ip="198.51.100.115")]), diff=True, netns=netns)
    assert res.rc == 0 and res.changed, res
    assert elements(netns, 4) == {"10.131.1.10": ("198.51.100.115", OWNER + " shop/web"),
                                  "10.131.9.9": ("198.51.100.114", "bank/api")}
    assert elements(netns, 6) == {}
    res = ansible(task([{"source": "10.131.1.10", "egress_ip": "198.51.100.999"}], state="absent"), netns=netns)
    assert res.rc != 0 and "rules[0].egress_ip: 198.51.100.999 is not an IP address" in res.last["msg"], res
    res = ansible(task([{"source": "10.131.1.10"}], state="absent"), netns=netns)
    assert res.rc == 0 and res.changed and elements(netns, 4) == {"10.131.9.9": ("198.51.100.114", "bank/api")}
    assert "meta mark 0x000003f0 return" in listing(netns)               # the layout stays


def test_validation_and_rendered(netns, ansible):
    res = ansible(task([{"source": "10.131.1.10", "egress_ip": "2001:db8::1"},
                        {"source": "10.131.1.10", "egress_ip": "198.51.100.1"}], priority="soon"), netns=netns)
    msg = res.last["msg"]
    assert res.rc != 0
    for part in ("priority: soon is not srcnat", "rules[0].egress_ip: 2001:db8::1 is IPv6, the source 10.131.1.10 is IPv4",
                 "rules[1].source: 10.131.1.10 is the same source as rules[0]"):
        assert part in msg, msg
    res = ansible(task(RULES[:1], state="rendered"), netns=netns)
    assert res.rc == 0 and 'add element inet ovn-kubernetes egress-service-snat-v4 { 10.131.1.10 comment ' \
        '"sdn.egress/egress-service shop/web" : 198.51.100.113 }' in res.last["rendered"], res


def test_real_traffic_is_snatted_by_the_map(make_netns, ansible, workdir):
    client, router, server = make_netns("c"), make_netns("r"), make_netns("s")
    veth_between(client.name, "eth0", router.name, "in0")
    veth_between(router.name, "out0", server.name, "eth0")
    client.run(["ip", "addr", "add", "10.131.1.10/24", "dev", "eth0"])
    client.run(["ip", "-6", "addr", "add", "fd00:131:1::10/64", "dev", "eth0", "nodad"])
    client.run(["ip", "link", "set", "eth0", "up"])
    client.run(["ip", "route", "add", "default", "via", "10.131.1.1"])
    client.run(["ip", "-6", "route", "add", "default", "via", "fd00:131:1::1"])
    router.run(["ip", "addr", "add", "10.131.1.1/24", "dev", "in0"])
    router.run(["ip", "-6", "addr", "add", "fd00:131:1::1/64", "dev", "in0", "nodad"])
    router.run(["ip", "addr", "add", "203.0.113.97/28", "dev", "out0"])
    router.run(["ip", "-6", "addr", "add", "2001:db8:100::1/64", "dev", "out0", "nodad"])
    for ifname in ("in0", "out0"):
        router.run(["ip", "link", "set", ifname, "up"])
    router.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"])
    server.run(["ip", "addr", "add", "203.0.113.100/28", "dev", "eth0"])
    server.run(["ip", "-6", "addr", "add", "2001:db8:100::100/64", "dev", "eth0", "nodad"])
    server.run(["ip", "link", "set", "eth0", "up"])
    # the server knows no route back to the client: only the SNAT address (on-link) can answer
    router.run(["ip", "addr", "add", "203.0.113.101/32", "dev", "out0"])
    router.run(["ip", "-6", "addr", "add", "2001:db8:100::101/128", "dev", "out0", "nodad"])
    rules = [{"source": "10.131.1.10", "egress_ip": "203.0.113.101", "name": "shop/web"},
             {"source": "fd00:131:1::10", "egress_ip": "2001:db8:100::101", "name": "shop/web"}]
    assert ansible(task(rules), netns=router).rc == 0
    servers = []
    try:
        for bind in ("203.0.113.100", "2001:db8:100::100"):
            pidfile = os.path.join(workdir, "echo-%d.pid" % len(servers))
            servers.append(pidfile)
            server.popen([sys.executable, os.path.join(ROOT, "lab", "sdnlab", "echo_server.py"), "--bind", bind,
                          "--port", "8080", "--pidfile", pidfile], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while not all(os.path.exists(p) for p in servers) and time.monotonic() < deadline:
            time.sleep(0.05)
        for dst, want in (("203.0.113.100", "203.0.113.101"), ("2001:db8:100::100", "2001:db8:100::101")):
            out = client.run([sys.executable, os.path.join(ROOT, "lab", "sdnlab", "traffic.py"), dst, "8080",
                              "--proto", "tcp", "--timeout", "5"]).stdout
            assert json.loads(out.strip().splitlines()[-1]).get("seen") == want, out
    finally:
        for pidfile in servers:
            try:
                with open(pidfile) as f:
                    os.kill(int(f.read()), 15)
            except (OSError, ValueError):
                pass
