# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the declared intent comes from: three input shapes -> one raw intent.

    from_inventory(namespaces, nodes)          inventory variables (lists of mappings)
    from_oc_json(document)                     ``oc get netnamespace,hostsubnet -o json``
    from_k8s_info(namespaces, nodes)           kubernetes.core.k8s_info results
    merge_node_vars(raw, node_vars)            inventory-only node facts overlaid by node name

The raw intent is plain data, not yet checked::

    {"namespaces": [{name, netid, egress_ips}],
     "nodes": [{name, host_ip, subnet, egress_ips, egress_cidrs, interfaces, inventory_host?}],
     "problems": [problems of shape found while reading],
     "warnings": [{field, value, reason}]   (optional: what the source ignored),
     "no_hostsubnet": [names of the run's hosts that no HostSubnet describes] (optional)}

model.build() checks the values and turns them into the typed intent.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.sdn.egress.plugins.module_utils.addr import show
from ansible_collections.sdn.egress.plugins.module_utils.model import Problems, Warnings, label

NAMESPACE_KEYS = ("name", "netid", "egress_ips")
NODE_KEYS = ("name", "host_ip", "subnet", "egress_ips", "egress_cidrs", "interfaces", "inventory_host")
NODE_VAR_KEYS = ("name", "host_ip", "interfaces", "inventory_host")

_NS_DEFAULTS = {"egress_ips": []}
_NODE_DEFAULTS = {"egress_ips": [], "egress_cidrs": [], "interfaces": []}


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
                            % (where, label(entry, index), key, ", ".join(keys)))
        item = dict((key, entry[key]) for key in keys if key in entry)
        for key, value in defaults.items():
            if item.get(key) is None:
                item[key] = list(value)
        result.append(item)
    return result


def from_inventory(namespaces, nodes):
    """Raw intent from inventory vars: lists of namespace and node mappings (keys as in the model)."""
    problems = Problems()
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


def _add_objects(raw, objects, where, expected_kinds, problems):
    if not isinstance(objects, list):
        problems.add(where, objects, "is not a list")
        return
    for index, obj in enumerate(objects):
        kind = obj.get("kind") if isinstance(obj, dict) else None
        if kind not in expected_kinds:
            name = label(obj.get("metadata"), index) if isinstance(obj, dict) else "#%d" % index
            problems.add("%s[%s].kind" % (where, name), kind, "is not %s" % " or ".join(expected_kinds))
            continue
        key, convert = _CONVERTERS[kind]
        raw[key].append(convert(obj))


def from_oc_json(document):
    """Raw intent from ``oc get netnamespace,hostsubnet -o json`` (a v1 List, or its JSON text).

    Also takes a NetNamespaceList/HostSubnetList or a single object.
    """
    raw = {"namespaces": [], "nodes": []}
    problems = Problems()
    _add_document(raw, document, problems)
    raw["problems"] = list(problems)
    return raw


def _add_document(raw, document, problems):
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
        _add_objects(raw, document["items"], "oc_json.items", kinds, problems)
    else:
        _add_objects(raw, [document], "oc_json", kinds, problems)


def _k8s_resources(result):
    """Objects from a registered kubernetes.core.k8s_info result or a plain list of objects."""
    if result is None:
        return []
    if isinstance(result, dict) and "resources" in result:
        return result["resources"]
    return result


def from_k8s_info(namespaces, nodes):
    """Raw intent from kubernetes.core.k8s_info results (``resources``) for NetNamespaces and HostSubnets."""
    raw = {"namespaces": [], "nodes": []}
    problems = Problems()
    _add_objects(raw, _k8s_resources(namespaces), "namespaces", ("NetNamespace",), problems)
    _add_objects(raw, _k8s_resources(nodes), "nodes", ("HostSubnet",), problems)
    raw["problems"] = list(problems)
    return raw


def merge_node_vars(raw, node_vars):
    """Overlay inventory-only node facts (host_ip with prefix, interfaces, inventory_host).

    The API does not know a node's interfaces; this adds them by node name.  A name that
    matches no node (a host of the run that no HostSubnet describes) is a warning and listed in
    ``no_hostsubnet``.  Returns a new raw intent; ``raw`` is not changed.
    """
    problems = Problems(raw.get("problems") or [])
    warnings = Warnings(raw.get("warnings") or [])
    no_hostsubnet = list(raw.get("no_hostsubnet") or [])
    entries = _copy_entries(node_vars, "node_vars", NODE_VAR_KEYS, {}, problems)
    nodes = [dict(node) for node in raw.get("nodes") or []]
    by_name = dict((node.get("name"), node) for node in nodes)
    for index, entry in enumerate(entries):
        node = by_name.get(entry.get("name"))
        if node is None:
            warnings.add("node_vars[%s].name" % show(label(entry, index)), entry.get("name"),
                         "is a host of the run, but no HostSubnet names this node: nothing is planned for it "
                         "(what this collection owns there is removed)")
            no_hostsubnet.append(entry.get("name"))
            continue
        node.update((key, value) for key, value in entry.items() if key != "name" and value is not None)
    return {"namespaces": list(raw.get("namespaces") or []), "nodes": nodes, "problems": list(problems),
            "warnings": list(warnings), "no_hostsubnet": no_hostsubnet}
