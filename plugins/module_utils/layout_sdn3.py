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

Mode ``settings.failover: dataplane`` (the failover is Open vSwitch's, between runs): every
reachable node sends an active namespace's traffic to a fast-failover group owned by us,
``ip,reg0=<vnid> actions=group:<vnid>``, ``group_id=<vnid>,type=ff``, one bucket per assigned
egress IP in the namespace's egress-IP order (first live bucket wins, openshift-sdn 3.x):

* the IP is on this node: ``watch_port:<tun0>,actions=set_field:<tun0 MAC>->eth_dst,
  set_field:<mark>->pkt_mark,resubmit(,101)`` (tun0 is live while the node is; the group and
  flow are phase 1 here);
* the IP is on another node: ``watch_port:<monitor port>,actions=move:NXM_NX_REG0[]->
  NXM_NX_TUN_ID[0..31],set_field:<node IP>->tun_dst,output:<vxlan0>``; the monitor port
  (monitor.py) runs BFD to that node and is live only while it answers.

Every assigned IP gets its bucket, also one whose node the controller could not reach: BFD,
not the controller, decides whether that node forwards.  No live bucket: OVS drops the packet
(fail closed).  A namespace whose egress nodes all did not answer the controller keeps its
group the same way; only one with no assigned IP at all is dropped by flow as in run mode.
Each node also gets its monitor ports (``monitor_ports``): towards every egress node (with a
BFD session, ``bfd: true``), and on an egress node towards every other node; an egress node
answers the probes with one reflector flow per monitor port (table 0, a mark flow of phase 1:
monitor.py), so it looks live only while our flows are there.
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
from ansible_collections.sdn.egress.plugins.module_utils.monitor import assign_ofports, port_name, reflector_flow

LOCAL_BUCKET = "set_field:%s->eth_dst,set_field:%s->pkt_mark,resubmit(,101)"


class Sdn3(Layout):
    name = "sdn3"
    table = 100
    mark_rule = "3.x"

    def __init__(self):
        super(Sdn3, self).__init__()
        self._tunnels = {}   # (egress node name, vxlan ofport) -> actions
        self.failover = False
        self.candidates = {}  # VNID -> [(ip, Node)]: every assigned IP, egress-IP order (dataplane)
        self.monitors = {}    # node name -> {name, ofport, remote_ip} of its monitor port (dataplane)
        self.peers = {}       # node name -> [peer Node] it needs a monitor port towards (dataplane)
        self.egress = set()   # names of the nodes some fast-failover bucket sends to (dataplane)

    def prepare(self, intent, assignment):
        """Dataplane failover: each namespace's bucket candidates, the monitor port of every
        node (the same name and number on every node) and each node's peers."""
        self.failover = intent.settings.failover == "dataplane"
        if not self.failover:
            return
        self.groups = True   # the plan lists each node's groups
        by_name = dict((node.name, node) for node in intent.nodes if node.host_ip is not None)
        egress = set()
        for group in intent.namespaces:
            # a namespace dropped at plan time because its egress nodes did not answer keeps its
            # group too (BFD decides, and a --check run during a node's outage finds no drift);
            # only one with no assigned IP at all gets the drop flow
            if assignment.status[group.vnid].state not in ("active", "dropped"):
                continue
            found = []
            for ip in group.ips:
                holder = assignment.assigned.get(ip)
                if holder is not None and holder[1] is group and holder[0] in by_name:
                    found.append((ip, by_name[holder[0]]))
                    egress.add(holder[0])
            if found:
                self.candidates[group.vnid] = found
        try:
            ofports = assign_ofports([str(node.host_ip) for node in by_name.values()])
        except ValueError as exc:
            intent.problems.append("nodes: %s (settings.failover dataplane)" % exc)
            ofports = {}
        for name, node in by_name.items():
            text = str(node.host_ip)
            if text in ofports:
                self.monitors[name] = {"name": port_name(node.host_ip), "ofport": ofports[text], "remote_ip": text}
        self.egress = egress
        for name in by_name:
            peers = by_name if name in egress else egress
            self.peers[name] = [by_name[peer] for peer in sorted(peers) if peer != name and peer in self.monitors]

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
            if self.failover and state.state in ("active", "dropped") and self.candidates.get(group.vnid):
                self.render_group(out, node, group, mine, settings)
            elif state.state == "active":
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
        if self.failover:
            # BFD only towards egress nodes (this node's buckets watch them); an egress node's
            # ends towards the other nodes answer their probes with reflector flows, written in
            # phase 1 after the addresses and SNAT rules (flows do not outlive a reboot)
            out.monitor_ports = [dict(self.monitors[peer.name], bfd=peer.name in self.egress)
                                 for peer in self.peers.get(node.name, ())]
            if node.name in self.egress:
                for port in out.monitor_ports:
                    flow = reflector_flow(port["ofport"])
                    out.flow(flow["table"], flow["priority"], flow["match"], flow["actions"], local=True)
        return out

    def render_group(self, out, node, group, mine, settings):
        """Dataplane failover: the namespace's fast-failover group and the flow that uses it."""
        buckets = []
        local = False
        for dummy, egress in self.candidates[group.vnid]:
            if egress is node:
                known = out.need(node.name, mine.tun0_mac, "tun0_mac", WHY_LOCAL)
                if out.need(node.name, mine.tun0_ofport, "tun0_ofport", WHY_LOCAL) and known:
                    buckets.append({"watch_port": mine.tun0_ofport,
                                    "actions": LOCAL_BUCKET % (mine.tun0_mac, group.mark)})
                    local = True
            elif out.need(node.name, mine.vxlan_ofport, "vxlan_ofport", WHY_TUNNEL) and egress.name in self.monitors:
                buckets.append({"watch_port": self.monitors[egress.name]["ofport"],
                                "actions": self.tunnel(egress, mine.vxlan_ofport)})
        if not buckets:
            return
        out.group(group.vnid, "ff", buckets, local=local)
        out.flow(settings.table, settings.priority, self.reg0(group.vnid)[0], "group:%d" % group.vnid, local=local)
