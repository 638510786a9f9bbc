# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A node's plan as the few strings the roles pass to the modules (``egress_plan compact: true``).

Ansible templates a list argument element by element (tens of microseconds per element); one
string costs the same for 10 or 10000 lines.  Each text format is written here with the
function of the file that also reads it back: flows with ovs.flow_line (ovs_flow reads
``flows_text`` with ovs.parse_flows_text), groups with ovs.group_line (``groups_text``), SNAT
rules with iptables.snat_line (egress_snat reads ``rules_text`` with iptables.parse_snat_text).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sdn.egress.plugins.module_utils.iptables import snat_line
from ansible_collections.sdn.egress.plugins.module_utils.monitor import monitor_line
from ansible_collections.sdn.egress.plugins.module_utils.ovs import flow_line, group_line


def compact_node_plan(header, objects, layout, settings):
    """The compact plan of one node.  ``header`` {inventory_host, host_ip, reachable};
    ``objects`` the layout's NodeObjects for the node.  Returns::

        {"inventory_host", "host_ip", "reachable",
         "flows_text":       every flow, one per line (ovs_flow flows_text),
         "mark_flows_text":  the phase-1 flows (traffic leaving through this node),
         "groups_text":      every group, one per line (ovs_flow groups_text; "" without groups),
         "mark_groups_text": the phase-1 groups (those with the local bucket),
         "snat_text":        "MARK EGRESS_IP NAME" per line (egress_snat rules_text),
         "snat_masquerade":  whether egress_snat adds the per-mark MASQUERADE rule,
         "addresses":        comma-separated addresses the node finds the interface of,
         "named_addresses":  [{interface, prefix?, addresses}] per interface the inventory names,
         "all_addresses":    comma-separated, every address of the node,
         "counts":           {flows, mark_flows, groups, mark_groups, snat, addresses},
         "monitor_ports_text": "NAME OFPORT REMOTE_IP" per line (ovs_monitor_ports ports_text),
                             only with settings.failover dataplane (then counts.monitor_ports too)}

    Phase-1 objects are the ones the layout marked local; the comma-separated strings are
    what a module ``type: list`` option splits by itself.  The plan carries no table scope:
    phase 2 converges every flow of ours in every table, and every group of ours, so that a
    change of layout (sdn3 table 100 <-> sdn48 table 101 and groups) leaves nothing behind.
    """
    lines = [flow_line(flow) for flow in objects.flows]
    marks = [lines[index] for index in objects.local_flows]
    groups = [group_line(group) for group in objects.groups]
    mark_groups = [groups[index] for index in objects.local_groups]
    auto, named, order = [], {}, []
    for entry in objects.addresses:
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
    result = {
        "inventory_host": header["inventory_host"],
        "host_ip": header["host_ip"],
        "reachable": header["reachable"],
        "flows_text": "\n".join(lines),
        "mark_flows_text": "\n".join(marks),
        "groups_text": "\n".join(groups),
        "mark_groups_text": "\n".join(mark_groups),
        "snat_text": "\n".join(snat_line(rule) for rule in objects.snat),
        "snat_masquerade": layout.snat_masquerade,
        "addresses": ",".join(auto),
        "named_addresses": named_out,
        "all_addresses": ",".join(entry["address"] for entry in objects.addresses),
        "counts": {"flows": len(lines), "mark_flows": len(marks), "groups": len(groups),
                   "mark_groups": len(mark_groups), "snat": len(objects.snat),
                   "addresses": len(objects.addresses)},
    }
    if getattr(layout, "failover", False):
        result["monitor_ports_text"] = "\n".join(monitor_line(port) for port in objects.monitor_ports)
        result["counts"]["monitor_ports"] = len(objects.monitor_ports)
    return result
