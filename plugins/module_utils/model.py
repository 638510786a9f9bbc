# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The typed intent: settings, namespaces grouped by VNID, nodes and node facts, checked.

    intent = build(raw, node_facts, settings, layouts)

``raw`` comes from sources.py; ``layouts`` is the layout registry (plan.LAYOUTS), which tells
the address families a layout handles and its default table and mark rule.  Every value is
checked and EVERY problem is listed (``intent.problems``) as ``<field path>: <value> <what is
wrong>``; an invalid value is left out (or planned as its default) so the rest can still be
checked.  Integers and IP values are parsed by addr.py only (netaddr objects); the model takes
both address families, and a value of a family the layout does not handle (IPv6 in an sdn
layout) is a problem naming the field.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections

from ansible_collections.sdn.egress.plugins.module_utils.addr import (
    HAS_NETADDR,
    AddrError,
    IPAddress,
    NetIndex,
    parse_int,
    parse_interface,
    parse_ip,
    parse_network,
    show,
)
from ansible_collections.sdn.egress.plugins.module_utils.marks import MARK_RULES, MAX_VNID, mark_value

DEFAULT_LAYOUT = "sdn3"
DEFAULT_SETTINGS = {
    "cluster_cidrs": ["10.128.0.0/14"],
    "layout": DEFAULT_LAYOUT,
    "masquerade_bit": 0,
    "priority": 100,
    # mark_rule and table: the layout's (Layout.mark_rule, Layout.table) unless given
}
SETTING_KEYS = ("cluster_cidrs", "failover", "failover_vni", "flow_conflicts", "flow_force", "layout", "mark_rule",
                "masquerade_bit", "priority", "snat_conflicts", "snat_remove_conflicts", "strict", "table")
# settings.snat_conflicts / flow_conflicts: what a run does about a foreign rule or flow that takes
# a declared namespace's traffic before ours (a conflict, found by the plan in the preflight's
# data): fail (a plan problem, before any change), warn (a plan warning) or remove (the node
# modules delete it); the modules egress_snat and ovs_flow take the same modes
CONFLICT_MODES = ("fail", "warn", "remove")
# settings.failover: run (a namespace moves to its next egress IP when the playbook runs) or
# dataplane (OpenFlow fast-failover groups and BFD monitor ports switch by themselves; sdn3 only)
FAILOVER_MODES = ("run", "dataplane")
FAILOVER_LAYOUTS = ("sdn3",)
# VNI of the BFD monitor ports (settings.failover_vni): openshift-sdn allocates netids from 10 to
# 2^24-1, so no value is safe by construction; a declared namespace using it is a problem
DEFAULT_FAILOVER_VNI = 0xFFFFFE
MAX_OFPORT = 0xFEFF
_HEX = frozenset("0123456789abcdef")
_FAMILY_WORDS = {(4,): "an IPv4", (6,): "an IPv6", (4, 6): "an IP"}


class Problems(list):
    """Problem messages; ``add`` writes "<path>: <value> <text>", or "<path>: missing" for None."""

    def add(self, path, value, text):
        self.append("%s: missing" % path if value is None else "%s: %s %s" % (path, show(value), text))


class Warnings(list):
    """Intent that is ignored or degrades a namespace: {field, value, reason} entries.  The run
    goes on; the plan lists them, the report prints them at the end, ``settings.strict`` turns
    them into problems."""

    def add(self, field, value, reason):
        self.append({"field": field, "value": value, "reason": reason})


def warning_message(warning):
    """A warning as one line, "<field>: <value> <reason>" ("<field>: <reason>" without a value),
    the user's strings escaped (show)."""
    if warning.get("value") is None:
        return "%s: %s" % (warning["field"], warning["reason"])
    return "%s: %s %s" % (warning["field"], show(warning["value"]), warning["reason"])


def label(item, index):
    """How a list entry is named in a path: its name, else "#<index>"."""
    name = item.get("name") if isinstance(item, dict) else None
    return name if isinstance(name, str) and name else "#%d" % index


# ---------------------------------------------------------------------------------------
# the typed intent


if HAS_NETADDR:
    class IP(IPAddress):
        """An egress IP: a netaddr IPAddress that computes its hash and its text once.

        A plan looks each egress IP up in dictionaries a dozen times and prints it several
        times; IPAddress hashes a new (version, value) tuple and formats itself on each use.
        Equal to, and hashing like, the IPAddress it copies.
        """

        __slots__ = ("_hash", "_text")

        def __init__(self, ip):
            super(IP, self).__init__(ip)
            self._hash = hash(ip.key())
            self._text = str(ip)

        def __hash__(self):
            return self._hash

        def __str__(self):
            return self._text
else:  # the egress_plan action reports the missing library before building a model
    IP = None


class Settings:
    """Cluster-wide settings, defaults filled in (the layout's table and mark rule unless given)."""

    __slots__ = ("layout", "cluster_networks", "mark_rule", "masquerade_bit", "table", "priority", "failover",
                 "failover_vni", "strict", "snat_conflicts", "flow_conflicts", "flow_force")

    @property
    def mask(self):
        return 1 << self.masquerade_bit

    def as_dict(self):
        return {"cluster_cidrs": [str(net) for net in self.cluster_networks], "layout": self.layout,
                "mark_rule": self.mark_rule, "masquerade_bit": self.masquerade_bit,
                "table": self.table, "priority": self.priority, "failover": self.failover,
                "failover_vni": self.failover_vni, "snat_conflicts": self.snat_conflicts,
                "flow_conflicts": self.flow_conflicts, "flow_force": self.flow_force}


# one declared NetNamespace: name, netid (int or None when invalid), egress_ips [IPAddress]
Member = collections.namedtuple("Member", "name netid egress_ips")


class Namespace:
    """The namespaces sharing one VNID (openshift-sdn tracks egress per VNID)."""

    __slots__ = ("vnid", "members", "ips", "conflict", "mark")

    def __init__(self, vnid):
        self.vnid = vnid      # None: the group of one namespace whose netid is invalid
        self.members = []     # Member, in name order
        self.ips = []         # IPAddress, failover order
        self.conflict = False  # members list different egress IPs
        self.mark = None      # "0x..." (valid VNIDs)

    @property
    def name(self):
        return self.members[0].name


class Node:
    """A HostSubnet plus what the inventory knows about the node."""

    __slots__ = ("name", "inventory_host", "host_ip", "host_net", "subnet", "egress_ips", "egress_cidrs",
                 "interfaces")

    def __init__(self, name, inventory_host):
        self.name = name
        self.inventory_host = inventory_host
        self.host_ip = None      # IPAddress
        self.host_net = None     # IPNetwork, when host_ip carries a prefix
        self.subnet = None       # IPNetwork, the pod subnet
        self.egress_ips = []     # IPAddress (HostSubnet egressIPs)
        self.egress_cidrs = []   # IPNetwork (HostSubnet egressCIDRs)
        self.interfaces = []     # (interface name, IPNetwork address/prefix)

    def networks(self):
        """The networks the node is known to be on (its interfaces', its host_ip's)."""
        nets = [iface.cidr for dummy, iface in self.interfaces]
        if self.host_net is not None:
            nets.append(self.host_net)
        return nets

    def address_entry(self, ip):
        """{address, interface?, prefix?}: where the node claims ``ip`` (the most specific
        known network holding it)."""
        best = None
        for ifname, iface in self.interfaces:
            if ip in iface and (best is None or iface.prefixlen > best[1]):
                best = (ifname, iface.prefixlen)
        entry = {"address": str(ip)}
        if best is not None:
            entry["interface"], entry["prefix"] = best
        elif self.host_net is not None and ip in self.host_net:
            entry["prefix"] = self.host_net.prefixlen
        return entry


class NodeFacts:
    """Live facts of a node (its preflight, sdn.egress.egress_preflight, and a reachability
    check).  ``networks``: [(interface name, IPNetwork)] the node reports, None when unknown;
    ``problems``: [(what, detail)] what the node lacks; ``held``: {address text: MAC of its
    interface} of every address the node has now (the preflight's ``interfaces``), None when
    unknown; ``foreign_rules`` [(index, iptables-save line)] and ``foreign_flows`` [dump-flows
    line] (None: not read, no conflict check) what the plan checks for conflicts;
    ``owned_monitor_ports`` [name] (None: unknown); ``owned`` the preflight's digests of what we own
    (digests.py; None: not read, every phase runs)."""

    __slots__ = ("reachable", "unmanaged", "tun0_mac", "tun0_ofport", "vxlan_ofport", "networks", "problems",
                 "held", "foreign_rules", "foreign_flows", "owned_monitor_ports", "owned")

    def __init__(self):
        self.reachable = True
        self.unmanaged = False   # not in the inventory: planned as offline
        self.tun0_mac = None
        self.tun0_ofport = None
        self.vxlan_ofport = None
        self.networks = None
        self.problems = []
        self.held = None
        self.foreign_rules = None
        self.foreign_flows = None
        self.owned_monitor_ports = None
        self.owned = None


class Intent:
    """The checked intent.  ``namespaces``: VNID groups sorted by VNID; ``invalid``: one group
    (VNID None) per namespace whose netid is invalid (its egress IPs still count as claimed);
    ``nodes`` sorted by name; ``facts`` {node name: NodeFacts}; ``bad_ips``: egress IPs that
    are node addresses or inside the cluster/pod networks (never auto-assigned); ``warnings``
    (Warnings) what is ignored; ``unmanaged``: nodes that are not in the inventory (node facts
    were given, but none for them), planned as offline."""

    __slots__ = ("settings", "namespaces", "invalid", "nodes", "facts", "problems", "bad_ips", "warnings",
                 "unmanaged")


# ---------------------------------------------------------------------------------------
# checking


class _Values:
    """Parses a value through addr.py, reports it as a problem when it is not what the field needs."""

    def __init__(self, families, problems):
        self.families = families
        self.problems = problems
        self.family = _FAMILY_WORDS.get(tuple(sorted(families)), "an IP")
        self._ips = {}   # text as given -> IP: each spelling is parsed once, and equal texts are one object

    def ip(self, value, path):
        """An IP (egress IPs, node IPs) of one of the layout's families."""
        ip = self._ips.get(value) if isinstance(value, str) else None
        if ip is not None:
            return ip
        try:
            ip = parse_ip(value, path)
        except AddrError:
            ip = None
        if ip is None or ip.version not in self.families:
            self.problems.add(path, value, "is not %s address" % self.family)
            return None
        ip = self._ips[value] = IP(ip)
        return ip

    def interface(self, value, path):
        """An address with its prefix ("10.0.0.200/24")."""
        iface = self._prefixed(value, path)
        if iface is None:
            self.problems.add(path, value, "is not %s address/prefix" % self.family)
        return iface

    def network(self, value, path):
        """A CIDR whose host bits are zero ("10.0.0.0/24")."""
        net = self._prefixed(value, path)
        if net is None:
            self.problems.add(path, value, "is not %s CIDR" % self.family)
            return None
        if net.ip != net.network:
            self.problems.add(path, value, "has host bits set (the network is %s)" % net.cidr)
            return None
        return net

    def _prefixed(self, value, path):
        """"<address>/<prefix>" of one of the layout's families as an IPNetwork, or None."""
        try:
            net = parse_interface(value, path)
        except AddrError:
            return None
        return net if net.version in self.families else None

    def integer(self, value, path, low, high):
        if value is None:
            self.problems.add(path, None, "")
            return None
        try:
            return parse_int(value, path, low, high)
        except AddrError as exc:
            self.problems.append(str(exc))
            return None

    def ip_list(self, values, path):
        """Parsed addresses in order; malformed and repeated entries are reported and skipped."""
        if not isinstance(values, list):
            self.problems.add(path, values, "is not a list")
            return []
        if len(values) == 1:   # most namespaces: nothing can repeat
            ip = self.ip(values[0], path)
            return [] if ip is None else [ip]
        result = []
        seen = set()
        for value in values:
            ip = self.ip(value, path)
            if ip is None:
                continue
            if ip in seen:
                self.problems.add(path, value, "is listed twice")
                continue
            seen.add(ip)
            result.append(ip)
        return result


def build(raw, node_facts, settings, layouts):
    """The Intent of a raw intent (sources.py), node facts and settings; see the module doc."""
    problems = Problems(raw.get("problems") or [])
    intent = Intent()
    intent.problems = problems
    intent.warnings = Warnings(raw.get("warnings") or [])
    intent.settings = _settings(settings, layouts, problems)
    values = _Values(layouts[intent.settings.layout].families, problems)
    intent.namespaces, intent.invalid = _namespaces(raw.get("namespaces") or [], values)
    intent.nodes = _nodes(raw.get("nodes") or [], values)
    intent.facts, intent.unmanaged = _node_facts(node_facts, intent.nodes, values, intent.warnings,
                                                 set(raw.get("no_hostsubnet") or ()))
    intent.bad_ips = _check_addresses(intent.namespaces + intent.invalid, intent.nodes,
                                      intent.settings.cluster_networks, problems)
    for node in intent.nodes:
        _check_node_networks(node, intent.facts.get(node.name), problems)
        _check_node_problems(node, intent.facts.get(node.name), problems)
    mask = intent.settings.mask
    for group in intent.namespaces:
        group.mark = "0x%x" % mark_value(group.vnid, intent.settings.mark_rule, mask)
        if group.vnid == intent.settings.failover_vni and intent.settings.failover == "dataplane":
            problems.add("settings.failover_vni", group.vnid, "is the netid of namespace %s (the BFD monitor "
                         "ports would take its VXLAN traffic); choose an unused VNI" % group.name)
    return intent


def _settings(settings, layouts, problems):
    """Settings with defaults filled in; an invalid value is reported and planned as its default."""
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        problems.add("settings", settings, "is not a mapping")
        settings = {}
    for key in sorted(set(settings) - set(SETTING_KEYS)):
        problems.append("settings: unknown key %s (known: %s)" % (key, ", ".join(SETTING_KEYS)))
    given = dict((key, value) for key, value in settings.items() if value is not None)
    result = Settings()
    result.layout = given.get("layout", DEFAULT_LAYOUT)
    if not isinstance(result.layout, str) or result.layout not in layouts:
        problems.add("settings.layout", result.layout, "is not one of %s" % ", ".join(layouts))
        result.layout = DEFAULT_LAYOUT
    layout = layouts[result.layout]
    values = _Values(layout.families, problems)
    cidrs = given.get("cluster_cidrs", DEFAULT_SETTINGS["cluster_cidrs"])
    if isinstance(cidrs, str):
        cidrs = [cidrs]
    if not isinstance(cidrs, list):
        problems.add("settings.cluster_cidrs", cidrs, "is not a list")
        cidrs = []
    result.cluster_networks = [net for net in (values.network(cidr, "settings.cluster_cidrs") for cidr in cidrs)
                               if net is not None]
    result.mark_rule = given.get("mark_rule", layout.mark_rule)
    if result.mark_rule not in MARK_RULES:
        problems.add("settings.mark_rule", result.mark_rule, "is not one of %s" % ", ".join(MARK_RULES))
        result.mark_rule = layout.mark_rule
    defaults = {"masquerade_bit": DEFAULT_SETTINGS["masquerade_bit"], "table": layout.table,
                "priority": DEFAULT_SETTINGS["priority"]}
    for key, high in (("masquerade_bit", 31), ("table", 254), ("priority", 65535)):
        value = None
        if key in given:
            value = values.integer(given[key], "settings." + key, 0, high)
        setattr(result, key, defaults[key] if value is None else value)
    result.strict = given.get("strict", False)
    if not isinstance(result.strict, bool):
        problems.add("settings.strict", result.strict, "is not a boolean")
        result.strict = False
    result.failover = given.get("failover", "run")
    if result.failover not in FAILOVER_MODES:
        problems.add("settings.failover", result.failover, "is not one of %s" % ", ".join(FAILOVER_MODES))
        result.failover = "run"
    elif result.failover != "run" and result.layout not in FAILOVER_LAYOUTS:
        problems.add("settings.failover", result.failover, "needs layout %s (settings.layout is %s)"
                     % (" or ".join(FAILOVER_LAYOUTS), result.layout))
        result.failover = "run"
    result.failover_vni = DEFAULT_FAILOVER_VNI
    if "failover_vni" in given:
        vni = values.integer(given["failover_vni"], "settings.failover_vni", 2, MAX_VNID)
        if vni is not None:
            result.failover_vni = vni
    for key in ("snat_conflicts", "flow_conflicts"):
        mode = given.get(key, "fail")
        if mode not in CONFLICT_MODES:
            problems.add("settings." + key, mode, "is not one of %s" % ", ".join(CONFLICT_MODES))
            mode = "fail"
        setattr(result, key, mode)
    for key in ("snat_remove_conflicts", "flow_force"):
        if not isinstance(given.get(key, False), bool):
            problems.add("settings." + key, given[key], "is not a boolean")
    result.flow_force = given.get("flow_force") is True
    if given.get("snat_remove_conflicts") is True:
        # the older spelling of snat_conflicts=remove (egress_snat remove_conflicts)
        if result.snat_conflicts == "warn":
            problems.add("settings.snat_remove_conflicts", True, "means snat_conflicts=remove, which contradicts "
                         "snat_conflicts=warn")
        result.snat_conflicts = "remove"
    return result


def _named_entries(entries, kind, problems):
    """(path, entry, name) of each entry with a valid name not seen before; a problem for the rest."""
    seen = set()
    for index, entry in enumerate(entries):
        path = "%s[%s]" % (kind, label(entry, index))
        name = entry.get("name")
        if not isinstance(name, str) or name.split() != [name]:  # empty, or holds whitespace
            problems.add(path + ".name", name, "is not a name")
            continue
        if name in seen:
            problems.add(path + ".name", name, "is declared twice")
            continue
        seen.add(name)
        yield path, entry, name


def _namespaces(entries, values):
    """VNID groups sorted by VNID, members sorted by name; and one group (VNID None) per
    namespace whose netid is invalid: their egress IPs are still checked, nothing is planned."""
    problems = values.problems
    parsed = []
    for path, entry, name in _named_entries(entries, "namespaces", problems):
        ips = values.ip_list(entry.get("egress_ips"), path + ".egress_ips")
        vnid = values.integer(entry.get("netid"), path + ".netid", 0, MAX_VNID)
        parsed.append(Member(name, vnid, ips))
    parsed.sort(key=lambda member: member.name)
    groups = {}
    invalid = []
    for member in parsed:
        if member.netid is None:
            group = Namespace(None)
            group.ips = member.egress_ips
            group.members.append(member)
            invalid.append(group)
            continue
        group = groups.get(member.netid)
        if group is None:
            group = groups[member.netid] = Namespace(member.netid)
            group.ips = member.egress_ips
        elif member.egress_ips != group.ips:
            group.conflict = True
            problems.add("namespaces[%s].egress_ips" % member.name, [str(ip) for ip in member.egress_ips],
                         "differs from namespace %s [%s], which has the same netid %d "
                         "(namespaces sharing a netid must list the same egress IPs)"
                         % (group.name, ", ".join(str(ip) for ip in group.ips), member.netid))
        group.members.append(member)
    return [groups[vnid] for vnid in sorted(groups)], invalid


def _nodes(entries, values):
    """Parsed nodes, sorted by name."""
    problems = values.problems
    parsed = []
    host_ips = {}
    for path, entry, name in _named_entries(entries, "nodes", problems):
        node = Node(name, entry.get("inventory_host") or name)
        host_ip = entry.get("host_ip")
        if isinstance(host_ip, str) and "/" in host_ip:
            iface = values.interface(host_ip, path + ".host_ip")
            if iface is not None:
                node.host_ip, node.host_net = iface.ip, iface.cidr
        else:
            node.host_ip = values.ip(host_ip, path + ".host_ip")
        if node.host_ip is not None:
            other = host_ips.setdefault(node.host_ip, name)
            if other != name:
                problems.add(path + ".host_ip", str(node.host_ip), "is also the host_ip of node %s" % other)
        subnet = entry.get("subnet")
        node.subnet = values.network(subnet, path + ".subnet") if subnet else None
        node.egress_ips = values.ip_list(entry.get("egress_ips"), path + ".egress_ips")
        cidrs = entry.get("egress_cidrs")
        if not isinstance(cidrs, list):
            problems.add(path + ".egress_cidrs", cidrs, "is not a list")
            cidrs = []
        node.egress_cidrs = [net for net in (values.network(cidr, path + ".egress_cidrs") for cidr in cidrs)
                             if net is not None]
        interfaces = entry.get("interfaces")
        if not isinstance(interfaces, list):
            problems.add(path + ".interfaces", interfaces, "is not a list")
            interfaces = []
        for position, iface in enumerate(interfaces):
            ipath = "%s.interfaces[%d]" % (path, position)
            if not isinstance(iface, dict) or not isinstance(iface.get("name"), str) or not iface.get("name"):
                problems.add(ipath, iface, "is not a mapping with name and cidr")
                continue
            address = values.interface(iface.get("cidr"), ipath + ".cidr")
            if address is not None:
                node.interfaces.append((iface["name"], address))
        parsed.append(node)
    parsed.sort(key=lambda node: node.name)
    return parsed


def _node_facts(node_facts, nodes, values, warnings, no_hostsubnet=frozenset()):
    """({node name: NodeFacts}, [names of nodes not in the inventory]); bad values are reported
    and left unset.  When facts are given, they are the inventory's hosts: a host whose name no
    node has (``no_hostsubnet``: already warned by the source) and a node without facts are
    warnings, and such a node is planned as offline (nothing of ours can be applied there)."""
    problems = values.problems
    if node_facts is None:
        node_facts = {}
    if not isinstance(node_facts, dict):
        problems.add("node_facts", node_facts, "is not a mapping")
        node_facts = {}
    known = set(node.name for node in nodes)
    for name in sorted(set(node_facts) - known - set(no_hostsubnet), key=str):
        warnings.add("node_facts[%s]" % show(name), name,
                     "is a host of the run, but no HostSubnet names this node: nothing is planned for it "
                     "(what this collection owns there is removed)")
    unmanaged = []
    if node_facts:
        for node in nodes:
            if node.name not in node_facts:
                unmanaged.append(node.name)
                warnings.add("nodes[%s]" % show(node.name), node.name,
                             "is not in the inventory (no host of the run is this node): planned as offline, "
                             "its egress IPs (%s) are not used and nothing is sent to it"
                             % (", ".join(str(ip) for ip in node.egress_ips) or "none"))
    result = {}
    for name in known:
        raw = node_facts.get(name)
        if name in unmanaged:
            raw = {"reachable": False}
        if raw is None:
            raw = {}
        path = "node_facts[%s]" % name
        if not isinstance(raw, dict):
            problems.add(path, raw, "is not a mapping")
            raw = {}
        facts = NodeFacts()
        reachable = raw.get("reachable", True)
        if isinstance(reachable, bool):
            facts.reachable = reachable
        else:
            problems.add(path + ".reachable", reachable, "is not a boolean")
        mac = raw.get("tun0_mac")
        if mac is not None:
            text = mac.strip().lower() if isinstance(mac, str) else ""
            parts = text.split(":")
            if len(parts) == 6 and all(len(part) == 2 and _HEX.issuperset(part) for part in parts):
                facts.tun0_mac = text
            else:
                problems.add(path + ".tun0_mac", mac, "is not a MAC address")
        for fact in ("tun0_ofport", "vxlan_ofport"):
            if raw.get(fact) is not None:
                setattr(facts, fact, values.integer(raw[fact], "%s.%s" % (path, fact), 1, MAX_OFPORT))
        facts.unmanaged = name in unmanaged
        facts.networks = _fact_networks(raw.get("networks"), path + ".networks", problems)
        facts.problems = _fact_problems(raw.get("problems"), path + ".problems", problems)
        facts.held = _fact_held(raw.get("interfaces"), path + ".interfaces", problems)
        facts.foreign_rules = _fact_rules(raw.get("foreign_rules"), path + ".foreign_rules", problems)
        facts.foreign_flows = _fact_lines(raw.get("foreign_flows"), path + ".foreign_flows", problems)
        facts.owned_monitor_ports = _fact_lines(raw.get("owned_monitor_ports"), path + ".owned_monitor_ports",
                                                problems)
        owned = raw.get("owned")
        if owned is not None and not isinstance(owned, dict):
            problems.add(path + ".owned", owned, "is not a mapping")
        elif owned is not None:
            facts.owned = owned
        result[name] = facts
    return result, unmanaged


def _fact_networks(raw, path, problems):
    """[(interface, IPNetwork)] of a preflight's {interface: [CIDR, ...]} (both families; an
    egress IP is only ever inside a network of its own family), sorted by interface."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.add(path, raw, "is not a mapping of interface names to lists of networks")
        return None
    result = []
    for ifname in sorted(raw, key=str):
        nets = raw[ifname]
        if not isinstance(nets, list):
            problems.add("%s[%s]" % (path, show(ifname)), nets, "is not a list")
            continue
        for net in nets:
            try:
                result.append((ifname, parse_network(net, "%s[%s]" % (path, show(ifname)))))
            except AddrError as exc:
                problems.append(str(exc))
    return result


def _fact_held(raw, path, problems):
    """{address text: interface MAC or None} of a preflight's interfaces
    ({ifname: {mac, addresses: ["A/P", ...], ...}}), None when not given."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.add(path, raw, "is not a mapping of interface names to {mac, addresses}")
        return None
    held = {}
    for ifname in sorted(raw, key=str):
        entry = raw[ifname]
        addresses = entry.get("addresses") if isinstance(entry, dict) else None
        if not isinstance(addresses, list):
            problems.add("%s[%s]" % (path, show(ifname)), entry, "is not a mapping with a list of addresses")
            continue
        mac = entry.get("mac")
        for item in addresses:
            try:
                ip = str(parse_ip(str(item).split("/", 1)[0], "%s[%s].addresses" % (path, show(ifname))))
            except AddrError as exc:
                problems.append(str(exc))
                continue
            held.setdefault(ip, mac.lower() if isinstance(mac, str) and mac else None)
    return held


def _fact_problems(raw, path, problems):
    """[(what, detail)] of a preflight's problems ([{what, detail}])."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.add(path, raw, "is not a list")
        return []
    result = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not item.get("what"):
            problems.add("%s[%d]" % (path, index), item, "is not a mapping with what and detail")
            continue
        result.append((item["what"], item.get("detail")))
    return result


def _fact_rules(raw, path, problems):
    """[(index, line)] of a preflight's foreign_rules ([{index, rule}]); None when not given."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        problems.add(path, raw, "is not a list")
        return None
    result = []
    for position, item in enumerate(raw):
        rule = item.get("rule") if isinstance(item, dict) else None
        index = item.get("index") if isinstance(item, dict) else None
        if not isinstance(rule, str) or not rule.startswith("-A ") or not isinstance(index, int) \
                or isinstance(index, bool) or index < 0:
            problems.add("%s[%d]" % (path, position), item, "is not a mapping with index and rule (an iptables-save line)")
            continue
        result.append((index, rule))
    return result


def _fact_lines(raw, path, problems):
    """A preflight's list of strings (foreign_flows, owned_monitor_ports); None when not given."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        problems.add(path, raw, "is not a list")
        return None
    result = []
    for position, item in enumerate(raw):
        if not isinstance(item, str):
            problems.add("%s[%d]" % (path, position), item, "is not a string")
            continue
        result.append(item)
    return result


def _check_node_problems(node, facts, problems):
    """What the node's preflight found missing: the run must not change any node."""
    if facts is None or not facts.reachable:
        return
    for what, detail in facts.problems:
        problems.append("nodes[%s]: lacks %s: %s" % (node.name, show(what), show(detail or "")))


def _check_addresses(groups, nodes, cluster_networks, problems):
    """Egress IPs that are node/interface addresses or inside the cluster or pod networks."""
    owned = {}
    pod_nets = NetIndex()
    for net in cluster_networks:
        pod_nets.add(net, "the cluster network %s" % net)
    for node in nodes:
        if node.host_ip is not None:
            owned[node.host_ip] = "the host_ip of node %s" % node.name
        for ifname, iface in node.interfaces:
            owned.setdefault(iface.ip, "the address of interface %s on node %s" % (ifname, node.name))
        if node.subnet is not None:
            pod_nets.add(node.subnet, "the pod subnet %s of node %s" % (node.subnet, node.name))
    listed = [("namespaces[%s].egress_ips" % member.name, ip) for group in groups for member in group.members
              for ip in member.egress_ips]
    listed.extend(("nodes[%s].egress_ips" % node.name, ip) for node in nodes for ip in node.egress_ips)
    bad = set()
    inside = {}   # ip -> the pod network holding it, or None: a namespace's IP is usually a node's too
    for path, ip in listed:
        if ip in owned:
            problems.add(path, str(ip), "is %s" % owned[ip])
            bad.add(ip)
            continue
        where = inside.get(ip, False)
        if where is False:
            hits = pod_nets.find(ip)
            where = inside[ip] = hits[0][1] if hits else None
        if where is not None:
            problems.add(path, str(ip), "is inside %s" % where)
            bad.add(ip)
    return bad


def _describe_live(pairs):
    return ", ".join("%s %s" % (ifname, net) for ifname, net in pairs) or "none"


def _check_node_networks(node, facts, problems):
    """An egress IP must sit in one of the node's known networks (one outside its egress_cidrs is
    moved by the automatic allocation, assign.allocate).

    Known networks: the inventory's (interfaces, host_ip prefix); and, for an IP the inventory
    does not place on a named interface, the networks the node's preflight reports (the claim
    finds the interface there: exactly one interface's network must hold the IP)."""
    networks = node.networks()
    live = facts.networks if facts is not None and facts.reachable else None
    path = "nodes[%s].egress_ips" % node.name
    for ip in node.egress_ips:
        if networks and not any(ip in net for net in networks):
            problems.add(path, str(ip), "is outside the networks of node %s (%s)"
                         % (node.name, ", ".join(sorted(set(str(net) for net in networks)))))
        elif live is not None and not any(ip in iface for dummy, iface in node.interfaces):
            holding = [(ifname, net) for ifname, net in live if net.version == ip.version and ip in net]
            same = [(ifname, net) for ifname, net in live if net.version == ip.version]
            if not holding:
                problems.add(path, str(ip), "is not inside any network of node %s (the node has: %s)"
                             % (node.name, _describe_live(same)))
            elif len(set(ifname for ifname, dummy in holding)) > 1:
                problems.add(path, str(ip), "is inside networks of several interfaces of node %s (%s); name "
                             "the interface in egress_interfaces" % (node.name, _describe_live(holding)))
        # outside its egress_cidrs: automatic allocation moves it (assign.allocate), as the master does
