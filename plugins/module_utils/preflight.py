# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A node's preflight: everything the plan needs to know about a node, read in one module run
before any node changes (sdn.egress.egress_preflight).

    preflight(module, spec) -> {reachable, tun0_mac, tun0_ofport, vxlan_ofport, tun0_present,
                                openflow, iptables, interfaces, networks, problems,
                                foreign_rules, foreign_flows, owned_monitor_ports}

Reads only, through the runners of the files that own each tool: the SDN ports from OVSDB
(ovs.VsCtl.ports, one ``ovs-vsctl``), whether the switch answers OpenFlow on the bridge
(``ovs-ofctl probe``: ovs-vswitchd, not the database, serves it), the addresses of every
interface (ipaddr.Ip, ``ip -j addr show``, IPv4 and IPv6) and the iptables chains the node
phases write to (iptables.Iptables.read, ``iptables-save -t <table>`` of the configured
backend).  A tool that fails or a thing that is missing is a *problem* {what, detail}, never a
failure of the module: the plan fails the whole run naming the node and what it lacks, before
any node is changed.

It also returns what the plan needs to find *conflicts* before any change (snat.find_conflicts
and ovs.find_flow_conflicts run on the controller against each node's desired rules and flows):
the foreign rules of the SNAT chain above the anchor jump (``foreign_rules``, iptables-save
lines with their place in the chain) and the foreign flows of the egress tables at or above our
priority (``foreign_flows``, dump-flows lines; one ``dump-flows table=N`` per table, which also
tells that the bridge answers OpenFlow).  Only foreign objects: never ours, so the result does
not grow with the number of namespaces.  ``owned_monitor_ports`` names the BFD monitor ports
carrying our owner (monitor.py), read in the same ``ovs-vsctl`` as the SDN ports.

Which addresses define a node's networks is ipaddr's rule (primary, not host-scoped, not
labelled as ours), for IPv6 also without link-local ones: the networks an egress IP can be
claimed in without naming an interface.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.sdn.egress.plugins.module_utils import digests
from ansible_collections.sdn.egress.plugins.module_utils.addr import AddrError, IPNetwork, parse_ip
from ansible_collections.sdn.egress.plugins.module_utils.ipaddr import Ip, is_ours
from ansible_collections.sdn.egress.plugins.module_utils.iptables import BINARIES, Iptables, Rule
from ansible_collections.sdn.egress.plugins.module_utils.monitor import OWNER_KEY
from ansible_collections.sdn.egress.plugins.module_utils.ovs import (
    VSCTL_TIMEOUT,
    OfCtl,
    VsCtl,
    _ovsdb_rows,
    format_flow,
    groups_record_key,
    parse_groups_record,
    parse_dump_flows,
    parse_ovsdb_ports,
    ports_query,
    sort_key,
)
from ansible_collections.sdn.egress.plugins.module_utils.runner import CommandError

FAMILIES = ("inet", "inet6")
# what a problem says the node lacks (the plan prints "nodes[<node>]: lacks <what>: <detail>")
OVSDB, OPENFLOW, ADDRESSES, IPTABLES = "OVSDB", "OpenFlow", "addresses", "iptables"


def problem(what, detail):
    return {"what": what, "detail": detail}


def _one_line(text):
    return " ".join(str(text).split())


def address_entries(interfaces, suffix):
    """{ifname: {up, mac, addresses: ["A/P", ...], networks: ["N/P", ...]}} of
    ipaddr.parse_ip_addr interfaces (both families); networks as described in the module doc."""
    result = {}
    for iface in interfaces:
        addresses, networks = [], []
        for item in iface["addresses"]:
            ip = parse_ip(item["address"], "%s address" % iface["name"])
            addresses.append("%s/%d" % (ip, item["prefix"]))
            if item["secondary"] or item["scope"] == "host" or is_ours(item, suffix):
                continue
            if ip.version == 6 and item["scope"] == "link":
                continue
            net = str(IPNetwork((int(ip), item["prefix"]), version=ip.version).cidr)
            if net not in networks:
                networks.append(net)
        result[iface["name"]] = {"up": iface["up"], "mac": iface["mac"], "addresses": addresses,
                                 "networks": networks}
    return result


def port_facts(ports, tun_port, vxlan_port, bridge):
    """(facts {tun0_mac, tun0_ofport, vxlan_ofport}, problems) of ovs.parse_ovsdb_ports output:
    each port must be on the bridge with an OpenFlow port number (tun0 also with a MAC)."""
    facts = {"tun0_mac": None, "tun0_ofport": None, "vxlan_ofport": None}
    problems = []
    for name, key in ((tun_port, "tun0"), (vxlan_port, "vxlan")):
        port = ports.get(name)
        if port is None:
            problems.append(problem(name, "%s is not an interface in the Open vSwitch database" % name))
            continue
        if port["bridge"] != bridge:
            problems.append(problem(name, "%s is on %s, not on bridge %s" % (
                name, "bridge %s" % port["bridge"] if port["bridge"] else "no bridge", bridge)))
            continue
        ofport = port["ofport"]
        if not isinstance(ofport, int) or isinstance(ofport, bool) or ofport < 1:
            problems.append(problem(name, "%s has no OpenFlow port number (ofport %s)%s" % (
                name, "unset" if ofport is None else ofport, ": %s" % port["error"] if port["error"] else "")))
            continue
        facts["%s_ofport" % key] = ofport
        if key == "tun0":
            if not port["mac_in_use"]:
                problems.append(problem(name, "%s has no MAC address in the Open vSwitch database" % name))
            else:
                facts["tun0_mac"] = port["mac_in_use"].lower()
    return facts, problems


def chain_problems(tables, wanted, backend):
    """Problems for each wanted (table, chain) the tables read (iptables.Table or None) lack."""
    problems = []
    for table, chain in wanted:
        current = tables.get(table)
        if current is None:
            problems.append(problem(IPTABLES, "the %s table has no chains with iptables backend %s "
                                    "(is the SDN using another backend?)" % (table, backend)))
        elif not current.has_chain(chain):
            problems.append(problem(IPTABLES, "chain %s does not exist in the %s table (iptables backend %s)"
                                    % (chain, table, backend)))
    return problems


def foreign_rules(lines, owner, anchor_target):
    """[{index, rule}]: the rules of a chain (iptables-save lines, in order) that are not owned by
    ``owner`` and sit above the first foreign rule jumping to ``anchor_target`` (where our SNAT
    block goes; the whole chain without one), with their place in the chain (from 0). The same
    walk as snat.find_conflicts, which the plan runs on them."""
    found = []
    for index, line in enumerate(lines):
        rule = Rule(line)
        if rule.owned(owner):
            continue
        if anchor_target and rule.target == anchor_target:
            break
        found.append({"index": index, "rule": line})
    return found


def foreign_flows(flows, cookie, min_priority=0):
    """The flows (ovs.Flow) with another cookie than ``cookie`` at ``min_priority`` or above (a
    lower one never takes our traffic first), as dump-flows lines (ovs.format_flow), in OVS order."""
    return [format_flow(flow) for flow in sorted(flows, key=sort_key)
            if flow.cookie != cookie and flow.priority >= min_priority]


def owned_ports_query(owner):
    """ovs-vsctl commands naming the interfaces whose external_ids carry our owner (monitor.py)."""
    return ["--", "--columns=name", "find", "Interface", "external_ids:%s=%s" % (OWNER_KEY, json.dumps(owner))]


def read_ports(vsctl, names, owner, bridge=None):
    """(parse_ovsdb_ports of ``names``, sorted names of the interfaces owned by ``owner`` or None
    without one, the external_ids of ``bridge`` or None without one): one ovs-vsctl process."""
    commands = ports_query(names) + (owned_ports_query(owner) if owner else [])
    if bridge:
        commands += ["--", "--columns=external_ids", "list", "Bridge", bridge]
    out = vsctl.runner.run("timeout json commands", timeout=VSCTL_TIMEOUT, commands=commands).out
    documents = [line for line in out.splitlines() if line.strip()]
    expected = 3 + (1 if owner else 0) + (1 if bridge else 0)
    if len(documents) != expected:
        raise ValueError("expected %d JSON documents from ovs-vsctl, got %d" % (expected, len(documents)))
    owned = sorted(row["name"] for row in _ovsdb_rows(documents[3])) if owner else None
    external_ids = None
    if bridge:
        rows = _ovsdb_rows(documents[-1])
        external_ids = (rows[0]["external_ids"] or {}) if rows else {}
    return parse_ovsdb_ports("\n".join(documents[:3])), owned, external_ids


def _missing(module, command, what, problems):
    """Whether ``command`` is not installed (a problem about ``what`` then): the runners
    fail the module for a missing binary, and the preflight reports instead."""
    if module.get_bin_path(command) is None:
        problems.append(problem(what, "%s is not installed (not found on PATH)" % command))
        return True
    return False


class Spec:
    """What to check: bridge, tun_port, tun_interface (its kernel side), vxlan_port, rundir,
    protocol, backend, chains [(table, chain)], label_suffix; for the conflicts: snat_chain (None:
    no rules returned), snat_anchor, owner (of the rules), cookie (int, of the flows), port_owner (the
    owner text of monitor ports; None: not read), flow_tables ([int]; empty: no flows returned, the
    bridge is probed instead), flow_priority; digests (bool: also the digests of what we own,
    digests.py, with reject_chain and reject_inbound as egress_snat gets them)."""

    __slots__ = ("bridge", "tun_port", "tun_interface", "vxlan_port", "rundir", "protocol", "backend", "chains",
                 "label_suffix", "snat_chain", "snat_anchor", "owner", "cookie", "port_owner", "flow_tables",
                 "flow_priority", "digests", "reject_chain", "reject_inbound")

    def __init__(self, **values):
        for key in self.__slots__:
            setattr(self, key, values.get(key))


def preflight(module, spec):
    """The node's facts and problems (see the module doc); never raises for a node problem."""
    problems = []
    result = {"reachable": True, "tun0_mac": None, "tun0_ofport": None, "vxlan_ofport": None,
              "foreign_rules": None, "foreign_flows": None, "owned_monitor_ports": None}
    owned = {"flows": None, "rules": None, "addresses": None,
             "rules_spec": {"owner": spec.owner, "chain": spec.snat_chain, "anchor": spec.snat_anchor,
                            "reject_chain": spec.reject_chain, "reject_inbound": bool(spec.reject_inbound)}}
    external_ids = None

    if _missing(module, "ovs-vsctl", OVSDB, problems):
        ports = None
    else:
        try:
            ports, result["owned_monitor_ports"], external_ids = read_ports(
                VsCtl(module, spec.rundir), [spec.tun_port, spec.vxlan_port], spec.port_owner,
                spec.bridge if spec.digests else None)
        except (CommandError, ValueError) as exc:
            ports = None
            problems.append(problem(OVSDB, "the Open vSwitch database does not answer: %s" % _one_line(exc)))
    if ports is not None:
        facts, found = port_facts(ports, spec.tun_port, spec.vxlan_port, spec.bridge)
        result.update(facts)
        problems.extend(found)

    result["openflow"] = False
    if not _missing(module, "ovs-ofctl", OPENFLOW, problems):
        ofctl = OfCtl(module, spec.protocol, spec.bridge, spec.rundir)
        try:
            if spec.digests and external_ids is not None:
                # one dump of every table: our flows (all tables, as ovs_flow converges them) and
                # the foreign ones of flow_tables; it also proves that the bridge answers OpenFlow
                flows = parse_dump_flows(ofctl.run("no_stats command switch", command="dump-flows",
                                                   switch=spec.bridge).out)
                tables = set(spec.flow_tables or [])
                if tables:
                    result["foreign_flows"] = foreign_flows([f for f in flows if f.table in tables], spec.cookie,
                                                            spec.flow_priority or 0)
                key = groups_record_key(spec.cookie)
                recorded = parse_groups_record(external_ids.get(key), key)
                dumped = ofctl.dump_groups() if recorded else {}
                owned["flows"] = digests.node_flows(flows, spec.cookie, dumped, recorded)
            elif spec.flow_tables:  # each dump also proves that the bridge answers OpenFlow
                flows = []
                for table in spec.flow_tables:
                    flows.extend(parse_dump_flows(ofctl.run("no_stats command switch argument", command="dump-flows",
                                                            switch=spec.bridge, argument="table=%d" % table).out))
                result["foreign_flows"] = foreign_flows(flows, spec.cookie, spec.flow_priority or 0)
            else:
                ofctl.run("command switch", command="probe", switch=spec.bridge)
            result["openflow"] = True
        except (CommandError, ValueError) as exc:
            problems.append(problem(OPENFLOW, "bridge %s does not answer OpenFlow (is ovs-vswitchd running?): %s"
                                    % (spec.bridge, _one_line(exc))))

    result["interfaces"], result["networks"] = {}, {}
    result["tun0_present"] = False
    interfaces = None
    if not _missing(module, "ip", ADDRESSES, problems):
        try:
            raw = Ip(module).interfaces(FAMILIES)
            interfaces = address_entries(raw, spec.label_suffix)
            if spec.digests:
                owned["addresses"] = digests.node_addresses(raw, spec.label_suffix)
        except (CommandError, AddrError) as exc:
            problems.append(problem(ADDRESSES, "the node's addresses cannot be read: %s" % _one_line(exc)))
    if interfaces is not None:
        result["interfaces"] = interfaces
        result["networks"] = dict((name, entry["networks"]) for name, entry in interfaces.items() if entry["networks"])
        tun_interface = spec.tun_interface or spec.tun_port
        result["tun0_present"] = tun_interface in interfaces
        if not result["tun0_present"]:
            problems.append(problem(tun_interface, "there is no network interface %s on the node" % tun_interface))

    result["iptables"] = {"backend": spec.backend, "chains": []}
    tables = {}
    cli = Iptables(module, spec.backend)
    needed = sorted(set(table for table, dummy in spec.chains) | (set(["filter"]) if spec.digests else set()))
    if needed and _missing(module, BINARIES[spec.backend][0], IPTABLES, problems):
        needed = []
    for table in needed:
        try:
            tables[table] = cli.read(table)
        except (CommandError, ValueError) as exc:
            problems.append(problem(IPTABLES, "the %s table cannot be read with iptables backend %s: %s"
                                    % (table, spec.backend, _one_line(exc))))
    if tables:
        wanted = [(table, chain) for table, chain in spec.chains if table in tables]
        problems.extend(chain_problems(tables, wanted, spec.backend))
        result["iptables"]["chains"] = ["%s/%s" % (table, chain) for table, chain in wanted
                                        if tables[table] is not None and tables[table].has_chain(chain)]
    nat = tables.get("nat")
    if spec.snat_chain and nat is not None and nat.has_chain(spec.snat_chain):
        result["foreign_rules"] = foreign_rules(nat.rules[spec.snat_chain], spec.owner, spec.snat_anchor)
        if spec.digests and spec.reject_chain and "filter" in tables:
            current = tables["filter"]
            filter_lines = current.rules.get(spec.reject_chain, []) if current is not None else []
            owned["rules"] = digests.node_rules(nat.rules[spec.snat_chain], filter_lines, spec.owner,
                                                spec.snat_anchor)
    result["problems"] = problems
    if spec.digests:
        result["owned"] = owned
    return result
