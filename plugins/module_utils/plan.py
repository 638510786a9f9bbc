# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan: raw intent -> typed intent (model) -> assignment (assign) -> each node's objects
(the layout named by settings.layout) -> the plan the egress_plan action returns.

    plan(raw, node_facts, settings, compact=False) -> {"nodes", "namespaces", "settings", "problems"}
    validate(raw, node_facts, settings) -> [problem, ...]

``raw`` comes from sources.py.  LAYOUTS is the registry of layouts: a new layout is one file
``layout_<name>.py`` with a Layout subclass, and one line here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sdn.egress.plugins.module_utils import digests
from ansible_collections.sdn.egress.plugins.module_utils.assign import assign
from ansible_collections.sdn.egress.plugins.module_utils.compact import compact_node_plan
from ansible_collections.sdn.egress.plugins.module_utils.layout_sdn3 import Sdn3
from ansible_collections.sdn.egress.plugins.module_utils.layout_sdn48 import Sdn48
from ansible_collections.sdn.egress.plugins.module_utils.layouts import NodeObjects
from ansible_collections.sdn.egress.plugins.module_utils.addr import IPAddress, show
from ansible_collections.sdn.egress.plugins.module_utils.garp import probe_line
from ansible_collections.sdn.egress.plugins.module_utils.model import build, warning_message
from ansible_collections.sdn.egress.plugins.module_utils.ovs import (
    Flow,
    find_flow_conflicts,
    flow_key,
    format_flow,
    parse_dump_flows,
)
from ansible_collections.sdn.egress.plugins.module_utils.snat import find_conflicts

# settings.layout -> Layout class (layouts.py describes the interface); the first is the default
LAYOUTS = {
    "sdn3": Sdn3,
    "sdn48": Sdn48,
}


def validate(raw, node_facts=None, settings=None):
    """Every problem of a raw intent, as a sorted list of messages (empty when it can be applied)."""
    return plan(raw, node_facts, settings)["problems"]


def plan(raw, node_facts=None, settings=None, compact=False):
    """What every node must have.  Returns::

        {"nodes": {node: {"inventory_host", "host_ip", "reachable",
                          "flows": [{table, priority, match, actions}],
                          "groups": [{group_id, type, buckets}]   (layouts with groups only),
                          "snat": [{mark, egress_ip, name}], "reject": [ip],
                          "addresses": [{address, interface?, prefix?}],
                          "probes": [{address, interface, owners, known}] (new_addresses: what
                                    the node newly claims, probed before any change),
                          "monitor_ports": [{name, ofport, remote_ip}] (settings.failover dataplane)}},
         "namespaces": [{name, netid, vnid_hex, mark, egress_ips, active_ip, node,
                         state: active|dropped|no-egress, reason
                         (load-balanced layouts also: active_ips, nodes; dataplane failover,
                         with a group: buckets [[ip, node, node host IP]] in failover order)}],
         "settings": {cluster_cidrs, layout, mark_rule, masquerade_bit, table, priority, failover,
                      failover_vni, snat_conflicts, flow_conflicts, flow_force},
         "warnings": [{field, value, reason}],   (sorted by field)
         "allocation": {nodes: {node: [ip]}, declared: {node: [ip]}, changed: [node],
                        moved: [{ip, namespace, node, from, why}]}
                       (nodes with egress_cidrs: what HostSubnet.egressIPs becomes, see
                        assign.allocate; rows of automatic IPs also have
                        allocated: {ip, mode, node, from, why}),
         "problems": [message, ...]}

    ``warnings`` is the intent that is ignored or degrades a namespace (see ``_warnings``);
    with ``settings.strict`` each is also a problem ("strict: <warning>").
    Conflicts (``_Conflicts``: foreign rules and flows of a node's preflight that take a declared
    namespace's traffic before ours) are problems or warnings as settings.snat_conflicts /
    flow_conflicts say.

    With ``compact`` each node is compact.compact_node_plan's strings instead, plus
    ``probe_text`` (garp.probe_line per new address, "" on a warm run) and ``counts.probes``;
    and ``prune_monitor_ports`` (whether the node wants or has monitor ports of ours).
    The plan is computed even when there are problems; apply it only when there are none.
    """
    intent = build(raw, node_facts, settings, LAYOUTS)
    assignment = assign(intent)
    layout = LAYOUTS[intent.settings.layout]()
    layout.prepare(intent, assignment)
    nodes = {}
    missing = {}
    owners = _owners(assignment)
    holders = _holders(intent.facts)
    conflicts = _Conflicts(intent, layout)
    for node in intent.nodes:
        facts = intent.facts[node.name]
        header = {"inventory_host": node.inventory_host,
                  "host_ip": str(node.host_ip) if node.host_ip is not None else None,
                  "reachable": facts.reachable}
        if facts.reachable:
            objects = layout.render(node, intent.namespaces, assignment, intent.facts, intent.settings)
        else:
            objects = NodeObjects()
        missing.update(objects.missing)
        probes = new_addresses(node.name, objects.addresses, intent.facts, owners, holders)
        if facts.reachable:
            conflicts.check(node, facts, objects)
        if compact:
            nodes[node.name] = compact_node_plan(header, objects, layout, intent.settings)
            nodes[node.name]["probe_text"] = "\n".join(probe_line(p["address"], p["interface"], p["owners"], p["known"])
                                                       for p in probes)
            nodes[node.name]["counts"]["probes"] = len(probes)
            # the monitor-port prune has nothing to do on a node that has no monitor port of
            # ours (preflight; None: unknown) and wants none
            nodes[node.name]["prune_monitor_ports"] = bool(objects.monitor_ports) or facts.owned_monitor_ports != []
            # which phases' modules would change nothing (the preflight's digests equal the plan's)
            nodes[node.name]["unchanged"] = _unchanged(nodes[node.name], facts, intent.settings, layout)
        else:
            nodes[node.name] = _node_entry(header, objects, layout)
            nodes[node.name]["probes"] = probes
    problems = intent.problems
    problems.extend("node_facts[%s].%s: missing; needed because %s" % (name, fact, why)
                    for (name, fact), why in missing.items())
    warnings = _warnings(intent, assignment, conflicts.warnings)
    if intent.settings.strict:
        problems.extend("strict: %s" % warning_message(warning) for warning in warnings)
    return {"nodes": nodes, "namespaces": _rows(intent, assignment, layout),
            "settings": intent.settings.as_dict(), "warnings": warnings,
            "allocation": assignment.allocation.as_dict(), "problems": sorted(set(problems))}


def _owners(assignment):
    """{address text: [namespace names]} of every egress IP some namespace lists."""
    return dict((str(ip), sorted(member.name for group in groups for member in group.members))
                for ip, groups in assignment.ip_groups.items())


def _holders(facts):
    """{address text: [(node name, MAC)]} of what every reachable node holds now (preflight)."""
    holders = {}
    for name, fact in facts.items():
        if fact.reachable and fact.held:
            for address, mac in fact.held.items():
                if mac:
                    holders.setdefault(address, []).append((name, mac))
    return holders


def new_addresses(name, entries, facts, owners, holders=None):
    """The IPv4 addresses node ``name`` is about to newly claim: its planned address entries
    ({address, interface?}) minus the addresses its preflight says it holds (all of them when
    the preflight did not say), as [{address, interface, owners, known}] for an ARP probe
    (garp.probe_line).  ``interface``: the one the claim uses when known (named by the
    inventory, or the one interface whose network holds the address), else None (the node
    finds it); ``known``: MACs of the other reachable nodes that hold the address now (they give
    it up in this run: their answers are not conflicts).  Empty on a warm run."""
    own = facts[name]
    if not own.reachable:
        return []
    if holders is None:
        holders = _holders(facts)
    held = own.held or {}
    probes = []
    for entry in entries:
        address = entry["address"]
        if address in held or ":" in address:  # held, or IPv6 (the kernel's DAD, no ARP)
            continue
        interface = entry.get("interface")
        if interface is None and own.networks:
            ip = IPAddress(address)
            holding = set(ifname for ifname, net in own.networks if ip in net)
            if len(holding) == 1:
                interface = holding.pop()
        known = sorted(set(mac for other, mac in holders.get(address, ()) if other != name))
        probes.append({"address": address, "interface": interface, "owners": owners.get(address, []),
                       "known": known})
    return probes


def _warnings(intent, assignment, more=()):
    """What the intent asks for and the plan does not do, sorted by field: hosts and nodes that
    are not both in the inventory and in the HostSubnets (from the model), nodes that did not
    answer, namespaces whose traffic is dropped, egress IPs of an active namespace that cannot
    be used, egress IPs of a node that no namespace lists, and ``more`` (the conflicts left with
    mode warn)."""
    warnings = intent.warnings
    unmanaged = set(intent.unmanaged)
    for node in intent.nodes:
        path = "nodes[%s]" % show(node.name)
        if not intent.facts[node.name].reachable and node.name not in unmanaged:
            warnings.add(path, node.name, "did not answer: planned as offline (nothing is changed on it, "
                                          "its egress IPs are not used)")
        for ip in node.egress_ips:
            if ip not in assignment.ip_groups:
                warnings.add(path + ".egress_ips", str(ip), "is listed by no namespace: not claimed" + (
                    " (automatic allocation takes it off the node)" if node.egress_cidrs else ""))
    for name, ip, why in assignment.allocation.removed:
        warnings.add("nodes[%s].egress_ips" % show(name), str(ip), why)
    for group in intent.namespaces:
        status = assignment.status[group.vnid]
        ips = [str(ip) for ip in group.ips]
        for member in group.members:
            path = "namespaces[%s].egress_ips" % show(member.name)
            if status.state == "dropped":
                warnings.add(path, ips, "cannot be used, the traffic of namespace %s is dropped: %s"
                             % (show(member.name), status.reason))
            elif status.unused:
                warnings.add(path, ips, "are not all usable, namespace %s leaves only through %s: %s"
                             % (show(member.name), ", ".join(str(ip) for ip, dummy in status.online),
                                "; ".join(status.unused)))
    warnings.extend(more)
    warnings.sort(key=lambda warning: (warning["field"], warning_message(warning)))
    return list(warnings)


# find_conflicts skips the rules of an owner; the preflight returned foreign rules only, and no
# comment of an iptables-save line holds a newline
_NO_OWNER = "\n"
_SNAT_REMEDY = "egress_snat_conflicts: remove deletes it, warn leaves it"
_FLOW_REMEDY = "egress_flow_conflicts: remove deletes it, warn leaves it"


class _Conflicts:
    """Foreign SNAT rules and flows (the preflight's ``foreign_rules`` / ``foreign_flows``) that
    take a declared namespace's traffic before ours on a node, checked against the node's own
    rules and flows (snat.find_conflicts, ovs.find_flow_conflicts, the functions the modules
    egress_snat and ovs_flow run at apply time): settings.snat_conflicts / flow_conflicts fail
    -> plan problems, warn -> warnings, remove -> nothing (the modules delete them).  A foreign
    flow with the table, priority and match of one of ours is a problem unless
    settings.flow_force (ovs_flow refuses it otherwise, whatever the mode).  Nodes without
    preflight data (None) are not checked; the modules still are."""

    def __init__(self, intent, layout):
        self.intent, self.settings = intent, intent.settings
        self.masquerade = layout.snat_masquerade
        self.cidrs = [str(net) for net in intent.settings.cluster_networks]
        self.by_mark = dict((group.mark, group) for group in intent.namespaces)
        self.by_match = {}
        for group in intent.namespaces:
            for match in layout.reg0(group.vnid):
                self.by_match[match] = group
        self.warnings = []
        self._flows = {}   # foreign lines -> ([Flow], {our flow key: [(Flow, reason)]}): nodes share them

    def _who(self, group):
        if group is None:
            return "a declared namespace"
        names = ", ".join(show(member.name) for member in group.members)
        return "VNID %d (namespace%s %s)" % (group.vnid, "s" if len(group.members) > 1 else "", names)

    def _report(self, mode, node, value, reason, remedy):
        path = "nodes[%s]" % show(node.name)
        if mode == "fail":
            self.intent.problems.add(path, value, "%s (nothing was changed; %s)" % (reason, remedy))
        elif mode == "warn":
            self.warnings.append({"field": path, "value": value, "reason": "%s: left in place (warn)" % reason})

    def check(self, node, facts, objects):
        settings = self.settings
        if facts.foreign_rules and objects.snat and settings.snat_conflicts != "remove":
            marks = sorted(set((int(rule["mark"], 16), rule["mark"], rule["name"]) for rule in objects.snat))
            lines = [line for dummy, line in facts.foreign_rules]
            for conflict in find_conflicts(lines, _NO_OWNER, marks, self.cidrs, None, self.masquerade):
                index = facts.foreign_rules[conflict.index][0]
                self._report(settings.snat_conflicts, node, conflict.rule,
                             "is a foreign rule (position %d of its chain) above our SNAT rules that catches the "
                             "packets of mark %s, %s, first: %s"
                             % (index + 1, conflict.mark, self._who(self.by_mark.get(conflict.mark)), conflict.reason),
                             _SNAT_REMEDY)
        if facts.foreign_flows and objects.flows:
            self._check_flows(node, facts.foreign_flows, objects.flows)

    def _check_flows(self, node, lines, flows):
        """Each of the node's flows against the node's foreign flows; the verdicts are cached per
        set of foreign flows and flow key (nodes share both), so a node costs a lookup per flow."""
        cached = self._flows.get(tuple(lines))
        if cached is None:
            existing = parse_dump_flows("\n".join(lines))
            cached = self._flows[tuple(lines)] = (existing, dict((flow_key(flow), flow) for flow in existing), {})
        existing, same, verdicts = cached
        for flow in flows:
            key = (flow["table"], flow["priority"], flow["match"])
            hits = verdicts.get(key)
            if hits is None:
                ours = Flow(key[0], key[1], key[2], flow["actions"], 0)
                # the preflight returned foreign flows only: no cookie of theirs is None
                hits = verdicts[key] = ([same[key]] if key in same else [],
                                        [(foreign, reason) for dummy, foreign, reason
                                         in find_flow_conflicts([ours], existing, None)])
            if hits[0] or hits[1]:
                self._report_flow(node, key, hits)

    def _report_flow(self, node, key, hits):
        settings = self.settings
        table, priority, match = key
        group = self.by_match.get(match)
        if hits[0] and not settings.flow_force:
            self.intent.problems.add(
                "nodes[%s]" % show(node.name), format_flow(hits[0][0]),
                "is a foreign flow with the table, priority and match of our flow for %s (nothing was changed; "
                "egress_flow_force: true replaces it)" % self._who(group))
        if settings.flow_conflicts == "remove":
            return
        for foreign, reason in hits[1]:
            self._report(settings.flow_conflicts, node, format_flow(foreign),
                         "is a foreign flow that takes the traffic of %s first (our flow: table=%d, "
                         "priority=%d, %s): %s" % (self._who(group), table, priority, match, reason),
                         _FLOW_REMEDY)


def _unchanged(node_plan, facts, settings, layout):
    """digests.unchanged for a reachable node ({flows, rules, addresses}: all False without the
    preflight's digests)."""
    if not facts.reachable or facts.owned is None:
        return dict((kind, False) for kind in digests.KINDS)
    networks = None
    if facts.networks is not None:
        networks = {}
        for name, net in facts.networks:
            networks.setdefault(name, []).append(str(net))
    foreign = {"flows": facts.foreign_flows,
               "rules": None if facts.foreign_rules is None else [line for dummy, line in facts.foreign_rules]}
    return digests.unchanged(node_plan, facts.owned, networks, settings.as_dict(), layout.snat_masquerade, foreign)


def _node_entry(header, objects, layout):
    entry = dict(header)
    entry["flows"] = objects.flows
    if layout.groups:
        entry["groups"] = objects.groups
    entry.update(snat=objects.snat, reject=objects.reject, addresses=objects.addresses)
    if getattr(layout, "failover", False):
        entry["monitor_ports"] = objects.monitor_ports
    return entry


def _rows(intent, assignment, layout):
    """One row per namespace, sorted by name."""
    rows = []
    placed = assignment.allocation.placed
    for group in intent.namespaces:
        status = assignment.status[group.vnid]
        online = status.online
        egress_ips = [str(ip) for ip in group.ips]
        active = [str(ip) for ip, dummy in online]
        nodes = [node.name for dummy, node in online]
        placement = None   # automatic IPs (egress_cidrs): where the IP lives and why
        if len(group.ips) == 1 and group.ips[0] in placed:
            placement = placed[group.ips[0]].as_row(group.ips[0])
        # dataplane failover: the fast-failover group's buckets in order, [ip, node, node's host
        # IP] (the report tells from the nodes' BFD state which one is live)
        buckets = None
        if getattr(layout, "failover", False) and group.vnid in layout.candidates:
            buckets = [(str(ip), node.name, str(node.host_ip)) for ip, node in layout.candidates[group.vnid]]
        for member in group.members:
            row = {"name": member.name, "netid": group.vnid, "vnid_hex": "0x%x" % group.vnid, "mark": group.mark,
                   "egress_ips": list(egress_ips), "active_ip": active[0] if active else None,
                   "node": nodes[0] if nodes else None, "state": status.state, "reason": status.reason}
            if layout.load_balanced:
                row["active_ips"], row["nodes"] = list(active), list(nodes)
            if placement is not None:
                row["allocated"] = placement
            if buckets is not None:
                row["buckets"] = [list(bucket) for bucket in buckets]
            rows.append(row)
    rows.sort(key=lambda row: row["name"])
    return rows
