# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A node's preflight: everything the plan needs to know about a node, read in one module run
before any node changes (sdn.egress.egress_preflight).

    preflight(module, spec) -> {reachable, tun0_mac, tun0_ofport, vxlan_ofport, tun0_present,
                                openflow, iptables, interfaces, networks, problems}

Reads only, through the runners of the files that own each tool: the SDN ports from OVSDB
(ovs.VsCtl.ports, one ``ovs-vsctl``), whether the switch answers OpenFlow on the bridge
(``ovs-ofctl probe``: ovs-vswitchd, not the database, serves it), the addresses of every
interface (ipaddr.Ip, ``ip -j addr show``, IPv4 and IPv6) and the iptables chains the node
phases write to (iptables.Iptables.read, ``iptables-save -t <table>`` of the configured
backend).  A tool that fails or a thing that is missing is a *problem* {what, detail}, never a
failure of the module: the plan fails the whole run naming the node and what it lacks, before
any node is changed.

Which addresses define a node's networks is ipaddr's rule (primary, not host-scoped, not
labelled as ours), for IPv6 also without link-local ones: the networks an egress IP can be
claimed in without naming an interface.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sdn.egress.plugins.module_utils.addr import AddrError, IPNetwork, parse_ip
from ansible_collections.sdn.egress.plugins.module_utils.ipaddr import Ip, is_ours
from ansible_collections.sdn.egress.plugins.module_utils.iptables import BINARIES, Iptables
from ansible_collections.sdn.egress.plugins.module_utils.ovs import OfCtl, VsCtl
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


def _missing(module, command, what, problems):
    """Whether ``command`` is not installed (a problem about ``what`` then): the runners
    fail the module for a missing binary, and the preflight reports instead."""
    if module.get_bin_path(command) is None:
        problems.append(problem(what, "%s is not installed (not found on PATH)" % command))
        return True
    return False


class Spec:
    """What to check: bridge, tun_port, tun_interface (its kernel side), vxlan_port, rundir,
    protocol, backend, chains [(table, chain)], label_suffix."""

    __slots__ = ("bridge", "tun_port", "tun_interface", "vxlan_port", "rundir", "protocol", "backend", "chains", "label_suffix")

    def __init__(self, **values):
        for key in self.__slots__:
            setattr(self, key, values.get(key))


def preflight(module, spec):
    """The node's facts and problems (see the module doc); never raises for a node problem."""
    problems = []
    result = {"reachable": True, "tun0_mac": None, "tun0_ofport": None, "vxlan_ofport": None}

    if _missing(module, "ovs-vsctl", OVSDB, problems):
        ports = None
    else:
        try:
            ports = VsCtl(module, spec.rundir).ports([spec.tun_port, spec.vxlan_port])
        except (CommandError, ValueError) as exc:
            ports = None
            problems.append(problem(OVSDB, "the Open vSwitch database does not answer: %s" % _one_line(exc)))
    if ports is not None:
        facts, found = port_facts(ports, spec.tun_port, spec.vxlan_port, spec.bridge)
        result.update(facts)
        problems.extend(found)

    result["openflow"] = False
    if not _missing(module, "ovs-ofctl", OPENFLOW, problems):
        try:
            OfCtl(module, spec.protocol, spec.bridge, spec.rundir).run("command switch", command="probe",
                                                                       switch=spec.bridge)
            result["openflow"] = True
        except CommandError as exc:
            problems.append(problem(OPENFLOW, "bridge %s does not answer OpenFlow (is ovs-vswitchd running?): %s"
                                    % (spec.bridge, _one_line(exc))))

    result["interfaces"], result["networks"] = {}, {}
    result["tun0_present"] = False
    interfaces = None
    if not _missing(module, "ip", ADDRESSES, problems):
        try:
            interfaces = address_entries(Ip(module).interfaces(FAMILIES), spec.label_suffix)
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
    needed = sorted(set(table for table, dummy in spec.chains))
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
    result["problems"] = problems
    return result
