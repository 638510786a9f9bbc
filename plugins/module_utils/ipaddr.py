# -*- coding: utf-8 -*-
# Copyright: sdn.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Egress addresses on a node's interfaces: read them with `ip -j addr show`, choose the
interface and prefix of a claim, plan claims and releases, and apply them with one `ip -batch`.

``Ip`` is the one runner of the `ip` tool (a CmdRunner). Addresses and prefixes are parsed by
addr.py (netaddr); the local networks are netaddr networks in an addr.NetIndex. Every refusal is
an addr.AddrError (ClaimError for a claim that cannot be made as asked) whose message names the
field and the value, so a module can fail before it changes anything. IPv4 only: the claims are
announced with ARP.

Which addresses define an interface's "local networks": its primary (non-secondary) IPv4
addresses that are not host-scoped and do not carry our label. Secondary addresses always
lie inside a primary's network, so leaving them out loses nothing; leaving our own labelled
addresses out means an egress IP once claimed with an explicit prefix (say a /32 outside
every network) never makes its network look local afterwards.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.sdn.egress.plugins.module_utils.addr import (
    AddrError,
    IPNetwork,
    NetIndex,
    parse_int,
    parse_ip,
    parse_prefix,
    unicast_ip,
)
from ansible_collections.sdn.egress.plugins.module_utils.runner import CmdRunner, fmt

VERSION = 4                # the claims are IPv4 (ARP)
FAMILY = {4: "inet", 6: "inet6"}[VERSION]  # the family `ip -j addr show` names
LABEL_MAX = 15
_IFNAME_RE = re.compile(r"^[^\s/:]{1,15}$")
_SUFFIX_RE = re.compile(r"^[A-Za-z0-9_.-]{1,13}$")
SHOW = "ip -j addr show"


class ClaimError(AddrError):
    """A value or a request that cannot be satisfied; the message names field and value."""


def _ip(text):
    """The IPAddress of an address read from `ip` or already validated; addr.py parses each
    text once per process (a run compares, sorts and checks each address several times)."""
    return parse_ip(text, "address")


def parse_ip_addr(text, families=(FAMILY,)):
    """Interfaces from `ip -j addr show` output.

    Returns a list of {name, ifindex, mac, link_type, up, addresses}; addresses holds the
    addresses of ``families`` (default IPv4 only; "inet", "inet6"), each {address, prefix,
    label, secondary, scope, interface}.
    """
    try:
        links = json.loads(text)
    except ValueError as exc:
        raise ClaimError("cannot parse `%s` output: %s" % (SHOW, exc))
    if not isinstance(links, list):
        raise ClaimError("cannot parse `%s` output: expected a JSON list" % SHOW)
    interfaces = []
    for link in links:
        name = link.get("ifname")
        if not name:  # iproute2 prints {} for links that a filter left out
            continue
        addresses = []
        for info in link.get("addr_info", []):
            if info.get("family") not in families:
                continue
            addresses.append({
                "address": info["local"],
                "prefix": parse_int(info["prefixlen"], "%s: %s prefixlen" % (SHOW, name)),
                "label": info.get("label", name),
                "secondary": bool(info.get("secondary")),
                "scope": info.get("scope", "global"),
                "interface": name,
            })
        interfaces.append({
            "name": name,
            "ifindex": link.get("ifindex"),
            "mac": link.get("address"),
            "link_type": link.get("link_type"),
            "up": "UP" in link.get("flags", []),
            "addresses": addresses,
        })
    return interfaces


class _AnyExitCode:
    """ok_rcs of a command judged by its outcome, not by its exit code."""

    def __contains__(self, rc):
        return True


class Ip:
    """The `ip` tool (iproute2) as one CmdRunner; the binary is found when this is made."""

    def __init__(self, module):
        self.runner = CmdRunner(module, "ip", {
            "json": fmt.flag("-j"),
            "force": fmt.flag("-force"),
            "batch": fmt.opt_val("-batch"),
            "object": fmt.positional(),
            "command": fmt.positional(),
        })

    def interfaces(self, families=(FAMILY,)):
        """Interfaces as parse_ip_addr() gives them; runner.CommandError when `ip` fails."""
        return parse_ip_addr(self.runner.run("json object command", json=True, object="addr", command="show").out,
                             families)

    def batch(self, lines):
        """Run `ip -force -batch -` with these lines (add_line/del_line); (rc, stderr).

        The exit code is no verdict: an address added or removed by someone else meanwhile
        ("File exists", "Cannot assign") fails a line but not the goal, so the caller reads the
        addresses back and judges by them."""
        result = self.runner.run("force batch", data="".join(line + "\n" for line in lines),
                                 ok_rcs=_AnyExitCode(), force=True, batch="-")
        return result.rc, result.err


def validate_address(value, field="address"):
    """A unicast IPv4 address as a normalised string (addr.unicast_ip)."""
    return str(unicast_ip(value, field, VERSION))


def validate_addresses(values, field="addresses"):
    """Validated addresses in the given order, duplicates dropped."""
    seen, known = [], set()
    for index, value in enumerate(values):
        ip = validate_address(value, "%s[%d]" % (field, index))
        if ip not in known:
            known.add(ip)
            seen.append(ip)
    return seen


def validate_groups(named, addresses, state):
    """The groups of egress_addr's `named` validated: [{interface, prefix, addresses}]; an
    address may be wanted only once across `addresses` and every group."""
    if named and state == "absent":
        raise ClaimError("named: not allowed with state=absent (release with addresses)")
    where = dict((address, "addresses") for address in addresses)
    groups = []
    for index, group in enumerate(named):
        field = "named[%d]" % index
        interface = validate_ifname(group["interface"], field + ".interface")
        prefix = validate_prefix(group["prefix"], field + ".prefix") if group["prefix"] is not None else None
        wanted = validate_addresses(group["addresses"], field + ".addresses")
        for number, address in enumerate(wanted):
            other = where.setdefault(address, field)
            if other != field:
                raise ClaimError("%s.addresses[%d]: %s is also requested in %s" % (field, number, address, other))
        groups.append({"interface": interface, "prefix": prefix, "addresses": wanted})
    return groups


def undeclared(before, addresses, groups, declared):
    """The addresses of our entries `before` that are neither wanted (`addresses`, `groups`)
    nor `declared`: what a state=overridden run with all of them would release."""
    known = set(addresses) | set(declared)
    for group in groups:
        known.update(group["addresses"])
    return [e["address"] for e in before if e["address"] not in known]


def validate_prefix(value, field="prefix"):
    """A prefix length of the family (addr.parse_prefix)."""
    return parse_prefix(value, field, VERSION)


def validate_ifname(value, field="interface"):
    if not _IFNAME_RE.match(u"%s" % value) or value in (".", ".."):
        raise ClaimError("%s: %r is not a valid interface name (1-15 characters, no space, '/' or ':')"
                         % (field, value))
    return value


def validate_suffix(value, field="label_suffix"):
    if not _SUFFIX_RE.match(u"%s" % value):
        raise ClaimError("%s: %r must be 1-13 characters of letters, digits, '_', '.' or '-'" % (field, value))
    return value


def make_label(ifname, suffix):
    """The label `<ifname>:<suffix>`; the kernel wants it to start with the interface name, max 15."""
    label = "%s:%s" % (ifname, suffix)
    if len(label) > LABEL_MAX:
        raise ClaimError("label_suffix: %r does not fit on interface %s: the label %r has %d characters, "
                         "labels start with the interface name and have at most %d"
                         % (suffix, ifname, label, len(label), LABEL_MAX))
    return label


def is_ours(addr, suffix):
    """Whether an address carries our label; with suffix None nothing is ours."""
    return suffix is not None and addr["label"] == "%s:%s" % (addr["interface"], suffix)


def entry(address, interface, prefix, label):
    return {"address": address, "interface": interface, "prefix": prefix, "label": label}


def _entry_of(addr):
    return entry(addr["address"], addr["interface"], addr["prefix"], addr["label"])


def _sort_key(item):
    return (item["interface"], _ip(item["address"]), item["prefix"])


def owned(interfaces, suffix):
    """Our addresses (label exactly `<ifname>:<suffix>`) as entries, sorted."""
    return sorted((_entry_of(a) for i in interfaces for a in i["addresses"] if is_ours(a, suffix)), key=_sort_key)


def holders_by_address(interfaces):
    """{address: [the configured IPv4 addresses equal to it, on any interface]}, in one pass."""
    index = {}
    for iface in interfaces:
        for addr in iface["addresses"]:
            index.setdefault(addr["address"], []).append(addr)
    return index


class LocalNetworks(dict):
    """{ifname: [IPNetwork, ...]} that also finds, in a few dictionary lookups, which of its
    networks hold an address (an addr.NetIndex built on first use; a run checks thousands)."""

    _index = None

    def holding(self, address):
        """{ifname: [networks holding the IPAddress `address`]}, in this mapping's order."""
        if self._index is None:
            self._index = NetIndex()
            for position, (name, networks) in enumerate(self.items()):
                for order, net in enumerate(networks):
                    self._index.add(net, ((position, order), name))
        result = {}
        for net, (dummy, name) in sorted(self._index.find(address), key=lambda hit: hit[1][0]):
            result.setdefault(name, []).append(net)
        return result


def local_networks(interfaces, suffix):
    """{ifname: [IPNetwork, ...]} built from the addresses that define networks (see module doc)."""
    nets = LocalNetworks()
    for iface in interfaces:
        nets[iface["name"]] = [
            IPNetwork((int(_ip(a["address"])), a["prefix"]), version=VERSION).cidr
            for a in iface["addresses"]
            if not a["secondary"] and a["scope"] != "host" and not is_ours(a, suffix)
        ]
    return nets


def _describe(nets):
    return ", ".join("%s %s" % (name, net) for name in sorted(nets) for net in nets[name]) or "none"


def choose_interface(interfaces, address, suffix=None, interface=None, prefix=None, nets=None):
    """(interface, prefix) for claiming `address`.

    Without `interface`: the one interface whose local network holds the address (none or
    several is an error). With `interface`: the address must be in one of its networks
    unless `prefix` is given too. Without `prefix`: the holding network's prefix length.
    `nets` is local_networks(interfaces, suffix) when the caller already has it.
    """
    ip = _ip(address)
    if nets is None:
        nets = local_networks(interfaces, suffix)
    if interface is not None:
        if interface not in nets:
            raise ClaimError("interface: %r does not exist on this host (interfaces: %s)"
                             % (interface, ", ".join(sorted(nets))))
        containing = [n for n in nets[interface] if ip in n]
        if prefix is not None:
            return interface, prefix
        if not containing:
            raise ClaimError("address: %s is not in local network %s of interface %s; set prefix "
                             "(with interface) to claim it there anyway"
                             % (address, _describe({interface: nets[interface]}), interface))
        return interface, max(n.prefixlen for n in containing)
    candidates = nets.holding(ip)
    if not candidates:
        raise ClaimError("address: %s is not in the local network of any interface (networks: %s); set "
                         "interface and prefix to claim it anyway" % (address, _describe(nets)))
    if len(candidates) > 1:
        raise ClaimError("address: %s is in the local networks of several interfaces (%s); set "
                         "interface to choose one" % (address, _describe(candidates)))
    name, containing = candidates.popitem()
    return name, prefix if prefix is not None else max(n.prefixlen for n in containing)


def check_host_address(address, prefix):
    """Refuse the network and broadcast address of an IPv4 address/prefix (prefixes up to /30)."""
    ip = _ip(address)
    if ip.version != 4 or prefix > 30:
        return
    net = IPNetwork((int(ip), prefix), version=4)
    if ip in (net.network, net.broadcast):
        kind = "network" if ip == net.network else "broadcast"
        raise ClaimError("address: %s is the %s address of %s" % (address, kind, net.cidr))


def _plan_one(interfaces, address, suffix, interface, prefix, held, nets):
    """(release, claim) for one wanted address; claim is None when nothing needs adding.

    `held`: holders_by_address(interfaces).get(address, []); `nets`: local_networks(interfaces, suffix)."""
    release = []
    keep = held
    if interface is not None:
        keep = [a for a in held if a["interface"] == interface]
        elsewhere = [a for a in held if a["interface"] != interface]
        foreign = [a for a in elsewhere if not is_ours(a, suffix)]
        if foreign and not keep:
            raise ClaimError("address: %s is already configured on interface %s (label %s), not on the "
                             "requested interface %s; remove it there first or request interface %s"
                             % (address, foreign[0]["interface"], foreign[0]["label"], interface,
                                foreign[0]["interface"]))
        # our own copies elsewhere move to the requested interface
        release = [a for a in elsewhere if is_ours(a, suffix)]
    if keep:
        current = keep[0]
        if prefix is None or current["prefix"] == prefix or not is_ours(current, suffix):
            return release, None  # already there (EEXIST is success); foreign addresses are never touched
        release.append(current)  # ours, but with another prefix than requested: replace it
        ifname = current["interface"]
    else:
        ifname, prefix = choose_interface(interfaces, address, suffix, interface, prefix, nets)
    check_host_address(address, prefix)
    return release, entry(address, ifname, prefix, make_label(ifname, suffix))


def plan(interfaces, addresses, state, suffix, interface=None, prefix=None, node_ip=None, groups=()):
    """What to release and claim so that the host matches `state` for `addresses`.

    `groups`: further [{interface, prefix, addresses}] (present and overridden only), each
    planned as `addresses` would be with that interface and prefix; with overridden their
    addresses are wanted too.

    present: claim each address that is not configured yet (an address already there with
    any label is left as it is, unless it is ours and interface/prefix ask for a move).
    absent: release the addresses that carry our label; others are left with a warning.
    overridden: present, and release every address carrying our label that is not listed.
    Returns {"release": [entry], "claim": [entry], "warnings": [str]}; raises ClaimError
    before anything is decided when one address cannot be handled.
    """
    batches = [(addresses, interface, prefix)] + [(g["addresses"], g["interface"], g["prefix"]) for g in groups]
    for batch in batches:
        for address in batch[0]:
            if node_ip is not None and address == node_ip:
                raise ClaimError("address: %s is refused: desired egress IP is the node IP (node_ip)" % address)
    release, claim, warnings = [], [], []
    by_address = holders_by_address(interfaces)  # one pass for any number of wanted addresses
    if state == "absent":
        for address in addresses:
            for addr in by_address.get(address, []):
                if is_ours(addr, suffix):
                    release.append(addr)
                else:
                    warnings.append("address %s on %s has label %s, not %s:%s; left in place"
                                    % (address, addr["interface"], addr["label"], addr["interface"], suffix))
    else:
        if state == "overridden":
            wanted = set(address for batch in batches for address in batch[0])
            release = [a for i in interfaces for a in i["addresses"]
                       if is_ours(a, suffix) and a["address"] not in wanted]
        nets = local_networks(interfaces, suffix)
        for wanted_here, on, length in batches:
            for address in wanted_here:
                gone, new = _plan_one(interfaces, address, suffix, on, length,
                                      by_address.get(address, []), nets)
                release.extend(gone)
                if new is not None:
                    claim.append(new)
    return {
        "release": sorted((_entry_of(a) for a in release), key=_sort_key),
        "claim": claim,
        "warnings": warnings,
    }


def predict(before, changes):
    """Our addresses after applying a plan to `before` (both lists of entries)."""
    released = set((e["address"], e["interface"], e["prefix"]) for e in changes["release"])
    kept = [e for e in before if (e["address"], e["interface"], e["prefix"]) not in released]
    return sorted(kept + changes["claim"], key=_sort_key)


# ---------------------------------------------------------------------------------------
# `ip -batch` lines: written and read here (the run report reads the claims with parse_batch_line)

def add_line(item):
    """The `ip -batch` line that claims an entry {address, interface, prefix, label}."""
    return "addr add %s/%d dev %s label %s" % (item["address"], item["prefix"], item["interface"], item["label"])


def del_line(item):
    """The `ip -batch` line that releases an entry."""
    return "addr del %s/%d dev %s" % (item["address"], item["prefix"], item["interface"])


def parse_batch_line(line):
    """The entry {address, interface, prefix, label} an `ip -batch` line of ours adds
    (``addr add A/P dev IF label L``, as add_line writes it), or None for any other line."""
    words = str(line).split()
    if len(words) == 7 and words[:2] == ["addr", "add"] and words[3] == "dev" and words[5] == "label":
        address, dummy, prefix = words[2].partition("/")
        try:
            prefix = parse_int(prefix, "prefix")
        except AddrError:
            return None
        return {"address": address, "interface": words[4], "prefix": prefix, "label": words[6]}
    return None


def render(entries):
    """One line per address, for --diff."""
    return "".join("%s/%d dev %s label %s\n" % (e["address"], e["prefix"], e["interface"], e["label"])
                   for e in entries)
