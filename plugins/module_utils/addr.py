# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one parser of the values an intent and a module take: integers and IP values.

Every integer (VNID, mark, cookie, table, priority, prefix) and every IP value (address,
network, address with prefix; IPv4 and IPv6) the collection reads from a user, an API object or
a command's output goes through here, so that one spelling is accepted everywhere and every
refusal reads alike: ``<field>: <value> is not ...`` (``AddrError``, a ValueError).

Addresses and networks are netaddr objects (``IPAddress``, ``IPNetwork``): netaddr does the
address and network math (containment, prefixes, both families), this file decides what text
is accepted.  Addresses are strict: inet_pton spellings only (no leading zeros, no short
forms such as ``10.1``), surrounding whitespace ignored.  The controller (planner) and the
nodes (modules) both import this file, so netaddr is needed on both (``python3-netaddr``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import json
import re

try:
    import netaddr
    from netaddr import IPAddress, IPNetwork
    HAS_NETADDR = True
    NETADDR_IMPORT_ERROR = None
except ImportError as exc:  # reported by the module (missing_required_lib), not at import
    HAS_NETADDR = False
    NETADDR_IMPORT_ERROR = exc
    IPAddress = IPNetwork = None

_CONTROL_RE = re.compile(u"[\\x00-\\x1f\\x7f]")
_DECIMAL_RE = re.compile(r"[0-9]+\Z")
_HEX_RE = re.compile(r"0[xX][0-9a-fA-F]+\Z")
MAX_PREFIX = {4: 32, 6: 128}


class AddrError(ValueError):
    """A value that is not what its field needs; the message names the field and the value."""


def show(value):
    """A user's value as a message shows it: plain text as it is, unless it is empty or holds
    control characters (then JSON-escaped, so a newline cannot forge a line of output);
    anything else as JSON."""
    if isinstance(value, str):
        if value and not _CONTROL_RE.search(value):
            return value
        return json.dumps(value)
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def error(field, value, text):
    """AddrError "<field>: <value> <text>"."""
    return AddrError("%s: %s %s" % (field, show(value), text))


def parse_int(value, field, low=None, high=None):
    """An int, or a decimal / 0x-hex string (whitespace around it ignored); booleans are not
    integers.  With ``low``/``high``, out-of-range values are refused too."""
    if isinstance(value, bool):
        raise error(field, value, "is not an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if _DECIMAL_RE.match(text):
            number = int(text, 10)
        elif _HEX_RE.match(text):
            number = int(text[2:], 16)
        else:
            raise error(field, value, "is not an integer")
    else:
        raise error(field, value, "is not an integer")
    if (low is not None and number < low) or (high is not None and number > high):
        raise error(field, value, "is out of range %s..%s" % (_bound(low), _bound(high)))
    return number


def _bound(number):
    return "" if number is None else "%d" % number


def _need_netaddr():
    if not HAS_NETADDR:
        raise AddrError("the Python library netaddr is needed (%s)" % NETADDR_IMPORT_ERROR)


@functools.lru_cache(maxsize=None)
def _address(text):
    """IPAddress of a stripped text, parsed once per process; None when it is not one."""
    try:
        return IPAddress(text, flags=netaddr.INET_PTON)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return None


def _family(version):
    return "an IP" if version is None else "an IPv%d" % version


def parse_ip(value, field, version=None):
    """An IP address (``IPAddress``); ``version`` 4 or 6 restricts the family."""
    _need_netaddr()
    ip = _address(value.strip()) if isinstance(value, str) else None
    if ip is None or (version is not None and ip.version != version):
        raise error(field, value, "is not %s address" % _family(version))
    return ip


def _split_prefixed(value, field, version, what):
    """(IPAddress, prefix length) of "<address>/<prefix>"."""
    _need_netaddr()
    if isinstance(value, str) and value.count("/") == 1:
        text, dummy, length = value.strip().partition("/")
        ip = _address(text)
        if ip is not None and (version is None or ip.version == version) and _DECIMAL_RE.match(length):
            prefix = int(length)
            if prefix <= MAX_PREFIX[ip.version]:
                return ip, prefix
    raise error(field, value, "is not %s %s" % (_family(version), what))


def parse_network(value, field, version=None):
    """A network in CIDR form whose host bits are zero ("10.128.0.0/14") as ``IPNetwork``."""
    ip, prefix = _split_prefixed(value, field, version, "network (address/prefix)")
    network = IPNetwork((int(ip), prefix), version=ip.version)
    if network.ip != network.network:
        raise error(field, value, "has host bits set (the network is %s)" % network.cidr)
    return network


def parse_interface(value, field, version=None):
    """An address with its prefix ("10.0.0.200/24") as ``IPNetwork`` (``.ip`` the address,
    ``.cidr`` the network)."""
    ip, prefix = _split_prefixed(value, field, version, "address/prefix")
    return IPNetwork((int(ip), prefix), version=ip.version)


def parse_prefix(value, field, version=4):
    """A prefix length for the family (1..32 for IPv4, 1..128 for IPv6)."""
    return parse_int(value, field, 1, MAX_PREFIX[version])


def is_unicast_host(ip):
    """Whether an address can be a host's: not unspecified, loopback, multicast or reserved
    (IPv4 240/4), nor IPv4 limited broadcast."""
    if ip.version == 4:
        number = int(ip)
        return number != 0 and number >> 24 != 127 and number >> 28 < 0xE
    return not (ip.is_loopback() or ip.is_multicast() or int(ip) == 0)


def unicast_ip(value, field, version=None):
    """parse_ip, refusing what cannot be a host's address (is_unicast_host)."""
    ip = parse_ip(value, field, version)
    if not is_unicast_host(ip):
        raise error(field, value, "is not a unicast host address")
    return ip


class NetIndex:
    """Networks with an owner each, looked up by address: which of them hold it, most specific
    first.  One dictionary per (family, prefix length), so a lookup costs one probe per prefix
    length in use however many networks are indexed."""

    def __init__(self):
        self._by_prefix = {4: {}, 6: {}}  # version -> {prefix: {network integer: [(IPNetwork, owner)]}}
        self._order = {4: [], 6: []}      # version -> [(shift, table)], longest prefix first

    def add(self, network, owner):
        tables = self._by_prefix[network.version]
        if network.prefixlen not in tables:
            tables[network.prefixlen] = {}
            width = MAX_PREFIX[network.version]
            self._order[network.version] = [(width - prefix, tables[prefix]) for prefix in sorted(tables, reverse=True)]
        tables[network.prefixlen].setdefault(int(network.network), []).append((network, owner))

    def find(self, address):
        """[(IPNetwork, owner)] holding ``address`` (an IPAddress), longest prefix first.

        netaddr's all_matching_cidrs sorts and scans every network per call; a plan looks up
        thousands of addresses, so the index probes one dictionary per prefix length instead."""
        found = []
        value = int(address)
        for shift, table in self._order[address.version]:
            hits = table.get(value >> shift << shift)
            if hits:
                found.extend(hits)
        return found

    def __bool__(self):
        return bool(self._order[4] or self._order[6])
