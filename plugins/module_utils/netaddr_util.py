# -*- coding: utf-8 -*-
# Copyright: sdn.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Egress address helpers: parse `ip -j addr show`, choose interface and prefix, plan claims.

Pure Python (stdlib only). Every refusal is a NetaddrError whose message names the option
and the offending value, so a module can fail before it changes anything.

Which addresses define an interface's "local networks": its primary (non-secondary) IPv4
addresses that are not host-scoped and do not carry our label. Secondary addresses always
lie inside a primary's network, so leaving them out loses nothing; leaving our own labelled
addresses out means an egress IP once claimed with an explicit prefix (say a /32 outside
every network) never makes its network look local afterwards.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import ipaddress
import json
import re

LABEL_MAX = 15
_IFNAME_RE = re.compile(r"^[^\s/:]{1,15}$")
_SUFFIX_RE = re.compile(r"^[A-Za-z0-9_.-]{1,13}$")


class NetaddrError(ValueError):
    """A value or a request that cannot be satisfied; the message names field and value."""


@functools.lru_cache(maxsize=None)
def _ipv4(text):
    """IPv4Address of a text, parsed once per run (addresses are compared, sorted and checked
    several times per entry; IPv4Address is immutable). ValueError as IPv4Address raises it."""
    return ipaddress.IPv4Address(text)


def parse_ip_addr(text):
    """Interfaces from `ip -j addr show` output.

    Returns a list of {name, ifindex, mac, link_type, up, addresses}; addresses holds the
    IPv4 addresses only, each {address, prefix, label, secondary, scope, interface}.
    """
    try:
        links = json.loads(text)
    except ValueError as exc:
        raise NetaddrError("cannot parse `ip -j addr show` output: %s" % exc)
    if not isinstance(links, list):
        raise NetaddrError("cannot parse `ip -j addr show` output: expected a JSON list")
    interfaces = []
    for link in links:
        name = link.get("ifname")
        if not name:  # iproute2 prints {} for links that a filter left out
            continue
        addresses = []
        for info in link.get("addr_info", []):
            if info.get("family") != "inet":
                continue
            addresses.append({
                "address": info["local"],
                "prefix": int(info["prefixlen"]),
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


def read_interfaces(run_command, ip_bin):
    """Interfaces as parse_ip_addr() gives them, read with `ip -j addr show` through
    `run_command` (AnsibleModule.run_command); NetaddrError when that fails."""
    argv = [ip_bin, "-j", "addr", "show"]
    rc, out, err = run_command(argv)
    if rc != 0:
        raise NetaddrError("%s failed (rc=%d): %s" % (" ".join(argv), rc, err.strip()))
    return parse_ip_addr(out)


def validate_address(value, field="address"):
    """A unicast IPv4 address as a normalised string."""
    try:
        ip = _ipv4(u"%s" % value)
    except ValueError:
        raise NetaddrError("%s: %r is not a valid IPv4 address" % (field, value))
    number = int(ip)
    # unspecified 0.0.0.0, loopback 127/8, multicast 224/4 and reserved 240/4 (as ipaddress's
    # is_unspecified, is_loopback, is_multicast and is_reserved, in integer arithmetic)
    if number == 0 or number >> 24 == 127 or number >> 28 >= 0xE:
        raise NetaddrError("%s: %r is not a unicast host address" % (field, value))
    return str(ip)


def validate_addresses(values, field="addresses"):
    """Validated addresses in the given order, duplicates dropped."""
    seen, known = [], set()
    for index, value in enumerate(values):
        ip = validate_address(value, "%s[%d]" % (field, index))
        if ip not in known:
            known.add(ip)
            seen.append(ip)
    return seen


def validate_prefix(value, field="prefix"):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 32:
        raise NetaddrError("%s: %r is not a prefix length between 1 and 32" % (field, value))
    return value


def validate_ifname(value, field="interface"):
    if not _IFNAME_RE.match(u"%s" % value) or value in (".", ".."):
        raise NetaddrError("%s: %r is not a valid interface name (1-15 characters, no space, '/' or ':')"
                           % (field, value))
    return value


def validate_suffix(value, field="label_suffix"):
    if not _SUFFIX_RE.match(u"%s" % value):
        raise NetaddrError("%s: %r must be 1-13 characters of letters, digits, '_', '.' or '-'" % (field, value))
    return value


def make_label(ifname, suffix):
    """The label `<ifname>:<suffix>`; the kernel wants it to start with the interface name, max 15."""
    label = "%s:%s" % (ifname, suffix)
    if len(label) > LABEL_MAX:
        raise NetaddrError("label_suffix: %r does not fit on interface %s: the label %r has %d characters, "
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
    return (item["interface"], _ipv4(u"%s" % item["address"]), item["prefix"])


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


class NetIndex:
    """Which networks of a set hold an address, in one lookup per distinct prefix length."""

    def __init__(self):
        self._by_prefix = {}

    def add(self, network, owner):
        table = self._by_prefix.setdefault(network.prefixlen, {})
        table.setdefault(int(network.network_address), []).append((network, owner))

    def find(self, address):
        """[(network, owner)] holding ``address`` (an IPv4Address or its int), most specific
        network first."""
        value = int(address)
        hits = []
        for prefix in sorted(self._by_prefix, reverse=True):
            hits.extend(self._by_prefix[prefix].get(value & (0xFFFFFFFF ^ ((1 << (32 - prefix)) - 1)), ()))
        return hits


class LocalNetworks(dict):
    """{ifname: [IPv4Network, ...]} that also finds, in a few dictionary lookups, which of its
    networks hold an address (a NetIndex built on first use; a run checks thousands)."""

    _index = None

    def holding(self, address):
        """{ifname: [networks holding the IPv4Address `address`]}, in this mapping's order."""
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
    """{ifname: [IPv4Network, ...]} built from the addresses that define networks (see module doc)."""
    nets = LocalNetworks()
    for iface in interfaces:
        nets[iface["name"]] = [
            ipaddress.IPv4Network(u"%s/%d" % (a["address"], a["prefix"]), strict=False)
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
    ip = _ipv4(u"%s" % address)
    if nets is None:
        nets = local_networks(interfaces, suffix)
    if interface is not None:
        if interface not in nets:
            raise NetaddrError("interface: %r does not exist on this host (interfaces: %s)"
                               % (interface, ", ".join(sorted(nets))))
        containing = [n for n in nets[interface] if ip in n]
        if prefix is not None:
            return interface, prefix
        if not containing:
            raise NetaddrError("address: %s is not in local network %s of interface %s; set prefix "
                               "(with interface) to claim it there anyway"
                               % (address, _describe({interface: nets[interface]}), interface))
        return interface, max(n.prefixlen for n in containing)
    candidates = nets.holding(ip)
    if not candidates:
        raise NetaddrError("address: %s is not in the local network of any interface (networks: %s); set "
                           "interface and prefix to claim it anyway" % (address, _describe(nets)))
    if len(candidates) > 1:
        raise NetaddrError("address: %s is in the local networks of several interfaces (%s); set "
                           "interface to choose one" % (address, _describe(candidates)))
    name, containing = candidates.popitem()
    return name, prefix if prefix is not None else max(n.prefixlen for n in containing)


def check_host_address(address, prefix):
    """Refuse the network and broadcast address of address/prefix (prefixes up to /30)."""
    if prefix > 30:
        return
    ip = int(_ipv4(u"%s" % address))
    host_bits = 32 - prefix
    network = ip >> host_bits << host_bits
    if ip in (network, network | ((1 << host_bits) - 1)):
        kind = "network" if ip == network else "broadcast"
        raise NetaddrError("address: %s is the %s address of %s"
                           % (address, kind, ipaddress.IPv4Network((network, prefix))))


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
            raise NetaddrError("address: %s is already configured on interface %s (label %s), not on the "
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
    Returns {"release": [entry], "claim": [entry], "warnings": [str]}; raises NetaddrError
    before anything is decided when one address cannot be handled.
    """
    batches = [(addresses, interface, prefix)] + [(g["addresses"], g["interface"], g["prefix"]) for g in groups]
    for batch in batches:
        for address in batch[0]:
            if node_ip is not None and address == node_ip:
                raise NetaddrError("address: %s is refused: desired egress IP is the node IP (node_ip)" % address)
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


def add_argv(ip_bin, item):
    return [ip_bin, "addr", "add", "%s/%d" % (item["address"], item["prefix"]), "dev", item["interface"],
            "label", item["label"]]


def del_argv(ip_bin, item):
    return [ip_bin, "addr", "del", "%s/%d" % (item["address"], item["prefix"]), "dev", item["interface"]]


def batch_line(argv):
    """An `ip` argv as a line of `ip -batch` input (without the program)."""
    return " ".join(argv[1:])


def parse_batch_line(line):
    """The entry {address, interface, prefix, label} an `ip -batch` line of ours adds
    (``addr add A/P dev IF label L``, as add_argv/batch_line write it), or None for any other line."""
    words = str(line).split()
    if len(words) == 7 and words[:2] == ["addr", "add"] and words[3] == "dev" and words[5] == "label":
        address, dummy, prefix = words[2].partition("/")
        return {"address": address, "interface": words[4], "prefix": int(prefix), "label": words[6]}
    return None


def render(entries):
    """One line per address, for --diff."""
    return "".join("%s/%d dev %s label %s\n" % (e["address"], e["prefix"], e["interface"], e["label"])
                   for e in entries)
