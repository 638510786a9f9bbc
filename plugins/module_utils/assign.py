# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which egress IP is on which node, and which of a namespace's IPs are usable.

Behaviour of openshift-sdn (``pkg/network/common/egressip.go``), the same for every layout:

* an egress IP is *assigned* when exactly one namespace (VNID) and exactly one node
  (HostSubnet ``egressIPs``) list it, and the namespace has no other IP on that node;
* egress IPs no HostSubnet lists go, like ``egressCIDRs`` allocation, to a reachable node
  whose egress_cidrs hold them (single-IP namespaces only, as in 3.x);
* an assigned IP is *online* when its node is reachable; a namespace's online IPs, in its
  egress-IP order, are what a layout sends its traffic through (3.x: the first; 4.8+: all);
* no online IP, or an IP also listed by another namespace -> the namespace is dropped, its
  traffic never leaves with a node IP, and none of its IPs is claimed anywhere (openshift-sdn
  still claims its other IPs on their nodes, unused).

Differences from openshift-sdn, on purpose: a namespace with a single egress IP whose node
is unreachable is dropped (openshift-sdn only checks reachability with two or more IPs),
and ``egressCIDRs`` ties are broken by node name instead of Go map order.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sdn.egress.plugins.module_utils.addr import NetIndex


def ip_key(ip):
    """Sort key of an address: family, then value (cheaper than comparing IPAddress objects)."""
    return (ip.version, int(ip))


class Status:
    """A namespace's egress: ``state`` active | dropped | no-egress, ``online`` [(IPAddress,
    Node)] its usable IPs in egress-IP order (empty unless active), ``reason`` (dropped),
    ``unused`` ["<ip>: why"] the IPs of an active namespace that cannot be used."""

    __slots__ = ("state", "online", "reason", "unused")

    def __init__(self, state, online=(), reason=None, unused=()):
        self.state = state
        self.online = list(online)
        self.reason = reason
        self.unused = list(unused)


class Assignment:
    """``ip_groups`` {ip: [Namespace]} who lists each IP; ``ip_nodes`` {ip: [node name]} which
    nodes hold it (egressCIDRs choices included); ``assigned`` {ip: (node name, Namespace)};
    ``status`` {VNID: Status}; ``claims`` {node name: [(ip, Namespace)]}, the assigned IPs of
    each reachable node in address order (a node claims all of them, active or not, as
    openshift-sdn ClaimEgressIP does, so failover only rewrites flows)."""

    __slots__ = ("ip_groups", "ip_nodes", "assigned", "status", "claims")


def assign(intent):
    """The Assignment of an Intent; its problems are added to ``intent.problems``."""
    problems = intent.problems
    groups, invalid, nodes, facts = intent.namespaces, intent.invalid, intent.nodes, intent.facts
    result = Assignment()
    ip_groups = result.ip_groups = {}
    for group in groups + invalid:
        for ip in group.ips:
            ip_groups.setdefault(ip, []).append(group)
    ip_nodes = result.ip_nodes = {}
    for node in nodes:
        for ip in node.egress_ips:
            ip_nodes.setdefault(ip, []).append(node.name)
    for ip, claimants in ip_groups.items():
        for group in claimants[1:]:
            problems.add("namespaces[%s].egress_ips" % group.name, str(ip),
                         "is also listed by namespace %s" % claimants[0].name)
    for ip, names in ip_nodes.items():
        for name in names[1:]:
            problems.add("nodes[%s].egress_ips" % name, str(ip), "is also listed by node %s" % names[0])

    # egressCIDRs: single-IP namespaces whose IP no HostSubnet lists (3.x leaves HA lists alone)
    candidates = [group.ips[0] for group in groups if len(group.ips) == 1 and not group.conflict
                  and len(ip_groups[group.ips[0]]) == 1 and group.ips[0] not in ip_nodes
                  and not (intent.bad_ips and group.ips[0] in intent.bad_ips)]
    for ip, name in _auto_assign(candidates, nodes, facts).items():
        ip_nodes[ip] = [name]

    node_by_name = dict((node.name, node) for node in nodes)
    result.assigned = {}
    result.status = {}
    for group in groups:
        result.status[group.vnid] = _assign_group(group, result, node_by_name, facts, problems)
    claims = result.claims = dict((node.name, []) for node in nodes if facts[node.name].reachable)
    assigned = result.assigned
    for ip in sorted(assigned, key=ip_key):
        name, group = assigned[ip]
        if name in claims:
            claims[name].append((ip, group))
    return result


def _auto_assign(candidates, nodes, facts):
    """egressCIDRs allocation of unclaimed IPs: ``{ip: node name}``.

    Like openshift-sdn ReallocateEgressIPs: reachable nodes whose egress_cidrs hold the IP;
    IPs with a single candidate go first, the rest to the node with the fewest IPs (ties by
    node name), IPs in ascending order.
    """
    load = dict((node.name, len(node.egress_ips)) for node in nodes)
    index = NetIndex()
    for node in nodes:
        if facts[node.name].reachable:
            for net in node.egress_cidrs:
                index.add(net, node.name)
    if not index:
        return {}
    options = {}
    for ip in candidates:
        names = sorted(set(name for dummy, name in index.find(ip)))
        if names:
            options[ip] = names
    assigned = {}
    for single_pass in (True, False):
        for ip in sorted(options, key=ip_key):
            names = options[ip]
            if ip in assigned or (single_pass and len(names) != 1):
                continue
            best = min(names, key=lambda name: (load[name], name))
            assigned[ip] = best
            load[best] += 1
    return assigned


def _assign_group(group, assignment, node_by_name, facts, problems):
    """Assign the IPs of one VNID group (into ``assignment.assigned``) and return its Status:
    its online IPs in failover order, or why it is dropped."""
    if not group.ips:
        return Status("no-egress")
    if group.conflict:
        return Status("dropped", reason="namespaces sharing netid %d list different egress IPs" % group.vnid)
    ip_groups, ip_nodes = assignment.ip_groups, assignment.ip_nodes
    for ip in group.ips:
        # openshift-sdn counts every requested IP: one shared with another namespace refuses
        # the namespace, and none of its IPs is assigned (no address, SNAT or REJECT anywhere)
        if len(ip_groups[ip]) > 1:
            return Status("dropped", reason="%s is listed by namespaces %s" % (
                ip, ", ".join(sorted(other.name for other in ip_groups[ip]))))
    listed = [(ip, ip_groups[ip], ip_nodes.get(ip, ())) for ip in group.ips]
    on_node = {}   # node name -> indices into listed of the IPs only this group and that node list
    for index, (ip, claimants, holders) in enumerate(listed):
        if len(claimants) == 1 and len(holders) == 1:
            on_node.setdefault(holders[0], []).append(index)
    placed = {}    # index into listed -> node name
    for name, indices in sorted(on_node.items()):
        if len(indices) > 1:
            problems.add("namespaces[%s].egress_ips" % group.name, ", ".join(str(listed[i][0]) for i in indices),
                         "are all on node %s; openshift-sdn uses none of them" % name)
            continue
        placed[indices[0]] = name
        assignment.assigned[listed[indices[0]][0]] = (name, group)
    reasons = []
    online = []
    for index, (ip, claimants, holders) in enumerate(listed):
        name = placed.get(index)
        if name is not None:
            if facts[name].reachable:
                online.append((ip, node_by_name[name]))
            elif facts[name].unmanaged:
                reasons.append("%s: node %s is not in the inventory" % (ip, name))
            else:
                reasons.append("%s: node %s is unreachable" % (ip, name))
        elif not holders:
            reasons.append("%s: no node lists it" % ip)
        elif len(holders) > 1:
            reasons.append("%s: listed by nodes %s" % (ip, ", ".join(sorted(holders))))
        else:
            reasons.append("%s: another egress IP of the namespace is on node %s" % (ip, holders[0]))
    if not online:
        return Status("dropped", reason="; ".join(reasons))
    return Status("active", online, unused=reasons)
