# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Egress planner: declared NetNamespace/HostSubnet facts -> what every node must have.

Pure Python (stdlib ``ipaddress`` and ``json`` only), shared by the ``egress_plan`` action
plugin, the ``vnid_to_mark`` filters and the roles.  Behaviour follows openshift-sdn 3.x
(3.10 .. 4.7, ``pkg/network/common/egressip.go`` and ``pkg/network/node/egressip.go``):

* an egress IP is *assigned* when exactly one namespace (VNID) and exactly one node
  (HostSubnet ``egressIPs``) list it, and the namespace has no other IP on that node;
* every assigned IP gets its address, SNAT rule and inbound REJECT on its node, whether or
  not it is the namespace's active IP (openshift-sdn ``ClaimEgressIP`` does the same, so a
  failover only has to rewrite flows);
* a namespace's *first* listed IP that is assigned to a reachable node is the active one;
  every other reachable node tunnels the namespace's traffic there;
* no usable IP (or an IP listed by two namespaces) -> a drop flow on every reachable node,
  the traffic never leaves with a node IP.

Differences from openshift-sdn, on purpose: a namespace with a single egress IP whose node
is unreachable is dropped (openshift-sdn only checks reachability with two or more IPs),
and ``egressCIDRs`` ties are broken by node name instead of Go map order.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json

from ansible_collections.sdn.egress.plugins.module_utils.iptables import snat_line
from ansible_collections.sdn.egress.plugins.module_utils.ovs import flow_line


class NetIndex:
    """Which IPv4 networks (ipaddress objects) of a set hold an address, in one lookup per
    distinct prefix length. (Moved here from netaddr_util when that became ipaddr.py on netaddr;
    the planner is its last user until it parses with addr.py and uses addr.NetIndex.)"""

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


MAX_VNID = 0xFFFFFF
GLOBAL_VNID_MARK = 0xFF000000
KUBELET_DROP_BIT = 0x8000
MARK_RULES = ("3.x", "4.8")
DEFAULT_SETTINGS = {
    "cluster_cidrs": ["10.128.0.0/14"],
    "mark_rule": "3.x",
    "masquerade_bit": 0,
    "table": 100,
    "priority": 100,
}
SETTING_KEYS = tuple(sorted(list(DEFAULT_SETTINGS) + ["cookie"]))
NAMESPACE_KEYS = ("name", "netid", "egress_ips")
NODE_KEYS = ("name", "host_ip", "subnet", "egress_ips", "egress_cidrs", "interfaces", "inventory_host")
NODE_VAR_KEYS = ("name", "host_ip", "interfaces", "inventory_host")
MAX_OFPORT = 0xFEFF
_HEX = "0123456789abcdef"


# ---------------------------------------------------------------------------------------
# marks


def _parse_int(value, what):
    """int, or a decimal / 0x-hex string; ValueError naming ``what`` otherwise."""
    if isinstance(value, bool):
        raise ValueError("%s: %s is not an integer" % (what, _show(value)))
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            if text.startswith("0x"):
                return int(text[2:], 16)
            return int(text, 10)
        except ValueError:
            pass
    raise ValueError("%s: %s is not an integer" % (what, _show(value)))


def _checked_vnid(vnid):
    value = _parse_int(vnid, "vnid")
    if not 0 <= value <= MAX_VNID:
        raise ValueError("vnid: %s is out of range 0..%d" % (_show(vnid), MAX_VNID))
    return value


def _checked_mark_args(rule, masquerade_bit):
    if rule not in MARK_RULES:
        raise ValueError("mark_rule: %s is not one of %s" % (_show(rule), ", ".join(MARK_RULES)))
    bit = _parse_int(masquerade_bit, "masquerade_bit")
    if not 0 <= bit <= 31:
        raise ValueError("masquerade_bit: %s is out of range 0..31" % _show(masquerade_bit))
    return 1 << bit


def _mark_value(vnid, rule, mask):
    """openshift-sdn getMarkForVNID on validated input; ``mask`` is 1 << masquerade bit."""
    value = vnid or GLOBAL_VNID_MARK
    if rule == "4.8" and value & KUBELET_DROP_BIT:
        value = (value | 0x10000000) ^ KUBELET_DROP_BIT
    if value & mask:
        value = (value | 0x01000000) ^ mask
    return value


def vnid_to_mark(vnid, rule="3.x", masquerade_bit=0):
    """Packet mark for a VNID, printed like iptables and ovs-ofctl print it ("0x1df6552").

    ``rule`` "3.x" (openshift-sdn up to 4.7) or "4.8" (4.8+ also moves the kubelet drop bit
    0x8000 to 0x10000000, first).  ``masquerade_bit`` is the kube-proxy iptables masquerade
    bit *number* (openshift default 0, mask 0x1).
    Raises ValueError for a bad VNID, rule or bit.
    """
    mask = _checked_mark_args(rule, masquerade_bit)
    return "0x%x" % _mark_value(_checked_vnid(vnid), rule, mask)


def vnid_to_hex(vnid):
    """VNID as a hex literal ("0x2ec40e"); the form ``reg0=`` takes in a flow match."""
    return "0x%x" % _checked_vnid(vnid)


def _ovs_reg(value):
    """Register value the way ovs-ofctl prints it (C "%#x": 0 prints as "0")."""
    return "0x%x" % value if value else "0"


# ---------------------------------------------------------------------------------------
# normalisation: three input shapes -> one model
#
# model = {"namespaces": [{name, netid, egress_ips}],
#          "nodes": [{name, host_ip, subnet, egress_ips, egress_cidrs, interfaces,
#                     inventory_host?}],
#          "problems": [structural problems found while normalising]}


def _show(value):
    if isinstance(value, str):
        return value if value else '""'
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


class _Problems(list):
    def add(self, path, value, text):
        """"<path>: <value> <text>", or "<path>: missing" when the value is None."""
        self.append("%s: missing" % path if value is None else "%s: %s %s" % (path, _show(value), text))


def _label(item, index):
    name = item.get("name") if isinstance(item, dict) else None
    return name if isinstance(name, str) and name else "#%d" % index


def _copy_entries(entries, where, keys, defaults, problems):
    """Copy known keys of each mapping in ``entries``; report what is not a list/mapping/key."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        problems.add(where, entries, "is not a list")
        return []
    result = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            problems.add("%s[#%d]" % (where, index), entry, "is not a mapping")
            continue
        for key in sorted(set(entry) - set(keys)):
            problems.append("%s[%s]: unknown key %s (known: %s)"
                            % (where, _label(entry, index), key, ", ".join(keys)))
        item = dict((key, entry[key]) for key in keys if key in entry)
        for key, value in defaults.items():
            if item.get(key) is None:
                item[key] = list(value)
        result.append(item)
    return result


_NS_DEFAULTS = {"egress_ips": []}
_NODE_DEFAULTS = {"egress_ips": [], "egress_cidrs": [], "interfaces": []}


def from_inventory(namespaces, nodes):
    """Model from inventory vars: lists of namespace and node mappings (keys as in the model)."""
    problems = _Problems()
    return {
        "namespaces": _copy_entries(namespaces, "namespaces", NAMESPACE_KEYS, _NS_DEFAULTS, problems),
        "nodes": _copy_entries(nodes, "nodes", NODE_KEYS, _NODE_DEFAULTS, problems),
        "problems": list(problems),
    }


def _object_name(obj, field):
    name = obj.get(field)
    if name is None:
        name = (obj.get("metadata") or {}).get("name")
    return name


def _namespace_from_object(obj):
    return {
        "name": _object_name(obj, "netname"),
        "netid": obj.get("netid"),
        "egress_ips": list(obj.get("egressIPs") or []),
    }


def _node_from_object(obj):
    return {
        "name": _object_name(obj, "host"),
        "host_ip": obj.get("hostIP"),
        "subnet": obj.get("subnet"),
        "egress_ips": list(obj.get("egressIPs") or []),
        "egress_cidrs": list(obj.get("egressCIDRs") or []),
        "interfaces": [],
    }


_CONVERTERS = {"NetNamespace": ("namespaces", _namespace_from_object),
               "HostSubnet": ("nodes", _node_from_object)}


def _add_objects(model, objects, where, expected_kinds, problems):
    if not isinstance(objects, list):
        problems.add(where, objects, "is not a list")
        return
    for index, obj in enumerate(objects):
        kind = obj.get("kind") if isinstance(obj, dict) else None
        if kind not in expected_kinds:
            label = _label(obj.get("metadata"), index) if isinstance(obj, dict) else "#%d" % index
            problems.add("%s[%s].kind" % (where, label), kind, "is not %s" % " or ".join(expected_kinds))
            continue
        key, convert = _CONVERTERS[kind]
        model[key].append(convert(obj))


def from_oc_json(document):
    """Model from ``oc get netnamespace,hostsubnet -o json`` (a v1 List, or its JSON text).

    Also takes a NetNamespaceList/HostSubnetList or a single object.
    """
    model = {"namespaces": [], "nodes": []}
    problems = _Problems()
    _add_document(model, document, problems)
    model["problems"] = list(problems)
    return model


def _add_document(model, document, problems):
    kinds = ("NetNamespace", "HostSubnet")
    if isinstance(document, (str, bytes)):
        try:
            document = json.loads(document)
        except ValueError as exc:
            problems.append("oc_json: not valid JSON (%s)" % exc)
            return
    if not isinstance(document, dict):
        problems.add("oc_json", document, "is not a JSON object")
    elif "items" in document:
        _add_objects(model, document["items"], "oc_json.items", kinds, problems)
    else:
        _add_objects(model, [document], "oc_json", kinds, problems)


def _k8s_resources(result):
    """Objects from a registered kubernetes.core.k8s_info result or a plain list of objects."""
    if result is None:
        return []
    if isinstance(result, dict) and "resources" in result:
        return result["resources"]
    return result


def from_k8s_info(namespaces, nodes):
    """Model from kubernetes.core.k8s_info results (``resources``) for NetNamespaces and HostSubnets."""
    model = {"namespaces": [], "nodes": []}
    problems = _Problems()
    _add_objects(model, _k8s_resources(namespaces), "namespaces", ("NetNamespace",), problems)
    _add_objects(model, _k8s_resources(nodes), "nodes", ("HostSubnet",), problems)
    model["problems"] = list(problems)
    return model


def merge_node_vars(model, node_vars):
    """Overlay inventory-only node facts (host_ip with prefix, interfaces, inventory_host).

    The API does not know a node's interfaces; this adds them by node name.  Names that
    match no node are reported.  Returns a new model; ``model`` is not changed.
    """
    problems = _Problems(model.get("problems") or [])
    entries = _copy_entries(node_vars, "node_vars", NODE_VAR_KEYS, {}, problems)
    nodes = [dict(node) for node in model.get("nodes") or []]
    by_name = dict((node.get("name"), node) for node in nodes)
    for index, entry in enumerate(entries):
        node = by_name.get(entry.get("name"))
        if node is None:
            problems.add("node_vars[%s].name" % _label(entry, index), entry.get("name"),
                         "is not a known node (known: %s)" % ", ".join(sorted(str(name) for name in by_name)))
            continue
        node.update((key, value) for key, value in entry.items() if key != "name" and value is not None)
    return {"namespaces": list(model.get("namespaces") or []), "nodes": nodes, "problems": list(problems)}


# ---------------------------------------------------------------------------------------
# checking


class _Address(ipaddress.IPv4Address):
    """An IPv4Address that hashes as its integer and keeps its text.

    A plan of thousands of namespaces looks addresses up in dictionaries tens of thousands of
    times; IPv4Address hashes by formatting itself in hex each time.  Every address the
    planner keeps in a dictionary or set is one of these (``_address``), so equal addresses
    hash alike.
    """

    __slots__ = ("_text",)

    def __hash__(self):
        return self._ip

    def __str__(self):
        return self._text

    def __repr__(self):
        return "IPv4Address(%r)" % self._text


def _address(number, text):
    """``_Address`` of an address's integer and its canonical text."""
    address = _Address(number)
    address._text = text
    return address


def _parse_ipv4(text):
    """The integer of a dotted-quad address, or None; accepts what ipaddress.IPv4Address accepts
    (four decimal octets of 1-3 ASCII digits, 0-255, no leading zeros), which is also its text."""
    parts = text.split(".")
    if len(parts) != 4:
        return None
    number = 0
    for part in parts:
        if not (0 < len(part) <= 3 and part.isascii() and part.isdigit()) or (part[0] == "0" and len(part) > 1):
            return None
        octet = int(part)
        if octet > 255:
            return None
        number = number << 8 | octet
    return number


def _ipv4(value, path, problems):
    if not isinstance(value, str):
        problems.add(path, value, "is not an IPv4 address")
        return None
    text = value.strip()
    number = _parse_ipv4(text)
    if number is None:
        problems.add(path, value, "is not an IPv4 address")
        return None
    return _address(number, str.__str__(text))  # canonical: the parse accepts no other spelling


def _ipv4_network(value, path, problems):
    """A CIDR whose host bits are zero ("10.0.0.0/24")."""
    if isinstance(value, str) and "/" in value:
        try:
            return ipaddress.IPv4Network(value.strip())
        except ValueError:
            try:
                loose = ipaddress.IPv4Network(value.strip(), strict=False)
            except ValueError:
                pass
            else:
                problems.add(path, value, "has host bits set (the network is %s)" % loose)
                return None
    problems.add(path, value, "is not an IPv4 CIDR")
    return None


def _ipv4_interface(value, path, problems):
    """An address with its prefix ("10.0.0.200/24")."""
    if not isinstance(value, str) or "/" not in value:
        problems.add(path, value, "is not an IPv4 address/prefix")
        return None
    try:
        return ipaddress.IPv4Interface(value.strip())
    except ValueError:
        problems.add(path, value, "is not an IPv4 address/prefix")
        return None


def _int_in_range(value, path, low, high, problems):
    try:
        number = _parse_int(value, path)
    except ValueError:
        problems.add(path, value, "is not an integer")
        return None
    if not low <= number <= high:
        problems.add(path, value, "is out of range %d..%d" % (low, high))
        return None
    return number


def _ip_list(values, path, problems):
    """Parsed addresses in order; malformed and repeated entries are reported and skipped."""
    if not isinstance(values, list):
        problems.add(path, values, "is not a list")
        return []
    result = []
    seen = set()
    for value in values:
        address = _ipv4(value, path, problems)
        if address is None:
            continue
        if address in seen:
            problems.add(path, value, "is listed twice")
            continue
        seen.add(address)
        result.append(address)
    return result


def _check_settings(settings, problems):
    """Settings with defaults filled in; an invalid value is reported and planned as its default."""
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        problems.add("settings", settings, "is not a mapping")
        settings = {}
    for key in sorted(set(settings) - set(SETTING_KEYS)):
        problems.append("settings: unknown key %s (known: %s)" % (key, ", ".join(SETTING_KEYS)))
    given = dict((key, value) for key, value in settings.items() if value is not None)
    result = {}
    cidrs = given.get("cluster_cidrs", DEFAULT_SETTINGS["cluster_cidrs"])
    if isinstance(cidrs, str):
        cidrs = [cidrs]
    if not isinstance(cidrs, list):
        problems.add("settings.cluster_cidrs", cidrs, "is not a list")
        cidrs = []
    networks = [net for net in (_ipv4_network(cidr, "settings.cluster_cidrs", problems) for cidr in cidrs)
                if net is not None]
    result["cluster_cidrs"] = [str(net) for net in networks]
    result["mark_rule"] = given.get("mark_rule", DEFAULT_SETTINGS["mark_rule"])
    if result["mark_rule"] not in MARK_RULES:
        problems.add("settings.mark_rule", result["mark_rule"], "is not one of %s" % ", ".join(MARK_RULES))
        result["mark_rule"] = DEFAULT_SETTINGS["mark_rule"]
    for key, high in (("masquerade_bit", 31), ("table", 254), ("priority", 65535)):
        value = None
        if key in given:
            value = _int_in_range(given[key], "settings." + key, 0, high, problems)
        result[key] = DEFAULT_SETTINGS[key] if value is None else value
    if "cookie" in given:
        result["cookie"] = given["cookie"]
    return result, networks


class _Group:
    """The namespaces sharing one VNID (openshift-sdn tracks egress per VNID)."""

    __slots__ = ("vnid", "members", "ips", "conflict", "mark")

    def __init__(self, vnid):
        self.vnid = vnid
        self.members = []   # parsed namespaces, in name order
        self.ips = []       # failover order
        self.conflict = False
        self.mark = None

    @property
    def name(self):
        return self.members[0]["name"]


def _named_entries(entries, kind, problems):
    """(path, entry, name) of each entry with a valid name not seen before; a problem for the rest."""
    seen = set()
    for index, entry in enumerate(entries):
        path = "%s[%s]" % (kind, _label(entry, index))
        name = entry.get("name")
        if not isinstance(name, str) or name.split() != [name]:  # empty, or holds whitespace
            problems.add(path + ".name", name, "is not a name")
            continue
        if name in seen:
            problems.add(path + ".name", name, "is declared twice")
            continue
        seen.add(name)
        yield path, entry, name


def _check_namespaces(entries, problems):
    """VNID groups sorted by VNID, members sorted by name; and one group (VNID None) per
    namespace whose netid is invalid: their egress IPs are still checked, nothing is planned."""
    parsed = []
    for path, entry, name in _named_entries(entries, "namespaces", problems):
        ips = _ip_list(entry.get("egress_ips"), path + ".egress_ips", problems)
        vnid = _int_in_range(entry.get("netid"), path + ".netid", 0, MAX_VNID, problems)
        parsed.append({"name": name, "netid": vnid, "egress_ips": ips})
    parsed.sort(key=lambda ns: ns["name"])
    groups = {}
    invalid = []
    for ns in parsed:
        if ns["netid"] is None:
            group = _Group(None)
            group.ips = ns["egress_ips"]
            group.members.append(ns)
            invalid.append(group)
            continue
        group = groups.get(ns["netid"])
        if group is None:
            group = groups[ns["netid"]] = _Group(ns["netid"])
            group.ips = ns["egress_ips"]
        elif ns["egress_ips"] != group.ips:
            group.conflict = True
            problems.add("namespaces[%s].egress_ips" % ns["name"], [str(ip) for ip in ns["egress_ips"]],
                         "differs from namespace %s [%s], which has the same netid %d "
                         "(namespaces sharing a netid must list the same egress IPs)"
                         % (group.name, ", ".join(str(ip) for ip in group.ips), ns["netid"]))
        group.members.append(ns)
    return [groups[vnid] for vnid in sorted(groups)], invalid


def _check_nodes(entries, problems):
    """Parsed nodes, sorted by name."""
    parsed = []
    host_ips = {}
    for path, entry, name in _named_entries(entries, "nodes", problems):
        node = {"name": name, "host_ip": None, "host_net": None, "interfaces": [],
                "inventory_host": entry.get("inventory_host") or name}
        host_ip = entry.get("host_ip")
        if isinstance(host_ip, str) and "/" in host_ip:
            iface = _ipv4_interface(host_ip, path + ".host_ip", problems)
            if iface is not None:
                node["host_ip"], node["host_net"] = _address(int(iface.ip), str(iface.ip)), iface.network
        else:
            node["host_ip"] = _ipv4(host_ip, path + ".host_ip", problems)
        if node["host_ip"] is not None:
            other = host_ips.setdefault(node["host_ip"], name)
            if other != name:
                problems.add(path + ".host_ip", str(node["host_ip"]), "is also the host_ip of node %s" % other)
        subnet = entry.get("subnet")
        node["subnet"] = _ipv4_network(subnet, path + ".subnet", problems) if subnet else None
        node["egress_ips"] = _ip_list(entry.get("egress_ips"), path + ".egress_ips", problems)
        cidrs = entry.get("egress_cidrs")
        if not isinstance(cidrs, list):
            problems.add(path + ".egress_cidrs", cidrs, "is not a list")
            cidrs = []
        node["egress_cidrs"] = [net for net in (_ipv4_network(cidr, path + ".egress_cidrs", problems)
                                                for cidr in cidrs) if net is not None]
        interfaces = entry.get("interfaces")
        if not isinstance(interfaces, list):
            problems.add(path + ".interfaces", interfaces, "is not a list")
            interfaces = []
        for position, iface in enumerate(interfaces):
            ipath = "%s.interfaces[%d]" % (path, position)
            if not isinstance(iface, dict) or not isinstance(iface.get("name"), str) or not iface.get("name"):
                problems.add(ipath, iface, "is not a mapping with name and cidr")
                continue
            address = _ipv4_interface(iface.get("cidr"), ipath + ".cidr", problems)
            if address is not None:
                node["interfaces"].append((iface["name"], address))
        parsed.append(node)
    parsed.sort(key=lambda node: node["name"])
    return parsed


def _check_node_facts(node_facts, nodes, problems):
    """{node: {reachable, tun0_mac, vxlan_ofport}} with bad values reported and dropped."""
    if node_facts is None:
        node_facts = {}
    if not isinstance(node_facts, dict):
        problems.add("node_facts", node_facts, "is not a mapping")
        node_facts = {}
    known = set(node["name"] for node in nodes)
    for name in sorted(set(node_facts) - known, key=str):
        problems.add("node_facts[%s]" % name, name, "is not a known node (known: %s)" % ", ".join(sorted(known)))
    result = {}
    for name in known:
        raw = node_facts.get(name)
        if raw is None:
            raw = {}
        path = "node_facts[%s]" % name
        if not isinstance(raw, dict):
            problems.add(path, raw, "is not a mapping")
            raw = {}
        facts = {"reachable": True, "tun0_mac": None, "vxlan_ofport": None}
        reachable = raw.get("reachable", True)
        if isinstance(reachable, bool):
            facts["reachable"] = reachable
        else:
            problems.add(path + ".reachable", reachable, "is not a boolean")
        mac = raw.get("tun0_mac")
        if mac is not None:
            text = mac.strip().lower() if isinstance(mac, str) else ""
            parts = text.split(":")
            if len(parts) == 6 and all(len(part) == 2 and all(c in _HEX for c in part) for part in parts):
                facts["tun0_mac"] = text
            else:
                problems.add(path + ".tun0_mac", mac, "is not a MAC address")
        if raw.get("vxlan_ofport") is not None:
            facts["vxlan_ofport"] = _int_in_range(raw["vxlan_ofport"], path + ".vxlan_ofport", 1,
                                                  MAX_OFPORT, problems)
        result[name] = facts
    return result


def _check_addresses(groups, nodes, cluster_networks, problems):
    """Egress IPs that are node/interface addresses or inside the cluster or pod networks."""
    owned = {}
    pod_nets = NetIndex()
    for net in cluster_networks:
        pod_nets.add(net, "the cluster network %s" % net)
    for node in nodes:
        if node["host_ip"] is not None:
            owned[node["host_ip"]] = "the host_ip of node %s" % node["name"]
        for ifname, iface in node["interfaces"]:
            owned.setdefault(_address(int(iface.ip), str(iface.ip)), "the address of interface %s on node %s" % (ifname, node["name"]))
        if node["subnet"] is not None:
            pod_nets.add(node["subnet"], "the pod subnet %s of node %s" % (node["subnet"], node["name"]))
    listed = [("namespaces[%s].egress_ips" % ns["name"], ip) for group in groups for ns in group.members
              for ip in ns["egress_ips"]]
    listed.extend(("nodes[%s].egress_ips" % node["name"], ip) for node in nodes for ip in node["egress_ips"])
    bad = set()
    for path, ip in listed:
        if ip in owned:
            problems.add(path, str(ip), "is %s" % owned[ip])
            bad.add(ip)
            continue
        hits = pod_nets.find(ip)
        if hits:
            problems.add(path, str(ip), "is inside %s" % hits[0][1])
            bad.add(ip)
    return bad


def _check_node_networks(node, problems):
    """An egress IP must sit in one of the node's known networks and in its egress_cidrs."""
    networks = [iface.network for dummy, iface in node["interfaces"]]
    if node["host_net"] is not None:
        networks.append(node["host_net"])
    path = "nodes[%s].egress_ips" % node["name"]
    for ip in node["egress_ips"]:
        if networks and not any(ip in net for net in networks):
            problems.add(path, str(ip), "is outside the networks of node %s (%s)"
                         % (node["name"], ", ".join(sorted(set(str(net) for net in networks)))))
        if node["egress_cidrs"] and not any(ip in net for net in node["egress_cidrs"]):
            problems.add(path, str(ip), "is outside the egress_cidrs of node %s (%s); openshift-sdn "
                         "would take it away" % (node["name"], ", ".join(str(n) for n in node["egress_cidrs"])))


def _address_entry(node, ip):
    """{address, interface?, prefix?}: the most specific known network holding ``ip``."""
    best = None
    for ifname, iface in node["interfaces"]:
        if ip in iface.network and (best is None or iface.network.prefixlen > best[1]):
            best = (ifname, iface.network.prefixlen)
    entry = {"address": str(ip)}
    if best is not None:
        entry["interface"], entry["prefix"] = best
    elif node["host_net"] is not None and ip in node["host_net"]:
        entry["prefix"] = node["host_net"].prefixlen
    return entry


def _auto_assign(candidates, nodes, facts):
    """egressCIDRs allocation of unclaimed IPs: ``{ip: node name}``.

    Like openshift-sdn ReallocateEgressIPs: reachable nodes whose egress_cidrs hold the IP;
    IPs with a single candidate go first, the rest to the node with the fewest IPs (ties by
    node name), IPs in ascending order.
    """
    load = dict((node["name"], len(node["egress_ips"])) for node in nodes)
    index = NetIndex()
    for node in nodes:
        if facts[node["name"]]["reachable"]:
            for net in node["egress_cidrs"]:
                index.add(net, node["name"])
    options = {}
    for ip in candidates:
        names = sorted(set(name for dummy, name in index.find(ip)))
        if names:
            options[ip] = names
    assigned = {}
    for single_pass in (True, False):
        for ip in sorted(options):
            names = options[ip]
            if ip in assigned or (single_pass and len(names) != 1):
                continue
            best = min(names, key=lambda name: (load[name], name))
            assigned[ip] = best
            load[best] += 1
    return assigned


# ---------------------------------------------------------------------------------------
# planning


def validate(model, node_facts=None, settings=None):
    """Every problem of a model, as a sorted list of messages (empty when it can be applied)."""
    return plan(model, node_facts, settings)["problems"]


def plan(model, node_facts=None, settings=None):
    """What every node must have.  Returns::

        {"nodes": {node: {"inventory_host", "host_ip", "reachable",
                          "flows": [{table, priority, match, actions}],
                          "snat": [{mark, egress_ip, name}], "reject": [ip],
                          "addresses": [{address, interface?, prefix?}]}},
         "namespaces": [{name, netid, vnid_hex, mark, egress_ips, active_ip, node,
                         state: active|dropped|no-egress, reason}],
         "settings": {cluster_cidrs, mark_rule, masquerade_bit, table, priority[, cookie]},
         "problems": [message, ...]}

    The plan is computed even when there are problems; apply it only when there are none.
    """
    problems = _Problems(model.get("problems") or [])
    cfg, cluster_networks = _check_settings(settings, problems)
    groups, invalid = _check_namespaces(model.get("namespaces") or [], problems)
    nodes = _check_nodes(model.get("nodes") or [], problems)
    facts = _check_node_facts(node_facts, nodes, problems)
    node_by_name = dict((node["name"], node) for node in nodes)
    bad_ips = _check_addresses(groups + invalid, nodes, cluster_networks, problems)
    for node in nodes:
        _check_node_networks(node, problems)

    ip_groups, ip_nodes, assigned = _assign(groups, invalid, nodes, facts, bad_ips, problems)
    mask = 1 << cfg["masquerade_bit"]
    for group in groups:
        group.mark = "0x%x" % _mark_value(group.vnid, cfg["mark_rule"], mask)

    out_nodes = {}
    for node in nodes:
        out_nodes[node["name"]] = {
            "inventory_host": node["inventory_host"],
            "host_ip": str(node["host_ip"]) if node["host_ip"] is not None else None,
            "reachable": facts[node["name"]]["reachable"],
            "flows": [], "snat": [], "reject": [], "addresses": [],
        }
    flows = _FlowWriter(out_nodes, facts, node_by_name, cfg)
    rows = []
    for group in groups:
        state, active, reason = _namespace_state(group, ip_groups, ip_nodes, assigned, facts)
        node = assigned[active][0] if active is not None else None
        if state == "active":
            flows.via_egress_node(group, node)
        elif state == "dropped":
            flows.drop(group)
        for ns in group.members:
            rows.append({
                "name": ns["name"], "netid": group.vnid, "vnid_hex": "0x%x" % group.vnid,
                "mark": group.mark, "egress_ips": [str(ip) for ip in group.ips],
                "active_ip": str(active) if active is not None else None, "node": node,
                "state": state, "reason": reason,
            })
    problems.extend(flows.missing_facts())

    for ip in sorted(assigned):
        name, group = assigned[ip]
        if facts[name]["reachable"]:
            entry = out_nodes[name]
            entry["snat"].append({"mark": group.mark, "egress_ip": str(ip), "name": group.name})
            entry["reject"].append(str(ip))
            entry["addresses"].append(_address_entry(node_by_name[name], ip))

    rows.sort(key=lambda row: row["name"])
    return {"nodes": out_nodes, "namespaces": rows, "settings": cfg,
            "problems": sorted(set(problems))}


def compact_node_plan(node_plan):
    """A node's plan as a few strings, for large plans passed through Ansible task arguments.

    Ansible templates a list argument element by element (tens of microseconds per element);
    one string costs the same for 10 or 10000 lines.  Returns::

        {"inventory_host", "host_ip", "reachable",
         "flows_text":      every flow, one per line (ovs_flow flows_text),
         "mark_flows_text": the flows that set pkt_mark (this node is their egress node),
         "snat_text":       "MARK EGRESS_IP NAME" per line (egress_snat rules_text),
         "addresses":       comma-separated addresses the node finds the interface of,
         "named_addresses": [{interface, prefix?, addresses}] per interface the inventory names,
         "all_addresses":   comma-separated, every address of the node,
         "counts":          {flows, mark_flows, snat, addresses}}

    The comma-separated strings are what a module ``type: list`` option splits by itself.
    """
    flows = node_plan["flows"]
    lines = [flow_line(flow) for flow in flows]
    marks = [line for flow, line in zip(flows, lines) if "pkt_mark" in flow["actions"]]
    auto, named, order = [], {}, []
    for entry in node_plan["addresses"]:
        iface = entry.get("interface")
        if iface is None:
            auto.append(entry["address"])
            continue
        if iface not in named:
            named[iface] = {"interface": iface, "prefixes": set(), "addresses": []}
            order.append(iface)
        named[iface]["addresses"].append(entry["address"])
        named[iface]["prefixes"].add(entry.get("prefix"))
    named_out = []
    for iface in order:
        group = named[iface]
        item = {"interface": iface, "addresses": ",".join(group["addresses"])}
        if len(group["prefixes"]) == 1 and None not in group["prefixes"]:
            item["prefix"] = next(iter(group["prefixes"]))
        named_out.append(item)
    return {
        "inventory_host": node_plan["inventory_host"],
        "host_ip": node_plan["host_ip"],
        "reachable": node_plan["reachable"],
        "flows_text": "\n".join(lines),
        "mark_flows_text": "\n".join(marks),
        "snat_text": "\n".join(snat_line(rule) for rule in node_plan["snat"]),
        "addresses": ",".join(auto),
        "named_addresses": named_out,
        "all_addresses": ",".join(entry["address"] for entry in node_plan["addresses"]),
        "counts": {"flows": len(lines), "mark_flows": len(marks), "snat": len(node_plan["snat"]),
                   "addresses": len(node_plan["addresses"])},
    }


def _assign(groups, invalid, nodes, facts, bad_ips, problems):
    """Who lists each IP and where each IP is assigned (openshift-sdn egressIPActive).

    ``invalid`` groups (no valid netid) count as claimants of their IPs and get nothing.

    Returns ``ip_groups`` {ip: [VNID groups]}, ``ip_nodes`` {ip: [node names]} (egressCIDRs
    choices included) and ``assigned`` {ip: (node name, group)}: IPs listed by one VNID and
    one node, with no other IP of that VNID on the node.
    """
    ip_groups = {}
    for group in groups + invalid:
        for ip in group.ips:
            ip_groups.setdefault(ip, []).append(group)
    ip_nodes = {}
    for node in nodes:
        for ip in node["egress_ips"]:
            ip_nodes.setdefault(ip, []).append(node["name"])
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
                  and group.ips[0] not in bad_ips]
    for ip, name in _auto_assign(candidates, nodes, facts).items():
        ip_nodes[ip] = [name]

    assigned = {}
    for group in groups:
        if group.conflict:
            continue
        on_node = {}
        for ip in group.ips:
            if len(ip_groups[ip]) == 1 and len(ip_nodes.get(ip, ())) == 1:
                on_node.setdefault(ip_nodes[ip][0], []).append(ip)
        for name, ips in sorted(on_node.items()):
            if len(ips) > 1:
                problems.add("namespaces[%s].egress_ips" % group.name, ", ".join(str(ip) for ip in ips),
                             "are all on node %s; openshift-sdn uses none of them" % name)
                continue
            assigned[ips[0]] = (name, group)
    return ip_groups, ip_nodes, assigned


class _FlowWriter:
    """Appends the table-100 flows of each VNID to the reachable nodes' plans (3.x layout)."""

    def __init__(self, out_nodes, facts, node_by_name, cfg):
        self._out = out_nodes
        self._facts = facts
        self._node_by_name = node_by_name
        self._head = {"table": cfg["table"], "priority": cfg["priority"]}
        self._reachable = sorted(name for name in out_nodes if facts[name]["reachable"])
        self._tunnel_actions = {}
        self._missing = {}

    def _fact(self, name, fact, why):
        value = self._facts[name][fact]
        if value is None:
            self._missing.setdefault((name, fact), why)
        return value

    def _add(self, name, match, actions):
        entry = dict(self._head)
        entry["match"], entry["actions"] = match, actions
        self._out[name]["flows"].append(entry)

    def via_egress_node(self, group, egress_node):
        """Mark and hand to table 101 on the egress node; tunnel there from every other node."""
        match = "ip,reg0=%s" % _ovs_reg(group.vnid)
        for name in self._reachable:
            if name == egress_node:
                mac = self._fact(name, "tun0_mac", "node %s hosts an active egress IP" % name)
                if mac is not None:
                    self._add(name, match, "set_field:%s->eth_dst,set_field:%s->pkt_mark,goto_table:101"
                              % (mac, group.mark))
                continue
            ofport = self._fact(name, "vxlan_ofport", "node %s tunnels traffic to egress nodes" % name)
            if ofport is None:
                continue
            actions = self._tunnel_actions.get((egress_node, ofport))
            if actions is None:
                actions = self._tunnel_actions[(egress_node, ofport)] = (
                    "move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:%s->tun_dst,output:%d"
                    % (self._node_by_name[egress_node]["host_ip"], ofport))
            self._add(name, match, actions)

    def drop(self, group):
        """openshift-sdn's drop flow matches all traffic of the VNID, not only ip."""
        match = "reg0=%s" % _ovs_reg(group.vnid)
        for name in self._reachable:
            self._add(name, match, "drop")

    def missing_facts(self):
        return ["node_facts[%s].%s: missing; needed because %s" % (name, fact, why)
                for (name, fact), why in sorted(self._missing.items())]


def _namespace_state(group, ip_groups, ip_nodes, assigned, facts):
    """(state, active IP or None, reason or None) for one VNID group, 3.x failover order."""
    if not group.ips:
        return "no-egress", None, None
    if group.conflict:
        return "dropped", None, "namespaces sharing netid %d list different egress IPs" % group.vnid
    reasons = []
    active = None
    for ip in group.ips:
        if len(ip_groups[ip]) > 1:
            return "dropped", None, "%s is listed by namespaces %s" % (
                ip, ", ".join(sorted(other.name for other in ip_groups[ip])))
        if active is not None:
            continue
        holders = ip_nodes.get(ip, [])
        if ip in assigned:
            name = assigned[ip][0]
            if facts[name]["reachable"]:
                active = ip
            else:
                reasons.append("%s: node %s is unreachable" % (ip, name))
        elif not holders:
            reasons.append("%s: no node lists it" % ip)
        elif len(holders) > 1:
            reasons.append("%s: listed by nodes %s" % (ip, ", ".join(sorted(holders))))
        else:
            reasons.append("%s: another egress IP of the namespace is on node %s" % (ip, holders[0]))
    if active is None:
        return "dropped", None, "; ".join(reasons)
    return "active", active, None
