# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation stub; the work is done by the action plugin of the same name."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: egress_plan
short_description: Plan egress IP flows, SNAT rules and addresses for every node
version_added: 0.1.0
author:
  - sdn.egress developers (@sdn-egress)
description:
  - Turns declared NetNamespace and HostSubnet facts into what every node of an openshift-sdn
    (OVS) cluster must have for its egress IPs - OpenFlow flows (and, with O(settings.layout=sdn48),
    select groups), SNAT and REJECT rules, egress addresses - and a per-namespace report.
  - Runs on the controller and touches no host. It fails listing B(every) problem it finds
    (duplicate or misplaced egress IPs, out-of-range VNIDs, malformed addresses, unknown
    nodes, missing node facts) so that nothing is applied from a bad plan.
  - An egress IP is assigned to the node whose HostSubnet lists it when exactly one node and one
    namespace list it; it is online when that node is reachable. Without an online egress IP the
    namespace's traffic is dropped on every reachable node, never sent with a node IP.
  - The dataplane layout is chosen by O(settings.layout).
  - C(sdn3) (default) - openshift-sdn 3.10 up to 4.7. Table 100. A namespace's first online egress
    IP is active; its node marks the traffic (C(set_field:<mark>->pkt_mark,goto_table:101)) and every
    other reachable node tunnels to it.
  - C(sdn48) - openshift-sdn 4.8 and later. Table 101 and one OpenFlow select group per namespace
    (group id = VNID). All online egress IPs are used at once - on a node holding one of them the
    flow C(ip,reg0=<vnid>) goes to C(group:<vnid>) with one local bucket that marks the traffic and
    sends it to tun0; every other reachable node uses V(ct(commit\),group:<vnid>) with one bucket per
    online egress node (in the namespace's egress-IP order) tunnelling to it. Marks follow the 4.8
    rule unless O(settings.mark_rule) is given, and each egress node also MASQUERADEs
    cluster-internal traffic of the mark (RV(plan.nodes) C(snat_masquerade)).
  - Every assigned egress IP gets its address, SNAT and REJECT rule on its node even when it
    is not the namespace's active IP (as openshift-sdn does), so failover only rewrites flows.
  - The egress IPs of nodes with C(egress_cidrs) (see O(nodes)) are allocated the way
    openshift-sdn's master does (C(ReallocateEgressIPs)) - the IP of a single-IP namespace stays on
    its node while the node is reachable and its C(egress_cidrs) hold it, else moves to a reachable
    node whose C(egress_cidrs) hold it; unlisted IPs go first where only one node can take them,
    then to the node with the fewest IPs (ties by node name); a returning node gets its share back
    (rebalancing). IPs no namespace uses and IPs of namespaces with several egress IPs are taken
    off those nodes with a warning. RV(plan.allocation) says where each automatic IP lives and why.
    Egress IPs of nodes without C(egress_cidrs) stay as declared.
  - An egress IP listed by two namespaces drops both, and none of their IPs is claimed.
  - Unlike openshift-sdn, a namespace with a single manual egress IP on an unreachable node is
    dropped too.
options:
  source:
    description:
      - Where O(namespaces) and O(nodes) come from.
      - C(inventory) - lists of mappings as described under O(namespaces) and O(nodes).
      - C(oc_json) - the output of C(oc get netnamespace,hostsubnet -o json) in O(oc_json).
      - C(k8s) - the objects as M(kubernetes.core.k8s_info) returns them, NetNamespaces in
        O(namespaces) and HostSubnets in O(nodes) (a registered result or its C(resources)).
    type: str
    choices: [inventory, oc_json, k8s]
    default: inventory
  namespaces:
    description:
      - With O(source=inventory), a list of C({name, netid, egress_ips}); C(egress_ips) is the
        ordered failover list.
      - With O(source=k8s), the NetNamespace objects.
      - Mutually exclusive with O(namespaces_prefix) and O(namespaces_var).
    type: raw
  namespaces_var:
    description:
      - With O(source=inventory), instead of O(namespaces), the name of a variable holding the
        list of namespaces C({name, netid, egress_ips}), read straight from the task variables
        (templated only when it holds a template). Undefined means no namespaces from it.
      - The fastest way to declare thousands of namespaces in an inventory - one variable costs
        Ansible the same on every task whatever its length, while every top-level variable is
        handled on every task. Can be combined with O(namespaces_prefix).
    type: str
  namespaces_prefix:
    description:
      - With O(source=inventory), instead of O(namespaces), take every variable of the task
        whose name starts with this prefix as one namespace C({name, netid, egress_ips}).
      - The values are read straight from the variables and templated only when they hold a
        template, so thousands of namespaces cost no Jinja evaluation each (passing them
        through O(namespaces) templates every element). Namespaces of O(namespaces_var) come first.
    type: str
  compact:
    description:
      - Return each node's part of RV(plan.nodes) as a few strings instead of lists (see
        RV(plan.nodes)), for large plans - Ansible templates a list argument element by
        element, one string at a constant cost. The role M(sdn.egress.egress_node) uses it with
        the C(flows_text) and C(rules_text) options of M(sdn.egress.ovs_flow) and
        M(sdn.egress.egress_snat).
    type: bool
    default: false
  nodes:
    description:
      - With O(source=inventory), a list of C({name, host_ip, subnet, egress_ips, egress_cidrs,
        interfaces, inventory_host}). C(host_ip) may carry a prefix (C(10.0.0.2/24)) to tell
        the node's network. C(interfaces) is a list of C({name, cidr}) with the interface
        address and prefix (C(ens19), C(10.0.0.200/24)); egress addresses are placed on the
        interface whose network holds them. C(inventory_host) defaults to C(name).
      - With O(source=k8s), the HostSubnet objects.
      - Mutually exclusive with O(node_hosts).
    type: raw
  node_hosts:
    description:
      - With O(source=inventory), instead of O(nodes), the inventory hosts that are the nodes.
        Each host's C(egress_hostsubnet) variable is its node mapping (keys as in O(nodes)),
        named by C(egress_hostsubnet_name), else its C(name) key, else the inventory name;
        C(egress_interfaces), when set, is its C(interfaces).
      - The variables are read as stored and templated (in the host's own context) only when
        they hold a template, so nodes listing hundreds of egress IPs cost no Jinja evaluation
        each. The role M(sdn.egress.egress_plan) passes C(ansible_play_hosts_all).
    type: list
    elements: str
  oc_json:
    description:
      - With O(source=oc_json), the C(oc get netnamespace,hostsubnet -o json) document, its
        JSON text, or the path of a file holding it (searched like a C(files/) lookup).
    type: raw
  node_vars:
    description:
      - Inventory-only node data merged by node name into any source, for what the API does
        not know. Names that match no node are problems.
    type: list
    elements: dict
    suboptions:
      name:
        description: Node name (HostSubnet C(host)).
        type: str
        required: true
      host_ip:
        description: Node IP, optionally with its prefix.
        type: str
      interfaces:
        description: List of C({name, cidr}).
        type: list
        elements: dict
      inventory_host:
        description: The inventory host that applies this node's plan.
        type: str
  node_facts:
    description:
      - Live facts per node name, as M(sdn.egress.egress_preflight) returns them.
      - Per node C({reachable, tun0_mac, tun0_ofport, vxlan_ofport, networks, problems}).
      - C(reachable=false) marks a node offline; it gets an empty plan and its egress IPs fail over.
      - C(tun0_mac) is needed on a node that hosts an active egress IP (with O(settings.layout=sdn48)
        also C(tun0_ofport)), C(vxlan_ofport) on a node that tunnels to another node. A missing fact
        that is needed is a problem.
      - >-
        C(networks) (optional, a mapping of interface name to a list of CIDRs) are the networks the node reports. An
        egress IP of the node's HostSubnet that no interface of the inventory places must lie inside
        exactly one interface's networks, else the problem names C(nodes[<node>].egress_ips).
      - >-
        C(problems) (optional, C([{what, detail}])) are what the node lacks; each one is a problem
        C(nodes[<node>]: lacks <what>: <detail>), so the run fails before any node changes.
      - C(foreign_rules) (optional, C([{index, rule}])) and C(foreign_flows) (optional, dump-flows
        lines) are the foreign SNAT rules above our SNAT rules and the foreign flows of the egress
        table the preflight read; the plan checks them against the node's own rules and flows
        (I(conflicts), see O(settings.snat_conflicts) and O(settings.flow_conflicts)). Not given,
        the node is not checked (the node modules still check when they change it).
      - C(owned_monitor_ports) (optional, C([name])) are the BFD monitor ports of ours the node has;
        with O(compact=true) they decide C(prune_monitor_ports).
      - C(owned) (optional, the preflight's RV(sdn.egress.egress_preflight#module:owned)) are the digests of the
        flows and groups, rules and addresses we own on the node; with O(compact=true) the plan compares them with
        the digests of what it wants for the node (C(unchanged)).
      - C(interfaces) (optional, a mapping of interface name to C(mac) and C(addresses), each C(A/P)) are the addresses
        the node holds now; planned addresses among them are not new (not probed); without it every
        planned address of the node counts as new.
    type: dict
    default: {}
  settings:
    description:
      - Cluster-wide settings, checked with the rest of the input (every problem is listed).
    type: dict
    default: {}
    suboptions:
      layout:
        description:
          - The dataplane layout the plan is rendered for, see the description above.
          - C(sdn3) - openshift-sdn 3.10 up to 4.7 (table 100, first online egress IP wins).
          - C(sdn48) - openshift-sdn 4.8 and later (table 101, select groups, all online egress
            IPs load-balanced, 4.8 marks).
        type: str
        choices: [sdn3, sdn48]
        default: sdn3
      cluster_cidrs:
        description: Cluster networks; SNAT rules match them as source. Egress IPs inside them are problems.
        type: list
        elements: str
        default: [10.128.0.0/14]
      mark_rule:
        description:
          - Packet mark derivation, see the P(sdn.egress.vnid_to_mark#filter) filter.
          - Default C(3.x) with O(settings.layout=sdn3), C(4.8) with O(settings.layout=sdn48).
        type: str
        choices: ['3.x', '4.8']
      masquerade_bit:
        description: kube-proxy iptables masquerade bit number.
        type: int
        default: 0
      table:
        description:
          - OpenFlow table of the egress flows.
          - Default C(100) with O(settings.layout=sdn3), C(101) with O(settings.layout=sdn48).
        type: int
      priority:
        description: Priority of the egress flows.
        type: int
        default: 100
      strict:
        description:
          - Turn every warning of RV(plan.warnings) into a problem (C(strict) followed by the warning),
            so that the task fails naming each of them, before anything is changed.
          - Without it the warnings are only returned; the role P(sdn.egress.egress_plan#role) sets it from
            C(egress_strict), and M(sdn.egress.egress_report) prints them at the end of the run.
        type: bool
        default: false
      failover:
        description:
          - How a namespace moves to its next egress IP when an egress node fails.
          - C(run) - when the plan runs again (a node the controller cannot reach is offline).
          - C(dataplane) - by Open vSwitch itself, between runs (C(sdn3) layout only, else a
            problem naming O(settings.failover)). Every node sends an active namespace's traffic
            to a fast-failover group (C(type=ff), id the VNID) with one bucket per assigned egress
            IP in the namespace's order; a remote bucket watches a BFD monitor port towards that
            egress node, a local one watches C(tun0). No live bucket drops the traffic. Each node's
            plan also lists its monitor ports (C(monitor_ports), compact C(monitor_ports_text)) for
            M(sdn.egress.ovs_monitor_ports).
        type: str
        choices: [run, dataplane]
        default: run
      failover_vni:
        description:
          - VXLAN VNI of the BFD monitor ports (2 to 16777215). It must not be the netid of a
            namespace (that namespace's VXLAN traffic would reach the monitor port, not C(vxlan0));
            a declared namespace using it is a problem. openshift-sdn picks netids from 10 to
            16777215, so check it against C(oc get netnamespaces) once.
        type: int
        default: 16777214
      snat_conflicts:
        description:
          - What the plan does about a I(conflict) in O(node_facts) - a foreign rule above our SNAT
            rules of a node that can catch the packets of one of the marks the node SNATs first
            (the rule of M(sdn.egress.egress_snat)'s O(sdn.egress.egress_snat#module:conflicts),
            snat.find_conflicts).
          - C(fail) - a problem naming the node, the rule, its place in the chain, the mark, the
            VNID and namespaces and the reason. C(warn) - a warning in RV(plan.warnings).
            C(remove) - nothing; the node phase deletes it.
        type: str
        choices: [fail, warn, remove]
        default: fail
      snat_remove_conflicts:
        description: The older spelling of O(settings.snat_conflicts=remove); V(true) with C(warn) is a problem.
        type: bool
        default: false
      flow_conflicts:
        description:
          - What the plan does about a foreign flow in O(node_facts) that takes the traffic of one
            of the node's flows first (the rule of M(sdn.egress.ovs_flow)'s
            O(sdn.egress.ovs_flow#module:conflicts), ovs.find_flow_conflicts).
          - C(fail) - a problem naming the node, the flow, the VNID and namespaces, our flow and the
            reason. C(warn) - a warning. C(remove) - nothing; the node phase deletes it.
        type: str
        choices: [fail, warn, remove]
        default: fail
      flow_force:
        description:
          - A foreign flow with the table, priority and match of one of a node's flows is a problem
            unless this is V(true) (the node phase then replaces it), whatever O(settings.flow_conflicts) says.
        type: bool
        default: false
attributes:
  check_mode:
    support: full
    description: Nothing is changed in any mode.
  diff_mode:
    support: none
    description: Nothing is changed, there is no diff.
  platform:
    support: full
    platforms: all
    description: Runs on the controller.
notes:
  - Run it once, C(run_once=true) or on C(localhost), and hand each node its part of RV(plan.nodes).
  - O(settings.mark_rule=4.8) with the C(sdn3) layout changes only the marks, not the flows.
  - The plan is computed by plugins/module_utils/plan.py from sources.py (the three input shapes),
    model.py (the checked intent), assign.py (which IP on which node) and the layout's file
    (layout_sdn3.py, layout_sdn48.py); see docs/design.md.
"""

EXAMPLES = r"""
- name: Plan from inventory vars
  sdn.egress.egress_plan:
    namespaces:
      - {name: egress-test, netid: 7305526, egress_ips: [10.0.0.11, 10.0.0.21]}
    nodes:
      - {name: ocprouter01, host_ip: 10.0.0.2/24, subnet: 10.130.0.0/23, egress_ips: [10.0.0.11]}
      - {name: ocprouter02, host_ip: 10.0.0.5/24, subnet: 10.131.0.0/23, egress_ips: [10.0.0.21]}
      - {name: ocpmaster01, host_ip: 10.0.0.3/24, subnet: 10.128.0.0/23}
    node_facts: "{{ egress_node_facts }}"
  run_once: true
  register: egress

- name: Plan from the list egress_netnamespaces, every variable named egress_netnamespace_* and each host's egress_hostsubnet
  sdn.egress.egress_plan:
    namespaces_var: egress_netnamespaces
    namespaces_prefix: egress_netnamespace_
    node_hosts: "{{ ansible_play_hosts_all }}"
    node_facts: "{{ egress_node_facts }}"
    compact: true
  run_once: true
  register: egress

- name: Plan from a dump of the cluster, interfaces from the inventory
  sdn.egress.egress_plan:
    source: oc_json
    oc_json: netnamespace_hostsubnet.json
    node_vars:
      - name: ocprouter01
        interfaces: [{name: ens18, cidr: 10.0.0.2/24}, {name: ens19, cidr: 10.0.0.200/24}]
    node_facts: "{{ egress_node_facts }}"
  run_once: true
  register: egress

- name: Plan from the live API of an openshift-sdn 4.8+ cluster (select groups, 4.8 marks)
  sdn.egress.egress_plan:
    source: k8s
    namespaces: "{{ netnamespaces.resources }}"
    nodes: "{{ hostsubnets.resources }}"
    node_facts: "{{ egress_node_facts }}"
    settings:
      layout: sdn48
  run_once: true
  register: egress
"""

RETURN = r"""
plan:
  description: What every node must have, and a report per namespace.
  returned: success
  type: dict
  contains:
    nodes:
      description:
        - Per node name C({inventory_host, host_ip, reachable, flows, snat, reject, addresses}),
          with O(settings.layout=sdn48) also C(groups).
        - C(flows) - C({table, priority, match, actions}) sorted by VNID.
        - C(groups) - C({group_id, type, buckets}) sorted by VNID, C(buckets) a list of action texts.
        - C(snat) - C({mark, egress_ip, name}) for every egress IP assigned to the node.
        - C(reject) - those egress IPs.
        - C(addresses) - C({address, interface, prefix}); C(interface) and C(prefix) only when known.
        - C(probes) - C({address, interface, owners, known}) for each IPv4 address the node newly claims
          (planned, not held per its C(interfaces) fact; empty on a warm run). C(interface) is the one the claim
          uses when known, else null, C(owners) the namespaces that list it, C(known) the MACs of other reachable
          nodes that hold it now and give it up in this run. Compact form C(probe_text), one
          C(ADDRESS INTERFACE|- OWNER[,OWNER] [MAC,...]) per line (M(sdn.egress.garp_claim) option C(probes_text)),
          and C(counts.probes).
        - With O(compact=true) instead C({inventory_host, host_ip, reachable, flows_text,
          mark_flows_text, groups_text, mark_groups_text, snat_text, snat_masquerade,
          addresses, named_addresses, all_addresses, counts}).
          C(flows_text) has one flow per line in C(ovs-ofctl add-flows) syntax,
          C(mark_flows_text) the flows a node installs first, before anything is pruned - those
          that send traffic out through this node (sdn3 the marking flows, sdn48 the flows to a
          group with the local bucket), as the layout marks them;
          C(groups_text) one group per line in C(ovs-ofctl add-groups) syntax (empty for sdn3),
          C(mark_groups_text) the groups with the local bucket;
          C(snat_text) one C(MARK EGRESS_IP NAME) per line; C(snat_masquerade) whether the node also
          adds the per-mark MASQUERADE rule (sdn48); C(addresses) (those whose interface
          the node finds itself) and C(all_addresses) are comma-separated;
          C(named_addresses) is C([{interface, prefix, addresses}]) per interface the inventory
          names, C(prefix) only when all its addresses share one; C(counts) has the number of
          C(flows), C(mark_flows), C(groups), C(mark_groups), C(snat), C(addresses) and C(probes);
          C(prune_monitor_ports) is false when the node wants no monitor port and its preflight
          found none of ours (O(node_facts) C(owned_monitor_ports)), so the role skips that prune.
          C(unchanged) {flows, rules, addresses} (booleans) is true for a kind whose preflight digest
          (O(node_facts) C(owned)) equals the plan's, so its modules would change nothing and the role
          (C(egress_skip_unchanged)) does not run them.
      type: dict
      sample:
        ocprouter01:
          inventory_host: ocprouter01
          host_ip: 10.0.0.2
          reachable: true
          flows:
            - table: 100
              priority: 100
              match: ip,reg0=0x6f7936
              actions: set_field:22:3b:a9:a4:8e:0c->eth_dst,set_field:0x6f7936->pkt_mark,goto_table:101
          snat: [{mark: "0x6f7936", egress_ip: 10.0.0.11, name: egress-test}]
          reject: [10.0.0.11]
          addresses: [{address: 10.0.0.11, interface: ens18, prefix: 24}]
    namespaces:
      description:
        - One row per namespace, sorted by name; C(state) is C(active), C(dropped) or C(no-egress).
        - C(active_ip) and C(node) are the first online egress IP and its node (with C(sdn3) the
          one in use); with O(settings.layout=sdn48) C(active_ips) and C(nodes) list every online
          egress IP and its node (all in use, load-balanced).
        - Not with O(compact=true), see RV(plan.namespaces_json).
      type: list
      elements: dict
      sample:
        - name: egress-test
          netid: 7305526
          vnid_hex: "0x6f7936"
          mark: "0x6f7936"
          egress_ips: [10.0.0.11]
          active_ip: 10.0.0.11
          node: ocprouter01
          state: active
          reason: null
    namespaces_json:
      description:
        - With O(compact=true), RV(plan.namespaces) as JSON text (C(from_json) turns it back).
      returned: with O(compact=true)
      type: str
      sample: >-
        [{"name":"egress-test","netid":7305526,"vnid_hex":"0x6f7936","mark":"0x6f7936",
        "egress_ips":["10.0.0.11"],"active_ip":"10.0.0.11","node":"ocprouter01","state":"active","reason":null}]
    warnings:
      description:
        - What the intent asks for and the plan does not do, C({field, value, reason}) sorted by C(field)
          (C(value) as given; null when the field is missing). Not returned as task warnings - the
          report prints them at the end of the run.
        - C(nodes[N]) - node C(N) did not answer (planned as offline), or its HostSubnet names a node
          that no host of the run is (planned as offline, its egress IPs unused).
        - C(nodes[N].egress_ips) - an egress IP of the node that no namespace lists (not claimed), or,
          on a node with C(egress_cidrs), the IP of a namespace with several egress IPs (taken off).
        - C(node_vars[N].name), C(node_facts[N]), C(hosts[H].egress_hostsubnet) - a host of the run
          that no HostSubnet describes (nothing planned for it; what the collection owns there is removed).
        - C(namespaces[NS].egress_ips) - the namespace's traffic is dropped (with the reason), or some of
          its egress IPs cannot be used (with the reason per IP).
        - C(nodes[N]) with a rule or flow as C(value) - a conflict left in place
          (O(settings.snat_conflicts=warn), O(settings.flow_conflicts=warn)).
        - User strings in C(field) and C(reason) are escaped (a control character is shown JSON-escaped).
      type: list
      elements: dict
      sample:
        - field: namespaces[egress-lost].egress_ips
          value: [10.0.0.99]
          reason: "cannot be used, the traffic of namespace egress-lost is dropped: 10.0.0.99: no node lists it"
    allocation:
      description:
        - The automatic allocation of the nodes with C(egress_cidrs) (empty mappings when there are none).
        - C(nodes) - node -> its egress IPs after allocation (what C(HostSubnet.egressIPs) becomes);
          C(declared) - node -> its egress IPs as given; C(changed) - the nodes whose egress IPs differ.
        - C(moved) - C({ip, namespace, node, from, why}) each automatic IP that is not where it was
          declared (C(node) null - no reachable node can hold it; C(from) null - no node listed it).
        - Each row of RV(plan.namespaces) with an automatic IP also has C(allocated)
          C({ip, mode, node, from, why}).
      type: dict
      sample:
        nodes: {ocprouter01: [], ocprouter02: [10.0.0.11]}
        declared: {ocprouter01: [10.0.0.11], ocprouter02: []}
        changed: [ocprouter01, ocprouter02]
        moved:
          - {ip: 10.0.0.11, namespace: egress-test, node: ocprouter02, from: ocprouter01, why: "node ocprouter01 is unreachable"}
    settings:
      description: The settings used, defaults filled in.
      type: dict
      sample: {cluster_cidrs: [10.128.0.0/14], layout: sdn3, mark_rule: "3.x", masquerade_bit: 0, table: 100, priority: 100}
problems:
  description: Every problem found; the task fails when there is one.
  returned: failure
  type: list
  elements: str
  sample: ["namespaces[egress-test].netid: 16777216 is out of range 0..16777215"]
"""
