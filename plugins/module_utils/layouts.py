# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a layout is: the interface every dataplane layout implements, and the pieces they share.

A layout turns the checked intent and its assignment into the objects one node must have.
One file per layout (``layout_<name>.py``) holds a subclass of ``Layout``; plan.LAYOUTS maps
the ``settings.layout`` names to those classes.  A layout declares:

    name              the settings.layout value
    families          the IP versions it handles; other addresses are problems
    table             default OpenFlow table of its flows (settings.table overrides)
    mark_rule         default packet-mark rule (settings.mark_rule overrides)
    load_balanced     True: a namespace uses all its online IPs at once (rows list them all)
    snat_masquerade   True: the node adds the per-mark MASQUERADE rule (egress_snat masquerade_cluster)
    groups            True: the layout uses OpenFlow groups (the plan lists them per node)

and implements ``render(node, namespaces, assignment, facts, settings) -> NodeObjects`` for a
reachable node (an unreachable node gets nothing); ``prepare(intent, assignment)`` runs once
before the nodes are rendered (what a layout works out for the whole cluster, once).  It marks which flows and groups a node
installs in the first phase of a converge (``local=True``: the objects that send traffic
out through this node, installed before anything is pruned), so the compact plan never has
to guess that from the text of an action.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sdn.egress.plugins.module_utils.marks import ovs_reg

# openshift-sdn pieces the sdn layouts share
TUNNEL = "move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31],set_field:%s->tun_dst,output:%d"  # node IP, vxlan0 ofport
WHY_LOCAL = "hosts an active egress IP"          # why tun0 facts are needed
WHY_TUNNEL = "tunnels traffic to egress nodes"   # why vxlan0 facts are needed


class NodeObjects:
    """The objects one node must have: flows [{table, priority, match, actions}], groups
    [{group_id, type, buckets: [actions]}], snat [{mark, egress_ip, name}], reject [ip],
    addresses [{address, interface?, prefix?}], monitor_ports [{name, ofport, remote_ip}] (the BFD
    ports of dataplane failover); ``local_flows`` / ``local_groups`` are the
    indices of the phase-1 objects; ``missing`` {(node, fact): why} the node facts that were
    needed and not given."""

    __slots__ = ("flows", "local_flows", "groups", "local_groups", "snat", "reject", "addresses", "monitor_ports",
                 "missing")

    def __init__(self):
        self.flows = []
        self.local_flows = []
        self.groups = []
        self.local_groups = []
        self.snat = []
        self.reject = []
        self.addresses = []
        self.monitor_ports = []
        self.missing = {}

    def flow(self, table, priority, match, actions, local=False):
        if local:
            self.local_flows.append(len(self.flows))
        self.flows.append({"table": table, "priority": priority, "match": match, "actions": actions})

    def group(self, group_id, group_type, buckets, local=False):
        if local:
            self.local_groups.append(len(self.groups))
        self.groups.append({"group_id": group_id, "type": group_type, "buckets": buckets})

    def need(self, node_name, value, fact, why):
        """Whether a node fact needed for an object is known; a missing one (None) is recorded
        with ``why`` the node needs it ("node <name> <why>")."""
        if value is None:
            self.missing.setdefault((node_name, fact), "node %s %s" % (node_name, why))
            return False
        return True


class Layout:
    """Base of the layouts; see the module doc.  Defaults are openshift-sdn's."""

    name = None
    families = (4,)
    table = 100
    mark_rule = "3.x"
    load_balanced = False
    snat_masquerade = False
    groups = False

    def __init__(self):
        self._reg0 = {}   # VNID -> its matches (one Layout instance per plan)

    def prepare(self, intent, assignment):
        """Called once per plan before any node is rendered; nothing by default."""

    def render(self, node, namespaces, assignment, facts, settings):
        raise NotImplementedError

    def reg0(self, vnid):
        """(``ip,reg0=<vnid>``, ``reg0=<vnid>``): the matches of a VNID's flows, as ovs-ofctl
        prints them; made once per plan (every node has a flow for every namespace)."""
        matches = self._reg0.get(vnid)
        if matches is None:
            reg = ovs_reg(vnid)
            matches = self._reg0[vnid] = ("ip,reg0=" + reg, "reg0=" + reg)
        return matches

    @staticmethod
    def claim(objects, node, assignment):
        """openshift-sdn ClaimEgressIP: address, SNAT rule and inbound REJECT on the node for
        every egress IP assigned to it, whether or not the namespace uses it now."""
        for ip, group in assignment.claims.get(node.name, ()):
            text = str(ip)
            objects.snat.append({"mark": group.mark, "egress_ip": text, "name": group.name})
            objects.reject.append(text)
            objects.addresses.append(node.address_entry(ip))
