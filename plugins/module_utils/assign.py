# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which egress IP is on which node, and which of a namespace's IPs are usable.

Behaviour of openshift-sdn (``pkg/network/common/egressip.go``), the same for every layout:

* an egress IP is *assigned* when exactly one namespace (VNID) and exactly one node
  (HostSubnet ``egressIPs``) list it, and the namespace has no other IP on that node;
* the egress IPs of nodes with ``egress_cidrs`` are the master's automatic allocation
  (``ReallocateEgressIPs``, ported in ``allocate``): IPs of single-IP namespaces stay where
  they are while their node is reachable and its egress_cidrs hold them, move to a reachable
  node whose egress_cidrs hold them otherwise, are placed when no node lists them, and are
  given back to a node that returns (rebalancing); IPs no namespace lists and IPs of
  namespaces with several egress IPs are taken off those nodes (not claimed, a warning);
  the egress IPs of nodes without egress_cidrs stay as declared (manual);
* an assigned IP is *online* when its node is reachable; a namespace's online IPs, in its
  egress-IP order, are what a layout sends its traffic through (3.x: the first; 4.8+: all);
* no online IP, or an IP also listed by another namespace -> the namespace is dropped, its
  traffic never leaves with a node IP, and none of its IPs is claimed anywhere.

Differences from openshift-sdn, on purpose: a namespace with a single egress IP whose node
is unreachable (and that automatic allocation cannot move) is dropped (openshift-sdn only
checks reachability with two or more IPs); the master's rounds (each one a HostSubnet update
and a new reallocation) are run to their end within one plan; ties are broken by node name
instead of Go map order; a manual egress IP does not stop rebalancing (in 3.11 any egress IP
on a node without egressCIDRs counts as "removed" and skips the balance check); a namespace
that shares an IP with another has none of its IPs claimed (openshift-sdn still claims its
other IPs on their nodes, unused).
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
    nodes hold it (after automatic allocation); ``assigned`` {ip: (node name, Namespace)};
    ``status`` {VNID: Status}; ``claims`` {node name: [(ip, Namespace)]}, the assigned IPs of
    each reachable node in address order (a node claims all of them, active or not, as
    openshift-sdn ClaimEgressIP does, so failover only rewrites flows); ``allocation`` the
    Allocation of the nodes with egress_cidrs."""

    __slots__ = ("ip_groups", "ip_nodes", "assigned", "status", "claims", "allocation")


class Allocation:
    """The master's allocation of the nodes with egress_cidrs (openshift-sdn ReallocateEgressIPs).

    ``declared`` {node name: [ip]} their egress IPs as given (the HostSubnets), ``nodes``
    {node name: [ip]} the allocation (what HostSubnet.egressIPs becomes), both in address
    order; ``placed`` {ip: Placement} every automatic IP (the IP of a single-IP namespace that
    no node without egress_cidrs lists); ``removed`` [(node name, ip, why)] IPs taken off a
    node with egress_cidrs and given to no node for a reason other than being automatic
    (unused, several IPs in the namespace); ``rounds`` how many reallocations it took."""

    __slots__ = ("declared", "nodes", "placed", "removed", "rounds")

    def changed(self):
        """Names of the nodes whose egress IPs the allocation changes."""
        return sorted(name for name, ips in self.nodes.items() if ips != self.declared.get(name, []))

    def as_dict(self):
        """The plan's ``allocation``: {nodes: {node: [ip]}, declared: {node: [ip]}, changed:
        [node], moved: [{ip, namespace, node, from, why}] (automatic IPs not where declared)}."""
        moved = []
        for ip in sorted(self.placed, key=ip_key):
            place = self.placed[ip]
            if place.node != place.previous:
                moved.append({"ip": str(ip), "namespace": place.group.name, "node": place.node,
                              "from": place.previous, "why": place.why})
        return {"nodes": dict((name, [str(ip) for ip in ips]) for name, ips in self.nodes.items()),
                "declared": dict((name, [str(ip) for ip in ips]) for name, ips in self.declared.items()),
                "changed": self.changed(), "moved": moved}


class Placement:
    """Where an automatic IP lives: ``node`` (None: no reachable node can hold it), ``previous``
    the node that listed it (None: none did), ``why`` why it is where it is."""

    __slots__ = ("group", "node", "previous", "why")

    def __init__(self, group, node, previous, why):
        self.group, self.node, self.previous, self.why = group, node, previous, why

    def as_row(self, ip):
        return {"ip": str(ip), "mode": "automatic", "node": self.node, "from": self.previous, "why": self.why}


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

    allocation = result.allocation = allocate(intent, ip_groups, ip_nodes)
    taken = set(allocation.placed)
    taken.update(ip for dummy, ip, dummy in allocation.removed)
    for name, ips in allocation.declared.items():
        for ip in ips:
            holders = ip_nodes.get(ip)
            if ip in taken and holders is not None and name in holders:
                holders.remove(name)
                if not holders:
                    del ip_nodes[ip]
    for name, ips in allocation.nodes.items():
        for ip in ips:
            ip_nodes.setdefault(ip, []).append(name)

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


# ---------------------------------------------------------------------------------------
# automatic allocation (egressCIDRs): openshift-sdn pkg/network/common/egressip.go,
# makeEmptyAllocation, allocateExistingEgressIPs, allocateNewEgressIPs, ReallocateEgressIPs

MAX_ROUNDS = 16


def _offline_why(name, facts):
    return "node %s is %s" % (name, "not in the inventory" if facts[name].unmanaged else "unreachable")


def allocate(intent, ip_groups, ip_nodes):
    """The Allocation of the nodes with egress_cidrs.

    Like the master, in rounds until nothing changes (each round is one ReallocateEgressIPs
    over the previous round's HostSubnets): an automatic IP stays on its node while the node
    is reachable and its egress_cidrs hold it, else it is taken off (and placed in the next
    round); unplaced automatic IPs go first where only one reachable node can hold them, then
    to the node with the fewest IPs (ties: node name); when no IP was taken off, a node given
    less than half of what a fresh allocation would give it gets those IPs back (they are
    taken off their nodes and placed again in the next round)."""
    nodes, facts = intent.nodes, intent.facts
    result = Allocation()
    cidr_nodes = [node for node in nodes if node.egress_cidrs]
    result.declared = dict((node.name, sorted(node.egress_ips, key=ip_key)) for node in cidr_nodes)
    result.placed, result.removed, result.rounds = {}, [], 0
    if not cidr_nodes:
        result.nodes = {}
        return result
    cidr_names = set(result.declared)
    bad = intent.bad_ips or ()

    # makeEmptyAllocation: what is never allocated automatically (and so taken off these nodes)
    auto = {}    # ip -> its Namespace: the IPs the master allocates
    for ip, claimants in ip_groups.items():
        holders = ip_nodes.get(ip, ())
        group = claimants[0]
        if (len(claimants) == 1 and len(group.ips) == 1 and group.vnid is not None and not group.conflict
                and ip not in bad and len(holders) <= 1 and not (holders and holders[0] not in cidr_names)):
            auto[ip] = group
    for node in cidr_nodes:
        for ip in result.declared[node.name]:
            if ip in auto:
                continue
            claimants = ip_groups.get(ip, ())
            if not claimants:
                continue   # "listed by no namespace: not claimed" (plan warnings)
            if len(claimants) == 1 and len(claimants[0].ips) > 1:
                result.removed.append((node.name, ip, "belongs to namespace %s, which has %d egress IPs: automatic "
                                       "allocation (egress_cidrs) only places the IP of a single-IP namespace, as "
                                       "openshift-sdn's master does; not claimed (list it on a node without "
                                       "egress_cidrs for manual HA)" % (claimants[0].name, len(claimants[0].ips))))

    # which reachable nodes can hold each automatic IP (their egress_cidrs, and their known networks)
    index = NetIndex()
    online = set()
    for node in cidr_nodes:
        if facts[node.name].reachable:
            online.add(node.name)
            for net in node.egress_cidrs:
                index.add(net, node)
    order = sorted(auto, key=ip_key)
    options = {}
    for ip in order:
        names = set()
        for dummy, node in index.find(ip):
            networks = node.networks()
            if not networks or any(ip in net for net in networks):
                names.add(node.name)
        options[ip] = sorted(names)
    fits = {}   # (node name, ip) -> whether the node's egress_cidrs hold it
    by_name = dict((node.name, node) for node in cidr_nodes)

    def fit(name, ip):
        key = (name, ip)
        if key not in fits:
            fits[key] = any(ip in net for net in by_name[name].egress_cidrs)
        return fits[key]

    why = {}   # ip -> the first reason it was taken off a node

    def existing(allocation, done, holder):
        """allocateExistingEgressIPs: True when an IP was taken off its node."""
        removed = False
        for ip in order:
            name = holder.get(ip)
            if name is None or ip in done:
                continue
            if name in online and fit(name, ip):
                allocation[name].append(ip)
            else:
                removed = True
                why.setdefault(ip, _offline_why(name, facts) if name not in online else
                               "it is outside the egress_cidrs of node %s" % name)
            done.add(ip)
        return removed

    def new(allocation, done):
        """allocateNewEgressIPs: single-candidate IPs first, then the fewest IPs (ties: name)."""
        pending = [ip for ip in order if ip not in done and options[ip]]
        for ip in pending:
            if len(options[ip]) == 1:
                allocation[options[ip][0]].append(ip)
                done.add(ip)
        for ip in pending:
            if ip not in done:
                best = min(options[ip], key=lambda name: (len(allocation[name]), name))
                allocation[best].append(ip)

    def reallocate(holder):
        allocation = dict((name, []) for name in cidr_names)
        done = set()
        if existing(allocation, done, holder):
            new(allocation, done)
            return allocation
        new(allocation, done)
        full = dict((name, []) for name in cidr_names)
        new(full, set())
        empty = [name for name in sorted(full) if len(allocation[name]) < len(full[name]) // 2]
        if not empty:
            return allocation
        allocation = dict((name, []) for name in cidr_names)
        done = set()
        for name in empty:
            for ip in full[name]:
                done.add(ip)
                if holder.get(ip) is not None:
                    why.setdefault(ip, "rebalanced: node %s returned or has room (it holds fewer than half of "
                                       "the automatic IPs a fresh allocation gives it)" % name)
        existing(allocation, done, holder)
        new(allocation, done)
        return allocation

    start = {}
    for name in sorted(cidr_names):
        for ip in result.declared[name]:
            if ip in auto:
                start[ip] = name
    holder = dict(start)
    for result.rounds in range(1, MAX_ROUNDS + 1):
        allocation = reallocate(holder)
        following = dict((ip, name) for name, ips in allocation.items() for ip in ips)
        if following == holder:
            break
        holder = following
    result.nodes = dict((name, sorted((ip for ip, held in holder.items() if held == name), key=ip_key))
                        for name in sorted(cidr_names))
    for ip in order:
        node, previous = holder.get(ip), start.get(ip)
        if node is not None and node == previous:
            reason = "kept on node %s" % node
        elif node is not None:
            reason = why.get(ip) or "no node listed it"
            if previous is not None and ip not in why:
                reason = "moved"
        elif not options[ip]:
            reason = "no reachable node's egress_cidrs hold it"
            if previous is not None:
                reason = "%s (%s)" % (reason, why.get(ip) or "it was on node %s" % previous)
        else:
            reason = why.get(ip) or "not placed"
        result.placed[ip] = Placement(auto[ip], node, previous, reason)
    return result


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
        if len(holders) == 1:
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
    allocation = assignment.allocation
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
            reasons.append("%s: %s" % (ip, _unlisted_why(ip, allocation)))
        elif len(holders) > 1:
            reasons.append("%s: listed by nodes %s" % (ip, ", ".join(sorted(holders))))
        else:
            reasons.append("%s: another egress IP of the namespace is on node %s" % (ip, holders[0]))
    if not online:
        return Status("dropped", reason="; ".join(reasons))
    return Status("active", online, unused=reasons)


def _unlisted_why(ip, allocation):
    """Why no node holds an IP of a namespace (automatic allocation or nothing)."""
    place = allocation.placed.get(ip)
    if place is not None:
        return "automatic (egress_cidrs): %s" % place.why
    for name, removed, dummy in allocation.removed:
        if removed == ip:
            return "taken off node %s: automatic allocation (egress_cidrs) places single-IP namespaces only" % name
    return "no node lists it"
