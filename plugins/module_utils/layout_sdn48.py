# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Layout ``sdn48``: openshift-sdn 4.8 and later, table 101, all online egress IPs load-balanced.

Per namespace with an egress IP, on every reachable node (``table=101, priority=100``), one
select group ``group_id=<vnid>`` per namespace with an online IP:

* a node holding one of the namespace's online IPs keeps the traffic (phase 1):
  ``ip,reg0=<vnid> actions=group:<vnid>`` and exactly one local bucket
  ``set_field:<tun0 MAC>->eth_dst,set_field:<mark>->pkt_mark,output:<tun0>``;
* every other node spreads it over the online egress nodes, one bucket per node in the
  namespace's egress-IP order:
  ``ip,reg0=<vnid> actions=ct(commit),group:<vnid>``, buckets
  ``move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:<node IP>->tun_dst,output:<vxlan0>``;
* no online IP: ``reg0=<vnid> actions=drop``, no group.

Marks follow the 4.8 rule (bit 15 moved to bit 28) unless settings.mark_rule says otherwise;
each egress node also MASQUERADEs cluster-internal traffic of the mark (snat_masquerade).
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

LOCAL_BUCKET = "set_field:%s->eth_dst,set_field:%s->pkt_mark,output:%d"


class Sdn48(Layout):
    name = "sdn48"
    table = 101
    mark_rule = "4.8"
    load_balanced = True
    snat_masquerade = True
    groups = True

    def __init__(self):
        super(Sdn48, self).__init__()
        self._remote = {}   # (VNID, vxlan ofport) -> buckets, the same on every non-egress node

    def remote_buckets(self, group, online, ofport):
        buckets = self._remote.get((group.vnid, ofport))
        if buckets is None:
            buckets = self._remote[(group.vnid, ofport)] = [TUNNEL % (node.host_ip, ofport) for dummy, node in online]
        return buckets

    def render(self, node, namespaces, assignment, facts, settings):
        out = NodeObjects()
        mine = facts[node.name]
        mac, port, ofport = mine.tun0_mac, mine.tun0_ofport, mine.vxlan_ofport
        table, priority = settings.table, settings.priority
        status = assignment.status
        for group in namespaces:
            state = status[group.vnid]
            if state.state == "no-egress":
                continue
            match, drop_match = self.reg0(group.vnid)
            if state.state == "active":
                if any(egress is node for dummy, egress in state.online):
                    known = out.need(node.name, mac, "tun0_mac", WHY_LOCAL)
                    if out.need(node.name, port, "tun0_ofport", WHY_LOCAL) and known:
                        out.group(group.vnid, "select", [LOCAL_BUCKET % (mac, group.mark, port)], local=True)
                        out.flow(table, priority, match, "group:%d" % group.vnid, local=True)
                elif out.need(node.name, ofport, "vxlan_ofport", WHY_TUNNEL):
                    out.group(group.vnid, "select", self.remote_buckets(group, state.online, ofport))
                    out.flow(table, priority, match, "ct(commit),group:%d" % group.vnid)
            elif state.state == "dropped":
                out.flow(table, priority, drop_match, "drop")
        self.claim(out, node, assignment)
        return out
