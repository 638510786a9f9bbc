#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sdn.egress contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: egress_preflight
short_description: Read what the egress plan needs to know about an SDN node, and what it lacks
version_added: 0.1.0
description:
  - One read-only run per node before any node changes. Reads the node's SDN ports from the
    Open vSwitch database (the C(tun0) MAC and OpenFlow port numbers the flows use), probes the
    bridge over OpenFlow (a dead C(ovs-vswitchd) with the database still answering is found
    here), reads the addresses of every interface (IPv4 and IPv6), and reads the iptables tables
    whose chains the node phases write to, with the backend the role uses.
  - Also returns, small and read-only, what the plan needs to find I(conflicts) before any change -
    the foreign rules of O(snat_chain) above the jump to O(snat_anchor) (RV(foreign_rules)), the
    foreign flows of the O(flow_tables) at or above O(flow_priority) (RV(foreign_flows)), and the
    names of the BFD monitor ports owned by O(cookie) (RV(owned_monitor_ports)). Only foreign
    objects are returned, never our own, so the result does not grow with the number of namespaces.
  - Returns the node's facts for M(sdn.egress.egress_plan) and a list of RV(problems). A problem
    does B(not) fail this module - the plan fails the whole run, naming the node and what it
    lacks, before any node is changed.
  - Never changes anything; runs the same in check mode and always reports C(changed=false).
  - The role P(sdn.egress.egress_plan#role) runs it on every reachable node; a node that does not
    answer is planned as down without it.
author:
  - sdn.egress developers (@sdn-egress)
extends_documentation_fragment:
  - sdn.egress.ovs
options:
  bridge:
    description: The SDN bridge; the ports must be on it, and it must answer OpenFlow.
    type: str
    default: br0
  tun_port:
    description: The bridge's internal port towards the node's kernel (also a network interface of the node).
    type: str
    default: tun0
  tun_interface:
    description:
      - The network interface of the node's kernel behind O(tun_port) (where the SNAT rules see the
        egress traffic); it must exist. Default O(tun_port) (an internal port is its own interface).
    type: str
  vxlan_port:
    description: The bridge's VXLAN port.
    type: str
    default: vxlan0
  protocol:
    description: OpenFlow version(s) the bridge is probed with (C(ovs-ofctl -O)), as the node phases use.
    type: str
    default: OpenFlow13
  backend:
    description:
      - iptables backend the chains are read with, as the node phases use it (M(sdn.egress.egress_snat) O(sdn.egress.egress_snat#module:backend)).
    type: str
    choices: [auto, nft, legacy]
    default: auto
  nat_chains:
    description:
      - Chains of the C(nat) table that must exist (where the SNAT rules go, for example C(OPENSHIFT-MASQUERADE)).
      - An empty list skips reading the C(nat) table.
    type: list
    elements: str
    default: [OPENSHIFT-MASQUERADE]
  filter_chains:
    description:
      - Chains of the C(filter) table that must exist (where the inbound REJECT rules go).
      - An empty list skips reading the C(filter) table.
    type: list
    elements: str
    default: []
  label_suffix:
    description:
      - The label suffix of our own egress addresses (M(sdn.egress.egress_addr) O(sdn.egress.egress_addr#module:label_suffix)).
        Addresses carrying it do not define a network of the node (see RV(networks)).
    type: str
    default: sdne
  snat_chain:
    description:
      - The nat chain of our SNAT rules (M(sdn.egress.egress_snat) O(sdn.egress.egress_snat#module:chain));
        its foreign rules above O(snat_anchor) are returned in RV(foreign_rules). It must exist (it is
        checked like the O(nat_chains)). Unset, no rules are returned.
    type: str
  snat_anchor:
    description:
      - Our SNAT rules go right above the first rule jumping to this chain
        (M(sdn.egress.egress_snat) O(sdn.egress.egress_snat#module:anchor_target)); only the rules
        above it are returned.
    type: str
    default: OPENSHIFT-MASQUERADE-2
  owner:
    description:
      - The owner comment of our rules (M(sdn.egress.egress_snat) O(sdn.egress.egress_snat#module:owner));
        rules carrying it are ours and are not returned.
    type: str
    default: sdn.egress
  cookie:
    description:
      - The cookie of our flows (M(sdn.egress.ovs_flow) O(sdn.egress.ovs_flow#module:cookie)); flows
        with it are ours and are not returned. Also the owner of our BFD monitor ports
        (M(sdn.egress.ovs_monitor_ports) O(sdn.egress.ovs_monitor_ports#module:owner)), as given.
    type: str
    default: "0x65677265"
  flow_tables:
    description:
      - The OpenFlow tables whose foreign flows are returned (the tables our flows use; sdn3 100,
        sdn48 101), one C(ovs-ofctl dump-flows table=N) each, which also stands for the OpenFlow
        probe. Empty, no flows are returned and the bridge is probed with C(ovs-ofctl probe).
    type: list
    elements: int
    default: []
  flow_priority:
    description: Foreign flows below this priority never take our flows' traffic first and are not returned.
    type: int
    default: 0
  digests:
    description:
      - Also return RV(owned), digests of what we own on the node, so that the controller can skip the
        module runs of a phase with nothing to do. Then the flows are read with one
        C(ovs-ofctl dump-flows) of every table (instead of one per O(flow_tables)), the bridge's
        C(external_ids) in the same C(ovs-vsctl), the recorded groups with C(ovs-ofctl dump-groups)
        (only when some are recorded), and the filter table (for O(reject_chain)).
    type: bool
    default: false
  reject_chain:
    description:
      - The filter chain of our REJECT rules (M(sdn.egress.egress_snat)
        O(sdn.egress.egress_snat#module:reject_chain)); with O(digests), its rules of O(owner) are in
        C(owned.rules).
    type: str
  reject_inbound:
    description:
      - Whether M(sdn.egress.egress_snat) gets O(sdn.egress.egress_snat#module:reject_inbound) (returned in
        C(owned.rules_spec), for the plan's side of the digest).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying target.
    details: A read; check mode runs it as usual.
  diff_mode:
    support: none
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  platform:
    support: full
    platforms: posix
    description: Target OS/families that can be operated against.
requirements:
  - ovs-vsctl and ovs-ofctl (Open vSwitch 2.8 or later), ip (iproute2 with C(-j)) and iptables 1.8 on the managed host
  - netaddr (python3-netaddr) on the managed host
notes:
  - Five short processes per node (C(ovs-vsctl), C(ovs-ofctl probe) or C(dump-flows) per flow
    table, C(ip -j addr show), and C(iptables-save -t) per table read), all in one module run.
seealso:
  - module: sdn.egress.ovs_ports
  - module: sdn.egress.egress_plan
'''

EXAMPLES = r'''
- name: Read what the plan needs of each node, and what each node lacks
  sdn.egress.egress_preflight:
    bridge: br0
    backend: nft
    nat_chains: [OPENSHIFT-MASQUERADE]
    filter_chains: [OPENSHIFT-FIREWALL-ALLOW]
  register: node_preflight

- name: Stop before any change when a node lacks something
  ansible.builtin.fail:
    msg: "{{ node_preflight.problems | map(attribute='detail') | join('; ') }}"
  when: node_preflight.problems | length > 0
'''

RETURN = r'''
changed:
  description: Always V(false).
  returned: always
  type: bool
reachable:
  description: Always V(true) (the node ran the module); the role sets V(false) for a node that did not answer.
  returned: always
  type: bool
tun0_mac:
  description: MAC address of O(tun_port) (lower case); null when it cannot be read.
  returned: always
  type: str
  sample: "22:c6:4b:5f:c9:9e"
tun0_ofport:
  description: OpenFlow port number of O(tun_port); null when it cannot be read.
  returned: always
  type: int
  sample: 2
vxlan_ofport:
  description: OpenFlow port number of O(vxlan_port); null when it cannot be read.
  returned: always
  type: int
  sample: 1
tun0_present:
  description: Whether O(tun_interface) exists as a network interface of the node.
  returned: always
  type: bool
openflow:
  description: Whether O(bridge) answered an OpenFlow echo (C(ovs-ofctl probe)).
  returned: always
  type: bool
interfaces:
  description: Per interface, whether it is up, its MAC, its addresses (both families, C(address/prefix)) and its networks.
  returned: always
  type: dict
  sample:
    eth0: {up: true, mac: "3a:17:ed:19:8a:0e", addresses: ["192.0.2.12/24", "2001:db8::12/64", "fe80::1/64"],
           networks: ["192.0.2.0/24", "2001:db8::/64"]}
networks:
  description:
    - Per interface that has any, the networks an egress IP can be claimed in without naming an
      interface - from its primary, not host-scoped addresses (IPv6 also not link-local) that do
      not carry O(label_suffix).
  returned: always
  type: dict
  sample: {eth0: ["192.0.2.0/24", "2001:db8::/64"], eth1: ["198.51.100.0/24"]}
iptables:
  description: The backend used and the wanted chains found, as C(table/chain).
  returned: always
  type: dict
  sample: {backend: nft, chains: ["nat/OPENSHIFT-MASQUERADE", "filter/OPENSHIFT-FIREWALL-ALLOW"]}
foreign_rules:
  description:
    - The rules of O(snat_chain) not owned by O(owner) above the first (foreign) rule jumping to
      O(snat_anchor), as iptables-save prints them, with their place in the chain (C(index), from 0).
    - Null when O(snat_chain) is not set or cannot be read.
  returned: always
  type: list
  elements: dict
  sample:
    - {index: 0, rule: "-A OPENSHIFT-MASQUERADE -s 10.128.0.0/14 -m mark --mark 0x2ec40e -j SNAT --to-source 192.0.2.13"}
foreign_flows:
  description:
    - The flows of O(flow_tables) with another cookie than O(cookie) at O(flow_priority) or above,
      as C(ovs-ofctl --no-stats --no-names dump-flows) prints them.
    - Null when O(flow_tables) is empty or the bridge does not answer.
  returned: always
  type: list
  elements: str
  sample: ["cookie=0x99, table=100, priority=200,ip,reg0=0x6f7936 actions=drop"]
owned_monitor_ports:
  description:
    - Names of the interfaces whose C(external_ids:sdn-egress-owner) is O(cookie) (our BFD monitor
      ports, M(sdn.egress.ovs_monitor_ports)); the role skips the monitor-port prune when there are
      none and none are wanted.
    - Null when OVSDB cannot be read.
  returned: always
  type: list
  elements: str
  sample: ["sdne-c000020b"]
owned:
  description:
    - With O(digests), sha256 digests (hex) of the objects we own, as sdn.egress's C(digests.py) computes
      them on both sides; the plan computes the same of what it wants, and equal digests mean that
      the phase's module would change nothing. Null entries could not be read.
    - C(flows) our flows (cookie O(cookie), every table) and the groups recorded as ours in the
      bridge's C(external_ids). C(rules) our rules of O(snat_chain) and O(reject_chain) with whether
      they sit where M(sdn.egress.egress_snat) puts them. C(addresses) our addresses (label
      C(<interface>:<label_suffix>)) with interface and prefix. C(rules_spec) the parameters the
      rules were read with (owner, chain, anchor, reject_chain, reject_inbound).
    - Absent without O(digests).
  returned: when digests
  type: dict
  sample: {flows: "5f0c...", rules: "a31e...", addresses: "09be...", rules_spec: {owner: sdn.egress}}
problems:
  description:
    - What the node lacks, one entry each; empty when the node can be planned and changed.
    - C(what) names the thing (C(OVSDB), C(OpenFlow), the port name, C(addresses), C(iptables)), C(detail) says what is wrong.
  returned: always
  type: list
  elements: dict
  sample:
    - {what: OpenFlow, detail: "bridge br0 does not answer OpenFlow (is ovs-vswitchd running?): ..."}
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.sdn.egress.plugins.module_utils.addr import HAS_NETADDR, NETADDR_IMPORT_ERROR, AddrError
from ansible_collections.sdn.egress.plugins.module_utils.iptables import BINARIES, check_chain_name, check_comment_text
from ansible_collections.sdn.egress.plugins.module_utils.ovs import parse_cookie
from ansible_collections.sdn.egress.plugins.module_utils.preflight import Spec, preflight


def _check_name(module, field, value):
    if not value or value != value.strip() or any(c.isspace() for c in value) or '/' in value:
        module.fail_json(msg='%s: %r is not a valid name' % (field, value))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            bridge=dict(type='str', default='br0'),
            tun_port=dict(type='str', default='tun0'),
            tun_interface=dict(type='str'),
            vxlan_port=dict(type='str', default='vxlan0'),
            protocol=dict(type='str', default='OpenFlow13'),
            backend=dict(type='str', choices=list(BINARIES), default='auto'),
            nat_chains=dict(type='list', elements='str', default=['OPENSHIFT-MASQUERADE']),
            filter_chains=dict(type='list', elements='str', default=[]),
            label_suffix=dict(type='str', default='sdne'),
            snat_chain=dict(type='str'),
            snat_anchor=dict(type='str', default='OPENSHIFT-MASQUERADE-2'),
            owner=dict(type='str', default='sdn.egress'),
            cookie=dict(type='str', default='0x65677265'),
            flow_tables=dict(type='list', elements='int', default=[]),
            flow_priority=dict(type='int', default=0),
            digests=dict(type='bool', default=False),
            reject_chain=dict(type='str'),
            reject_inbound=dict(type='bool', default=True),
            rundir=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    if not HAS_NETADDR:
        module.fail_json(msg=missing_required_lib('netaddr'), exception=str(NETADDR_IMPORT_ERROR))
    params = module.params
    if params['tun_interface'] is None:
        params['tun_interface'] = params['tun_port']
    for field in ('bridge', 'tun_port', 'tun_interface', 'vxlan_port', 'protocol', 'label_suffix'):
        _check_name(module, field, params[field])
    chains = []
    for table in ('nat', 'filter'):
        field = '%s_chains' % table
        for index, chain in enumerate(params[field]):
            try:
                check_chain_name(chain)
            except ValueError as exc:
                module.fail_json(msg='%s[%d]: %s' % (field, index, exc))
            chains.append((table, chain))
    for field in ('snat_chain', 'snat_anchor', 'reject_chain'):
        if params[field] is not None:
            try:
                check_chain_name(params[field])
            except ValueError as exc:
                module.fail_json(msg='%s: %s' % (field, exc))
    if params['snat_chain'] and ('nat', params['snat_chain']) not in chains:
        chains.append(('nat', params['snat_chain']))  # its rules are read with the nat table
    try:
        check_comment_text(params['owner'], False)
    except ValueError as exc:
        module.fail_json(msg='owner: %s' % exc)
    try:
        cookie = parse_cookie(params['cookie'])
    except AddrError as exc:
        module.fail_json(msg=str(exc))
    for index, table in enumerate(params['flow_tables']):
        if not 0 <= table <= 254:
            module.fail_json(msg='flow_tables[%d]: %d is not an OpenFlow table (0-254)' % (index, table))
    if not 0 <= params['flow_priority'] <= 65535:
        module.fail_json(msg='flow_priority: %d is not a flow priority (0-65535)' % params['flow_priority'])
    spec = Spec(bridge=params['bridge'], tun_port=params['tun_port'], tun_interface=params['tun_interface'],
                vxlan_port=params['vxlan_port'],
                rundir=params['rundir'], protocol=params['protocol'], backend=params['backend'],
                chains=chains, label_suffix=params['label_suffix'], snat_chain=params['snat_chain'],
                snat_anchor=params['snat_anchor'], owner=params['owner'], cookie=cookie,
                port_owner=params['cookie'], flow_tables=params['flow_tables'],
                flow_priority=params['flow_priority'], digests=params['digests'],
                reject_chain=params['reject_chain'], reject_inbound=params['reject_inbound'])
    module.exit_json(changed=False, **preflight(module, spec))


if __name__ == '__main__':
    main()
