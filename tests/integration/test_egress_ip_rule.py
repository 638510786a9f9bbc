# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sdn.egress.egress_ip_rule (EgressService sourceIPBy Network) through ansible-playbook in a
network namespace: rules added in one batch per family, idempotent, check mode changes nothing,
a foreign rule (another protocol) stays, overridden prunes, absent removes what it names; the
kernel's own routing decision (`ip route get ... from <endpoint> iif`) takes the table."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

RULES = [{"from": "10.131.1.20", "table": "100", "name": "n/s"}, {"from": "fd00:131:1::20", "table": "100"}]


def task(rules, state="overridden"):
    return [{"name": "rules", "sdn.egress.egress_ip_rule": {"rules": rules, "state": state}}]


def rules(ns, version):
    return [r for r in json.loads(ns.run(["ip", "-j", "-%d" % version, "rule", "show"]).stdout)
            if r.get("priority") not in (0, 32766, 32767)]


def test_rules_converge_and_route(netns, ansible):
    netns.run(["ip", "link", "add", "k8s0", "type", "veth", "peer", "name", "k8s0p"])
    netns.run(["ip", "link", "add", "up0", "type", "veth", "peer", "name", "up0p"])
    for ifname in ("k8s0", "k8s0p", "up0", "up0p"):
        netns.run(["ip", "link", "set", ifname, "up"])
    netns.run(["ip", "addr", "add", "10.131.1.2/24", "dev", "k8s0"])
    netns.run(["ip", "addr", "add", "198.51.100.70/27", "dev", "up0"])
    netns.run(["ip", "route", "add", "default", "via", "198.51.100.94", "table", "100"])
    netns.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
    netns.run(["ip", "rule", "add", "priority", "6000", "from", "10.131.9.9", "lookup", "200"])   # foreign

    res = ansible(task(RULES), check=True, diff=True, netns=netns)
    assert res.rc == 0 and res.changed and rules(netns, 4) == [
        {"priority": 6000, "src": "10.131.9.9", "table": "200"}], res
    res = ansible(task(RULES), netns=netns)
    assert res.rc == 0 and res.changed, res
    assert {"priority": 5000, "src": "10.131.1.20", "table": "100", "protocol": "229"} in rules(netns, 4)
    assert {"priority": 5000, "src": "fd00:131:1::20", "table": "100", "protocol": "229"} in rules(netns, 6)
    assert not ansible(task(RULES), netns=netns).changed
    route = netns.run(["ip", "route", "get", "203.0.113.100", "from", "10.131.1.20", "iif", "k8s0"]).stdout
    assert "via 198.51.100.94" in route and "table 100" in route, route
    other = netns.run(["ip", "route", "get", "203.0.113.100", "from", "10.131.1.21", "iif", "k8s0"],
                      check=False)
    assert "table 100" not in other.stdout

    res = ansible(task(RULES[1:]), netns=netns)
    assert res.rc == 0 and res.last["removed"] == ["priority 5000 from 10.131.1.20 lookup 100 protocol 229"], res
    assert rules(netns, 4) == [{"priority": 6000, "src": "10.131.9.9", "table": "200"}]
    res = ansible(task([RULES[1]], state="absent"), netns=netns)
    assert res.rc == 0 and res.changed and rules(netns, 6) == []
    bad = ansible(task([{"from": "10.131.1.300", "table": "100"}, {"from": "10.131.1.3", "table": "a b"}]),
                  netns=netns)
    assert bad.rc != 0 and "rules[0].from: 10.131.1.300 is not an IP address" in bad.last["msg"] \
        and "rules[1].table: a b is not a routing table" in bad.last["msg"], bad
