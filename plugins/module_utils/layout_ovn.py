# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OVN-Kubernetes EgressService layout, iptables era: what the northbound database and each
node need for an assignment (egress_service.assign).

    render(services, nodes, assignment, fail_closed) ->
        {"nb_policies": [policies as ovn_lr_policy takes them],
         "nodes": {node: {"snat": [egress_snat match=source rules], "ip_rules": [...], "labels": [...]}},
         "snat_chain": "OVN-KUBE-EGRESS-SVC", "do_not_snat_mark": "0x3f0"}

The nftables era (table ``inet ovn-kubernetes``, chain ``egress-services``, maps
``egress-service-snat-v4``/``-v6``) is not rendered yet.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

REROUTE_PRIORITY = 101
ALLOW_PRIORITY = 102
DO_NOT_SNAT_MARK = "0x3f0"          # 1008, the pkt_mark of the 102 allow policy
IP_RULE_PRIORITY = 5000
SNAT_CHAIN = "OVN-KUBE-EGRESS-SVC"


def _fam(version):
    return "ip6" if version == 6 else "ip4"


def render(services, nodes, assignment, fail_closed=False, snat_chain=SNAT_CHAIN):
    """{"nb_policies": [...ovn_lr_policy policies], "nodes": {node: {"snat": [...], "ip_rules": [...],
    "labels": [...]}}} for the assignment."""
    policies = []
    per_node = dict((n, {"snat": [], "ip_rules": [], "labels": []}) for n in sorted(nodes))
    served = {4: [], 6: []}
    for svc in sorted(services, key=lambda s: s.key):
        held = assignment[svc.key]
        ids = {"EgressSVC": svc.key}
        if svc.source_ip_by == "Network":
            for ip, version, node in svc.endpoints:
                if node in per_node:
                    per_node[node]["ip_rules"].append({"priority": IP_RULE_PRIORITY, "from": ip,
                                                       "table": str(svc.network), "name": svc.key})
            continue
        host = held["host"]
        if host is None:
            if fail_closed:
                for ip, version, _node in sorted(svc.endpoints):
                    policies.append({"priority": REROUTE_PRIORITY, "match": "%s.src == %s" % (_fam(version), ip),
                                     "action": "drop", "external_ids": ids})
            continue
        per_node[host]["labels"].append(svc.label)
        for ip, version, _node in sorted(svc.endpoints):
            policies.append({"priority": REROUTE_PRIORITY, "match": "%s.src == %s" % (_fam(version), ip),
                             "action": "reroute", "nexthops": [nodes[host].mgmt_ips[version]],
                             "external_ids": ids})
            per_node[host]["snat"].append({"source": ip, "egress_ip": str(svc.lb_ip), "name": svc.key})
            served[version].append(ip)
    for version in (4, 6):
        node_ips = sorted(set(ip for n in nodes.values() for ip in n.host_ips
                              if (":" in ip) == (version == 6)))
        if served[version] and node_ips:
            fam = _fam(version)
            match = "%s.src == {%s} && %s.dst == {%s}" % (fam, ", ".join(sorted(served[version])),
                                                          fam, ", ".join(node_ips))
            policies.append({"priority": ALLOW_PRIORITY, "match": match,
                             "action": "allow", "options": {"pkt_mark": str(int(DO_NOT_SNAT_MARK, 16))},
                             "external_ids": {"EgressSVC": "served-pods"}})
    return {"nb_policies": policies, "nodes": per_node, "snat_chain": snat_chain,
            "do_not_snat_mark": DO_NOT_SNAT_MARK}
