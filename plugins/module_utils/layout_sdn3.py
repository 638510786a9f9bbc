# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Layout ``sdn3``: openshift-sdn 3.10 .. 4.7, table 100, first online egress IP wins.

Per namespace with an egress IP, on every reachable node (``table=100, priority=100``):

* the node of the namespace's first online IP marks the traffic and hands it on:
  ``ip,reg0=<vnid> actions=set_field:<tun0 MAC>->eth_dst,set_field:<mark>->pkt_mark,goto_table:101``
  (phase 1: installed before anything is pruned);
* every other node tunnels it there:
  ``ip,reg0=<vnid> actions=move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:<node IP>->tun_dst,output:<vxlan0>``;
* no online IP: ``reg0=<vnid> actions=drop`` (all traffic of the VNID, not only ip).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sdn.egress.plugins.module_utils.layouts import (
    TUNNEL,
    WHY_LOCAL,
    WHY_TUNNEL,
    Layout,
    NodeObjects,
)


class Sdn3(Layout):
    name = "sdn3"
    table = 100
    mark_rule = "3.x"

    def __init__(self):
        super(Sdn3, self).__init__()
        self._tunnels = {}   # (egress node name, vxlan ofport) -> actions

    def tunnel(self, egress_node, ofport):
        """The actions that send a VNID's traffic to ``egress_node`` through vxlan0."""
        actions = self._tunnels.get((egress_node.name, ofport))
        if actions is None:
            actions = self._tunnels[(egress_node.name, ofport)] = TUNNEL % (egress_node.host_ip, ofport)
        return actions

    def render(self, node, namespaces, assignment, facts, settings):
        out = NodeObjects()
        mine = facts[node.name]
        mac, ofport = mine.tun0_mac, mine.vxlan_ofport
        table, priority = settings.table, settings.priority
        status = assignment.status
        for group in namespaces:
            state = status[group.vnid]
            if state.state == "no-egress":
                continue
            match, drop_match = self.reg0(group.vnid)
            if state.state == "active":
                egress = state.online[0][1]
                if egress is node:
                    if out.need(node.name, mac, "tun0_mac", WHY_LOCAL):
                        out.flow(table, priority, match,
                                 "set_field:%s->eth_dst,set_field:%s->pkt_mark,goto_table:101" % (mac, group.mark),
                                 local=True)
                elif out.need(node.name, ofport, "vxlan_ofport", WHY_TUNNEL):
                    out.flow(table, priority, match, self.tunnel(egress, ofport))
            elif state.state == "dropped":
                out.flow(table, priority, drop_match, "drop")
        self.claim(out, node, assignment)
        return out
